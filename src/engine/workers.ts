import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { type AttemptRecord, type Phase, type Probe, type TargetRef, type WorkerProbeSpec } from '../core/types.js';
import { phaseOfKind } from '../probes/registry.js';
import { makeMeta } from '../core/meta.js';
import { createHistogram } from '../core/histogram.js';
import { aggregateFor, type ExecOptions, type ProbePlan } from './execute.js';
import type { Pacing, RunStats, SeriesPoint } from './run.js';
import { judgeTiming } from './timing.js';
import type { ProbeResult } from './summary.js';

export type { WorkerProbeSpec };

/** What the main thread sends each worker. */
export interface WorkerJob extends Pacing {
  spec: WorkerProbeSpec;
  phase: Phase;
  targets: TargetRef<unknown>[];
}

export type WorkerMessage =
  | { type: 'start'; startAbs: number }
  | { type: 'records'; records: AttemptRecord[] }
  | { type: 'done'; stats: RunStats; report?: unknown }
  | { type: 'error'; message: string };

/** What a worker factory may return instead of a bare probe: the probe with what it opened for itself. */
export interface WorkerProbe {
  fn: Probe<unknown>;
  /** What the plan's `workerReports` folds in when the share ends (structured-cloneable). */
  report?: () => unknown;
  close?: () => void;
}

/** Threads to use by default for CPU-bound probes (TLS): every core, when there is parallel work. */
export function defaultWorkers(concurrency: number): number {
  return concurrency >= 64 ? Math.min(availableParallelism(), 8) : 1;
}

/** The compiled worker entry, also when this module runs from source (tests build dist/ first). */
function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/engine/worker.js', here) : new URL('./worker.js', here);
}

function share(total: number | undefined, n: number, i: number): number | undefined {
  if (total === undefined) return undefined;
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

/**
 * Runs a plan on `n` worker threads, each with its share of the count,
 * concurrency and rate, and folds every attempt into one aggregate on this
 * thread: the result is exactly what one thread would have reported, with
 * the CPU of every core behind the handshakes. Record times are moved into
 * this thread's clock.
 */
export async function executeInWorkers<T>(
  plan: ProbePlan<T>,
  spec: WorkerProbeSpec,
  o: ExecOptions,
  n: number,
): Promise<{ result: ProbeResult; stats: RunStats }> {
  const agg = aggregateFor(plan, o);
  const mainStart = performance.now();
  const mainStartAbs = performance.timeOrigin + mainStart;
  let seq = 0;
  let firstStart = Infinity;
  let lastEnd = -Infinity;
  const seconds: { completed: number; ok: number; inFlightMax: number; lat: ReturnType<typeof createHistogram> }[] = [];
  const second = (i: number) => {
    while (seconds.length <= i) seconds.push({ completed: 0, ok: 0, inFlightMax: 0, lat: createHistogram() });
    return seconds[i]!;
  };
  const lags: NonNullable<RunStats['loopLagMs']>[] = [];
  let busy = 0;
  let interrupted = false;
  const reports: unknown[] = [];
  // Records are applied in arrival order, one batch at a time, so output and backpressure stay ordered.
  let chain: Promise<void> = Promise.resolve();

  // A spec's own targets (without what cannot cross threads) are the plan's, narrowed as the plan was (--shard).
  const keys = new Set(plan.targets.map((t) => t.key));
  const targets = spec.targets ? spec.targets.filter((t) => keys.has(t.key)) : (plan.targets as TargetRef<unknown>[]);
  const workers = Array.from({ length: n }, (_, i) => {
    const job: WorkerJob = {
      spec,
      phase: phaseOfKind(plan.probe),
      targets,
      count: share(o.count, n, i),
      durationMs: o.durationMs,
      concurrency: Math.max(1, share(o.concurrency, n, i)!),
      rate: o.rate === undefined ? undefined : o.rate / n,
      timeoutMs: o.timeoutMs,
      retries: o.retries,
      breaker: o.breaker,
    };
    return { worker: new Worker(workerUrl(), { workerData: job }), job };
  }).filter((w) => w.job.count === undefined || w.job.count > 0);

  const onStop = () => {
    for (const w of workers) w.worker.postMessage('stop');
  };
  o.signal?.addEventListener('abort', onStop, { once: true });

  const runs = workers.map(
    ({ worker }) =>
      new Promise<void>((resolve, reject) => {
        let shift = 0;
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'start') shift = m.startAbs - mainStartAbs;
          else if (m.type === 'records') {
            chain = chain.then(async () => {
              for (const r of m.records) {
                r.seq = seq++;
                r.actualAt += shift;
                r.intendedAt += shift;
                if (r.actualAt < firstStart) firstStart = r.actualAt;
                const end = r.actualAt + r.durationMs;
                if (end > lastEnd) lastEnd = end;
                const b = second(Math.max(0, Math.floor(end / 1000)));
                b.completed++;
                if (r.outcome === 'ok') {
                  b.ok++;
                  if (r.latencyMs !== null) b.lat.record(r.latencyMs);
                }
                agg.add(r);
                await o.onAttempt?.(r);
              }
            });
          } else if (m.type === 'done') {
            // Each worker's seconds, moved onto this thread's clock: in flight and limits add up across workers.
            for (const p of m.stats.series) {
              const b = second(Math.max(0, Math.floor((p.t * 1000 + shift) / 1000)));
              b.inFlightMax += p.inFlightMax;
            }
            if (m.stats.loopLagMs) lags.push(m.stats.loopLagMs);
            busy = Math.max(busy, m.stats.busy);
            if (m.stats.interrupted) interrupted = true;
            if (m.report !== undefined) reports.push(m.report);
            resolve();
          } else if (m.type === 'error') reject(new Error(`worker: ${m.message}`));
        });
        worker.on('error', reject);
        worker.on('exit', (code) => {
          if (code !== 0) reject(new Error(`worker exited with code ${code}`));
          else resolve();
        });
      }),
  );
  try {
    await Promise.all(runs);
    await chain;
  } finally {
    o.signal?.removeEventListener('abort', onStop);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  const result = agg.result();
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const elapsed = firstStart === Infinity ? 0 : lastEnd - firstStart;
  result.elapsedMs = round(elapsed);
  plan.workerReports?.(reports);
  await plan.decorate?.(result);
  const worst = lags.reduce<NonNullable<RunStats['loopLagMs']> | null>((a, b) => (!a || b.p99 > a.p99 ? b : a), null);
  result.timing = {
    workers: workers.length,
    loopLagMs: worst ? { p50: round(worst.p50), p99: round(worst.p99), max: round(worst.max) } : null,
    busy,
    ...judgeTiming(worst, elapsed, result.latencyMs, busy, { used: workers.length, cores: availableParallelism() }),
    ...(interrupted ? { interrupted: true } : {}),
  };
  const series: SeriesPoint[] = seconds.map((b, t) => ({
    // Threads run without --adaptive (refused): the limit is the run's, every second. Summed
    // from the threads' own seconds it read half in a second only one thread's clock reached.
    t,
    completed: b.completed,
    ok: b.ok,
    inFlightMax: b.inFlightMax,
    limit: o.concurrency,
    p50: b.lat.percentile(50) === null ? null : round(b.lat.percentile(50)!),
    p99: b.lat.percentile(99) === null ? null : round(b.lat.percentile(99)!),
  }));
  if (series.length > 1) result.series = series;
  result.meta = makeMeta(o.argv ?? [], new Date(mainStartAbs).toISOString());
  const stats: RunStats = {
    startMono: mainStart,
    startedAt: new Date(mainStartAbs).toISOString(),
    elapsedMs: elapsed,
    attempts: result.attempts,
    dropped: result.outcomes.dropped ?? 0,
    skipped: result.outcomes.skipped ?? 0,
    interrupted,
    loopLagMs: worst,
    busy,
    series,
  };
  return { result, stats };
}
