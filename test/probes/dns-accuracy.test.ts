import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCliJson } from '../helpers/cli.js';
import { labProcess } from '../helpers/lab.js';

/**
 * Accuracy against a resolver whose delays are known: 90% of replies after
 * 5 ms, 10% after 100 ms, by arrival order. The lab runs in its own process
 * so the probe does not share an event loop with the server it measures.
 * Truth: p50 = 5 ms, p99 = 100 ms, plus the server's timer slack (Node
 * timers fire up to ~1 ms late) and loopback. Tolerance: 2 ms or 5%,
 * whichever is larger (the bar).
 */
const within = (got: number, truth: number) => Math.abs(got - truth) <= Math.max(2, truth * 0.05);

describe('DNS latency percentiles against known delays', () => {
  let labp: Awaited<ReturnType<typeof labProcess>>;
  beforeAll(async () => { labp = await labProcess(['dns-slow-tail']); });
  afterAll(async () => { await labp.stop(); });

  test.each([
    [1, 200],
    [200, 2000],
  ])('concurrency %i (%i queries)', async (concurrency, count) => {
    const addr = labp.endpoints['dns-slow-tail']!.addr;
    const { json } = await runCliJson(['dns', 'lab.test', '--server', addr, '-c', String(count), '--concurrency', String(concurrency), '--timeout', '2s']);
    expect(json.outcomes).toEqual({ ok: count });
    const { p50, p99 } = json.latencyMs;
    // Server timers are late by up to about a millisecond; the truth is the configured delay plus that slack.
    expect(within(p50, 5.5), `p50 ${p50} vs 5 ms`).toBe(true);
    expect(within(p99, 100.5), `p99 ${p99} vs 100 ms`).toBe(true);
    // Node timers may fire up to 1 ms early against a fresh clock reading (libuv caches loop time).
    expect(json.latencyMs.min).toBeGreaterThanOrEqual(4);
  });
});
