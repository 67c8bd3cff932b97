import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB, startLab, stopLab, type LabEndpoint } from '../../src/lab/index.js';
import { tryArgs } from '../../src/lab/try.js';
import { mirrorOnIpv6 } from '../../src/lab/ipv6.js';
import { runCli } from '../helpers/cli.js';

// Every expectation `conndx lab` prints is one a user gets by typing the
// command `conndx lab --try` prints for it: run each, read what it reported.
describe('lab: every expect is true as printed', () => {
  let eps: LabEndpoint[] = [];
  let v6: LabEndpoint[] = [];
  let dir = '';
  let caFile = '';
  beforeAll(async () => {
    eps = await startLab();
    // As `conndx lab` runs them by hand: the TLS and HTTP endpoints on ::1 too (where this machine has ::1).
    v6 = await mirrorOnIpv6(eps);
    dir = await mkdtemp(join(tmpdir(), 'conndx-lab-expect-'));
    caFile = join(dir, 'lab-ca.pem');
    await writeFile(caFile, String(eps.find((e) => e.info?.ca)!.info!.ca));
  }, 60_000);
  afterAll(async () => {
    await stopLab([...v6, ...eps]);
    await rm(dir, { recursive: true, force: true });
  });

  test('the lab is the whole registry', () => {
    expect(eps.map((e) => e.name)).toEqual(Object.keys(LAB));
  });

  test('each endpoint reports its expect, every attempt', async () => {
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    // The key names the ::1 copy apart; the command is the endpoint's own (its flags come by name).
    const keyOf = (e: LabEndpoint) => (e.host === '::1' ? `${e.name}@::1` : e.name);
    const one = async (e: LabEndpoint) => {
      const key = keyOf(e);
      const r = await runCli([...tryArgs(e, caFile), '--json']);
      let j: Record<string, any>;
      try {
        j = JSON.parse(r.stdout);
      } catch {
        got[key] = `no JSON (exit ${r.code}): ${r.stderr.trim()}`;
        return;
      }
      const outcomes = (e.kind === 'http' ? j.http?.outcomes : j.outcomes) as Record<string, number> | undefined;
      got[key] = Object.keys(outcomes ?? {})
        .sort()
        .join(',');
      want[key] = e.expect;
    };
    // A few at a time: the silent endpoints each wait out their 1 s timeout.
    const all = [...eps, ...v6];
    expect(v6.length).toBeGreaterThan(0);
    for (let i = 0; i < all.length; i += 8) await Promise.all(all.slice(i, i + 8).map(one));
    for (const e of all) want[keyOf(e)] = e.expect;
    expect(got).toEqual(want);
  }, 120_000);
});
