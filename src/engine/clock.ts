import { performance } from 'node:perf_hooks';

/** The one monotonic clock: milliseconds with sub-microsecond resolution. */
export const now = (): number => performance.now();

/** Wall-clock time for a monotonic reading, as UTC ISO 8601. */
export function wallClock(monoMs: number): string {
  return new Date(performance.timeOrigin + monoMs).toISOString();
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
