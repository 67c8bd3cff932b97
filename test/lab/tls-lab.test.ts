import { afterEach, describe, expect, test } from 'vitest';
import type { LabEndpoint } from '../../src/lab/types.js';
import { TLS_LAB } from '../../src/lab/tls.js';
import { probeOnce, startTls } from '../helpers/tls-lab.js';

const open: LabEndpoint[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((e) => e.close())); });
async function start(name: string) { const ep = await startTls(name); open.push(ep); return ep; }

describe('every TLS lab endpoint yields its contract outcome', () => {
  for (const name of Object.keys(TLS_LAB)) {
    test(name, async () => {
      const ep = await start(name);
      const o: Record<string, unknown> = { timeoutMs: name === 'tls-stall-after-hello' ? 500 : 2000 };
      if (ep.info?.alpn) o.alpn = ep.info.alpn;
      const a = await probeOnce(ep, o);
      expect(a.outcome, a.cause).toBe(ep.expect);
    });
  }
});
