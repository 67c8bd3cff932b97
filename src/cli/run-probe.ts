import { executeProbe, type ExecOptions, type ProbePlan } from '../engine/execute.js';
import { capConcurrency, readLocalLimits } from '../engine/limits.js';
import { defaultWorkers, executeInWorkers } from '../engine/workers.js';
import type { RunStats } from '../engine/run.js';
import type { Aggregate, ProbeResult } from '../engine/summary.js';
import { fmtMs } from '../report/format.js';
import { renderAttemptLine, renderProbeSummary, type SummaryParts } from '../report/probe-terminal.js';
import { fitText } from '../report/fit.js';
import type { AttemptRecord } from '../core/types.js';
import type { KindSummary, ResolvedTarget } from '../probes/kinds/kind.js';
import { warn, write, type CliContext } from './context.js';
import { dnsField, unresolvedHeader, type Unresolved } from './unresolved.js';
import { WATCH_SUMMARY_MS, type ProbeRunOptions } from './probe-options.js';

export interface ProbeCommand<T> extends ProbePlan<T> {
  opts: ProbeRunOptions;
  /** The engine's allowance for one attempt when the kind needs more than --timeout (tls --resume). */
  engineTimeoutMs?: number;
  /** First line of the human output. */
  header: string;
  /** The probe's own detail on a per-attempt line. */
  attemptDetail?: (r: AttemptRecord) => string;
  summary: SummaryParts;
  /** Warnings printed after the run (stderr), from the final result. */
  warnings?: (res: ProbeResult) => string[];
  /** Targets left out because their names did not resolve: named in the header and the result's `dns`, and the run never exits 0. */
  leftOut?: Unresolved[];
}

/** A kind's summary parts as the shared renderer takes them, in this terminal's colours. */
export function kindSummaryParts(k: KindSummary, ctx: CliContext): Pick<ProbeCommand<unknown>, 'summary' | 'attemptDetail' | 'warnings'> {
  const { extra, attemptDetail, warnings, ...rest } = k;
  return {
    summary: { ...rest, ...(extra ? { extra: (r: ProbeResult) => extra(r, ctx.c) } : {}) },
    ...(attemptDetail ? { attemptDetail } : {}),
    ...(warnings ? { warnings } : {}),
  };
}

/** The header lines naming what each target's name resolved to, and how long that took. */
/**
 * The targets as a run's header names them: up to three as written; more as a count with the
 * first and the last (the per-target table lists every one), so the header stays one line.
 */
export function targetsLabel(raw: readonly string[], sep = ' '): string {
  if (raw.length <= 3) return raw.join(sep);
  return `${raw.length} targets (${raw[0]} … ${raw[raw.length - 1]})`;
}

export function lookupLines(targets: readonly ResolvedTarget[]): string[] {
  return targets.flatMap((t) =>
    t.lookupMs === null ? [] : [`  ${t.key}: resolved to ${t.address} in ${fmtMs(t.lookupMs)} ms (not counted in the connect time)`],
  );
}

/** A paced (--interval) result: latency is the attempts' own time, at each level. */
function asPaced(r: ProbeResult): void {
  if (r.serviceMs !== undefined) {
    r.latencyMs = r.serviceMs as ProbeResult['latencyMs'];
    delete r.serviceMs;
  }
  if (r.histograms?.service) {
    r.histograms.latency = r.histograms.service;
    delete r.histograms.service;
  }
  for (const by of [r.byTarget, r.byServer]) for (const x of Object.values(by ?? {})) asPaced(x);
}

/** Attempts past which per-attempt lines are off unless -v. */
const LINES_UNTIL = 100;

/**
 * The exit code of a probe run (contract): 0 all ok, 1 some failed, 2 all
 * failed, over the attempts that reached the target: an attempt this machine
 * failed (localErrors: no file descriptor, no local port) counts for neither;
 * 3 when every attempt failed locally, so nothing was measured.
 */
export function probeExitCode(res: Pick<ProbeResult, 'attempts' | 'succeeded'> & { localErrors?: unknown }): number {
  const local = Math.min(typeof res.localErrors === 'number' ? res.localErrors : 0, res.attempts - res.succeeded);
  const measured = res.attempts - local;
  if (local > 0 && measured === 0) return 3;
  if (measured > 0 && res.succeeded === measured) return 0;
  if (res.succeeded === 0) return 2;
  return 1;
}

/** Runs a probe through the engine and renders it: shared by dns, tcp and tls. */
export async function runProbeCommand<T>(ctx: CliContext, p: ProbeCommand<T>): Promise<{ result: ProbeResult; stats: RunStats }> {
  const o = p.opts;
  const human = !o.json && !o.ndjson;
  const expected = o.count !== undefined ? o.count * p.targets.length : Infinity;
  // A paced run (--interval, --watch) prints every attempt as it comes, as ping does.
  const paced = o.intervalMs !== undefined;
  const lines = human && !o.quiet && (o.verbose || paced || expected <= LINES_UNTIL);
  // --watch ends with Ctrl-C: that is its normal end, and the exit code is the results'.
  if (o.watch) ctx.untilStopped = true;
  let agg: Aggregate | undefined;
  const leftOut = p.leftOut ?? [];
  const header = [p.header, ...unresolvedHeader(leftOut)].join('\n');
  if (human) await write(ctx.stdout, ctx.c.bold(fitText(header)) + '\n');

  // A live line on stderr for long runs on a terminal.
  let progress: NodeJS.Timeout | undefined;
  const live = ctx.stderr.isTTY && !lines && expected > LINES_UNTIL;
  // --watch: a rolling summary line every WATCH_SUMMARY_MS, on stdout between the attempt lines.
  let rolling: NodeJS.Timeout | undefined;
  if (o.watch && human) {
    const t0 = Date.now();
    rolling = setInterval(() => {
      if (!agg) return;
      const s = agg.snapshot();
      const pct = s.attempts ? ((100 * s.succeeded) / s.attempts).toFixed(1) : '-';
      void write(
        ctx.stdout,
        ctx.c.dim(
          `--- ${Math.round((Date.now() - t0) / 1000)}s: ${s.attempts} attempts, ${s.succeeded} ok (${pct}%), p50 ${fmtMs(s.p50)} ms, p99 ${fmtMs(s.p99)} ms ---`,
        ) + '\n',
      );
    }, WATCH_SUMMARY_MS);
  }
  if (live) {
    const t0 = Date.now();
    let last = 0;
    progress = setInterval(() => {
      if (!agg) return;
      const s = agg.snapshot();
      const secs = (Date.now() - t0) / 1000;
      const rate = s.attempts - last;
      last = s.attempts;
      ctx.stderr.write(
        `\r\x1b[K${s.attempts} attempts, ${rate}/s, ok ${s.attempts ? ((100 * s.succeeded) / s.attempts).toFixed(1) : '-'}%, p50 ${fmtMs(s.p50)} ms, p99 ${fmtMs(s.p99)} ms, ${secs.toFixed(0)}s`,
      );
    }, 1000);
  }

  // --shard K/N: every Nth target, or with fewer targets than shards, 1/N of the count and rate.
  let plan: ProbePlan<T> = p;
  let count = o.count;
  let rate = o.rate;
  if (o.shard) {
    const { k, n } = o.shard;
    if (p.targets.length >= n) {
      const mine = p.targets.filter((_, i) => i % n === k - 1);
      // The result's `target` names what this shard probed, not the whole list.
      const whole = p.targets.map((t) => t.key).join(' ');
      const label = p.label === undefined || p.label === whole ? mine.map((t) => t.key).join(' ') : p.label;
      plan = { ...p, label, targets: mine };
    } else {
      if (count !== undefined) count = Math.floor(count / n) + (k <= count % n ? 1 : 0);
      if (rate !== undefined) rate = rate / n;
    }
  }
  // --interval: one attempt per target every interval, open loop (as ping sends whether or not the
  // last one was answered), with room for every attempt still within its timeout.
  if (paced) {
    rate = (plan.targets.length * 1000) / o.intervalMs!;
  }
  // Local limits: cap the concurrency up front instead of failing half-way with EMFILE/EADDRNOTAVAIL.
  const wanted = paced ? plan.targets.length * (Math.ceil((p.engineTimeoutMs ?? o.timeoutMs) / o.intervalMs!) + 1) : o.concurrency;
  let concurrency = wanted;
  let adaptive = o.adaptive;
  if (o.cap && p.fdsPerAttempt) {
    const capped = capConcurrency(concurrency, readLocalLimits(), p.fdsPerAttempt, plan.targets.length === 1);
    if (capped.warning) {
      warn(ctx, capped.warning);
      concurrency = capped.concurrency;
      if (adaptive) adaptive = { min: Math.min(adaptive.min, concurrency), max: Math.min(adaptive.max, concurrency) };
    }
  }
  const workers = o.adaptive || paced ? 1 : (o.workers ?? (p.worker && !p.worker.onlyWhenAsked ? defaultWorkers(o.concurrency) : 1));
  if (workers > 1 && !p.worker) warn(ctx, `--workers: ${p.oneThread ?? `the ${p.probe} probe runs on one thread`}`);
  const exec = (x: ExecOptions) => (workers > 1 && p.worker ? executeInWorkers(plan, p.worker, x, workers) : executeProbe(plan, x));
  const { result, stats } = await exec({
    count,
    durationMs: o.durationMs,
    concurrency,
    rate,
    adaptive,
    timeoutMs: p.engineTimeoutMs ?? o.timeoutMs,
    retries: o.retries,
    breaker: o.breaker,
    signal: ctx.stop,
    argv: ctx.argv,
    onAggregate: (a) => {
      agg = a;
    },
    onAttempt: (rec) => {
      // A paced run's latency is each attempt's own time, in its lines as in its summary (asPaced).
      const r = paced && rec.latencyMs !== null && rec.ms !== null ? { ...rec, latencyMs: rec.ms } : rec;
      ctx.onAttempt?.(r);
      if (o.ndjson) {
        const { intendedAt: _i, actualAt: _a, facts: _f, counters: _c, tallies: _t, ...line } = r;
        return write(ctx.stdout, JSON.stringify(line) + '\n');
      }
      if (lines) return write(ctx.stdout, fitText(renderAttemptLine(ctx.c, r, p.attemptDetail?.(r))) + '\n');
    },
  });
  if (progress) {
    clearInterval(progress);
    ctx.stderr.write('\r\x1b[K');
  }
  if (rolling) clearInterval(rolling);

  if (stats.interrupted && !o.watch) warn(ctx, 'interrupted: the result covers the attempts made before Ctrl-C');
  // A paced run is no load test: its latency is each attempt's own time (as ping's), not the time
  // from a schedule a timer of this process kept; so the scheduler's lateness does not enter it.
  if (paced) asPaced(result);
  const trust = result.timing as { trustworthy?: boolean; statement?: string } | undefined;
  if (trust && trust.trustworthy === false && trust.statement && !paced) warn(ctx, trust.statement);
  if (result.localErrors) {
    warn(
      ctx,
      `${result.localErrors as number} attempt(s) failed for a reason on this machine (${Object.keys(result.errors ?? {}).join('; ')}); they say nothing about the target`,
    );
  }
  for (const w of p.warnings?.(result) ?? []) warn(ctx, w);
  if (o.shard) result.shard = `${o.shard.k}/${o.shard.n}`;
  if (concurrency !== wanted) result.concurrencyCapped = { requested: wanted, used: concurrency };

  if (leftOut.length) result.dns = dnsField(leftOut);
  if (o.json) await write(ctx.stdout, JSON.stringify(result, null, 2) + '\n');
  else if (human) {
    await write(ctx.stdout, (lines ? '\n' : '') + fitText(renderProbeSummary(ctx.c, result, p.summary, { quiet: o.quiet })));
    const ad = result.adaptive as { steadyConcurrency: number; path: { limit: number }[] } | undefined;
    if (ad)
      await write(
        ctx.stdout,
        fitText(
          `adaptive concurrency: settled at ${ad.steadyConcurrency} (path: ${ad.path
            .map((s) => s.limit)
            .filter((v, i, a) => i === 0 || v !== a[i - 1])
            .slice(-20)
            .join(' → ')})\n`,
        ),
      );
  }
  // A target left out failed as surely as one that was probed and failed.
  ctx.exitCode = leftOut.length ? Math.max(1, probeExitCode(result)) : probeExitCode(result);
  return { result, stats };
}
