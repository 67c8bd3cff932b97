import type { AttemptRecord, Phase, ProbePlan, ProbeResult } from '../../core/types.js';

/**
 * What a probe kind is, apart from how it probes: the facts every command,
 * checks and the engine read about it. One module per kind exports one of
 * these; src/probes/registry.ts maps names to them.
 */
export interface ProbeKindInfo {
  name: string;
  /** The phase its ok attempts measure, and the phase of the attempts the engine ends for it. */
  phase: Phase;
  /** The port of a host:port target (for dns: the server's) when it is left out; none: the port is required. */
  defaultPort?: number;
  /** Every outcome it can give that a metric is created for up front (open-ended ones, like alert:<name>, appear when seen). */
  outcomes: readonly string[];
  /** The phase an attempt with this outcome ended in (the kind's own phase when ok). */
  phaseOfOutcome(outcome: string): Phase;
}

/** A target whose name was resolved once, before the run (probes/resolve.ts `resolveTargets`). */
export interface ResolvedTarget {
  /** As the user wrote it: the key of the target's results. */
  key: string;
  /** The host as written (a name or an address literal, no brackets): the default SNI and Host header. */
  host: string;
  /** 4 or 6 when `host` is an address literal, 0 for a name. */
  hostFamily: 0 | 4 | 6;
  address: string;
  family: 4 | 6;
  port: number;
  /** The lookup's time, null for an address literal. */
  lookupMs: number | null;
}

/** A plan as a kind builds it from settings: what the engine runs, and the allowance it gives each attempt. */
export interface KindPlan<T = unknown> {
  plan: ProbePlan<T>;
  /** The engine's deadline for one attempt: the probe's timeout plus what the kind does after it (a watch, a resumption). */
  engineTimeoutMs: number;
  /** Frees what the plan holds open (DNS's shared UDP sockets). */
  close(): void;
}

/** Colours a summary line may use (a chalk instance fits; identity functions for plain text). */
export interface Paint {
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
}

/** How a kind's results read in text: the parts the shared renderer (report/probe-terminal.ts) fills in. */
export interface KindSummary {
  /** Label of the kind's own phase in the latency table. */
  phaseLabel: string;
  /** Other timing fields to show as rows: [field, label]. */
  timingRows?: [string, string][];
  /** The kind's own lines after the latency table (negotiated TLS, rcodes, SYN retransmits…). */
  extra?: (res: ProbeResult, paint: Paint) => string[];
  /** The kind's own detail on a per-attempt line. */
  attemptDetail?: (r: AttemptRecord) => string;
  /** Warnings printed after the run (stderr), from the final result. */
  warnings?: (res: ProbeResult) => string[];
}

/** What plan building may use besides the settings. */
export interface PlanEnv {
  /** Ends the work a plan does outside the engine (tls --versions). */
  signal?: AbortSignal;
}

/**
 * A probe kind: its facts, how it builds a plan from its settings over
 * resolved targets, and how its results read. `conndx <kind>`, the checks
 * and `diagnose` all build their plans through `plan`, so timeouts,
 * allowances, counters and decorations are decided here once.
 */
export interface ProbeKind<S = unknown, Tg = ResolvedTarget> extends ProbeKindInfo {
  plan(settings: S, targets: Tg[], env?: PlanEnv): Promise<KindPlan>;
  /** How its results read, for the settings they were made with. */
  summary(settings: S): KindSummary;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The lookup facts of resolved targets on a result: one target's on the top
 * level (lookupMs, address); several: each under byTarget, and the slowest
 * lookup on the top level.
 */
export function putLookups(res: ProbeResult, targets: readonly ResolvedTarget[]): void {
  const by = res.byTarget as Record<string, ProbeResult> | undefined;
  const put = (x: ProbeResult, t: ResolvedTarget) => {
    if (t.lookupMs === null) return;
    x.lookupMs = round(t.lookupMs);
    x.address = t.address;
  };
  if (targets.length === 1) put(res, targets[0]!);
  else {
    const looked = targets.filter((t) => t.lookupMs !== null);
    if (looked.length) res.lookupMs = round(Math.max(...looked.map((t) => t.lookupMs!)));
  }
  if (by) for (const t of targets) if (by[t.key]) put(by[t.key]!, t);
}
