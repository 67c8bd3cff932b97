import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCliJson } from '../helpers/cli.js';
import { startTls } from '../helpers/tls-lab.js';

// The JSON's shape does not depend on how many targets a run has: a script
// that reads byTarget (or a dashboard that reads byServer) reads it for one
// target as for ten, and the top level never shows one target's facts as
// the whole run's.

const keysOf = (o: Record<string, unknown>) => Object.keys(o).sort();

describe('one target or several: the same fields', () => {
  const servers: Server[] = [];
  const ports: number[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const s = createServer((c) => c.end());
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      ports.push((s.address() as { port: number }).port);
    }
  });
  afterAll(async () => {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  });

  test('tcp: byTarget names the one target, with the total’s counts', async () => {
    const one = await runCliJson(['tcp', `127.0.0.1:${ports[0]}`, '--count', '2']);
    const two = await runCliJson(['tcp', `127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`, '--count', '2']);
    expect(keysOf(one.json.byTarget)).toEqual([`127.0.0.1:${ports[0]}`]);
    expect(one.json.byTarget[`127.0.0.1:${ports[0]}`].attempts).toBe(one.json.attempts);
    expect(one.json.byTarget[`127.0.0.1:${ports[0]}`].outcomes).toEqual(one.json.outcomes);
    expect(keysOf(two.json.byTarget)).toHaveLength(2);
    // Same top-level fields, apart from what only a run of several has.
    expect(keysOf(one.json).filter((k) => k !== 'meta')).toEqual(keysOf(two.json).filter((k) => k !== 'meta'));
    expect(keysOf(one.json.byTarget[`127.0.0.1:${ports[0]}`])).toEqual(keysOf(two.json.byTarget[`127.0.0.1:${ports[1]}`]));
  });
});

describe('tls: facts that differ by target are not shown as the run’s', () => {
  let v12: LabEndpoint;
  let v13: LabEndpoint;
  beforeAll(async () => {
    v12 = await startTls('tls-1.2-only');
    v13 = await startTls('tls-ok');
  });
  afterAll(async () => {
    await v12.close();
    await v13.close();
  });

  test('two targets, two versions: each in its own byTarget, none on the top level', async () => {
    const t12 = `127.0.0.1:${v12.port}`;
    const t13 = `127.0.0.1:${v13.port}`;
    const r = await runCliJson(['tls', t12, t13, '--insecure', '--count', '2']);
    expect(r.json.byTarget[t12].negotiated.version).toBe('TLSv1.2');
    expect(r.json.byTarget[t13].negotiated.version).toBe('TLSv1.3');
    expect(r.json.negotiated).toBeUndefined();
    expect(r.json.differByTarget).toContain('negotiated');
  });

  test('one target: its facts on the top level and under byTarget alike', async () => {
    const t13 = `127.0.0.1:${v13.port}`;
    const r = await runCliJson(['tls', t13, '--insecure', '--count', '1']);
    expect(r.json.negotiated.version).toBe('TLSv1.3');
    expect(r.json.byTarget[t13].negotiated).toEqual(r.json.negotiated);
    expect(r.json.differByTarget).toBeUndefined();
  });
});
