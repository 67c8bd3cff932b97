import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB, startLab, stopLab, type LabEndpoint } from '../../src/lab/index.js';
import { tryArgs } from '../../src/lab/try.js';
import { runCli } from '../helpers/cli.js';

// Every expectation `conndx lab` prints is one a user gets by typing the
// command `conndx lab --try` prints for it: run each, read what it reported.
describe('lab: every expect is true as printed', () => {
  let eps: LabEndpoint[] = [];
  let dir = '';
  let caFile = '';
  beforeAll(async () => {
    eps = await startLab();
    dir = await mkdtemp(join(tmpdir(), 'conndx-lab-expect-'));
    caFile = join(dir, 'lab-ca.pem');
    await writeFile(caFile, String(eps.find((e) => e.info?.ca)!.info!.ca));
  }, 60_000);
  afterAll(async () => {
    await stopLab(eps);
    await rm(dir, { recursive: true, force: true });
  });

  test('the lab is the whole registry', () => {
    expect(eps.map((e) => e.name)).toEqual(Object.keys(LAB));
  });

  test('each endpoint reports its expect, every attempt', async () => {
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    const one = async (e: LabEndpoint) => {
      const r = await runCli([...tryArgs(e, caFile), '--json']);
      let j: Record<string, any>;
      try {
        j = JSON.parse(r.stdout);
      } catch {
        got[e.name] = `no JSON (exit ${r.code}): ${r.stderr.trim()}`;
        return;
      }
      const outcomes = (e.kind === 'http' ? j.http?.outcomes : j.outcomes) as Record<string, number> | undefined;
      got[e.name] = Object.keys(outcomes ?? {})
        .sort()
        .join(',');
      want[e.name] = e.expect;
    };
    // A few at a time: the silent endpoints each wait out their 1 s timeout.
    for (let i = 0; i < eps.length; i += 8) await Promise.all(eps.slice(i, i + 8).map(one));
    for (const e of eps) want[e.name] = e.expect;
    expect(got).toEqual(want);
  }, 120_000);
});
