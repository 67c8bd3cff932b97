import { describe, expect, test } from 'vitest';
import { executeProbe } from '../../src/engine/execute.js';
import { PROBERS } from '../../src/probes/registry.js';
import type { AttemptRecord } from '../../src/core/types.js';

describe('attempts the engine ends carry the phase of the probe kind', () => {
  test('an http probe that overruns its deadline ends in app, not tcp', async () => {
    const records: AttemptRecord[] = [];
    const { result } = await executeProbe(
      { probe: 'http', targets: [{ key: '127.0.0.1:1', target: null }], fn: () => new Promise(() => {}) },
      {
        count: 1,
        concurrency: 1,
        timeoutMs: 10,
        onAttempt: (r) => {
          records.push(r);
        },
      },
    );
    expect(records).toHaveLength(1);
    expect(records[0]?.outcome).toBe('timeout');
    expect(records[0]?.phase).toBe('app');
    expect(result.attempts).toBe(1);
  });
  test('the kind table names every probe kind conndx runs', () => {
    expect(Object.fromEntries(Object.entries(PROBERS).map(([k, v]) => [k, v.phase]))).toEqual({
      dns: 'dns',
      tcp: 'tcp',
      tls: 'tls',
      http: 'app',
    });
    for (const [k, v] of Object.entries(PROBERS)) expect(v.name).toBe(k);
  });
});
