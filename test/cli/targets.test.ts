import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { expandTargets } from '../../src/cli/targets.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';

describe('target lists', () => {
  test('@file and @- expand in place, comments and blanks skipped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conndx-targets-'));
    await writeFile(join(dir, 't.txt'), '# fleet\n127.0.0.1:1\n\n  127.0.0.1:2  # db\n');
    const got = await expandTargets(['a:1', `@${join(dir, 't.txt')}`, '@-', 'z:9'], Readable.from(['127.0.0.1:3\n']));
    expect(got).toEqual(['a:1', '127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3', 'z:9']);
  });

  test('a missing file is bad input, one line', async () => {
    const r = await runCli(['tcp', '@/nonexistent/targets.txt']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^conndx: cannot read targets from "\/nonexistent\/targets.txt": ENOENT\n$/);
  });

  test('--shard K/N splits a target list, and the shards merge to the whole', async () => {
    const eps = await Promise.all([lab('tcp-open'), lab('tcp-open'), lab('tcp-refuse'), lab('tcp-open')]);
    const dir = await mkdtemp(join(tmpdir(), 'conndx-shard-'));
    const file = join(dir, 'targets.txt');
    await writeFile(file, eps.map((e) => e.addr).join('\n'));
    try {
      const a = await runCliJson(['tcp', `@${file}`, '-c', '3', '--shard', '1/2']);
      const b = await runCliJson(['tcp', `@${file}`, '-c', '3', '--shard', '2/2']);
      expect(Object.keys(a.json.byTarget)).toEqual([eps[0]!.addr, eps[2]!.addr]);
      expect(Object.keys(b.json.byTarget)).toEqual([eps[1]!.addr, eps[3]!.addr]);
      expect(a.json.shard).toBe('1/2');
      await writeFile(join(dir, 'a.json'), JSON.stringify(a.json));
      await writeFile(join(dir, 'b.json'), JSON.stringify(b.json));
      const m = await runCliJson(['merge', join(dir, 'a.json'), join(dir, 'b.json')]);
      expect(m.json.attempts).toBe(12);
      expect(m.json.outcomes).toEqual({ ok: 9, refused: 3 });
      expect(Object.keys(m.json.byTarget).sort()).toEqual(eps.map((e) => e.addr).sort());
      const bad = await runCli(['tcp', `@${file}`, '--shard', '3/2']);
      expect(bad.code).toBe(3);
    } finally {
      await Promise.all(eps.map((e) => e.close()));
    }
  });
});
