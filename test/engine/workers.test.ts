import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { labProcess } from '../helpers/lab.js';

describe('worker threads', () => {
  test('TLS handshakes on 2 threads: every attempt once, per target, same facts as one thread', async () => {
    const labp = await labProcess(['tls-ok', 'tls-expired']);
    const dir = await mkdtemp(join(tmpdir(), 'conndx-workers-'));
    try {
      const ok = labp.endpoints['tls-ok']!;
      const exp = labp.endpoints['tls-expired']!;
      const ca = join(dir, 'ca.pem');
      await writeFile(ca, labp.info['tls-ok']!.ca as string);
      const args = ['tls', ok.addr, exp.addr, '--sni', labp.info['tls-ok']!.sni as string, '--ca', ca, '-c', '30', '--concurrency', '8'];
      const two = await runCliJson([...args, '--workers', '2']);
      const one = await runCliJson([...args, '--workers', '1']);
      expect(two.json.timing.workers).toBe(2);
      expect(two.json.attempts).toBe(60);
      expect(two.json.byTarget[ok.addr].outcomes).toEqual({ ok: 30 });
      expect(two.json.byTarget[exp.addr].outcomes).toEqual({ 'cert-expired': 30 });
      expect(two.json.outcomes).toEqual(one.json.outcomes);
      expect(two.json.byTarget[ok.addr].negotiated).toEqual(one.json.byTarget[ok.addr].negotiated);
      expect(two.json.latencyMs.p50).toBeGreaterThan(0);
      expect(two.code).toBe(1);
      const nd = await runCli([...args, '--workers', '2', '--ndjson']);
      const lines = nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(60);
      expect(new Set(lines.map((l) => l.seq)).size).toBe(60);
    } finally {
      await labp.stop();
    }
  });

  test('the per-second series of a run on 2 threads counts what was in flight on both', async () => {
    const labp = await labProcess(['tls-ok']);
    const dir = await mkdtemp(join(tmpdir(), 'conndx-workers-'));
    try {
      const ok = labp.endpoints['tls-ok']!;
      const ca = join(dir, 'ca.pem');
      await writeFile(ca, labp.info['tls-ok']!.ca as string);
      const r = await runCliJson([
        'tls',
        ok.addr,
        '--sni',
        labp.info['tls-ok']!.sni as string,
        '--ca',
        ca,
        '--duration',
        '2200ms',
        '--concurrency',
        '8',
        '--workers',
        '2',
      ]);
      expect(r.json.timing.workers).toBe(2);
      const series = r.json.series as { t: number; completed: number; inFlightMax: number; limit: number }[];
      expect(series.length).toBeGreaterThanOrEqual(2);
      expect(series.reduce((n, p) => n + p.completed, 0)).toBe(r.json.attempts);
      expect(Math.max(...series.map((p) => p.inFlightMax))).toBeGreaterThan(4); // more than one thread's share
      for (const p of series) {
        expect(p.inFlightMax).toBeLessThanOrEqual(8);
        expect(p.limit).toBe(8);
      }
    } finally {
      await labp.stop();
    }
  });

  test('--workers with --adaptive is refused', async () => {
    const r = await runCli(['tls', '127.0.0.1:1', '--adaptive', '--workers', '2']);
    expect(r.code).toBe(3);
  });
});
