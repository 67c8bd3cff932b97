import type { LatencyStats } from '../core/histogram.js';

export interface TimingTrust {
  trustworthy: boolean;
  /** One sentence for the result and the terminal. */
  statement: string;
}

/**
 * How far the run's own timings can be trusted. A probe reads the clock
 * when its callbacks run; when the event loop is busy (thousands of
 * handshakes in flight, CPU-bound TLS), callbacks run late and every
 * latency is inflated by up to that delay. The 10 ms lag timer measures it
 * directly, each delay weighted by the time it covers, so its percentiles
 * are shares of the run's time (what a reply arriving at a random moment
 * meets). `busy` (event-loop utilisation over the run) says why: near 1,
 * the process was CPU-bound and replies queued behind each other. Short
 * runs have too few ticks to judge and are not flagged.
 */
export function judgeTiming(
  loopLag: LatencyStats | null,
  elapsedMs: number,
  latency: LatencyStats | null,
  busy?: number,
  threads?: { used: number; cores: number },
  concurrency?: number,
): TimingTrust {
  if (!loopLag || elapsedMs < 500) return { trustworthy: true, statement: 'run too short to measure event-loop delay' };
  const p99 = loopLag.p99;
  // Lag under 5 ms, or under a tenth of the median latency, is within the tolerance a percentile can bear.
  const bearable = Math.max(5, (latency?.p50 ?? 0) * 0.1);
  const r = (x: number) => (x >= 10 ? x.toFixed(0) : x.toFixed(1));
  if (p99 <= bearable)
    return { trustworthy: true, statement: `timers ran at most ${r(p99)} ms late (p99): latencies are accurate to about that` };
  const saturated = busy !== undefined && busy >= 0.8;
  // One attempt at a time cannot load a core by itself: the delay came from elsewhere.
  const advice =
    concurrency !== undefined && concurrency <= 1
      ? 'at --concurrency 1 this run is not the load: other processes on this machine compete for the CPU (compare with a quieter moment)'
      : threads && threads.used >= threads.cores
        ? `lower --concurrency (all ${threads.cores} cores already run probes)`
        : 'lower --concurrency or add --workers';
  const why = saturated
    ? `this process was CPU-bound (busy ${Math.round(busy * 100)}% of the run), so replies waited in its queue`
    : 'this process was busy';
  return {
    trustworthy: false,
    statement: `${why}: timers ran up to ${r(p99)} ms late (p99 of the run's time, median ${r(loopLag.p50)} ms), so latencies may be inflated by about that much; ${advice}`,
  };
}
