import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { writePcap, writePcapng, type Link } from '../../fixtures/pcap/build.js';
import { fixtureFiles, writeFixtures } from '../../fixtures/pcap/generate.js';
import { allInOne, PLAINTEXT_SCENARIOS, SCENARIOS } from '../../fixtures/pcap/scenarios.js';
import { analyzeCapture, type PcapResult } from '../../src/capture/index.js';

const dir = mkdtempSync(join(tmpdir(), 'conndx-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function analyze(name: string, bytes: Buffer, flows = true): Promise<PcapResult> {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  const r = await analyzeCapture(p, { flows });
  if (!r.ok) throw new Error(r.reason);
  return r.result;
}

function at(obj: unknown, path: string): unknown {
  // Keys may contain dots (TLSv1.3): match the longest key first.
  let cur: unknown = obj;
  let rest = path;
  while (rest) {
    const o = cur as Record<string, unknown>;
    const key = Object.keys(o ?? {})
      .filter((k) => rest === k || rest.startsWith(`${k}.`))
      .sort((a, b) => b.length - a.length)[0];
    if (key === undefined) return undefined;
    cur = o[key];
    rest = rest.slice(key.length + 1);
  }
  return cur;
}

describe('failure phases from exact bytes', () => {
  for (const s of [...SCENARIOS, ...PLAINTEXT_SCENARIOS]) {
    test(`${s.proto}/${s.name}`, async () => {
      const r = await analyze(`${s.name}.pcap`, writePcap(s.pkts));
      expect(r.packets).toBe(s.pkts.length);
      const got = r.connections!.map((c, i) => {
        const want = s.connections[i];
        const pick: Record<string, unknown> = { zeekState: c.zeekState, phase: c.phase, outcome: c.outcome };
        for (const k of ['synRetransmits', 'sni', 'tlsVersion', 'alert', 'cause'] as const) if (want && k in want) pick[k] = c[k];
        return pick;
      });
      expect(got).toEqual(s.connections);
      for (const [path, value] of Object.entries(s.summary)) expect(at(r, path), path).toEqual(value);
    });
  }
});

describe('formats and link types give the same analysis', () => {
  const pkts = allInOne();
  let base: PcapResult;
  const strip = (r: PcapResult) => ({
    tcp: r.tcp,
    tls: r.tls,
    dns: r.dns,
    failures: r.failures,
    verdict: r.verdict,
    packets: r.packets,
    conns: r.connections!.map((c) => [c.client, c.server, c.zeekState, c.outcome]),
  });
  test('classic pcap, Ethernet, µs, little-endian', async () => {
    base = await analyze('base.pcap', writePcap(pkts));
    expect(base.tcp.connections).toBe(17);
    // The reset and the close right after accept are app failures (as `conndx tcp` names them), so
    // TLS leads with 5 failures; TCP keeps its 3 (refused, 2 never answered).
    expect(base.failures).toEqual({ dns: 2, tcp: 3, tls: 5, app: 4 });
    expect(base.verdict.phase).toBe('tls');
    expect(base.verdict.summary).toMatch(
      /^TLS handshake failure 83% of 6, .*; 3 connections reset after the handshake, 1 of them right after accept, before any data \(.*\), 1 closed by the server right after accept, before any data; TCP handshake success 82% of 17 attempts, SYN retransmitted in 12% of attempts, 5.9% refused \(RST\), 12% never answered;/,
    );
  });
  const variants: [string, () => Buffer][] = [
    ['pcap ns big-endian', () => writePcap(pkts, { nano: true, bigEndian: true })],
    ['pcap µs big-endian', () => writePcap(pkts, { bigEndian: true })],
    ['pcapng ns resolution', () => writePcapng(pkts)],
    [
      'pcapng two interfaces, different link types',
      () =>
        writePcapng(
          pkts.map((p, i) => ({ ...p, link: (i % 2 ? 'sll' : 'ether') as Link })),
          ['ether', 'sll'],
        ),
    ],
    ...(['vlan', 'qinq', 'sll', 'sll2', 'null', 'raw'] as Link[]).map((l): [string, () => Buffer] => [
      `link ${l}`,
      () => writePcap(pkts, { link: l }),
    ]),
  ];
  for (const [name, make] of variants) {
    test(name, async () => {
      const r = await analyze(`${name.replace(/\W+/g, '-')}.cap`, make());
      expect(strip(r)).toEqual(strip(base));
    });
  }
  test('IPv6 endpoints are written [addr]:port', async () => {
    const { conversation } = await import('../../fixtures/pcap/build.js');
    const r = await analyze(
      'v6.pcap',
      writePcap(conversation('2001:db8::1', '2001:db8::2', 40000, 443).syn(1).rstFromServer(1.001, false).pkts),
    );
    expect(r.connections![0]).toMatchObject({
      client: '[2001:db8::1]:40000',
      server: '[2001:db8::2]:443',
      zeekState: 'REJ',
      outcome: 'refused',
    });
  });
});

test('committed fixtures are exactly what the generator builds', () => {
  if (process.env.CONNDX_WRITE_FIXTURES === '1') writeFixtures();
  for (const f of fixtureFiles()) {
    expect(existsSync(f.path), f.path).toBe(true);
    expect(readFileSync(f.path).equals(f.bytes), f.path).toBe(true);
  }
});
