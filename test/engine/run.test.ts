import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runAttempts } from '../../src/engine/run.js';
import { createAggregate } from '../../src/engine/summary.js';
import type { Attempt, AttemptRecord, Probe } from '../../src/core/types.js';

// These tests exercise the engine's scheduling and accounting with an
// in-process probe whose behaviour is exactly known (a timer, a scripted
// outcome). The network probes have their own tests against real servers.

const sleepProbe =
  (ms: number, outcome = 'ok'): Probe<unknown> =>
  () =>
    new Promise<Attempt>((r) => setTimeout(() => r({ outcome, phase: 'tcp', ms: outcome === 'ok' ? ms : null }), ms));

async function collect(opts: Parameters<typeof runAttempts<unknown>>[0]) {
  const recs: AttemptRecord[] = [];
  const agg = createAggregate({ probe: 't', target: 'x', keys: opts.targets.map((t) => t.key), openLoop: opts.rate !== undefined });
  const stats = await runAttempts({
    ...opts,
    onAttempt: (r) => {
      recs.push(r);
      agg.add(r);
    },
  });
  return { recs, stats, res: agg.result() };
}

describe('engine', () => {
  test('count × targets attempts, each recorded once, outcomes add up', async () => {
    let i = 0;
    const probe: Probe<unknown> = async () => ({ outcome: ['ok', 'refused', 'timeout'][i++ % 3]!, phase: 'tcp', ms: 1 });
    const { recs, res } = await collect({
      targets: [
        { key: 'a', target: 1 },
        { key: 'b', target: 2 },
      ],
      probe,
      count: 6,
      concurrency: 3,
      timeoutMs: 1000,
    });
    expect(recs).toHaveLength(12);
    expect(new Set(recs.map((r) => r.seq)).size).toBe(12);
    expect(Object.values(res.outcomes).reduce((a, b) => a + b)).toBe(res.attempts);
    expect(res.attempts).toBe(12);
    expect(Object.keys(res.byTarget as object)).toEqual(['a', 'b']);
  });

  test('concurrency cap is never exceeded', async () => {
    let inflight = 0;
    let peak = 0;
    const probe: Probe<unknown> = async () => {
      inflight++;
      peak = Math.max(peak, inflight);
      await new Promise((r) => setTimeout(r, 5));
      inflight--;
      return { outcome: 'ok', phase: 'tcp', ms: 5 };
    };
    await collect({ targets: [{ key: 'a', target: 0 }], probe, count: 60, concurrency: 7, timeoutMs: 1000 });
    expect(peak).toBe(7);
  });

  test('open loop: latency counts from the intended start, so a slow server shows queueing', async () => {
    // 40 attempts at 200/s against a 50 ms server with 2 slots: capacity 40/s, offered 200/s.
    const { res, recs } = await collect({
      targets: [{ key: 'a', target: 0 }],
      probe: sleepProbe(50),
      count: 40,
      rate: 200,
      concurrency: 2,
      timeoutMs: 1000,
    });
    expect(res.outcomes.dropped).toBeGreaterThan(0);
    expect(res.outcomes.dropped! + (res.outcomes.ok ?? 0)).toBe(40);
    // Attempts that ran were started on schedule (none waited for a slot: they were dropped instead).
    for (const r of recs.filter((x) => x.outcome === 'ok')) expect(r.actualAt - r.intendedAt).toBeLessThan(30);
    expect(res.serviceMs).toBeTruthy();
  });

  test('open loop without a concurrency limit: every attempt starts on time', async () => {
    const { res, stats } = await collect({
      targets: [{ key: 'a', target: 0 }],
      probe: sleepProbe(20),
      count: 50,
      rate: 500,
      concurrency: 1000,
      timeoutMs: 1000,
    });
    expect(res.outcomes).toEqual({ ok: 50 });
    // 50 starts at 500/s take ~98 ms, plus one 20 ms attempt
    expect(stats.elapsedMs).toBeGreaterThan(100);
    expect(stats.elapsedMs).toBeLessThan(400);
  });

  test('open loop on a stalled process: the stall shows in latency, not hidden', async () => {
    const { recs } = await collect({
      targets: [{ key: 'a', target: 0 }],
      probe: async () => {
        const t = performance.now();
        while (performance.now() - t < 15) {
          /* burn: the process cannot keep the schedule */
        }
        return { outcome: 'ok', phase: 'tcp', ms: 0.1 };
      },
      count: 20,
      rate: 1000,
      concurrency: 1000,
      timeoutMs: 1000,
    });
    const last = recs.at(-1)!;
    // intended every 1 ms, each takes 15 ms of CPU: the last one starts ~280 ms late
    expect(last.latencyMs! - last.ms!).toBeGreaterThan(150);
  });

  test('retries: final outcome in outcomes, first try kept apart', async () => {
    const tries = new Map<number, number>();
    let n = 0;
    const probe: Probe<unknown> = async (t) => {
      const k = tries.get(t as number) ?? 0;
      tries.set(t as number, k + 1);
      void n++;
      return k === 0 ? { outcome: 'refused', phase: 'tcp', ms: null } : { outcome: 'ok', phase: 'tcp', ms: 1 };
    };
    const targets = Array.from({ length: 5 }, (_, i) => ({ key: `t${i}`, target: i }));
    const { res } = await collect({ targets, probe, count: 1, concurrency: 5, timeoutMs: 1000, retries: 2, retryBaseMs: 1 });
    expect(res.outcomes).toEqual({ ok: 5 });
    expect(res.firstTryOutcomes).toEqual({ refused: 5 });
    expect(res.attempts).toBe(5);
  });

  test('circuit breaker: after N consecutive failures, attempts are skipped', async () => {
    const { res } = await collect({
      targets: [{ key: 'a', target: 0 }],
      probe: async () => ({ outcome: 'refused', phase: 'tcp', ms: null }),
      count: 20,
      concurrency: 1,
      timeoutMs: 1000,
      breaker: 3,
      breakerCooldownMs: 60_000,
    });
    expect(res.outcomes).toEqual({ refused: 3, skipped: 17 });
  });

  test('a probe that throws becomes an `error` outcome naming the cause, never a crash', async () => {
    const { res } = await collect({
      targets: [{ key: 'a', target: 0 }],
      probe: async () => {
        throw new Error('boom');
      },
      count: 2,
      concurrency: 1,
      timeoutMs: 1000,
    });
    expect(res.outcomes).toEqual({ error: 2 });
    expect(Object.keys(res.errors as object)[0]).toMatch(/boom/);
  });

  test('stop signal: no new attempts, in-flight ones finish', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 60);
    const { res, stats } = await collect({
      targets: [{ key: 'a', target: 0 }],
      probe: sleepProbe(20),
      count: 1000,
      concurrency: 2,
      timeoutMs: 1000,
      signal: ac.signal,
    });
    expect(stats.interrupted).toBe(true);
    expect(res.attempts).toBeGreaterThan(2);
    expect(res.attempts).toBeLessThan(20);
    expect(res.outcomes).toEqual({ ok: res.attempts });
  });

  test('property: outcomes always add up to attempts, per target too', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('ok', 'refused', 'timeout', 'reset', 'error'), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 8 }),
        async (script, nTargets, conc) => {
          let i = 0;
          const probe: Probe<unknown> = async () => {
            const o = script[i++ % script.length]!;
            return { outcome: o, phase: 'tcp', ms: o === 'ok' ? 1 : null };
          };
          const targets = Array.from({ length: nTargets }, (_, k) => ({ key: `t${k}`, target: k }));
          const { res } = await collect({ targets, probe, count: script.length, concurrency: conc, timeoutMs: 1000 });
          const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
          expect(sum(res.outcomes)).toBe(res.attempts);
          expect(res.succeeded + res.failed).toBe(res.attempts);
          if (nTargets > 1)
            for (const r of Object.values(res.byTarget as Record<string, typeof res>)) expect(sum(r.outcomes)).toBe(r.attempts);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('busy: a probe that burns the CPU shows a saturated loop, one that waits an idle one', async () => {
    const spin: Probe<unknown> = async () => {
      const until = performance.now() + 4;
      while (performance.now() < until) {
        /* CPU-bound work, as a TLS handshake is */
      }
      await new Promise((r) => setImmediate(r));
      return { outcome: 'ok', phase: 'tls', ms: 4 };
    };
    const hot = await collect({ targets: [{ key: 'a', target: 1 }], probe: spin, count: 150, concurrency: 20, timeoutMs: 5000 });
    expect(hot.stats.busy).toBeGreaterThan(0.9);
    const idle = await collect({ targets: [{ key: 'a', target: 1 }], probe: sleepProbe(20), count: 30, concurrency: 2, timeoutMs: 5000 });
    expect(idle.stats.busy).toBeLessThan(0.3);
  });

  test("attempts the engine ends itself (dropped, backstop) carry the probe's own phase", async () => {
    const { recs } = await collect({
      targets: [{ key: 'a', target: 1 }],
      probe: sleepProbe(30),
      count: 20,
      concurrency: 1,
      rate: 500,
      timeoutMs: 1000,
      phase: 'dns',
    });
    const dropped = recs.filter((r) => r.outcome === 'dropped');
    expect(dropped.length).toBeGreaterThan(0);
    for (const r of dropped) expect(r.phase).toBe('dns');
  });

  test('an onAttempt that throws (a broken stdout) stops the run, lets in-flight attempts end, and is rethrown', async () => {
    let seen = 0;
    const run = runAttempts({
      targets: [{ key: 'a', target: 1 }],
      probe: sleepProbe(5),
      count: 200,
      concurrency: 4,
      timeoutMs: 1000,
      onAttempt: () => {
        if (++seen === 3) throw new Error('EPIPE');
      },
    });
    await expect(run).rejects.toThrow('EPIPE');
    expect(seen).toBeLessThan(20); // stopped soon after, not all 200
  });

  test('the lag monitor weights a stall by its length: one 300 ms stall in a second shows at p90, not as one tick among many', async () => {
    let i = 0;
    const stalling: Probe<unknown> = async () => {
      if (i++ === 10) {
        const until = performance.now() + 300;
        while (performance.now() < until) {
          /* one long stall */
        }
      }
      await new Promise((r) => setTimeout(r, 10));
      return { outcome: 'ok', phase: 'tcp', ms: 10 };
    };
    const { stats } = await collect({ targets: [{ key: 'a', target: 1 }], probe: stalling, count: 70, concurrency: 1, timeoutMs: 5000 });
    // about 300 of about 1,100 ms were spent in the stall: above the 80th percentile of the run's time
    expect(stats.loopLagMs!.p90).toBeGreaterThan(250);
    expect(stats.loopLagMs!.p50).toBeLessThan(50);
  });
});
