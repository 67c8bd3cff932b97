import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { BIN } from '../helpers/lab.js';
// @ts-expect-error: a plain .mjs bench script
import { writeSynFlood } from '../../bench/capture/syn-flood.mjs';

const dir = mkdtempSync(join(tmpdir(), 'conndx-flows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the flow table bounds itself (issue 19, item 8)', () => {
  test('1,000,000 unanswered SYNs within 1 s: a 112 MB heap suffices, RSS under 200 MB, every SYN still counted, with a warning', () => {
    const file = join(dir, 'syn1m.pcap');
    (writeSynFlood as (p: string, n: number) => void)(file, 1_000_000);
    const useTime = existsSync('/usr/bin/time');
    const node = [process.execPath, '--max-old-space-size=112', BIN, 'pcap', file];
    const r = spawnSync(useTime ? '/usr/bin/time' : node[0]!, useTime ? ['-v', ...node] : node.slice(1), {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toContain('1000000 packets over 1.000 s');
    expect(r.stdout).toContain('TCP  1000000 attempts, 0 established');
    expect(r.stdout).toContain('never answered 1000000');
    expect(r.stderr).toMatch(/more than 20,000 TCP connections were open at once: 980,000 of them were summarised early/);
    if (useTime) {
      const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
      console.log(`pcap of 1,000,000 SYNs: max RSS ${Math.round(rssKb / 1024)} MB`);
      expect(rssKb).toBeLessThan(200 * 1024);
    }
  }, 150_000);
});
