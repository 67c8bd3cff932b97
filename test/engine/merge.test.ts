import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { mergeResults } from '../../src/engine/merge.js';
import { createAggregate } from '../../src/engine/summary.js';
import type { AttemptRecord } from '../../src/core/types.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';

function rec(i: number, target: string, outcome: string, ms: number | null): AttemptRecord {
  return {
    seq: i,
    target,
    startedAt: new Date().toISOString(),
    intendedAt: i,
    actualAt: i,
    durationMs: ms ?? 5,
    latencyMs: ms,
    ms,
    tries: 1,
    firstOutcome: outcome,
    outcome,
    phase: 'tcp',
    timings: ms === null ? undefined : { lookupMs: ms / 3 },
    tallies: { rcodes: outcome === 'ok' ? 'NOERROR' : 'SERVFAIL' },
    counters: { synRetransmitSuspected: i % 7 === 0 ? 1 : 0 },
  };
}

describe('merge', () => {
  test('two half runs merge to exactly the whole run', () => {
    const keys = ['a:1', 'b:2'];
    const whole = createAggregate({ probe: 'tcp', target: 'x', keys });
    const halves = [createAggregate({ probe: 'tcp', target: 'x', keys }), createAggregate({ probe: 'tcp', target: 'x', keys })];
    for (let i = 0; i < 1000; i++) {
      const ms = i % 10 === 0 ? null : 0.05 + ((i * 7919) % 997) / 3.3;
      const r = rec(i, keys[i % 2]!, ms === null ? 'refused' : 'ok', ms);
      whole.add(r);
      halves[(i >> 3) % 2]!.add(r);
    }
    const w = whole.result();
    const m = mergeResults(halves.map((h) => JSON.parse(JSON.stringify(h.result()))));
    expect(m.latencyMs).toEqual(w.latencyMs);
    expect(m.lookupMs).toEqual(w.lookupMs);
    expect(m.outcomes).toEqual(w.outcomes);
    expect(m.rcodes).toEqual(w.rcodes);
    expect(m.attempts).toBe(1000);
    expect(m.synRetransmitSuspected).toBe(w.synRetransmitSuspected);
    for (const k of keys) {
      expect((m.byTarget as any)[k].latencyMs).toEqual((w.byTarget as any)[k].latencyMs);
      expect((m.byTarget as any)[k].outcomes).toEqual((w.byTarget as any)[k].outcomes);
    }
  });

  test('tallies add up key by key; one-per-run facts are not summed; shards are listed', () => {
    const part = (n: number, shard: string) => {
      const a = createAggregate({ probe: 'tcp', target: 'x', keys: ['a:1'] });
      for (let i = 0; i < n; i++) {
        a.add({ ...rec(i, 'a:1', 'reset', null), tallies: { peerAfterConnect: i % 2 ? 'rst' : 'fin' }, timings: undefined });
      }
      const r = JSON.parse(JSON.stringify(a.result()));
      return { ...r, lookupMs: 0.5 + n, shard };
    };
    const m = mergeResults([part(2, '1/2'), part(3, '2/2')]);
    expect(m.peerAfterConnect).toEqual({ fin: 3, rst: 2 });
    expect(m.lookupMs).toBe(2.5); // the first run's lookup, not a sum of lookups
    expect(m.shards).toEqual(['1/2', '2/2']);
    expect(m.shard).toBeUndefined();
    expect(m.outcomes).toEqual({ reset: 5 });
  });

  test('conndx merge on real --json results', async () => {
    const ep = await lab('dns-ok');
    const dir = await mkdtemp(join(tmpdir(), 'conndx-merge-'));
    try {
      const a = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '20']);
      const b = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '30']);
      await writeFile(join(dir, 'a.json'), JSON.stringify(a.json));
      await writeFile(join(dir, 'b.json'), JSON.stringify(b.json));
      const m = await runCliJson(['merge', join(dir, 'a.json'), join(dir, 'b.json')]);
      expect(m.code).toBe(0);
      expect(m.json.attempts).toBe(50);
      expect(m.json.outcomes).toEqual({ ok: 50 });
      expect(m.json.latencyMs.max).toBe(Math.max(a.json.latencyMs.max, b.json.latencyMs.max));
      expect(m.json.sources).toHaveLength(2);
      const bad = await runCli(['merge', join(dir, 'nope.json')]);
      expect(bad.code).toBe(3);
      expect(bad.stderr).toMatch(/^conndx: cannot read/);
      await writeFile(join(dir, 'c.txt'), 'hello');
      const notJson = await runCli(['merge', join(dir, 'c.txt')]);
      expect(notJson.code).toBe(3);
    } finally {
      await ep.close();
    }
  });
});
