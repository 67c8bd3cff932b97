import type { EncodedHistogram, LatencyStats } from './histogram.js';
import type { Meta } from './meta.js';

/**
 * The phases a connection goes through, in order. `proxy` (TCP connect to an
 * HTTP proxy) and `tunnel` (its answer to CONNECT) stand in for `tcp` when a
 * proxy is used; `starttls` (the plaintext upgrade dialog) comes before `tls`
 * when asked for.
 */
export const PHASES = ['dns', 'proxy', 'tunnel', 'tcp', 'starttls', 'tls', 'app'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * How a worker thread rebuilds a probe: a module (path relative to the
 * compiled `dist/` root, e.g. "probes/tls.js"), the factory it exports, and
 * the factory's argument (structured-cloneable: strings, numbers, Buffers).
 */
export interface WorkerProbeSpec {
  module: string;
  factory: string;
  args: unknown;
  /**
   * The targets as a worker takes them, when the plan's own hold what cannot
   * cross threads (a shared socket): the factory opens its own from these.
   */
  targets?: TargetRef<unknown>[];
  /** Threads only when --workers asks for them (the default is one thread, whatever the concurrency). */
  onlyWhenAsked?: boolean;
}

export const DNS_OUTCOMES = [
  'ok',
  'nodata',
  'nxdomain',
  'servfail',
  'refused',
  'formerr',
  'notimp',
  'rcode-other',
  'timeout',
  'truncated',
  'malformed',
  'network-error',
  'error',
] as const;
export const TCP_OUTCOMES = ['ok', 'refused', 'timeout', 'unreachable', 'reset', 'closed', 'protocol-error', 'error'] as const;
export const TLS_OUTCOMES = [
  'ok',
  'reset',
  'closed',
  'timeout',
  'cert-expired',
  'cert-not-yet-valid',
  'cert-hostname-mismatch',
  'cert-untrusted',
  'cert-chain-incomplete',
  'not-tls',
  'protocol-error',
  'error',
] as const;
/**
 * Outcomes of one raw ClientHello (`conndx tls --raw`, `--groups`): `ok` is
 * a ServerHello, `hello-retry` a HelloRetryRequest; `alert:<name>` and
 * `tcp:<outcome>` as for `tls`.
 */
export const TLS_RAW_OUTCOMES = ['ok', 'hello-retry', 'reset', 'closed', 'timeout', 'protocol-error', 'error'] as const;
/** Verdicts of the small-versus-large ClientHello comparison (`conndx tls --large-hello`). */
export const HELLO_SIZE_VERDICTS = ['answered', 'large-hello-dropped', 'large-hello-rejected', 'inconclusive'] as const;
/**
 * Outcomes only a capture can tell (`conndx pcap`): a handshake still open when the capture
 * ended, and a full-size segment retransmitted unacknowledged while smaller ones got through.
 */
export const CAPTURE_OUTCOMES = ['stalled', 'pmtu-blackhole-suspected'] as const;
/**
 * The plaintext upgrade before a TLS handshake (`--starttls`), phase `starttls`:
 * the server does not offer it, refuses it (the cause quotes its reply), does
 * not answer in time, closes or resets, or speaks something else.
 */
export const STARTTLS_OUTCOMES = [
  'starttls-not-offered',
  'starttls-refused',
  'starttls-timeout',
  'starttls-closed',
  'starttls-reset',
  'starttls-protocol-error',
] as const;
/**
 * An HTTP CONNECT proxy on the way (`--proxy`): its TCP connect (phase `proxy`:
 * refused, timeout, unreachable, error) and its answer to CONNECT (phase
 * `tunnel`: denied with a non-2xx status, no answer in time, closed, reset,
 * not HTTP).
 */
export const PROXY_OUTCOMES = [
  'proxy-refused',
  'proxy-timeout',
  'proxy-unreachable',
  'proxy-error',
  'proxy-denied',
  'proxy-answer-timeout',
  'proxy-closed',
  'proxy-reset',
  'proxy-protocol-error',
] as const;
/** Outcomes the engine itself gives, for any probe. */
export const ENGINE_OUTCOMES = ['dropped', 'skipped'] as const;

export type DnsOutcome = (typeof DNS_OUTCOMES)[number];
export type TcpOutcome = (typeof TCP_OUTCOMES)[number];
/** `alert:<name>` and `tcp:<outcome>` are open-ended by design. */
export type StarttlsOutcome = (typeof STARTTLS_OUTCOMES)[number];
export type ProxyOutcome = (typeof PROXY_OUTCOMES)[number];
export type TlsOutcome = (typeof TLS_OUTCOMES)[number] | `alert:${string}` | `tcp:${TcpOutcome}` | StarttlsOutcome | ProxyOutcome;

/** The phase a tls attempt's outcome belongs to (tcp:…, proxy…, starttls…, else tls). */
export function tlsOutcomePhase(outcome: string): 'proxy' | 'tunnel' | 'tcp' | 'starttls' | 'tls' {
  if (outcome.startsWith('tcp:')) return 'tcp';
  if (outcome.startsWith('starttls-')) return 'starttls';
  if (outcome === 'proxy-refused' || outcome === 'proxy-timeout' || outcome === 'proxy-unreachable' || outcome === 'proxy-error')
    return 'proxy';
  if (outcome.startsWith('proxy-')) return 'tunnel';
  return 'tls';
}
export type EngineOutcome = (typeof ENGINE_OUTCOMES)[number];

/**
 * What one probe attempt returns. Success and failure have the same shape:
 * the outcome, the phase the attempt ended in, and one timing per phase that
 * ran. Refused, reset and timeout are outcomes, never exceptions.
 */
export interface Attempt {
  outcome: string;
  /** The phase the attempt ended in: the probe's own phase when ok. */
  phase: Phase;
  /** Duration of the probe's own phase (ms) when it completed, else null. */
  ms: number | null;
  /** Other phase timings in ms, e.g. { lookupMs, tcpConnectMs }. Each gets its own summary. */
  timings?: Record<string, number>;
  /** For `error` and failures that have one: what happened, in words (errno, message). */
  cause?: string;
  /** True when the failure is this machine's (fd or port exhaustion, no route configured). */
  local?: boolean;
  /** Counters summed over attempts into the result, e.g. { synRetransmitSuspected: 1 }. */
  counters?: Record<string, number>;
  /** Categorical facts counted per value, e.g. { rcodes: 'NOERROR' } → result.rcodes.NOERROR++. */
  tallies?: Record<string, string>;
  /** Facts copied to the result from the last attempt that carries them (e.g. negotiated, certificate). */
  facts?: Record<string, unknown>;
  /** Probe-specific per-attempt fields for --ndjson and per-attempt lines. */
  detail?: Record<string, unknown>;
}

/** A target as the user wrote it, plus whatever the probe resolved it to. */
export interface TargetRef<T = unknown> {
  /** Key in `byTarget`: exactly as the user wrote it. */
  key: string;
  target: T;
}

/** One probe makes one attempt against one target and never throws for a network outcome. */
export type Probe<T> = (target: T, signal: AbortSignal) => Promise<Attempt>;

/** An attempt as the engine records it (what --ndjson prints). */
export interface AttemptRecord extends Attempt {
  seq: number;
  target: string;
  /** Wall-clock start, UTC ISO 8601. */
  startedAt: string;
  /** Monotonic ms since the run's start at which the attempt was meant to start (open loop) or started. */
  intendedAt: number;
  /** Monotonic ms since the run's start at which it actually started. */
  actualAt: number;
  /** Latency of the probe's own phase counted from the intended start (open loop); equals ms otherwise. */
  latencyMs: number | null;
  /** Whole attempt, start to end, retries included (ms). */
  durationMs: number;
  /** Tries made (1 without --retries). */
  tries: number;
  /** Outcome of the first try, when retries happened. */
  firstOutcome: string;
}

/** The contract's result object of an active probe. Probe-specific fields are added alongside. */
export interface ProbeResult {
  probe: string;
  target: string;
  attempts: number;
  succeeded: number;
  failed: number;
  elapsedMs: number;
  latencyMs: LatencyStats | null;
  /** Open loop only: latency from each attempt's actual start. */
  serviceMs?: LatencyStats | null;
  outcomes: Record<string, number>;
  /** With retries: what the first try of each attempt got. */
  firstTryOutcomes?: Record<string, number>;
  /** Causes of `error` outcomes, with counts: a local limit is named here. */
  errors?: Record<string, number>;
  /** Attempts whose failure was this machine's, not the target's. */
  localErrors?: number;
  /** Encoded histograms, for exact merging (`conndx merge`). */
  histograms?: Record<string, EncodedHistogram>;
  byTarget?: Record<string, ProbeResult>;
  byServer?: Record<string, ProbeResult>;
  meta?: Meta;
  [extra: string]: unknown;
}

/** What to probe: everything a probe kind contributes, independent of how it is shown. */
export interface ProbePlan<T> {
  probe: string;
  /** The result's `target`: what the user asked about (default: the targets joined). */
  label?: string;
  targets: TargetRef<T>[];
  fn: Probe<T>;
  breakdown?: 'byTarget' | 'byServer';
  /** Counter fields every result carries even when zero, e.g. synRetransmitSuspected. */
  zeroCounters?: string[];
  /** Fields added to the result before output (e.g. lookupMs of name resolution, query facts). */
  decorate?: (res: ProbeResult) => void | Promise<void>;
  /** Descriptors one attempt holds (1 for a TCP or TLS connection, 0 for UDP over a shared socket). */
  fdsPerAttempt?: number;
  /** How a worker thread rebuilds `fn`: set for CPU-bound probes (TLS) that gain from every core. */
  worker?: WorkerProbeSpec;
  /**
   * What each worker's probe reported when its share ended (counters kept
   * beside the attempts, e.g. replies a shared socket matched to no query),
   * folded into the plan before `decorate`.
   */
  workerReports?: (reports: unknown[]) => void;
  /** Why this plan runs on one thread only, said when --workers asks for more. */
  oneThread?: string;
}

/** The result of a run that made no attempt (every name unresolved, nothing asked): the contract's shape, all zero. */
export function emptyResult(probe: string, target: string): ProbeResult {
  return { probe, target, attempts: 0, succeeded: 0, failed: 0, elapsedMs: 0, latencyMs: null, outcomes: {} };
}
