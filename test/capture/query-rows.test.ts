import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { dnsQuery, dnsResponse, udpDatagram, writePcap } from '../../fixtures/pcap/build.js';
import { analyzeCapture } from '../../src/capture/analyze.js';

const dir = mkdtempSync(join(tmpdir(), 'conndx-qrows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// --attempts lists one row per DNS query: like the connection rows, the list is bounded
// (the first maxRows by start), and the counts and a warning say how many were left out.
test('pcap --attempts: the query rows are bounded, the count and a warning cover the rest', async () => {
  const pkts: { ts: number; ip: Buffer }[] = [];
  for (let i = 0; i < 50; i++) {
    const q = { src: '10.0.0.1', dst: '10.0.0.53', sport: 40000 + i, dport: 53 };
    const r = { src: '10.0.0.53', dst: '10.0.0.1', sport: 53, dport: 40000 + i };
    pkts.push({ ts: 1000 + i * 0.01, ip: udpDatagram(q, dnsQuery(i + 1, `n${i}.example.test`)) });
    pkts.push({ ts: 1000 + i * 0.01 + 0.002, ip: udpDatagram(r, dnsResponse(i + 1, `n${i}.example.test`, 0)) });
  }
  const file = join(dir, 'dns50.pcap');
  writeFileSync(file, writePcap(pkts));
  const out = await analyzeCapture(file, { attempts: true, maxRows: 20 });
  expect(out.ok).toBe(true);
  if (!out.ok) return;
  const a = out.result.attempts as { queries?: { name: string; rcode: string | null }[]; queriesOmitted?: number };
  expect(out.result.dns.queries).toBe(50);
  expect(a.queries).toHaveLength(20);
  expect(a.queries![0]).toMatchObject({ name: 'n0.example.test', rcode: 'NOERROR' });
  expect(a.queriesOmitted).toBe(30);
  expect(out.result.warnings.join('\n')).toMatch(/50 DNS queries: --attempts lists the first 20/);
});
