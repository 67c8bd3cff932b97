/**
 * Errors that come from this machine, not from the target: out of file
 * descriptors, out of local ports, out of buffer space. A result must never
 * blame the target for these.
 */
const LOCAL: Record<string, string> = {
  EMFILE: 'EMFILE: this process is out of file descriptors (raise ulimit -n or lower --concurrency)',
  ENFILE: 'ENFILE: the system is out of file descriptors',
  EADDRNOTAVAIL: 'EADDRNOTAVAIL: out of local ports or no usable local address (see net.ipv4.ip_local_port_range, TIME_WAIT; try --close rst)',
  EADDRINUSE: 'EADDRINUSE: local address/port already in use',
  ENOBUFS: 'ENOBUFS: out of kernel buffer space on this machine',
  ENOMEM: 'ENOMEM: this machine is out of memory',
  EPERM: 'EPERM: a local policy (firewall rule or permission) forbids this connection',
  EACCES: 'EACCES: a local policy forbids this connection',
};

/** The named local cause of an error, or null when the error is not this machine's. */
export function localErrorCause(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && LOCAL[code]) return LOCAL[code]!;
  return null;
}
