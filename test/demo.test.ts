import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { runCli } from './helpers/cli.js';
import { BIN } from './helpers/lab.js';

describe('conndx demo', () => {
  test('--json: a healthy endpoint and every fault, each verdict as expected, exit 0, well under 20 s', async () => {
    const t0 = Date.now();
    const r = await runCli(['demo', '--json']);
    const took = Date.now() - t0;
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const got = Object.fromEntries(
      j.cases.map((k: { name: string; verdict: { status: string; phase: string; outcome: string } }) => [
        k.name,
        `${k.verdict.status} ${k.verdict.phase} ${k.verdict.outcome}`,
      ]),
    );
    expect(got).toEqual({
      healthy: 'ok ok ok',
      'dns-slow-tail': 'degraded dns slow',
      nxdomain: 'failing dns nxdomain',
      refused: 'failing tcp refused',
      'dropped-syn': 'failing tcp timeout',
      'reset-after-hello': 'failing tls reset',
      'expired-certificate': 'failing tls cert-expired',
    });
    expect(j.cases.every((k: { matches: boolean }) => k.matches)).toBe(true);
    expect(took).toBeLessThan(20_000);
    expect(j.meta.command).toBe('conndx demo --json');
  });

  test('human output: each verdict, and every line within 80 columns', async () => {
    const r = await runCli(['demo']);
    expect(r.code).toBe(0);
    for (const v of [
      'VERDICT OK',
      'VERDICT DEGRADED · dns · slow',
      'VERDICT FAILING · tcp · refused',
      'VERDICT FAILING · tcp · timeout',
      'VERDICT FAILING · tls · reset',
      'VERDICT FAILING · tls · cert-expired',
      'VERDICT FAILING · dns · nxdomain',
    ]) {
      expect(r.stdout).toContain(v);
    }
    expect(r.stdout).toMatch(/7 of 7 verdicts as expected/);
    for (const l of r.stdout.split('\n')) expect([...l].length, l).toBeLessThanOrEqual(80);
    // No "$ conndx diagnose URL" the demo did not run as printed (it used the lab's resolver and CA).
    expect(r.stdout).not.toMatch(/^\s*\$ conndx diagnose /m);
    expect(r.stdout).toMatch(/diagnosis of https:\/\/ok\.lab\.test:\d+\/healthz \(the lab's resolver and CA\)/);
  });

  test("the real process (the README's first command): exits 0 within 20 s, start-up included, and ends on its own (bin/conndx never calls process.exit, so every lab socket was closed)", async () => {
    const t0 = Date.now();
    // Needs `npm run build` first, as `npm test` does.
    const r = await promisify(execFile)(process.execPath, [BIN, 'demo'], {
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' },
    });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.stdout).toMatch(/7 of 7 verdicts as expected/);
    expect(r.stderr).toBe('');
  }, 40_000);
});
