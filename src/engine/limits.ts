import { readdirSync, readFileSync } from 'node:fs';

/** This machine's limits that bound how many attempts can be in flight. */
export interface LocalLimits {
  /** Soft RLIMIT_NOFILE of this process, or null when it cannot be read. */
  openFiles: number | null;
  /** File descriptors open now (a baseline the run cannot use). */
  openNow: number | null;
  /** Size of net.ipv4.ip_local_port_range: connections to one host:port at once. */
  localPorts: number | null;
}

function readOr<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

/** Reads the limits from /proc (Linux); each is null where unavailable. */
export function readLocalLimits(): LocalLimits {
  const openFiles = readOr(() => {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? (m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1])) : null;
  });
  const localPorts = readOr(() => {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return lo && hi && hi >= lo ? hi - lo + 1 : null;
  });
  const openNow = readOr(() => readdirSync('/proc/self/fd').length);
  return { openFiles, openNow, localPorts };
}

/**
 * The concurrency this machine can sustain: a run that asks for more is
 * capped, with a warning, instead of failing half-way with EMFILE.
 * `fdsPerAttempt` is 1 for TCP/TLS (one socket), and headroom is kept for
 * the process itself.
 */
export function capConcurrency(
  requested: number,
  limits: LocalLimits,
  fdsPerAttempt = 1,
  sameDestination = false,
): { concurrency: number; warning?: string } {
  let cap = Infinity;
  // The limit that binds: the lower of the two (the port range wins a tie, as it is checked last).
  let why = '';
  let byPorts = false;
  if (limits.openFiles !== null) {
    const headroom = Math.max(32, limits.openNow ?? 0) + 32;
    const byFd = Math.floor((limits.openFiles - headroom) / fdsPerAttempt);
    if (byFd < cap) {
      cap = byFd;
      why = `open-file limit ${limits.openFiles} (ulimit -n)`;
    }
  }
  if (sameDestination && limits.localPorts !== null && limits.localPorts < cap) {
    cap = limits.localPorts;
    why = `${limits.localPorts} local ports (net.ipv4.ip_local_port_range)`;
    byPorts = true;
  }
  if (requested <= cap) return { concurrency: requested };
  // Ports closed with FIN wait in TIME_WAIT (60 s on Linux) before they can be used again.
  const ports = byPorts
    ? '; connections closed with FIN hold their port in TIME_WAIT for 60 s (with tcp, --close rst frees it at once)'
    : '';
  if (cap < 1) {
    // Nothing to cap to: one attempt at a time is the floor, and even that may fail here.
    return {
      concurrency: 1,
      warning: `this machine's ${why} leaves no room for even one attempt at a time; attempts may fail with a local error${ports}`,
    };
  }
  return {
    concurrency: cap,
    warning: `--concurrency ${requested} capped to ${cap} by this machine's ${why}; raise the limit to go higher${ports}`,
  };
}
