import { afterAll, describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';

// A port that accepts and then closes: every attempt fails in phase app, but the
// handshake worked each time and its time was measured. The result keeps it.
describe('tcp: failed attempts keep the phase times that were measured', () => {
  const eps: { close(): Promise<void> }[] = [];
  afterAll(async () => { await Promise.all(eps.map((e) => e.close())); });

  test('accept then FIN: 0% ok, yet the connect time and the handshake count are there', async () => {
    const ep = await lab('tcp-fin-accept');
    eps.push(ep);
    const j = await runCliJson(['tcp', ep.addr, '-c', '3', '--hold', '300ms']);
    expect(j.json.outcomes).toEqual({ closed: 3 });
    expect(j.json.latencyMs).toBeNull(); // over successful attempts only, as the contract says
    const c = j.json.tcpConnectMs as { min: number; p50: number; max: number };
    expect(c.min).toBeGreaterThan(0);
    expect(c.max).toBeLessThan(300); // a loopback handshake, not the hold
    const text = await runCli(['tcp', ep.addr, '-c', '3', '--hold', '300ms']);
    expect(text.stdout).toMatch(/tcp connect, failed after\s+\d/);
    expect(text.stdout).toContain('tcp handshake completed in 3 of 3 attempts; 3 failed after it (phase app)');
  });
});
