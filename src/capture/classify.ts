import type { Phase as CorePhase } from '../core/types.js';
/**
 * Verdicts from final state, computed once. `zeekConnState` is Zeek's
 * `conn_state` (base/protocols/conn/main.zeek): a pure function of the two
 * endpoints' final TCP states, their sizes and the history string.
 */

/** TCP endpoint states, as Zeek names them (TCP_ENDPOINT_*). */
export const EP = {
  INACTIVE: 0,
  SYN_SENT: 1,
  SYN_ACK_SENT: 2,
  PARTIAL: 3,
  ESTABLISHED: 4,
  CLOSED: 5,
  RESET: 6,
} as const;
export type EndpointState = (typeof EP)[keyof typeof EP];

export const ZEEK_STATES = ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'] as const;
export type ZeekState = (typeof ZEEK_STATES)[number];

const RSTOS0_HISTORY = /^\^?S[^HAFGIQ]*R.*$/;

export function zeekConnState(os: EndpointState, rs: EndpointState, origSize: number, respSize: number, history: string): ZeekState {
  const oInactive = os === EP.INACTIVE || os === EP.PARTIAL;
  const rInactive = rs === EP.INACTIVE || rs === EP.PARTIAL;
  if (rs === EP.RESET) {
    if (os === EP.SYN_SENT || os === EP.SYN_ACK_SENT || (os === EP.RESET && origSize === 0 && respSize === 0)) return 'REJ';
    return oInactive ? 'RSTRH' : 'RSTR';
  }
  if (os === EP.RESET) {
    if (rInactive) return RSTOS0_HISTORY.test(history) ? 'RSTOS0' : 'OTH';
    return 'RSTO';
  }
  if (rs === EP.CLOSED && os === EP.CLOSED) return 'SF';
  if (os === EP.CLOSED) return rInactive ? 'SH' : 'S2';
  if (rs === EP.CLOSED) return oInactive ? 'SHR' : 'S3';
  if (os === EP.SYN_SENT && rs === EP.INACTIVE) return 'S0';
  if (os === EP.ESTABLISHED && rs === EP.ESTABLISHED) return 'S1';
  return 'OTH';
}

/** Where a captured connection failed (a capture sees no dns phase of its own), or ok. */
export type Phase = 'ok' | Exclude<CorePhase, 'dns' | 'proxy' | 'tunnel' | 'starttls'>;

/** What the classifier needs to know about one connection record. */
export interface ConnFacts {
  zeekState: ZeekState;
  /** The originator sent a SYN in this record. */
  attempt: boolean;
  /** The responder answered with SYN-ACK. */
  synAcked: boolean;
  rstBy: 'client' | 'server' | null;
  finBy: 'client' | 'server' | null;
  clientBytes: number;
  serverBytes: number;
  tls: null | {
    complete: boolean;
    alert: string | null;
    encryptedAlert: boolean;
    serverBytes: number;
    /** The server answered the ClientHello in plaintext (no TLS record): what it was, named (`HTTP ("HTTP/1.1 400 …")`). */
    plaintext?: string | null;
  };
  /** The connection was still open when the capture ended. */
  openAtEnd: boolean;
  /** Name of an ICMP unreachable / time-exceeded that quoted this connection (e.g. admin-prohibited). */
  icmp?: string | null;
  /** A full-size segment retransmitted without acknowledgement while smaller ones were acknowledged. */
  pmtuBlackhole?: boolean;
}

export interface Classified {
  phase: Phase;
  outcome: string;
  /** What named the outcome, when more than the outcome: the ICMP code (`admin-prohibited`). */
  cause?: string;
}

/**
 * Phase and outcome of one connection, with the probe outcome names:
 * TCP phase: refused (REJ), timeout (SYN never answered), unreachable;
 * TLS phase: alert:<name>, not-tls, reset, closed, stalled, timeout;
 * app: reset, closed. The rule is the probes' one: once the TCP handshake
 * worked, a reset or close is no TCP failure. Without a ClientHello it is
 * phase app (`conndx tcp` says app reset / app closed for a server that
 * accepts and then resets or closes); after a ClientHello it is phase tls.
 */
export function classifyConnection(facts: ConnFacts): Classified {
  // A client that closed first (FIN) and then reset what still arrived ended its own
  // connection, as Zeek's SF says: no failure of the server (conndx's own probes do this).
  const f = facts.rstBy === 'client' && facts.finBy === 'client' ? { ...facts, rstBy: null } : facts;
  if (f.attempt && !f.synAcked) {
    if (f.zeekState === 'REJ' || f.rstBy === 'server') return { phase: 'tcp', outcome: 'refused' };
    // Answered by an ICMP error: unreachable, as the tcp probe names EHOSTUNREACH / ENETUNREACH.
    if (f.icmp) return { phase: 'tcp', outcome: 'unreachable', cause: f.icmp };
    return { phase: 'tcp', outcome: 'timeout' };
  }
  if (f.tls) {
    const t = f.tls;
    if (!t.complete) {
      // What answered was no TLS at all (an HTTP status line, an SSH banner): named as `conndx tls` names it.
      if (t.plaintext) return { phase: 'tls', outcome: 'not-tls', cause: t.plaintext };
      if (f.pmtuBlackhole && !t.alert) return { phase: 'tls', outcome: 'pmtu-blackhole-suspected' };
      if (t.alert && t.alert !== 'close_notify') return { phase: 'tls', outcome: `alert:${t.alert}` };
      if (t.encryptedAlert && !f.openAtEnd) return { phase: 'tls', outcome: 'alert:encrypted' };
      if (f.rstBy === 'client' && t.serverBytes === 0) return { phase: 'tls', outcome: 'timeout' };
      if (f.rstBy) return { phase: 'tls', outcome: 'reset' };
      if (f.finBy === 'client' && t.serverBytes === 0) return { phase: 'tls', outcome: 'timeout' };
      if (f.finBy || t.alert === 'close_notify') return { phase: 'tls', outcome: 'closed' };
      return { phase: 'tls', outcome: 'stalled' };
    }
    if (f.rstBy) return { phase: 'app', outcome: 'reset' };
    return { phase: 'ok', outcome: 'ok' };
  }
  if (f.pmtuBlackhole) return { phase: 'app', outcome: 'pmtu-blackhole-suspected' };
  // The handshake worked: a reset or close from here on is an app failure, before any payload too
  // (the tcp probe's accept-then-RST / accept-then-FIN).
  if (f.rstBy) return { phase: 'app', outcome: 'reset' };
  if (f.attempt && f.finBy === 'server' && f.serverBytes === 0 && f.clientBytes === 0) return { phase: 'app', outcome: 'closed' };
  return { phase: 'ok', outcome: 'ok' };
}
