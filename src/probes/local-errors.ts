/**
 * Errors that come from this machine, not from the target: out of file
 * descriptors, out of local ports, out of buffer space. A result must never
 * blame the target for these.
 */
import { readFileSync } from 'node:fs';
import { classifyTcpError } from './classify.js';

/** The named local cause of an error, or null when the error is not this machine's (one table: classify.ts). */
export function localErrorCause(err: unknown): string | null {
  const c = classifyTcpError(err, 'syscall');
  return c.local ? c.cause : null;
}

/**
 * Faults of the machine conndx runs on that can end a whole command (not one
 * attempt): out of file descriptors while loading a module or opening a
 * socket, out of memory or kernel buffers. They are said in one line without
 * the path Node names (the file that could not be opened is never the
 * problem), and `check` turns them into its UNKNOWN status line: they say
 * nothing about the targets.
 */
const LOCAL_FAULTS: Record<string, string> = {
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on this machine',
  ENOMEM: 'out of memory on this machine',
  ENOBUFS: 'out of kernel buffer space on this machine',
  EADDRNOTAVAIL: 'no free local port or address on this machine',
};

let nofile: string | null | undefined;

/** Reads the soft open-files limit now, while a file can still be opened: EMFILE is named with it later. */
export function readOpenFilesLimit(): string | null {
  if (nofile !== undefined) return nofile;
  try {
    nofile = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? null;
  } catch {
    nofile = null;
  }
  return nofile;
}

/** "EMFILE: too many open files in this process (ulimit -n 100)", or null when `e` is not a local fault. */
export function localFault(e: unknown): string | null {
  const code = e && typeof e === 'object' && 'code' in e ? (e as { code: unknown }).code : undefined;
  if (typeof code !== 'string' || !LOCAL_FAULTS[code]) return null;
  const limit = code === 'EMFILE' ? readOpenFilesLimit() : null;
  return `${code}: ${LOCAL_FAULTS[code]}${limit ? ` (ulimit -n ${limit})` : ''}`;
}
