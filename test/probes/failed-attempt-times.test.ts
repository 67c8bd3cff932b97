import { afterAll, describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';

// A port that accepts and then closes: every attempt fails in phase app, but the
// handshake worked each time and its time was measured. The result keeps it.
describe('tcp: failed attempts keep the phase times that were measured', () => {
  const eps: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(eps.map((e) => e.close()));
  });

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

describe('dns: an error rcode is an answer with a measured time', () => {
  test('SERVFAIL: 0% ok, the reply times are in replyMs and the summary shows them', async () => {
    const ep = await lab('dns-servfail');
    try {
      const j = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '5']);
      expect(j.json.outcomes).toEqual({ servfail: 5 });
      expect(j.json.latencyMs).toBeNull();
      const r = j.json.replyMs as { min: number; max: number };
      expect(r.min).toBeGreaterThan(0);
      expect(r.max).toBeLessThan(3000);
      const text = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '5']);
      expect(text.stdout).toMatch(/failed replies\s+\d/);
    } finally {
      await ep.close();
    }
  });
});

describe('dns answers keep every field', () => {
  test('SRV with weight and port, SOA with its serial, MX and TXT in presentation form', async () => {
    const ep = await lab('dns-ok');
    try {
      const ans = async (type: string) => {
        const j = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '1', '--type', type]);
        return (j.json.answers as string[])[0];
      };
      expect(await ans('SRV')).toBe('lab.test 60 SRV 1 1 443 svc.lab.test');
      expect(await ans('SOA')).toBe('lab.test 60 SOA ns1.lab.test hostmaster.lab.test 1 3600 600 86400 60');
      expect(await ans('MX')).toMatch(/^lab\.test 60 MX \d+ \S+$/);
      expect(await ans('TXT')).toBe('lab.test 60 TXT "conndx lab"');
    } finally {
      await ep.close();
    }
  });
});
