import type * as hdr from 'hdr-histogram-js';
// The two modules conndx uses, not the package index: the index also loads
// HistogramLogWriter, whose Intl.NumberFormat costs about 30 ms at start-up,
// in every process and every worker thread (hdr-histogram-js is pinned).
import { build } from 'hdr-histogram-js/dist/HistogramBuilder.js';
import { decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js/dist/encoding.js';

/**
 * Latency statistics. Percentiles come from an HdrHistogram with 3
 * significant digits, so every percentile is within 0.1% of the recorded
 * value it names (HdrHistogram reports the highest value equivalent to the
 * bucket holding the requested rank). min, max and mean are kept exactly.
 * Values are recorded in nanoseconds; histograms merge exactly across worker
 * threads, runs and machines (`encode`/`decode`).
 */
export interface LatencyStats {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export interface Histogram {
  /** Records a value (ms), `n` times (default once). */
  record(ms: number, n?: number): void;
  count(): number;
  stats(): LatencyStats | null;
  percentile(p: number): number | null;
  merge(other: Histogram): void;
  encode(): EncodedHistogram;
  /** Counts in `buckets` log-spaced bins between min and max, for the terminal. */
  bins(buckets?: number): { fromMs: number; toMs: number; count: number }[];
}

export interface EncodedHistogram {
  /** HdrHistogram V2 compressed, base64; values in ns. */
  hdr: string;
  count: number;
  sumNs: number;
  minNs: number;
  maxNs: number;
}

const NS_PER_MS = 1e6;

function newHdr(): hdr.Histogram {
  // 32-bit counts: several times faster to record than the packed layout, and 2^31 per bucket is plenty.
  return build({ numberOfSignificantValueDigits: 3, autoResize: true, bitBucketSize: 32, lowestDiscernibleValue: 1 });
}

/** Decoded histograms must grow like new ones, or merging a wider one into them fails. */
function decodeHdr(b64: string): hdr.Histogram {
  const h = decodeFromCompressedBase64(b64, 32);
  (h as unknown as { autoResize: boolean }).autoResize = true;
  return h;
}

export function createHistogram(): Histogram {
  return wrap(newHdr(), 0, 0, Infinity, -Infinity);
}

function wrap(h: hdr.Histogram, count: number, sumNs: number, minNs: number, maxNs: number): Histogram {
  const self: Histogram = {
    record(ms, n = 1) {
      const ns = Math.max(1, Math.round(ms * NS_PER_MS));
      if (n === 1) h.recordValue(ns);
      else h.recordValueWithCount(ns, n);
      count += n;
      sumNs += ns * n;
      if (ns < minNs) minNs = ns;
      if (ns > maxNs) maxNs = ns;
    },
    count: () => count,
    percentile(p) {
      if (count === 0) return null;
      // Clamp into [min, max]: the bucket's highest equivalent value can exceed the true max.
      const v = h.getValueAtPercentile(p);
      return Math.min(Math.max(v, minNs), maxNs) / NS_PER_MS;
    },
    stats() {
      if (count === 0) return null;
      const p = (q: number) => self.percentile(q)!;
      return {
        min: minNs / NS_PER_MS,
        mean: sumNs / count / NS_PER_MS,
        p50: p(50),
        p90: p(90),
        p95: p(95),
        p99: p(99),
        p999: p(99.9),
        max: maxNs / NS_PER_MS,
      };
    },
    merge(other) {
      const e = other.encode();
      if (e.count === 0) return;
      h.add(decodeHdr(e.hdr));
      count += e.count;
      sumNs += e.sumNs;
      minNs = Math.min(minNs, e.minNs);
      maxNs = Math.max(maxNs, e.maxNs);
    },
    bins(buckets = 8) {
      if (count === 0) return [];
      const lo = Math.log(minNs);
      const span = Math.max(Math.log(maxNs) - lo, 1e-9);
      const out = Array.from({ length: buckets }, (_, i) => ({
        fromMs: Math.exp(lo + (span * i) / buckets) / NS_PER_MS,
        toMs: Math.exp(lo + (span * (i + 1)) / buckets) / NS_PER_MS,
        count: 0,
      }));
      const it = (
        h as unknown as {
          recordedValuesIterator: {
            reset(): void;
            hasNext(): boolean;
            next(): { valueIteratedTo: number; countAddedInThisIterationStep: number };
          };
        }
      ).recordedValuesIterator;
      it.reset();
      while (it.hasNext()) {
        const v = it.next();
        const ns = Math.min(Math.max(v.valueIteratedTo, minNs), maxNs);
        const i = Math.min(buckets - 1, Math.max(0, Math.floor(((Math.log(ns) - lo) / span) * buckets)));
        out[i]!.count += v.countAddedInThisIterationStep;
      }
      return out;
    },
    encode() {
      return { hdr: encodeIntoCompressedBase64(h), count, sumNs, minNs: count ? minNs : 0, maxNs: count ? maxNs : 0 };
    },
  };
  return self;
}

export function decodeHistogram(e: EncodedHistogram): Histogram {
  if (e.count === 0) return createHistogram();
  return wrap(decodeHdr(e.hdr), e.count, e.sumNs, e.minNs, e.maxNs);
}

/** Round for display and JSON: microsecond resolution is all a ms figure needs. */
export function roundStats(s: LatencyStats | null): LatencyStats | null {
  if (!s) return null;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { min: r(s.min), mean: r(s.mean), p50: r(s.p50), p90: r(s.p90), p95: r(s.p95), p99: r(s.p99), p999: r(s.p999), max: r(s.max) };
}
