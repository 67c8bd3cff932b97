import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { TLS_OUTCOMES } from '../../src/core/types.js';
import { runCliJson } from '../helpers/cli.js';
import { startTls } from '../helpers/tls-lab.js';

// 5,000 handshakes at --concurrency 500 against the lab's ok endpoint: every
// attempt is accounted for, once, under a contract outcome. The server runs
// in this process too, so this checks bookkeeping under load, not speed
// (bench/tls/bench.sh measures speed with the server in its own process).
test('5000 handshakes at concurrency 500: every attempt accounted for', async () => {
  const ep = await startTls('tls-ok');
  const dir = mkdtempSync(join(tmpdir(), 'conndx-tls-load-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), ep.info!.ca as string);
    const { code, json } = await runCliJson([
      'tls',
      `127.0.0.1:${ep.port}`,
      '--sni',
      'lab.conndx.test',
      '--ca',
      join(dir, 'ca.pem'),
      '--count',
      '5000',
      '--concurrency',
      '500',
      '--timeout',
      '20s',
    ]);
    expect(json.attempts).toBe(5000);
    const outcomes = json.outcomes as Record<string, number>;
    expect(Object.values(outcomes).reduce((a, b) => a + b, 0)).toBe(5000);
    expect(json.succeeded + json.failed).toBe(5000);
    for (const o of Object.keys(outcomes)) {
      expect((TLS_OUTCOMES as readonly string[]).includes(o) || /^(alert|tcp):/.test(o), o).toBe(true);
    }
    // With a 20 s timeout on loopback nothing should fail; if something does, it is named.
    expect(outcomes.ok, JSON.stringify(outcomes)).toBe(5000);
    expect(code).toBe(0);
    expect(json.latencyMs.p50).toBeGreaterThan(0);
    expect(json.tcpConnectMs.p50).toBeGreaterThan(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await ep.close();
  }
}, 120_000);
