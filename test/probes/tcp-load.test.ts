import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { TCP_LAB } from '../../src/lab/tcp.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCliJson } from '../helpers/cli.js';
import { unwrapProse } from '../helpers/unwrap.js';

const BIN = fileURLToPath(new URL('../../bin/conndx', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/cli/commands/tcp.js', import.meta.url));

const open: LabEndpoint[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});

function sh(script: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('tcp under load', () => {
  test('5,000 attempts at concurrency 1,000: every attempt accounted for in outcomes', async () => {
    const ep = await TCP_LAB['tcp-open']!();
    open.push(ep);
    const { json } = await runCliJson(['tcp', `127.0.0.1:${ep.port}`, '--count', '5000', '--concurrency', '1000', '--close', 'rst']);
    expect(json.attempts).toBe(5000);
    const sum = Object.values(json.outcomes as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(sum).toBe(5000);
    expect(json.succeeded + json.failed).toBe(5000);
    expect(typeof json.synRetransmitSuspected).toBe('number');
  });

  test('with ulimit -n 1024, local EMFILE errors are counted and named, with a warning and no crash', async () => {
    expect(existsSync(DIST), 'run `npm run build` first: this test runs bin/conndx').toBe(true);
    const ep = await TCP_LAB['tcp-open']!();
    open.push(ep);
    // --hold keeps each connection open, so 3000 in flight need more descriptors than 1024.
    const r = await sh(
      `ulimit -n 1024; exec "${process.execPath}" "${BIN}" tcp 127.0.0.1:${ep.port} --count 3000 --concurrency 3000 --hold 1s --no-cap --json`,
      25_000,
    );
    // Local EMFILE failures say nothing about the target: they do not raise the exit code (issue 19).
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.attempts).toBe(3000);
    expect(json.outcomes.error).toBeGreaterThan(0);
    expect(json.localErrors).toBe(json.outcomes.error);
    const causes = Object.keys(json.errors);
    expect(causes.some((c) => c.startsWith('EMFILE') && c.includes('ulimit -n 1024'))).toBe(true);
    // Never blame the target for a local limit: no refused/timeout/reset.
    expect(Object.keys(json.outcomes).sort()).toEqual(['error', 'ok']);
    expect(unwrapProse(r.stderr)).toMatch(/warning: .*say nothing about the target/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('by default the same run is capped to the open-file limit up front, with a warning, and nothing fails', async () => {
    const ep = await TCP_LAB['tcp-open']!();
    open.push(ep);
    const r = await sh(
      `ulimit -n 1024; exec "${process.execPath}" "${BIN}" tcp 127.0.0.1:${ep.port} --count 3000 --concurrency 3000 --hold 1s --json`,
      25_000,
    );
    const json = JSON.parse(r.stdout);
    expect(r.stderr).toMatch(/warning: --concurrency 3000 capped to \d+ by this machine's open-file limit 1024 \(ulimit -n\)/);
    expect(json.concurrencyCapped.requested).toBe(3000);
    expect(json.concurrencyCapped.used).toBeLessThan(1024);
    expect(json.outcomes).toEqual({ ok: 3000 });
    expect(r.code).toBe(0);
  });
});
