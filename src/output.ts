import { accessSync, closeSync, constants, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { ConndxError } from './errors.js';

/** The one stderr line for a failed write to standard output (a full disk, /dev/full, EIO). */
export function stdoutWriteErrorLine(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code ?? String((e as Error)?.message ?? e);
  return `conndx: cannot write to standard output: ${code}${code === 'ENOSPC' ? ' (no space left on the device)' : ''}\n`;
}

/** True for an error from writing a stream (as opposed to a bug): it has an errno code and the write syscall. */
export function isWriteError(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return typeof err?.code === 'string' && (err.syscall === 'write' || ['ENOSPC', 'EIO', 'EDQUOT', 'EFBIG', 'EBADF'].includes(err.code));
}

/**
 * Standard output that fails (a full disk, `> /dev/full`) ends the process with
 * one stderr line and exit 3 (UNKNOWN for `check`); a reader that left (EPIPE,
 * `| head`) ends it quietly with 0.
 */
export function guardStdout(stdout: Writable, stderr: Writable, exit: (code: number) => void = (c) => process.exit(c)): () => void {
  const onError = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') {
      exit(0);
      return;
    }
    try {
      stderr.write(stdoutWriteErrorLine(e));
    } catch {
      /* stderr is gone too */
    }
    exit(3);
  };
  stdout.on('error', onError);
  return () => stdout.off('error', onError);
}

/**
 * Writes a report whole or not at all: a temporary file in the same
 * directory, flushed, then renamed over `path`. A full disk leaves the
 * previous file (or none), never a truncated one.
 */
export function writeFileAtomic(path: string, text: string | Buffer, what: string): void {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  let special = false;
  try {
    special = !statSync(path).isFile();
  } catch {
    /* a new file */
  }
  if (special) {
    // A device or FIFO (/dev/stdout, /dev/full): written in place, never renamed over.
    let fd: number | undefined;
    try {
      fd = openSync(path, 'w');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      throw new ConndxError('CONNDX_IO', `cannot write ${what} "${path}": ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    } finally {
      if (fd !== undefined)
        try {
          closeSync(fd);
        } catch {
          /* reported above */
        }
    }
    return;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* best effort */
    }
    throw new ConndxError('CONNDX_IO', `cannot write ${what} "${path}": ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/**
 * Checks before a long run that a report can be written to `path`: its
 * directory exists and is writable, and the path is not a directory. Bad
 * input (exit 3) now, not after the run.
 */
export function checkWritablePath(path: string, what: string): void {
  const dir = dirname(path);
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConndxError(
      'CONNDX_BAD_ARGUMENT',
      `bad ${what} "${path}": ${code === 'ENOENT' ? `the directory ${dir} does not exist` : `cannot read the directory ${dir} (${code ?? String(e)})`}`,
    );
  }
  if (!st.isDirectory()) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${what} "${path}": ${dir} is not a directory`);
  try {
    if (statSync(path).isDirectory()) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${what} "${path}": it is a directory`);
  } catch (e) {
    if (e instanceof ConndxError) throw e;
    /* a new file */
  }
  const special = (() => {
    try {
      return !statSync(path).isFile();
    } catch {
      return false;
    }
  })();
  try {
    // A device (/dev/stdout) is written in place; anything else goes through a temporary file in the directory.
    accessSync(special ? path : dir, constants.W_OK);
  } catch (e) {
    throw new ConndxError(
      'CONNDX_BAD_ARGUMENT',
      `bad ${what} "${path}": ${special ? path : `the directory ${dir}`} is not writable (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
}
