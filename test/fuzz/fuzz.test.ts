import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { analyzeCapture } from '../../src/capture/analyze.js';
import { createChunkReader, readCaptureFile } from '../../src/capture/reader.js';
import { generatedSeeds, mutate, runInput, seedFiles } from '../../src/fuzz/harness.js';
import { REPO_ROOT } from '../helpers/capture-env.js';

const INPUTS = Number(process.env.CONNDX_FUZZ_INPUTS ?? 6000);
const RUN_SEED = Number(process.env.CONNDX_FUZZ_SEED ?? Date.now() % 100_000);
const PER_INPUT_MS = 2000;

describe(`fuzz: ${INPUTS} mutated captures (run seed ${RUN_SEED})`, () => {
  const files = seedFiles(REPO_ROOT);
  const seeds = [...generatedSeeds(), ...files.map((f) => readFileSync(f))];

  test('the generated seeds are captures the reader reads in full', () => {
    for (const s of generatedSeeds()) expect(runInput(s, 0, 0).packets).toBe(8 + (s[0] === 0x0a ? 1 : 0));
  });

  test('no input throws or exceeds the per-input limit', () => {
    const bad: string[] = [];
    const t0 = performance.now();
    let n = 0;
    // The budget is a count, bounded by time too so a loaded machine does not stall the suite.
    for (let i = 0; i < INPUTS && performance.now() - t0 < 20_000; i++, n++) {
      const { bytes, seed, ops } = mutate(seeds, RUN_SEED, i);
      const t = performance.now();
      try {
        runInput(bytes, RUN_SEED, i);
      } catch (e) {
        bad.push(
          `input ${i} (seed ${seed < 2 ? 'generated' : files[seed - 2]}, ${ops.join('+')}): ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`,
        );
      }
      const ms = performance.now() - t;
      if (ms > PER_INPUT_MS) bad.push(`input ${i}: ${ms.toFixed(0)} ms (limit ${PER_INPUT_MS})`);
      if (bad.length > 5) break;
    }
    expect(bad, `reproduce with CONNDX_FUZZ_SEED=${RUN_SEED}`).toEqual([]);
    expect(n).toBeGreaterThan(Math.min(INPUTS, 500));
  }, 60_000);

  test('saved reproducers (test/fuzz/repro) go through without a throw', () => {
    const dir = join(REPO_ROOT, 'test', 'fuzz', 'repro');
    const names = readdirSync(dir).filter((f) => f.endsWith('.bin') || f.endsWith('.pcap') || f.endsWith('.pcapng'));
    for (const [i, f] of names.entries()) expect(() => runInput(readFileSync(join(dir, f)), 0, i), f).not.toThrow();
    expect(names.length).toBeGreaterThan(0);
  });
});

describe('headers that claim 4 GB do not allocate it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conndx-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const [pcap, pcapng] = generatedSeeds() as [Buffer, Buffer];
  const lies: [string, Buffer][] = [];
  {
    const b = Buffer.from(pcap);
    b.writeUInt32LE(0xffffffff, 16);
    b.writeUInt32LE(0xffffffff, 24 + 8);
    lies.push(['pcap snaplen and caplen 0xFFFFFFFF', b]);
  }
  {
    const b = Buffer.from(pcap);
    b.writeUInt32LE(0xffffffff, 16);
    b.writeUInt32LE(16 * 1024 * 1024, 24 + 8);
    lies.push(['pcap caplen 16 MB in a small file', b]);
  }
  {
    const b = Buffer.from(pcapng);
    const shbLen = b.readUInt32LE(4);
    b.writeUInt32LE(0xfffffffc, shbLen + 4);
    lies.push(['pcapng block length 0xFFFFFFFC', b]);
  }
  {
    const b = Buffer.from(pcapng);
    const shbLen = b.readUInt32LE(4);
    b.writeUInt32LE(16 * 1024 * 1024, shbLen + 4);
    lies.push(['pcapng block length 16 MB in a small file', b]);
  }
  {
    const b = Buffer.from(pcapng);
    const shbLen = b.readUInt32LE(4);
    const idbLen = b.readUInt32LE(shbLen + 4);
    b.writeUInt32LE(0xffffffff, shbLen + idbLen + 20);
    lies.push(['pcapng EPB caplen 0xFFFFFFFF', b]);
  }
  {
    const b = Buffer.from(pcapng);
    const shbLen = b.readUInt32LE(4);
    b.writeUInt16LE(0xffff, shbLen + 16 + 2);
    lies.push(['pcapng IDB option length 0xFFFF', b]);
  }

  test.each(lies)('%s: read from a file and in chunks, memory bounded', async (_name, bytes) => {
    const file = join(dir, `lie-${lies.findIndex((l) => l[1] === bytes)}.cap`);
    writeFileSync(file, bytes);
    const before = process.memoryUsage();
    const res = await analyzeCapture(file, { flows: true });
    expect(res.ok).toBe(true);
    let records = -1;
    const r = createChunkReader(() => {});
    for (let i = 0; i < bytes.length; i += 7) r.push(bytes.subarray(i, i + 7));
    const end = r.end();
    if (end.ok) records = end.stats!.records;
    expect(records).toBeGreaterThanOrEqual(0);
    let fileRecords = -1;
    const read = await readCaptureFile(file, () => {});
    if (read.ok) fileRecords = read.stats.records;
    expect(fileRecords).toBe(records);
    const after = process.memoryUsage();
    // A 4 GB claim allocated would show here; the reader's own buffer is ~1.3 MB, a 16 MB claim at most one 17 MB buffer.
    expect(after.arrayBuffers - before.arrayBuffers, 'external memory grown').toBeLessThan(40 * 1024 * 1024);
    expect(after.rss - before.rss, 'rss grown').toBeLessThan(100 * 1024 * 1024);
  });
});
