import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ConndxError } from './errors.js';

/**
 * Every file conndx reads has a size limit fitting its kind, is checked by
 * type before a byte is read (a FIFO, a device such as /dev/zero, a directory
 * are refused), and is read no further than its limit, so no input file can
 * hold the process or its memory.
 */
export const INPUT_LIMITS = {
  ca: 4 * 1024 * 1024,
  pem: 1024 * 1024,
  config: 1024 * 1024,
  targets: 10 * 1024 * 1024,
  hosts: 1024 * 1024,
  resolvConf: 1024 * 1024,
  send: 1024 * 1024,
  result: 64 * 1024 * 1024,
} as const;
export type InputKind = keyof typeof INPUT_LIMITS;

/** Most distinct targets one run takes from the command line and @file lists. */
export const MAX_TARGETS = 10_000;

export function fmtBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

function typeName(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function ioError(what: string, path: string, e: unknown): ConndxError {
  return new ConndxError('CONNDX_IO', `cannot read ${what} "${path}": ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
}

// O_NONBLOCK: opening a FIFO never waits for a writer; fstat then refuses it.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Reads a regular file of at most INPUT_LIMITS[kind] bytes. `what` names it
 * in messages ("--ca", "the config file"). Throws ConndxError CONNDX_IO.
 */
export function readInputSync(path: string, kind: InputKind, what: string): Buffer {
  const limit = INPUT_LIMITS[kind];
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw ioError(what, path, e);
  }
  try {
    const st = fstatSync(fd);
    const bad = typeName(st);
    if (bad) throw new ConndxError('CONNDX_IO', `cannot read ${what} "${path}": it is ${bad}, not a regular file`);
    if (st.size > limit) throw tooBig(what, path, kind, st.size);
    // The file may grow after fstat: read at most limit + 1 bytes and refuse past the limit.
    const buf = Buffer.alloc(Math.min(limit + 1, st.size + 1 || 1));
    let got = 0;
    for (;;) {
      if (got === buf.length) {
        if (got > limit) throw tooBig(what, path, kind, got);
        break;
      }
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, null);
      } catch (e) {
        throw ioError(what, path, e);
      }
      if (n === 0) break;
      got += n;
    }
    if (got > limit) throw tooBig(what, path, kind, got);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export function readInputTextSync(path: string, kind: InputKind, what: string): string {
  return readInputSync(path, kind, what).toString('utf8');
}

function tooBig(what: string, path: string, kind: InputKind, size: number): ConndxError {
  return new ConndxError(
    'CONNDX_IO',
    `cannot read ${what} "${path}": ${size > INPUT_LIMITS[kind] + 1 ? fmtBytes(size) : 'it is'} over the ${fmtBytes(INPUT_LIMITS[kind])} limit for ${KIND_NAMES[kind]}`,
  );
}

const KIND_NAMES: Record<InputKind, string> = {
  ca: 'a CA bundle',
  pem: 'a certificate or key',
  config: 'a config file',
  targets: 'a target list',
  hosts: 'a hosts file',
  resolvConf: 'a resolv.conf',
  send: 'a --send payload',
  result: 'a result file',
};

/**
 * Reads a stream (standard input) as text, at most INPUT_LIMITS[kind] bytes,
 * chunk by chunk, so the event loop stays free while it waits.
 */
export async function readStreamBounded(stream: Readable, kind: InputKind, what: string): Promise<string> {
  const limit = INPUT_LIMITS[kind];
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    if (size > limit) {
      stream.destroy();
      throw new ConndxError('CONNDX_IO', `cannot read ${what}: over the ${fmtBytes(limit)} limit for ${KIND_NAMES[kind]}`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Async counterpart of readInputSync, reading in chunks (for the larger kinds). */
export async function readInput(path: string, kind: InputKind, what: string): Promise<string> {
  const limit = INPUT_LIMITS[kind];
  let fh;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (e) {
    throw ioError(what, path, e);
  }
  try {
    const st = await fh.stat();
    const bad = typeName(st);
    if (bad) throw new ConndxError('CONNDX_IO', `cannot read ${what} "${path}": it is ${bad}, not a regular file`);
    if (st.size > limit) throw tooBig(what, path, kind, st.size);
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const buf = Buffer.alloc(256 * 1024);
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, buf.length, null));
      } catch (e) {
        throw ioError(what, path, e);
      }
      if (n === 0) break;
      size += n;
      if (size > limit) throw tooBig(what, path, kind, size);
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await fh.close();
  }
}
