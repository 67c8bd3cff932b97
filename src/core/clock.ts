import { performance } from 'node:perf_hooks';

/** The one monotonic clock: milliseconds with sub-microsecond resolution. */
export const now = (): number => performance.now();

let lastMs = NaN;
let lastIso = '';

/** Wall-clock time for a monotonic reading, as UTC ISO 8601 (ms). Memoised per ms: attempts come thousands a second. */
export function wallClock(monoMs: number): string {
  const ms = Math.floor(performance.timeOrigin + monoMs);
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
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
