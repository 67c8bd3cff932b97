import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { writePcap, writePcapng } from '../../fixtures/pcap/build.js';
import { detectFormat, readCaptureFile } from '../../src/capture/reader.js';

const dir = mkdtempSync(join(tmpdir(), 'conndx-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function records(path: string, chunkSize?: number) {
  const out: { lt: number; ts: number; len: number; hash: number }[] = [];
  const r = await readCaptureFile(
    path,
    (lt, ts, buf, off, end, origLen) => {
      let h = 0;
      for (let i = off; i < end; i += 997) h = (h * 31 + buf[i]!) | 0;
      out.push({ lt, ts, len: origLen, hash: h ^ (end - off) });
    },
    { chunkSize },
  );
  return { r, out };
}

describe('readCaptureFile', () => {
  // A jumbo record far larger than a read: read once into a buffer of its size.
  const big = Buffer.alloc(5 * 1024 * 1024 + 3, 7);
  big[0] = 0x45;
  const pkts = [
    { ts: 1.5, ip: Buffer.from('4500001400000000400600000a0000010a000002', 'hex') },
    { ts: 2.25, ip: big },
    { ts: 3, ip: Buffer.from('4500001400000000400600000a0000010a000002', 'hex') },
  ];
  test.each([
    ['pcap', writePcap(pkts, { snaplen: 16 * 1024 * 1024 })],
    ['pcapng', writePcapng(pkts)],
  ])('%s: records larger than a read come out whole, whatever the read size', async (name, bytes) => {
    const f = join(dir, `big.${name}`);
    writeFileSync(f, bytes);
    const a = await records(f);
    const b = await records(f, 4096);
    expect(a.r.ok && b.r.ok).toBe(true);
    expect(a.out).toHaveLength(3);
    expect(a.out[1]!.len).toBe(big.length + 14);
    expect(a.out.map((x) => x.ts)).toEqual([1.5, 2.25, 3]);
    expect(b.out).toEqual(a.out);
  });

  test('a hostile record length stops reading with a warning, quickly', async () => {
    const bytes = writePcap(pkts.slice(0, 1));
    const hostile = Buffer.concat([bytes, Buffer.from('0100000000000000ffffff7fffffff7f', 'hex'), Buffer.alloc(64)]);
    const f = join(dir, 'hostile.pcap');
    writeFileSync(f, hostile);
    const t0 = performance.now();
    const { r, out } = await records(f);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(out).toHaveLength(1);
    expect(r.ok && r.stats.truncated).toBe(true);
    expect(r.ok && r.stats.warnings.join()).toMatch(/corrupt record header/);
  });

  test('a length that is plausible but runs past the end is a cut-short file', async () => {
    const bytes = writePcap(pkts.slice(0, 1));
    const f = join(dir, 'cut.pcap');
    writeFileSync(f, Buffer.concat([bytes, Buffer.from('01000000000000000000010000000100', 'hex'), Buffer.alloc(1000)]));
    const { r, out } = await records(f);
    expect(out).toHaveLength(1);
    expect(r.ok && r.stats.warnings.join()).toMatch(/cut short/);
  });

  test.each([
    [Buffer.alloc(0), /empty/],
    [Buffer.from('d4c3b2a10200', 'hex'), /cut short/],
    [Buffer.from('GET / HTTP/1.1\r\n\r\n'), /not a pcap or pcapng/],
    [Buffer.from('34cdb2a1020004000000000000000000ffff000001000000', 'hex'), /Kuznetzov/],
  ])('detectFormat rejects %#', (head, why) => {
    const r = detectFormat(head);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(why);
  });
});
