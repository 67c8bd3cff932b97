import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { analyzeCapture } from '../../src/capture/index.js';
import { isSupportedLinkType } from '../../src/capture/link.js';
import { main } from '../../src/cli/main.js';
import { sharedCorpus } from '../helpers/capture-env.js';
import { Writable } from 'node:stream';

const root = sharedCorpus('robustness');

interface Entry {
  file: string;
  linktypes: number[];
  records: number;
  linktypeSupportedByConndx: boolean;
  tshark: { packets: number; exitCode: number };
}
interface Trunc {
  file: string;
  completeRecords: number;
  bytes: number;
}

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk, _e, cb) {
      w.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

describe.skipIf(!root)('robustness corpus (../shared/corpus/robustness)', () => {
  const index = root
    ? (JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { files: Entry[]; derivedFileTruncations: Trunc[] })
    : { files: [], derivedFileTruncations: [] };

  test('every capture is read without a crash or hang, with the packet counts of index.json', async () => {
    const wrong: string[] = [];
    for (const e of index.files) {
      const t0 = performance.now();
      const res = await analyzeCapture(join(root!, e.file), { flows: true });
      const ms = performance.now() - t0;
      if (ms > 5000) wrong.push(`${e.file}: took ${ms.toFixed(0)} ms`);
      if (!res.ok) {
        wrong.push(`${e.file}: not read (${res.reason})`);
        continue;
      }
      // tshark's count where tshark read the file; the reader's complete records where tshark refused the link type.
      const want = e.tshark.exitCode === 0 ? e.tshark.packets : e.records;
      if (res.result.packets !== want) wrong.push(`${e.file}: ${res.result.packets} packets, expected ${want}`);
      // index.json judges the raw header field; the link type is its low 16 bits (the rest is FCS info).
      const supported = e.linktypes.some((lt) => isSupportedLinkType(lt & 0xffff));
      if (supported !== e.linktypeSupportedByConndx && e.tshark.exitCode !== 0) wrong.push(`${e.file}: link type support disagrees`);
      if (!supported && !res.result.warnings.some((w) => w.includes('not supported')))
        wrong.push(`${e.file}: unsupported link type without a warning`);
      if (res.result.skipped.records > 0 && res.result.warnings.length === 0)
        wrong.push(`${e.file}: ${res.result.skipped.records} records skipped without a warning`);
      if (!supported && res.result.packets > 0 && (res.result.skipped.reasons.unsupported_link_type ?? 0) === 0)
        wrong.push(`${e.file}: unsupported link type packets not counted as skipped`);
    }
    expect(wrong).toEqual([]);
    expect(index.files.length).toBeGreaterThan(400);
  }, 120_000);

  test('the CLI ends every file in exit 0 or one error line with exit 3, never a stack trace', async () => {
    const bad: string[] = [];
    const files = [...index.files.map((e) => e.file), ...index.derivedFileTruncations.map((t) => t.file)];
    for (const f of files) {
      for (const argv of [
        ['pcap', join(root!, f)],
        ['pcap', join(root!, f), '--json', '--flows'],
      ]) {
        const out = sink(),
          err = sink();
        const code = await main({ argv, stdout: out, stderr: err, env: {} });
        if (code === 0 && argv.includes('--json')) JSON.parse(out.text);
        const errLines = err.text.split('\n').filter((l) => l && !l.startsWith('warning:'));
        if (code !== 0 && (code !== 3 || errLines.length !== 1)) bad.push(`${f}: exit ${code}: ${err.text}`);
        if (/internal error|\n\s+at /.test(err.text)) bad.push(`${f}: ${err.text}`);
      }
    }
    expect(bad).toEqual([]);
  }, 120_000);

  test('cut-short files keep their complete records and say so; a cut header is exit 3', async () => {
    for (const t of index.derivedFileTruncations) {
      const res = await analyzeCapture(join(root!, t.file));
      if (t.bytes < 24) {
        expect(res.ok, t.file).toBe(false);
        continue;
      }
      expect(res.ok, t.file).toBe(true);
      if (!res.ok) continue;
      expect(res.result.packets, t.file).toBe(t.completeRecords);
      const cut = t.file.includes('mid-');
      expect(
        res.result.warnings.some((w) => w.includes('cut short')),
        t.file,
      ).toBe(cut);
    }
  });

  test('the CLI exits 0 with a warning on a cut-short file and 3 with one line on a cut header', async () => {
    const out = sink(),
      err = sink();
    const code = await main({
      argv: ['pcap', join(root!, 'file-truncated/mid-record-data.pcap'), '--json'],
      stdout: out,
      stderr: err,
      env: {},
    });
    expect(code).toBe(0);
    expect(JSON.parse(out.text).packets).toBe(4);
    expect(err.text).toMatch(/warning: .*cut short/);
    const out2 = sink(),
      err2 = sink();
    const code2 = await main({
      argv: ['pcap', join(root!, 'file-truncated/global-header-only-10B.pcap')],
      stdout: out2,
      stderr: err2,
      env: {},
    });
    expect(code2).toBe(3);
    expect(err2.text.trim().split('\n')).toHaveLength(1);
    expect(err2.text).toMatch(/not a capture/);
  });
});
if (!root) test.skip('robustness corpus absent: ../shared/corpus/robustness not found beside the repo', () => {});
