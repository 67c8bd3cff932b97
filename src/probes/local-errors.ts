/**
 * Errors that come from this machine, not from the target: out of file
 * descriptors, out of local ports, out of buffer space. A result must never
 * blame the target for these.
 */
import { classifyTcpError } from './classify.js';

/** The named local cause of an error, or null when the error is not this machine's (one table: classify.ts). */
export function localErrorCause(err: unknown): string | null {
  const c = classifyTcpError(err, 'syscall');
  return c.local ? c.cause : null;
}
