import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { AttemptRecord, Probe } from '../core/types.js';
import { runAttempts } from './run.js';
import type { WorkerJob, WorkerMessage, WorkerProbe } from './workers.js';

// A worker thread of executeInWorkers: rebuilds the probe from its spec, runs
// its share of the attempts and streams the records back in small batches.
const job = workerData as WorkerJob;
const port = parentPort!;
const stop = new AbortController();
port.on('message', (m) => {
  if (m === 'stop') stop.abort();
});
const send = (m: WorkerMessage) => port.postMessage(m);

let batch: AttemptRecord[] = [];
let flushTimer: NodeJS.Timeout | undefined;
const flush = () => {
  if (flushTimer) {
    clearTimeout(flushTimer);
    flushTimer = undefined;
  }
  if (batch.length) {
    send({ type: 'records', records: batch });
    batch = [];
  }
};

try {
  const mod = (await import(new URL(`../${job.spec.module}`, import.meta.url).href)) as Record<
    string,
    (a: unknown) => Probe<unknown> | WorkerProbe | Promise<WorkerProbe>
  >;
  const factory = mod[job.spec.factory];
  if (typeof factory !== 'function') throw new Error(`${job.spec.module} has no ${job.spec.factory}`);
  // A factory returns the probe, or (with what it opened itself) the probe, its end-of-share report and its close.
  const built = await factory(job.spec.args);
  const own: WorkerProbe = typeof built === 'function' ? { fn: built } : built;
  const probe = own.fn;
  const stats = await runAttempts({
    targets: job.targets,
    probe,
    phase: job.phase,
    count: job.count,
    durationMs: job.durationMs,
    concurrency: job.concurrency,
    rate: job.rate,
    timeoutMs: job.timeoutMs,
    retries: job.retries,
    breaker: job.breaker,
    signal: stop.signal,
    onStart: (startMono) => send({ type: 'start', startAbs: performance.timeOrigin + startMono }),
    onAttempt: (r) => {
      batch.push(r);
      if (batch.length >= 64) flush();
      else flushTimer ??= setTimeout(flush, 20);
    },
  });
  flush();
  const report = own.report?.();
  own.close?.();
  send({ type: 'done', stats, ...(report === undefined ? {} : { report }) });
} catch (e) {
  send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
}
