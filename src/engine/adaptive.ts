import type { AttemptRecord } from '../core/types.js';
import { createHistogram } from '../core/histogram.js';
import type { ConcurrencyController } from './run.js';

export interface AdaptiveOptions {
  min: number;
  max: number;
  /** Latency may grow to this multiple of the no-load latency before the limit backs off. */
  tolerance?: number;
  /** Fraction of failed attempts in a window that counts as overload. */
  maxErrorRate?: number;
  /** Multiplicative decrease factor. */
  backoff?: number;
}

export interface AdaptiveStep {
  /** ms since the controller started. */
  t: number;
  limit: number;
  p50: number | null;
  errorRate: number;
  action: 'increase' | 'decrease' | 'hold';
}

export interface AdaptiveController extends ConcurrencyController {
  path(): AdaptiveStep[];
  /** The concurrency the run settled on: the median limit over the second half of the path. */
  steady(): number;
}

/**
 * Adaptive concurrency limit: additive increase, multiplicative decrease
 * (Chiu & Jain, 1989, as in TCP congestion control), with the congestion
 * signal taken from latency as in TCP Vegas (Brakmo & Peterson, 1995) and
 * Netflix's concurrency-limits "Gradient" limiter: the no-load latency is the
 * lowest window median seen; a window whose median exceeds it by more than
 * `tolerance`, or whose error rate exceeds `maxErrorRate`, is overload.
 *
 * Each decision looks only at attempts started after the previous change,
 * so one overload is not punished twice. The limit grows by about its
 * square root per window (Gradient's queue allowance) while the limit is
 * actually used.
 */
export function createAdaptiveController(o: AdaptiveOptions, clock: () => number = () => performance.now()): AdaptiveController {
  const tolerance = o.tolerance ?? 2;
  const maxErrorRate = o.maxErrorRate ?? 0.05;
  const backoff = o.backoff ?? 0.8;
  let limit = Math.max(1, o.min);
  const t0 = clock();
  let changedAt = t0; // engine-relative start times are compared through actualAt + runStart below
  let runStart: number | null = null;
  let win = createHistogram();
  let winCount = 0;
  let winFail = 0;
  let winPeak = 0;
  let baseline = Infinity;
  const path: AdaptiveStep[] = [];

  const decide = () => {
    const p50 = win.percentile(50);
    const errorRate = winCount ? winFail / winCount : 0;
    if (p50 !== null && p50 < baseline) baseline = p50;
    let action: AdaptiveStep['action'] = 'hold';
    const slow = p50 !== null && p50 > baseline * tolerance;
    if (errorRate > maxErrorRate || slow) {
      const next = Math.max(o.min, Math.floor(limit * backoff));
      if (next !== limit) {
        limit = next;
        action = 'decrease';
      }
    } else if (winPeak >= limit * 0.9) {
      const next = Math.min(o.max, limit + Math.max(1, Math.round(Math.sqrt(limit))));
      if (next !== limit) {
        limit = next;
        action = 'increase';
      }
    }
    const now = clock();
    path.push({
      t: Math.round(now - t0),
      limit,
      p50: p50 === null ? null : Math.round(p50 * 1000) / 1000,
      errorRate: Math.round(errorRate * 1000) / 1000,
      action,
    });
    if (action !== 'hold') changedAt = now;
    win = createHistogram();
    winCount = 0;
    winFail = 0;
    winPeak = 0;
  };

  return {
    limit: () => limit,
    onAttempt(rec: AttemptRecord, inFlight: number) {
      if (rec.outcome === 'dropped' || rec.outcome === 'skipped') return;
      if (runStart === null) runStart = clock() - (rec.actualAt + rec.durationMs);
      if (inFlight > winPeak) winPeak = inFlight; // includes this attempt: it is still counted in flight
      // Ignore attempts that started before the last change: they measured the old limit.
      if (runStart + rec.actualAt < changedAt) return;
      winCount++;
      if (rec.outcome !== 'ok') winFail++;
      else if (rec.latencyMs !== null) win.record(rec.latencyMs);
      if (winCount >= Math.max(20, limit)) decide();
    },
    path: () => path,
    steady() {
      const tail = path
        .slice(Math.floor(path.length / 2))
        .map((s) => s.limit)
        .sort((a, b) => a - b);
      return tail.length ? tail[Math.floor(tail.length / 2)]! : limit;
    },
  };
}
