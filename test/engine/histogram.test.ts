import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createHistogram, decodeHistogram } from '../../src/core/histogram.js';

/** Nearest-rank percentile (the definition HdrHistogram approximates). */
function nearestRank(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

describe('latency histogram', () => {
  test('hand-computed values: 1..1000 ms', () => {
    const h = createHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    const s = h.stats()!;
    expect(s.min).toBe(1);
    expect(s.max).toBe(1000);
    expect(s.mean).toBeCloseTo(500.5, 6);
    // nearest rank: p50 = 500, p90 = 900, p99 = 990, p99.9 = 999; relative error ≤ 0.1%
    for (const [got, want] of [
      [s.p50, 500],
      [s.p90, 900],
      [s.p99, 990],
      [s.p999, 999],
    ] as const) {
      expect(Math.abs(got - want) / want).toBeLessThanOrEqual(0.001);
    }
  });

  test('sub-millisecond values keep their resolution (loopback connects)', () => {
    const h = createHistogram();
    for (const v of [0.041, 0.042, 0.043, 0.044, 0.045]) h.record(v);
    const s = h.stats()!;
    expect(Math.abs(s.p50 - 0.043) / 0.043).toBeLessThanOrEqual(0.001);
    expect(s.min).toBeCloseTo(0.041, 9);
  });

  test('empty histogram has no stats', () => {
    expect(createHistogram().stats()).toBeNull();
  });

  test('property: min ≤ p50 ≤ p90 ≤ p95 ≤ p99 ≤ p99.9 ≤ max, within 0.1% of nearest rank', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.001, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 400 }), (values) => {
        const h = createHistogram();
        for (const v of values) h.record(v);
        const s = h.stats()!;
        const chain = [s.min, s.p50, s.p90, s.p95, s.p99, s.p999, s.max];
        for (let i = 1; i < chain.length; i++) expect(chain[i]).toBeGreaterThanOrEqual(chain[i - 1]!);
        const sorted = values.map((v) => Math.max(1, Math.round(v * 1e6)) / 1e6).sort((a, b) => a - b);
        for (const [p, got] of [
          [50, s.p50],
          [99, s.p99],
        ] as const) {
          const want = nearestRank(sorted, p);
          expect(Math.abs(got - want)).toBeLessThanOrEqual(want * 0.001 + 1e-6);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('merging two halves equals recording the whole, through encode/decode', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.01, max: 10_000, noNaN: true }), { minLength: 2, maxLength: 300 }), (values) => {
        const whole = createHistogram();
        const a = createHistogram();
        const b = createHistogram();
        values.forEach((v, i) => {
          whole.record(v);
          (i % 2 ? a : b).record(v);
        });
        const merged = decodeHistogram(a.encode());
        merged.merge(decodeHistogram(b.encode()));
        expect(merged.stats()).toEqual(whole.stats());
        expect(merged.count()).toBe(values.length);
      }),
      { numRuns: 100 },
    );
  });
});
