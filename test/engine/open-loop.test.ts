import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCliJson } from '../helpers/cli.js';
import { labProcess } from '../helpers/lab.js';
import { retryOnce, tolerance } from '../helpers/timing.js';

// A resolver that serves one query at a time, 10 ms each: 100 queries/s at most.
describe('open loop (--rate) against a server that cannot keep up', () => {
  let labp: Awaited<ReturnType<typeof labProcess>>;
  beforeAll(async () => {
    labp = await labProcess(['dns-serial']);
  });
  afterAll(async () => {
    await labp.stop();
  });

  test('below capacity the latency is the service time; above it the queue shows', async () => {
    // A loaded machine can offer fewer than 200/s for a moment (the queue then builds less): retried once, both reported.
    await retryOnce('open loop', async () => {
      const addr = labp.endpoints['dns-serial']!.addr;
      const calm = await runCliJson(['dns', 'lab.test', '--server', addr, '--rate', '40', '-c', '60', '--timeout', '5s']);
      expect(calm.json.outcomes).toEqual({ ok: 60 });
      // 10 ms of service; 15 ms of slack plus however late this run's loop was.
      const tol = tolerance(15, calm.json);
      expect(calm.json.latencyMs.p50, `calm p50 against 10 ms service + ${tol.why}`).toBeLessThan(10 + tol.ms);
      // 200/s offered against 100/s served: after 1.5 s the queue is ~150 queries, ~1.5 s deep.
      const over = await runCliJson(['dns', 'lab.test', '--server', addr, '--rate', '200', '-c', '300', '--timeout', '5s']);
      expect(over.json.outcomes).toEqual({ ok: 300 });
      expect(over.json.latencyMs.p99).toBeGreaterThan(1000);
      expect(over.json.latencyMs.p50).toBeGreaterThan(300);
      // the latency of the last second's attempts is far above the first's: the queue grew
      const s = over.json.series as { p50: number | null }[];
      expect(s.at(-1)!.p50!).toBeGreaterThan(5 * s[0]!.p50!);
    });
  }, 60_000);
});
