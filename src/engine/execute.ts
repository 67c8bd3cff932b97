import type { Phase, AttemptRecord, ProbePlan } from '../core/types.js';
import { phaseOfKind } from '../probes/registry.js';
import { makeMeta } from '../core/meta.js';
import { createAdaptiveController } from './adaptive.js';
import { runAttempts, type Pacing, type RunStats } from './run.js';
import { judgeTiming } from './timing.js';
import { createAggregate, type Aggregate, type ProbeResult } from './summary.js';

export type { ProbePlan };

/** How many and how fast (the shared probe options, as numbers), and what to tell the caller. */
export interface ExecOptions extends Pacing {
  /** Stop starting attempts (Ctrl-C, SIGTERM). */
  signal?: AbortSignal;
  onAttempt?: (r: AttemptRecord) => void | Promise<void>;
  /** Called once with the live aggregate, for progress lines. */
  onAggregate?: (agg: Aggregate) => void;
  /** Adaptive concurrency (--adaptive) between these bounds. */
  adaptive?: { min: number; max: number };
  /** argv for `meta.command`. */
  argv?: readonly string[];
}

/** The aggregate a plan's attempts fold into (one thread or several), handed to `onAggregate`. */
export function aggregateFor<T>(plan: ProbePlan<T>, o: ExecOptions): Aggregate {
  const agg = createAggregate({
    probe: plan.probe,
    target: plan.label ?? plan.targets.map((t) => t.key).join(' '),
    keys: plan.targets.map((t) => t.key),
    breakdown: plan.breakdown,
    openLoop: o.rate !== undefined,
    zeroCounters: plan.zeroCounters,
  });
  o.onAggregate?.(agg);
  return agg;
}

/** Runs a plan through the engine and returns the contract's result object, meta included. */
export async function executeProbe<T>(plan: ProbePlan<T>, o: ExecOptions): Promise<{ result: ProbeResult; stats: RunStats }> {
  const agg = aggregateFor(plan, o);
  const controller = o.adaptive ? createAdaptiveController(o.adaptive) : undefined;
  const stats = await runAttempts({
    controller,
    phase: phaseOf(plan.probe),
    targets: plan.targets,
    probe: plan.fn,
    count: o.count,
    durationMs: o.durationMs,
    concurrency: o.concurrency,
    rate: o.rate,
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    breaker: o.breaker,
    signal: o.signal,
    onAttempt: (r) => {
      agg.add(r);
      return o.onAttempt?.(r);
    },
  });
  const result = agg.result();
  result.elapsedMs = round(stats.elapsedMs);
  await plan.decorate?.(result);
  result.timing = {
    loopLagMs: stats.loopLagMs
      ? { p50: round(stats.loopLagMs.p50), p99: round(stats.loopLagMs.p99), max: round(stats.loopLagMs.max) }
      : null,
    busy: stats.busy,
    ...judgeTiming(
      stats.loopLagMs,
      stats.elapsedMs,
      result.latencyMs,
      stats.busy,
      undefined,
      o.rate === undefined ? o.concurrency : undefined,
    ),
    ...(stats.interrupted ? { interrupted: true } : {}),
  };
  if (stats.series.length > 1) result.series = stats.series;
  if (controller) {
    result.adaptive = { steadyConcurrency: controller.steady(), min: o.adaptive!.min, max: o.adaptive!.max, path: controller.path() };
  }
  result.meta = makeMeta(o.argv ?? [], stats.startedAt);
  return { result, stats };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** The phase a probe kind measures (dns, tcp, tls; app for http): the probe-kind registry. */
export function phaseOf(probe: string): Phase {
  return phaseOfKind(probe);
}
