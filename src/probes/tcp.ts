import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { now } from '../core/clock.js';
import { classifyTcpError, type TcpErrorStage } from './classify.js';
import type { TcpOutcome } from '../core/types.js';

export interface TcpConnectResult {
  /**
   * 'ok' | 'refused' | 'timeout' | 'unreachable' | 'error'; also 'reset' when the peer accepted and reset
   * so fast that the connect itself reported ECONNRESET (the handshake did complete: phase 'app').
   */
  outcome: TcpOutcome;
  /** When ok: the connected socket, handed over to the caller (who owns and closes it). */
  socket?: net.Socket;
  /** SYN sent → established, performance.now() based. */
  connectMs: number | null;
  /** e.g. 'ECONNREFUSED', 'EMFILE: too many open files in this process (ulimit -n 1024)'. */
  cause?: string;
  /** True when the failure is this machine's (EMFILE, ENFILE, EADDRNOTAVAIL, ENOBUFS, no route configured…). */
  local?: boolean;
  /** The connect completed, or timed out, just past a step of the kernel's SYN retransmission schedule. */
  synRetransmitSuspected?: boolean;
  /** How many SYN retransmissions the elapsed time implies (steps of the schedule passed). */
  synRetransmits?: number;
  /** From the call to the end of the connect phase, whatever the outcome (ms). */
  elapsedMs: number;
  /** This side's port, once the SYN left (what a capture of the attempt shows as the client's port). */
  localPort?: number;
}

export interface ConnectOptions {
  /** An IP literal: names are resolved once per target before the run (see resolve.ts). */
  host: string;
  port: number;
  timeoutMs: number;
  signal: AbortSignal;
  family?: 4 | 6;
  /** SYN retransmission schedule to judge connect times against; defaults to this machine's. */
  synSchedule?: SynSchedule;
}

// ---------------------------------------------------------------------------
// SYN retransmission schedule

/** When the kernel resends an unanswered SYN, in ms after the first one. */
export interface SynSchedule {
  /** Cumulative send times of each retransmission, e.g. [1000, 2000, 3000, 4000, 5000, 7000]. */
  stepsMs: number[];
  /** When connect() gives up with ETIMEDOUT. */
  giveUpMs: number;
  /** Where the numbers came from, for --help and reports. */
  source: string;
}

/** TCP_TIMEOUT_INIT in include/net/tcp.h (RFC 6298 section 2.1 initial RTO of 1 s). */
export const SYN_INITIAL_RTO_MS = 1000;

/**
 * Cumulative send times of the SYN retransmissions, plus one more entry: the
 * give-up time. On kernels with net.ipv4.tcp_syn_linear_timeouts (6.5 and
 * later) the RTO stays at its initial value while the count of RTOs so far is
 * not above that setting, then doubles (net/ipv4/tcp_timer.c,
 * tcp_retransmit_timer: `tp->total_rto > sysctl_tcp_syn_linear_timeouts`), and
 * a SYN is resent tcp_syn_retries + tcp_syn_linear_timeouts times
 * (tcp_write_timeout). With the defaults 6 and 4: RTOs 1,1,1,1,1,2,4,8,16,32 s,
 * resent at 1,2,3,4,5,7,11,19,35,67 s, given up at 131 s. Older kernels double
 * from the start: resent at 1,3,7,15,31,63 s, given up at 127 s.
 */
export function computeSynSchedule(synRetries: number, linearTimeouts: number, initialRtoMs = SYN_INITIAL_RTO_MS): number[] {
  const resends = synRetries + linearTimeouts;
  const times: number[] = [];
  let t = 0;
  let rto = initialRtoMs;
  for (let i = 1; i <= resends + 1; i++) {
    t += rto;
    times.push(t);
    if (i > linearTimeouts) rto *= 2;
  }
  return times;
}

function readSysctl(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The schedule for given settings: steps (resend times) and the give-up time. */
export function synScheduleOf(synRetries: number, linearTimeouts: number, source: string): SynSchedule {
  const all = computeSynSchedule(synRetries, linearTimeouts);
  return { stepsMs: all.slice(0, -1), giveUpMs: all[all.length - 1]!, source };
}

let cachedSchedule: SynSchedule | undefined;

/** This machine's schedule, read once from /proc/sys/net/ipv4 (Linux). */
export function machineSynSchedule(): SynSchedule {
  if (cachedSchedule) return cachedSchedule;
  const retries = readSysctl('/proc/sys/net/ipv4/tcp_syn_retries');
  const linear = readSysctl('/proc/sys/net/ipv4/tcp_syn_linear_timeouts');
  cachedSchedule = synScheduleOf(
    retries ?? 6,
    linear ?? 0,
    retries === undefined
      ? 'assumed: tcp_syn_retries 6, exponential backoff (/proc/sys/net/ipv4 not readable)'
      : `tcp_syn_retries ${retries}, tcp_syn_linear_timeouts ${linear ?? 'absent (exponential from the start)'}, initial RTO 1s`,
  );
  return cachedSchedule;
}

/**
 * The rule for "SYN retransmission suspected", in one place:
 * - a connect that completed within [step − 25 ms, step + max(500 ms, step/10)]
 *   of a step of the schedule: the answer came to a resent SYN. 25 ms of slack
 *   below for timer and event-loop jitter; above, half the initial RTO for the
 *   round trip of the resent SYN, widened for late steps because the kernel's
 *   retransmission timer runs a little late each time (about 20 ms per RTO,
 *   measured: resends at 1.02, 2.04, 3.07 … s);
 * - a timeout (ours or the kernel's) after more than the first step: at least
 *   one SYN was resent, however the attempt ended.
 * Returns the number of retransmissions implied (0 when none is suspected).
 */
export const SYN_SLACK_BEFORE_MS = 25;
export const SYN_WINDOW_AFTER_MS = SYN_INITIAL_RTO_MS / 2;
const windowAfter = (step: number) => Math.max(SYN_WINDOW_AFTER_MS, step / 10);

export function synRetransmitsImplied(ms: number, completed: boolean, schedule: SynSchedule): number {
  const steps = schedule.stepsMs;
  const passed = steps.filter((s) => ms >= s - SYN_SLACK_BEFORE_MS).length;
  if (passed === 0) return 0;
  if (!completed) return passed;
  const last = steps[passed - 1]!;
  return ms <= last + windowAfter(last) ? passed : 0;
}

// ---------------------------------------------------------------------------
// Local limits named in causes

let cachedNofile: string | null | undefined;

/** The soft open-files limit of this process, for naming EMFILE ('ulimit -n 1024'). */
function openFilesLimit(): string | null {
  if (cachedNofile !== undefined) return cachedNofile;
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    cachedNofile = m ? m[1]! : null;
  } catch {
    cachedNofile = null;
  }
  return cachedNofile;
}

function nameLocalLimit(cause: string): string {
  if (cause.startsWith('EMFILE')) {
    const n = openFilesLimit();
    return n ? `${cause} (ulimit -n ${n})` : cause;
  }
  return cause;
}

// ---------------------------------------------------------------------------
// The connect phase

/**
 * One TCP connect to an IP literal, timed from the moment the SYN left to the
 * moment the connection was established. Never throws for a network outcome.
 *
 * Timing: `net.connect` to an IP literal issues connect() on a later tick
 * (lib/net.js lookupAndConnect → process.nextTick(internalConnect)); a
 * nextTick queued right after `net.connect` runs right after that, so the
 * start is read there, after the SYN left. If the socket is already
 * destroyed by then, connect() itself failed and no SYN left at all.
 */
export function connectTcp(o: ConnectOptions): Promise<TcpConnectResult> {
  const schedule = o.synSchedule ?? machineSynSchedule();
  openFilesLimit(); // read now, while a file can still be opened: EMFILE is named with it later
  const tCall = now();
  return new Promise<TcpConnectResult>((resolve) => {
    let tSyn: number | null = null;
    let stage: TcpErrorStage = 'syscall';
    let settled = false;
    let socket: net.Socket;
    let timer: NodeJS.Timeout | undefined;
    let localPort: number | undefined;

    const since = () => now() - (tSyn ?? tCall);
    const finish = (r: Omit<TcpConnectResult, 'elapsedMs'>) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      socket?.removeListener('error', onError);
      // Keep an error listener: an unhandled socket error must never crash a run; the caller adds its own.
      if (r.outcome === 'ok') socket.on('error', ignore);
      socket?.removeListener('connect', onConnect);
      if (r.outcome !== 'ok') socket?.destroy();
      resolve(localPort === undefined ? { ...r, elapsedMs: now() - tCall } : { ...r, elapsedMs: now() - tCall, localPort });
    };
    const failed = (outcome: TcpOutcome, cause: string, local: boolean, waited: number | null) => {
      const n = waited !== null && !local ? synRetransmitsImplied(waited, false, schedule) : 0;
      finish({
        outcome,
        connectMs: null,
        cause: local ? nameLocalLimit(cause) : cause,
        local: local || undefined,
        ...(n > 0 ? { synRetransmitSuspected: true, synRetransmits: n } : {}),
      });
    };
    const onError = (e: Error) => {
      const c = classifyTcpError(e, stage);
      failed(c.outcome, c.cause, c.local, tSyn === null ? null : since());
    };
    const onConnect = () => {
      const ms = since();
      const n = synRetransmitsImplied(ms, true, schedule);
      finish({ outcome: 'ok', socket, connectMs: ms, ...(n > 0 ? { synRetransmitSuspected: true, synRetransmits: n } : {}) });
    };
    const onAbort = () => failed('timeout', 'aborted before the connection was established', false, tSyn === null ? null : since());

    if (o.signal.aborted) {
      resolve({ outcome: 'timeout', connectMs: null, cause: 'aborted before the connect started', elapsedMs: 0 });
      return;
    }
    try {
      socket = net.connect({ host: o.host, port: o.port, ...(o.family ? { family: o.family } : {}) });
    } catch (e) {
      const c = classifyTcpError(e, 'syscall');
      resolve({
        outcome: c.outcome,
        connectMs: null,
        cause: c.local ? nameLocalLimit(c.cause) : c.cause,
        local: c.local || undefined,
        elapsedMs: now() - tCall,
      });
      return;
    }
    process.nextTick(() => {
      // internalConnect has run: either connect() returned EINPROGRESS (the SYN is out) or it failed here.
      if (!socket.destroyed) {
        tSyn = now();
        stage = 'handshake';
        // Bound by connect(): read now, a refused or timed-out socket has no address left to ask.
        localPort = socket.localPort;
      }
    });
    socket.once('error', onError);
    socket.once('connect', onConnect);
    o.signal.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => {
      const waited = since();
      failed('timeout', `no answer to the SYN within ${Math.round(o.timeoutMs)} ms`, false, waited);
    }, o.timeoutMs);
  });
}

const ignore = (): void => {};

// ---------------------------------------------------------------------------
// The probe: connect, then optionally send and watch what the peer does

/** What the peer did after the handshake, within --hold or while waiting for a reply to --send. */
export type PeerAction = 'quiet' | 'data' | 'fin' | 'rst';

export interface TcpTarget {
  /** IP literal (resolved once per target before the run). */
  address: string;
  port: number;
  family?: 4 | 6;
}

export interface TcpProbeOptions {
  timeoutMs: number;
  /** Bytes to write once connected. */
  send?: Buffer;
  /** How long to watch the connection after the handshake (0: not at all, unless --send waits for a reply). */
  holdMs: number;
  /** How conndx ends its own connections: FIN (polite) or RST (no TIME_WAIT left behind). */
  close: 'fin' | 'rst';
  synSchedule?: SynSchedule;
}

/** After our FIN, how long the peer gets to send its own before the socket is destroyed. */
export const FIN_GRACE_MS = 1000;

interface PeerWatch {
  peer: PeerAction;
  /** ms after the handshake of the peer's last action (first byte for 'data'). */
  peerAfterMs: number | null;
  firstByteMs: number | null;
  bytesReceived: number;
  cause?: string;
}

/**
 * Watches an established connection: writes `send`, then waits `holdMs` (or,
 * with `send` and no hold, until the first byte, bounded by `timeoutMs`). The
 * watch ends early when the peer closes (FIN) or resets (RST).
 */
function watchPeer(socket: import('node:net').Socket, o: TcpProbeOptions, signal: AbortSignal): Promise<PeerWatch> {
  const t0 = now();
  const untilFirstByte = o.holdMs <= 0;
  const windowMs = untilFirstByte ? o.timeoutMs : o.holdMs;
  return new Promise<PeerWatch>((resolve) => {
    const w: PeerWatch = { peer: 'quiet', peerAfterMs: null, firstByteMs: null, bytesReceived: 0 };
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      resolve(w);
    };
    const onData = (b: Buffer) => {
      if (w.firstByteMs === null) {
        w.firstByteMs = now() - t0;
        w.peer = 'data';
        w.peerAfterMs = w.firstByteMs;
      }
      w.bytesReceived += b.length;
      if (untilFirstByte) finish();
    };
    const onEnd = () => {
      w.peer = 'fin';
      w.peerAfterMs = now() - t0;
      finish();
    };
    const onError = (e: Error) => {
      const c = classifyTcpError(e, 'established');
      if (c.outcome === 'reset') {
        w.peer = 'rst';
        w.peerAfterMs = now() - t0;
      }
      w.cause = c.cause;
      finish();
    };
    const timer = setTimeout(finish, windowMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.on('error', onError);
    signal.addEventListener('abort', finish, { once: true });
    if (o.send && o.send.length > 0) socket.write(o.send);
  });
}

function closeOwn(socket: import('node:net').Socket, how: 'fin' | 'rst'): void {
  if (socket.destroyed) return;
  if (how === 'rst') {
    socket.resetAndDestroy();
    return;
  }
  // Keep reading until the peer's FIN: closing with unread data would send a RST instead.
  socket.resume();
  socket.end();
  const t = setTimeout(() => socket.destroy(), FIN_GRACE_MS);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}

/**
 * The `tcp` probe: one connect per attempt, then what the peer does within
 * --hold. Connect failures end in phase 'tcp'; a reset or close after the
 * handshake in phase 'app', as `pcap` names them for the same packets.
 */
export function makeTcpProbe(o: TcpProbeOptions): (t: TcpTarget, signal: AbortSignal) => Promise<import('../core/types.js').Attempt> {
  return async (t, signal) => {
    const c = await connectTcp({
      host: t.address,
      port: t.port,
      family: t.family,
      timeoutMs: o.timeoutMs,
      signal,
      synSchedule: o.synSchedule,
    });
    const counters = { synRetransmitSuspected: c.synRetransmitSuspected ? 1 : 0 };
    const syn = c.synRetransmits ? { synRetransmits: c.synRetransmits } : {};
    const port = c.localPort !== undefined ? { localPort: c.localPort } : {};
    if (c.outcome === 'reset') {
      // Established, then reset before the connect was even reported: the peer accepted and reset at once.
      return {
        outcome: 'reset',
        phase: 'app',
        ms: null,
        cause: c.cause,
        counters,
        tallies: { peerAfterConnect: 'rst' },
        detail: { address: t.address, ...port, ...syn, peer: 'rst', peerAfterMs: null, bytesReceived: 0 },
      };
    }
    if (c.outcome !== 'ok' || !c.socket) {
      return {
        outcome: c.outcome,
        phase: 'tcp',
        ms: null,
        cause: c.cause,
        ...(c.local ? { local: true } : {}),
        counters,
        detail: { address: t.address, ...port, ...syn },
      };
    }
    const socket = c.socket;
    const connectMs = c.connectMs!;
    const local = { localPort: socket.localPort };
    if (!o.send && o.holdMs <= 0) {
      closeOwn(socket, o.close);
      return { outcome: 'ok', phase: 'tcp', ms: connectMs, counters, detail: { address: t.address, ...local, ...syn } };
    }
    const w = await watchPeer(socket, o, signal);
    closeOwn(socket, o.close);
    const outcome = w.peer === 'rst' ? 'reset' : w.peer === 'fin' && w.bytesReceived === 0 ? 'closed' : 'ok';
    const timings: Record<string, number> = {};
    if (w.firstByteMs !== null) timings.firstByteMs = w.firstByteMs;
    if ((w.peer === 'fin' || w.peer === 'rst') && w.peerAfterMs !== null) timings.peerCloseMs = w.peerAfterMs;
    // The handshake worked although the attempt failed after it: keep its time
    // (ms is the time of successful attempts only, as the contract says).
    if (outcome !== 'ok') timings.tcpConnectMs = connectMs;
    return {
      outcome,
      phase: outcome === 'ok' ? 'tcp' : 'app',
      ms: connectMs,
      timings,
      counters,
      tallies: { peerAfterConnect: w.peer },
      ...(outcome === 'reset'
        ? { cause: w.cause ?? 'ECONNRESET' }
        : outcome === 'closed'
          ? { cause: 'FIN from the peer before any data' }
          : {}),
      ...(w.cause && outcome === 'ok' ? { cause: w.cause } : {}),
      detail: {
        address: t.address,
        ...local,
        ...syn,
        peer: w.peer,
        peerAfterMs: w.peerAfterMs === null ? null : round3(w.peerAfterMs),
        bytesReceived: w.bytesReceived,
        ...(w.firstByteMs !== null ? { firstByteMs: round3(w.firstByteMs) } : {}),
      },
    };
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
