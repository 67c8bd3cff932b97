import { describe, expect, test } from 'vitest';
import { now } from '../../src/core/clock.js';
import { runAttempts } from '../../src/engine/run.js';
import { createAggregate } from '../../src/engine/summary.js';
import type { AttemptRecord, Probe } from '../../src/core/types.js';

// An in-process probe whose service time is what it measures itself: one turn
// of the event loop. Whatever the machine's load, an attempt of an open-loop run
// may start late (that is queueing, and counts), never before its schedule.
const oneTurn: Probe<unknown> = () => {
  const t0 = now();
  return new Promise((r) => setImmediate(() => r({ outcome: 'ok', phase: 'tcp', ms: now() - t0 })));
};

describe('open loop: latency from the intended start is never below the service time', () => {
  for (const rate of [200, 2000]) {
    test(`at ${rate}/s no attempt starts before its schedule, latency >= service time >= 0`, async () => {
      const recs: AttemptRecord[] = [];
      const agg = createAggregate({ probe: 't', target: 'x', keys: ['a'], openLoop: true });
      await runAttempts({
        targets: [{ key: 'a', target: 1 }],
        probe: oneTurn,
        count: 300,
        rate,
        concurrency: 50,
        timeoutMs: 1000,
        onAttempt: (r) => {
          recs.push(r);
          agg.add(r);
        },
      });
      expect(recs).toHaveLength(300);
      const early = recs.filter((r) => r.actualAt < r.intendedAt);
      expect(early, `${early.length} attempts started before their schedule`).toEqual([]);
      const below = recs.filter((r) => r.latencyMs === null || r.ms === null || r.latencyMs < r.ms || r.latencyMs < 0);
      expect(
        below.map((r) => [r.latencyMs, r.ms]),
        'latency below the service time',
      ).toEqual([]);
      const res = agg.result();
      const service = res.serviceMs as { min: number; p50: number };
      expect(res.latencyMs!.min).toBeGreaterThanOrEqual(service.min * 0.99);
      expect(res.latencyMs!.p50).toBeGreaterThanOrEqual(service.p50 * 0.99);
    });
  }
});

describe("closed loop: the latency is the attempt's own number", () => {
  test('every latencyMs equals ms, so the summary min/max are per-attempt values', async () => {
    const recs: AttemptRecord[] = [];
    const agg = createAggregate({ probe: 't', target: 'x', keys: ['a'] });
    await runAttempts({
      targets: [{ key: 'a', target: 1 }],
      probe: oneTurn,
      count: 200,
      concurrency: 4,
      timeoutMs: 1000,
      onAttempt: (r) => {
        recs.push(r);
        agg.add(r);
      },
    });
    expect(recs.filter((r) => r.latencyMs !== r.ms)).toEqual([]);
    const res = agg.result();
    const ms = recs.map((r) => r.ms!);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    expect(res.latencyMs!.min).toBe(r3(Math.min(...ms)));
    expect(res.latencyMs!.max).toBe(r3(Math.max(...ms)));
  });
});
