import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { writePcap, writePcapng } from '../../fixtures/pcap/build.js';
import { allInOne } from '../../fixtures/pcap/scenarios.js';
import { createAnalyzer } from '../../src/capture/analyze.js';
import { decodeDns } from '../../src/capture/dns.js';
import { decodeIpv4, decodeIpv6 } from '../../src/capture/ip.js';
import { decodeLink, LINK_DECODERS } from '../../src/capture/link.js';
import { createChunkReader } from '../../src/capture/reader.js';
import { decodeTcp } from '../../src/capture/tcp.js';
import { createTlsState, decodeClientHello, decodeServerHello, feedTls } from '../../src/capture/tls.js';
import { decodeUdp } from '../../src/capture/udp.js';

const pcap = writePcap(allInOne());
const pcapng = writePcapng(allInOne());

/** Feed `bytes` to the chunk reader and the analysis in pieces cut at `cuts`. */
function run(bytes: Buffer, cuts: number[]) {
  const an = createAnalyzer({ flows: true });
  const reader = createChunkReader(an.packet);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    reader.push(bytes.subarray(prev, p));
    prev = p;
  }
  const end = reader.end();
  return end.ok ? an.finish('fuzz', end.stats!) : null;
}

describe('reader and analysis under random chunk boundaries and mutations', () => {
  const whole = run(pcap, []);
  const wholeNg = run(pcapng, []);

  test('any chunking gives the same result as one read', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(pcap.length), { maxLength: 40 }), fc.boolean(), (cuts, ng) => {
        const r = run(ng ? pcapng : pcap, cuts);
        expect(r).toEqual(ng ? wholeNg : whole);
      }),
      { numRuns: 150 },
    );
  });

  test('mutated and cut captures never throw and never hang', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 30 }),
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 10 }),
        (ng, flips, cutAt, cuts) => {
          const base = Buffer.from(ng ? pcapng : pcap);
          // Mutate anywhere but the magic, so the mutation reaches the records.
          for (const [at, v] of flips) base[4 + (at % (base.length - 4))] = v;
          const bytes = base.subarray(0, 24 + (cutAt % (base.length - 23)));
          const t0 = performance.now();
          const r = run(bytes, cuts);
          expect(performance.now() - t0).toBeLessThan(2000);
          if (r) expect(r.packets).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('random bytes are rejected or read, never thrown', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.constantFrom(Buffer.from('d4c3b2a1', 'hex'), Buffer.from('a1b23c4d', 'hex'), Buffer.from('0a0d0d0a', 'hex'), Buffer.alloc(0)),
        (raw, magic) => {
          const r = run(Buffer.concat([magic, Buffer.from(raw)]), []);
          if (r) expect(r.skipped.records).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('decoders on random bytes return objects or anomalies, never throw', () => {
  const bytes = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a));
  test('link, ip, tcp, udp', () => {
    fc.assert(
      fc.property(bytes, fc.nat(64), (b, off) => {
        for (const lt of LINK_DECODERS.keys()) expect(typeof decodeLink(lt, b)).toBe('object');
        expect(typeof decodeLink(9999, b)).toBe('object');
        const o = Math.min(off, b.length);
        for (const ip of [decodeIpv4(b, o), decodeIpv6(b, o)]) {
          if (!('anomaly' in ip)) {
            expect(ip.end).toBeLessThanOrEqual(b.length);
            const t = decodeTcp(b, ip.off, ip.end, ip.wireLen);
            if (!('anomaly' in t)) expect(t.end).toBeLessThanOrEqual(b.length);
            decodeUdp(b, ip.off, ip.end);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
  test('dns (compression loops included)', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        const m = decodeDns(b);
        expect(typeof m).toBe('object');
      }),
      { numRuns: 1000 },
    );
    // A pointer to itself must not loop.
    const loop = Buffer.from('0001010000010000000000000c0c00010001'.replace('0c0c', 'c00c'), 'hex');
    expect(decodeDns(loop)).toHaveProperty('anomaly');
  });
  test('tls records and hellos', () => {
    fc.assert(
      fc.property(fc.array(bytes, { maxLength: 8 }), (chunks) => {
        const t = createTlsState();
        for (const [i, c] of chunks.entries()) feedTls(t, i % 2 === 0, Buffer.concat([Buffer.from([22, 3, 3]), c]), i);
        decodeClientHello(chunks[0] ?? Buffer.alloc(0));
        decodeServerHello(chunks[1] ?? Buffer.alloc(0));
        expect(typeof t.complete).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });
});
