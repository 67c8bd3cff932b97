import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCliJson } from '../helpers/cli.js';
import { labProcess } from '../helpers/lab.js';

describe('--adaptive', () => {
  let labp: Awaited<ReturnType<typeof labProcess>>;
  beforeAll(async () => {
    labp = await labProcess(['dns-degrade']);
  });
  afterAll(async () => {
    await labp.stop();
  });

  test('settles within 20% of the concurrency where the server degrades (40)', async () => {
    const addr = labp.endpoints['dns-degrade']!.addr;
    const { json } = await runCliJson([
      'dns',
      'lab.test',
      '--server',
      addr,
      '--adaptive',
      '--min-concurrency',
      '4',
      '--max-concurrency',
      '400',
      '--duration',
      '6s',
      '--timeout',
      '2s',
    ]);
    expect(json.adaptive.steadyConcurrency).toBeGreaterThanOrEqual(32);
    expect(json.adaptive.steadyConcurrency).toBeLessThanOrEqual(48);
    // it did probe past the capacity and back off
    expect(json.adaptive.path.some((s: { action: string }) => s.action === 'decrease')).toBe(true);
    expect(Math.max(...json.adaptive.path.map((s: { limit: number }) => s.limit))).toBeLessThan(400);
    expect(json.series.length).toBeGreaterThanOrEqual(5);
  });
});
