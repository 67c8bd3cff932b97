import type { AttemptRecord, Phase, ProbePlan, ProbeResult } from '../../core/types.js';
import { parseDuration, type HostPort } from '../../parse.js';

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
  /** Its own options, once: the flags of `conndx <kind>` and the keys of its checks (the shared ones are not here). */
  options: readonly KindOption[];
  /** `conndx <kind>`: what its --help says beyond the options. */
  command: KindCommand;
  /**
   * A kind whose command and checks are built generically (src/cli/kind-command.ts,
   * src/checks/config.ts and plans.ts): how it reads a target, how its option values
   * become settings, and what a check of it adds. dns and tls, whose targets are
   * servers and proxies, keep their own command action and check mapping.
   */
  generic?: GenericKind<S>;
  /** Its checks (`<kind>: TARGET` in a checks file); none: checks do not run it yet. */
  check?: KindCheck<S>;
  /** What `check --dry-run` names of a check of this kind, from its check settings (CheckSpec[kind]). */
  planWords?(checkSettings: unknown): string[];
  /** The phase timings of its results besides its own phase's latency, for the check metrics: [phase, result field]. */
  timingPhases?: readonly [Phase, string][];
}

/** What `conndx <kind> --help` says besides the flags, and its first output line. */
export interface KindCommand {
  description: string;
  /** Its line in `conndx --help` (default: the description). */
  summary?: string;
  /** Its arguments as `conndx --help` shows them (default: the argument's spelling). */
  usage?: string;
  /** The positional argument: [commander spelling, help]. */
  argument: [string, string];
  /** Text after the options in --help (examples, outcomes, timing). */
  helpAfter: () => string;
}

/** The run options every kind shares that its settings take (src/cli/probe-options.ts, a check's common keys). */
export interface SharedSettings {
  timeoutMs: number;
  family: 0 | 4 | 6;
}

/** A check's Prometheus gauge a kind adds (src/checks/metrics.ts registers it for the checks of that kind). */
export interface KindGauge {
  name: string;
  help: string;
  /** The value of a result, or undefined for no sample. */
  value(res: ProbeResult): number | undefined;
}

export interface GenericKind<S> {
  /** A target as written (`@file` lines too) → host, port, family; throws a bad-target error. */
  parseTarget(raw: string): HostPort;
  /** Settings of a `conndx <kind>` run from the option values (`optionsFromFlags`) and the shared options. */
  settings(values: Record<string, unknown>, shared: SharedSettings, targets: readonly HostPort[]): S;
  /** The header line of `conndx <kind>` after "CONNDX <KIND> <targets>": the settings worth naming, then the pacing. */
  describe(settings: S, pacing: string): string;
}

/** Where a check's settings are read from besides its option values. */
export interface CheckReadContext {
  /** The check's target as written. */
  target: string;
  /** The config file's folder: relative paths (ca, cert, key) are read from it. */
  baseDir: string;
}

/** What a check of this kind is: its settings (CheckSpec[kind]), its plan, and how it is judged and exported. */
export interface KindCheck<S> {
  /** A check's settings from its YAML option values (`optionsFromYaml`); problems go to `err` at the key. */
  settings(
    values: Record<string, unknown>,
    err: (path: (string | number)[], message: string, key?: boolean) => void,
    ctx: CheckReadContext,
  ): unknown;
  /** The plan settings of a check run (a kind whose checks resolve something else first, as tls's proxy, leaves it out). */
  planSettings?(check: unknown, shared: SharedSettings): S;
  /** Outcomes that degrade a check (WARNING) instead of failing it (CRITICAL) when they are all that failed: http 4xx. */
  degradedOutcome?(outcome: string): boolean;
  /** Does a check of it shake hands with TLS (so the TLS series exist)? */
  overTls?(check: unknown, target: string): boolean;
  /** Gauges of its own (src/checks/metrics.ts registers each for the checks of that kind). */
  gauges?: readonly KindGauge[];
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

// ---------------------------------------------------------------------------
// Options: each option of a kind once, as data. `conndx <kind>` builds its
// flags from this table (src/cli/kind-command.ts) and the checks config its
// keys, shape and settings (src/checks/config.ts); neither declares a kind's
// option of its own.

/** Where a value was given: a flag of `conndx <kind>` or a key of a check. */
export type OptionSource = 'cli' | 'yaml';

/** A YAML value's accepted types, as the config's shape checks them (zod in src/checks/config.ts). */
export type OptionType = 'string' | 'boolean' | 'number' | 'duration' | 'stringOrList' | 'statuses';

export interface KindOption {
  /** The field of the kind's option values it fills (what `settingsOf` and `checkSettings` read). */
  field: string;
  /** The flag of `conndx <kind>`, as commander spells it: '--send <data>', '-t, --type <type>', '--no-fallback'. None: a check key only. */
  flag?: string;
  /** The --help line of the flag. */
  help?: string;
  /** Accepted flag values (commander refuses others with its own line). */
  choices?: readonly string[];
  /** A default that --help shows as (default: "x"); leave it out when the help text already names the default. */
  shownDefault?: string;
  /** In the table but not in --help. */
  hidden?: boolean;
  /** The flag may be given several times: the value is the list. */
  repeatable?: boolean;
  /** The key of a check in the YAML config (camelCase); none: a flag only. */
  yaml?: string;
  /** The YAML value's type. */
  type?: OptionType;
  /** The value when neither the flag nor the key is given. */
  default?: unknown;
  /**
   * Reads a given value (a flag's text, or true/false for a switch; a YAML
   * value of `type`) into the field's value. Throws an Error whose message is
   * the one line the user sees (`bad --hold "x": …` for a flag, named by
   * `name`: the flag or the key).
   */
  parse?: (value: unknown, name: string, source: OptionSource) => unknown;
  /** The key is another kind's, taken as is (DoT/DoH dns checks take tls's sni, ca, insecure): a misplaced key names its owner, not this kind. */
  borrowed?: boolean;
}

/** The long flag's name as written, without dashes or argument: '--min-version <v>' → 'min-version', '--no-fallback' → 'no-fallback'. */
export function longFlagOf(flag: string): string {
  const long = flag.split(/[ ,|]+/).find((p) => p.startsWith('--'));
  return (long ?? flag).replace(/^--/, '');
}

/** The property commander stores a flag's value under: 'min-version' → minVersion, 'no-fallback' → fallback, 'http1.1' → 'http1.1'. */
export function flagAttribute(flag: string): string {
  return longFlagOf(flag)
    .replace(/^no-/, '')
    .replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Is this option given? A `--no-x` flag is given when its value is false (commander sets true otherwise). */
function givenValue(o: KindOption, values: Record<string, unknown>): unknown {
  const v = values[flagAttribute(o.flag!)];
  if (longFlagOf(o.flag!).startsWith('no-')) return v === false ? false : undefined;
  return v === false ? undefined : v;
}

/**
 * The option values of a kind from commander's parsed flags: each given
 * flag parsed by its table row, the defaults filled in. Bad input throws
 * (the CLI says the one line and exits 3).
 */
export function optionsFromFlags(options: readonly KindOption[], flags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of options) {
    if (!o.flag) {
      if (o.default !== undefined) out[o.field] = o.default;
      continue;
    }
    const v = givenValue(o, flags);
    if (v === undefined) {
      if (o.default !== undefined) out[o.field] = o.default;
      continue;
    }
    out[o.field] = o.parse ? o.parse(v, `--${longFlagOf(o.flag)}`, 'cli') : v;
  }
  return out;
}

/**
 * The option values of a kind from a check's YAML mapping (already of the
 * right types): each given key parsed by its table row; a problem goes to
 * `err` at that key and leaves the field at its default.
 */
export function optionsFromYaml(
  options: readonly KindOption[],
  raw: Record<string, unknown>,
  err: (path: (string | number)[], message: string) => void,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of options) {
    const v = o.yaml === undefined ? undefined : raw[o.yaml];
    if (v === undefined) {
      if (o.default !== undefined) out[o.field] = o.default;
      continue;
    }
    try {
      out[o.field] = o.parse ? o.parse(v, o.yaml!, 'yaml') : v;
    } catch (e) {
      err([o.yaml!], (e as Error).message);
      if (o.default !== undefined) out[o.field] = o.default;
    }
  }
  return out;
}

/** The longest a check's timeout or watch may be (src/checks/config.ts CHECK_DEFAULTS.maxTimeoutMs). */
export const CHECK_MAX_WAIT_MS = 60_000;

const unitWords = (v: number) => `write a unit: "${v}ms" or "${v}s"`;

/**
 * A duration option: a flag's text within `cliMax`, or a YAML value, which
 * must be text with a unit, within `yamlMax` (the messages the checks config gives).
 */
export function durationOption(value: unknown, name: string, source: OptionSource, r: { cliMax: number; yamlMax: number }): number {
  if (source === 'cli') return parseDuration(String(value), name, { max: r.cliMax });
  if (typeof value === 'number') throw new Error(unitWords(value));
  const ms = parseDuration(String(value), name);
  if (ms > r.yamlMax) throw new Error(`${String(value)} is too long: at most ${r.yamlMax / 1000}s`);
  return ms;
}
