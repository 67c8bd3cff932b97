import type { TcpOutcome } from '../core/types.js';

/** What a Node socket error means for a TCP probe. */
export interface TcpClassification {
  outcome: TcpOutcome;
  /** errno code and what it means, e.g. 'ECONNREFUSED', 'EMFILE: too many open files'. */
  cause: string;
  /** The failure is this machine's: it says nothing about the target. */
  local: boolean;
}

/** Where in the attempt the error arrived: the connect() call itself, the handshake, or after it. */
export type TcpErrorStage = 'syscall' | 'handshake' | 'established';

interface Row {
  test: (code: string, stage: TcpErrorStage) => boolean;
  outcome: TcpOutcome;
  local: boolean;
  /** Words after the code in `cause`. */
  says?: string;
}

const is =
  (...codes: string[]) =>
  (code: string) =>
    codes.includes(code);

/**
 * One row per case, first match wins. Local rows come first: a limit of this
 * machine must never be reported as the target's fault (contract: `error`).
 */
const TCP_ROWS: Row[] = [
  { test: is('EMFILE'), outcome: 'error', local: true, says: 'too many open files in this process' },
  { test: is('ENFILE'), outcome: 'error', local: true, says: 'too many open files on this machine' },
  { test: is('EADDRNOTAVAIL'), outcome: 'error', local: true, says: 'no free local port or address (ephemeral port range exhausted?)' },
  { test: is('EADDRINUSE'), outcome: 'error', local: true, says: 'local address already in use (bind failed)' },
  { test: is('ENOBUFS'), outcome: 'error', local: true, says: 'out of kernel buffer space on this machine' },
  { test: is('ENOMEM'), outcome: 'error', local: true, says: 'out of memory on this machine' },
  { test: is('EPERM', 'EACCES'), outcome: 'error', local: true, says: 'connect not permitted by this machine (local firewall or policy)' },
  // connect() itself failing with ENETUNREACH means no route is configured here: no SYN ever left.
  {
    test: (c, s) => c === 'ENETUNREACH' && s === 'syscall',
    outcome: 'error',
    local: true,
    says: 'no route to this network configured on this machine',
  },
  { test: is('ECONNREFUSED'), outcome: 'refused', local: false },
  { test: is('ETIMEDOUT'), outcome: 'timeout', local: false, says: 'the kernel gave up retransmitting the SYN' },
  { test: is('EHOSTUNREACH', 'EHOSTDOWN'), outcome: 'unreachable', local: false, says: 'host unreachable' },
  { test: is('ENETUNREACH', 'ENETDOWN'), outcome: 'unreachable', local: false, says: 'network unreachable' },
  // Linux answers a RST to our SYN with ECONNREFUSED; ECONNRESET while connect() is still pending
  // means the handshake completed and the peer reset right after (it accepted, then reset).
  {
    test: (c, s) => c === 'ECONNRESET' && s !== 'established',
    outcome: 'reset',
    local: false,
    says: 'reset by the peer right after the handshake',
  },
  { test: is('ECONNRESET', 'EPIPE'), outcome: 'reset', local: false },
  { test: is('EPROTO'), outcome: 'protocol-error', local: false },
  { test: is('ECONNABORTED'), outcome: 'error', local: false },
  { test: is('EINVAL', 'EAFNOSUPPORT'), outcome: 'error', local: true, says: 'address not usable on this machine (family not supported?)' },
];

/** Outcome precedence when an AggregateError holds several: local first, then the most specific answer. */
const PRECEDENCE: string[] = ['error-local', 'refused', 'reset', 'unreachable', 'timeout', 'closed', 'protocol-error', 'error', 'ok'];
const rank = (c: TcpClassification) => PRECEDENCE.indexOf(c.local ? 'error-local' : c.outcome);

function codeOf(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return undefined;
}

function classifyOne(e: unknown, stage: TcpErrorStage): TcpClassification {
  const code = codeOf(e);
  if (code) {
    for (const row of TCP_ROWS) {
      if (row.test(code, stage)) return { outcome: row.outcome, local: row.local, cause: row.says ? `${code}: ${row.says}` : code };
    }
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { outcome: 'error', local: false, cause: code ? `${code}: ${msg}` : msg };
}

/**
 * A Node error from a TCP socket → outcome. Looks inside AggregateError (Node
 * 20's autoSelectFamily tries several addresses and reports them together):
 * the inner error that says most about the situation wins, and every inner
 * cause is kept in the text.
 */
export function classifyTcpError(e: unknown, stage: TcpErrorStage = 'handshake'): TcpClassification {
  if (e instanceof AggregateError && e.errors.length > 0) {
    const inner = e.errors.map((x) => classifyTcpError(x, stage));
    const best = inner.reduce((a, b) => (rank(b) < rank(a) ? b : a));
    const causes = [...new Set(inner.map((x) => x.cause))];
    return { ...best, cause: causes.join('; ') };
  }
  return classifyOne(e, stage);
}
