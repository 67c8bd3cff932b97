import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { judge, type Judged } from '../../src/diagnose/verdict.js';
import { runCliJson } from '../helpers/cli.js';
import { bench } from '../helpers/diagnose-env.js';

// A phase's p99 over its threshold by less than conndx's own timer lateness is no
// evidence against the server (every reply may have waited that long in conndx's own
// queue): a note, not DEGRADED. Over it by more than that, it is slow. The diagnosis is a
// real one of a healthy lab endpoint; only the TLS latency and the lateness are set.

let b: Awaited<ReturnType<typeof bench>>;
let port = 0;
beforeAll(async () => {
  b = await bench();
  port = (await b.start('tls-ok')).port;
});
afterAll(() => b.close());

type Stats = { p99: number; max: number };
function withTls(j: Judged, p99: number, lagMax: number): Judged {
  const c = structuredClone(j) as Judged & {
    tls: { latencyMs: Stats; timing: { loopLagMs: Stats | null }; byTarget?: Record<string, { latencyMs: Stats; timing?: unknown }> };
  };
  c.tls.latencyMs.p99 = c.tls.latencyMs.max = p99;
  c.tls.timing = { ...c.tls.timing, loopLagMs: { p50: lagMax / 2, p99: lagMax, max: lagMax } as Stats };
  for (const r of Object.values(c.tls.byTarget ?? {})) r.latencyMs.p99 = r.latencyMs.max = p99;
  return c;
}

describe("slowness within conndx's own lateness", () => {
  test('over the threshold by less than the lateness: OK with a note; by more: DEGRADED slow', async () => {
    const { json } = await runCliJson(['diagnose', `127.0.0.1:${port}`, '--tls', '--count', '3', ...b.args(['--insecure'])]);
    const real = json as unknown as Judged;
    const th = { tlsMs: 500, dnsMs: 10_000, connectMs: 10_000, firstByteMs: 10_000 };
    expect(judge(real, th).status).toBe('ok');

    const within = judge(withTls(real, 560, 100), th);
    expect(within.status).toBe('ok');
    expect(JSON.stringify(within)).toMatch(/this machine was busy: conndx's own timers ran up to 100 ms late/);

    const beyond = judge(withTls(real, 700, 100), th);
    expect(beyond).toMatchObject({ status: 'degraded', phase: 'tls', outcome: 'slow' });
  });
});
