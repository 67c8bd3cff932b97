import { Option, type Command } from 'commander';
import { ConndxError } from '../errors.js';
import { DURATION_MAX_MS, parseDuration, parsePositiveInt, parsePositiveNumber } from '../parse.js';

/** The options every active probe shares (contract: "Options shared by the active probes"). */
export interface ProbeRunOptions {
  count?: number;
  concurrency: number;
  rate?: number;
  durationMs?: number;
  timeoutMs: number;
  family: 0 | 4 | 6;
  json: boolean;
  ndjson: boolean;
  quiet: boolean;
  verbose: boolean;
  retries: number;
  breaker?: number;
  /** Adaptive concurrency between these bounds (--adaptive). */
  adaptive?: { min: number; max: number };
  /** Cap concurrency to this machine's descriptor and port limits (default; --no-cap turns it off). */
  cap: boolean;
  /** Worker threads (--workers); undefined: the probe's default. */
  workers?: number;
  /** This host's share of the work: K of N (1-based). */
  shard?: { k: number; n: number };
  /** Pacing as ping does it: one attempt per target every this many ms (--interval; default 1 s with --watch, or --duration alone). */
  intervalMs?: number;
  /** --watch: run until Ctrl-C (which is then the normal end, not an interruption), with a rolling summary. */
  watch: boolean;
}

/** The default pace of --watch and of --duration without --count, --rate or --concurrency: one attempt a second, as ping. */
export const DEFAULT_INTERVAL_MS = 1000;
/** How often --watch prints its rolling summary. */
export const WATCH_SUMMARY_MS = 10_000;

const secs = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : ms < 1000 ? `${ms}ms` : `${ms / 1000}s`);

/** The run's pacing and limits, as every probe's header line says them: "every 1s, until Ctrl-C, timeout 3s". */
export function describePacing(o: ProbeRunOptions): string {
  const parts: string[] = [];
  if (o.watch) parts.push('until Ctrl-C');
  else if (o.durationMs !== undefined) parts.push(`for ${secs(o.durationMs)}`);
  if (o.count !== undefined) parts.push(`count ${o.count}`);
  if (o.intervalMs !== undefined) parts.push(`every ${secs(o.intervalMs)} per target`);
  else {
    if (o.rate !== undefined) parts.push(`rate ${o.rate}/s`);
    parts.push(`concurrency ${o.concurrency}`);
  }
  parts.push(`timeout ${secs(o.timeoutMs)}`);
  return parts.join(', ');
}

/** The shared options a command can leave out: diagnose runs a fixed count per phase, not a load. */
export type LoadOption = 'rate' | 'duration' | 'interval' | 'watch' | 'adaptive' | 'cap' | 'workers' | 'shard' | 'ndjson';

export function addProbeOptions(cmd: Command, defaults: { count?: number } = {}, without: readonly LoadOption[] = []): Command {
  const has = (o: LoadOption) => !without.includes(o);
  cmd.option(
    '-c, --count <n>',
    `attempts per target (default ${defaults.count ?? 10}${has('duration') ? '; with --duration, unlimited' : ''})`,
  );
  cmd.option('--concurrency <n>', `attempts in flight at once (default 1${has('rate') ? '; with --rate, 1000' : ''})`);
  if (has('rate')) cmd.option('--rate <n>', 'open loop: attempts started per second; latency counts from each scheduled start');
  if (has('duration'))
    cmd.option(
      '--duration <d>',
      'run for a time (e.g. 30s, 2m; more than 0, at most 24h) instead of a count (alone: one attempt a second)',
    );
  if (has('interval'))
    cmd.option('-i, --interval <d>', 'one attempt per target every <d>, as ping (e.g. 1s, 200ms); lines are printed as they come');
  if (has('watch'))
    cmd.option('--watch', 'run until Ctrl-C, one attempt a second (or --interval), with a summary every 10s; Ctrl-C ends it normally');
  cmd.option('--timeout <d>', 'per attempt (default 3s, at most 10m)');
  cmd.option('--retries <n>', 'retry a failed attempt up to n times, exponential backoff with jitter (default 0)');
  cmd.option('--breaker <n>', 'circuit breaker: after n consecutive failures skip the target for 10s');
  if (has('adaptive')) {
    cmd.option('--adaptive', 'find the concurrency the target sustains: AIMD on latency and errors, between --min/--max-concurrency');
    cmd.option('--min-concurrency <n>', 'lower bound for --adaptive (default 1)');
    cmd.option('--max-concurrency <n>', 'upper bound for --adaptive (default 1000)');
  }
  if (has('cap'))
    cmd.option('--no-cap', 'do not cap --concurrency to the open-file limit (ulimit -n) and local port range: see how this machine fails');
  if (has('workers'))
    cmd.option('--workers <n>', 'threads running attempts (default: every core for TLS at --concurrency 64 or more, else 1)');
  if (has('shard'))
    cmd.option('--shard <k/n>', "run this host's share K of N: every Nth target, or 1/N of --count and --rate for one target");
  cmd.addOption(new Option('-4', 'IPv4 only').conflicts('6'));
  cmd.addOption(new Option('-6', 'IPv6 only'));
  cmd.option('--json', 'one JSON object on stdout at the end');
  if (has('ndjson')) cmd.option('--ndjson', 'one JSON line per attempt as it finishes');
  cmd.option('-q, --quiet', 'no per-attempt lines, only the summary');
  cmd.option('-v, --verbose', 'per-attempt lines even for long runs');
  return cmd;
}

export function parseProbeOptions(o: Record<string, unknown>, defaults: { count?: number } = {}): ProbeRunOptions {
  const str = (k: string) => (o[k] === undefined ? undefined : String(o[k]));
  const durationMs =
    str('duration') !== undefined ? parseDuration(str('duration')!, '--duration', { min: 1, max: DURATION_MAX_MS.duration }) : undefined;
  const rate = str('rate') !== undefined ? parsePositiveNumber(str('rate')!, '--rate') : undefined;
  const watch = Boolean(o.watch);
  if (watch && (str('count') !== undefined || durationMs !== undefined)) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '--watch runs until Ctrl-C: drop --count and --duration');
  }
  let intervalMs =
    str('interval') !== undefined ? parseDuration(str('interval')!, '--interval', { min: 1, max: DURATION_MAX_MS.hold }) : undefined;
  if (intervalMs !== undefined && (rate !== undefined || o.adaptive || str('concurrency') !== undefined)) {
    throw new ConndxError(
      'CONNDX_BAD_ARGUMENT',
      '--interval paces one attempt at a time per target: drop --rate, --concurrency and --adaptive',
    );
  }
  // Asked for a time (or to watch), not for load: pace as ping does.
  const load = rate !== undefined || o.adaptive || str('concurrency') !== undefined || str('count') !== undefined;
  if (intervalMs === undefined && !load && (watch || durationMs !== undefined)) intervalMs = DEFAULT_INTERVAL_MS;
  const count =
    str('count') !== undefined
      ? parsePositiveInt(str('count')!, '--count')
      : durationMs !== undefined || watch
        ? undefined
        : (defaults.count ?? 10);
  const concurrency =
    str('concurrency') !== undefined
      ? parsePositiveInt(str('concurrency')!, '--concurrency', { max: 1_000_000 })
      : rate !== undefined
        ? 1000
        : 1;
  const timeoutMs = str('timeout') !== undefined ? parseDuration(str('timeout')!, '--timeout', { max: DURATION_MAX_MS.timeout }) : 3000;
  if (timeoutMs <= 0) throw new ConndxError('CONNDX_BAD_DURATION', 'bad --timeout: must be more than 0');
  if (o.json && o.ndjson) throw new ConndxError('CONNDX_BAD_ARGUMENT', '--json and --ndjson cannot be used together');
  let adaptive: ProbeRunOptions['adaptive'];
  if (o.adaptive) {
    const min = str('minConcurrency') !== undefined ? parsePositiveInt(str('minConcurrency')!, '--min-concurrency') : 1;
    const max = str('maxConcurrency') !== undefined ? parsePositiveInt(str('maxConcurrency')!, '--max-concurrency') : 1000;
    if (min > max) throw new ConndxError('CONNDX_BAD_ARGUMENT', `--min-concurrency ${min} is above --max-concurrency ${max}`);
    adaptive = { min, max };
  } else if (str('minConcurrency') !== undefined || str('maxConcurrency') !== undefined) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '--min-concurrency and --max-concurrency go with --adaptive');
  }
  let shard: ProbeRunOptions['shard'];
  if (str('shard') !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(str('shard')!);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) {
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --shard "${str('shard')}": use K/N with 1 <= K <= N, e.g. 2/4`);
    }
    shard = { k: Number(m[1]), n: Number(m[2]) };
  }
  const workers = str('workers') !== undefined ? parsePositiveInt(str('workers')!, '--workers', { max: 64 }) : undefined;
  if (workers !== undefined && workers > 1 && adaptive) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '--adaptive runs on one thread: drop --workers');
  }
  return {
    adaptive,
    shard,
    workers,
    cap: o.cap !== false,
    count,
    concurrency: adaptive ? Math.max(adaptive.max, concurrency) : concurrency,
    rate,
    durationMs,
    timeoutMs,
    family: o['4'] ? 4 : o['6'] ? 6 : 0,
    json: Boolean(o.json),
    ndjson: Boolean(o.ndjson),
    quiet: Boolean(o.quiet),
    verbose: Boolean(o.verbose),
    retries: str('retries') !== undefined ? parsePositiveInt(str('retries')!, '--retries', { min: 0, max: 100 }) : 0,
    watch,
    ...(intervalMs !== undefined ? { intervalMs } : {}),
    // --watch runs until stopped; the engine's own cap (24 h) is its end if nothing stops it.
    ...(watch ? { durationMs: DURATION_MAX_MS.duration } : {}),
    breaker: str('breaker') !== undefined ? parsePositiveInt(str('breaker')!, '--breaker') : undefined,
  };
}
