import { afterEach, describe, expect, test } from 'vitest';
import { TCP_LAB, TCP_SLOW_DELAY_MS } from '../../src/lab/tcp.js';
import { LAB } from '../../src/lab/registry.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { connectTcp, makeTcpProbe, type TcpProbeOptions } from '../../src/probes/tcp.js';

const open: LabEndpoint[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});
async function start(name: string, host?: string): Promise<LabEndpoint> {
  const ep = await TCP_LAB[name]!(host ? { host } : undefined);
  open.push(ep);
  return ep;
}
const signal = new AbortController().signal;
const probe = (o: Partial<TcpProbeOptions>) => makeTcpProbe({ timeoutMs: 2000, holdMs: 0, close: 'fin', ...o });

describe('tcp lab endpoints', () => {
  test('every tcp endpoint is in the lab registry', () => {
    for (const name of Object.keys(TCP_LAB)) expect(LAB[name]).toBe(TCP_LAB[name]);
  });

  test('tcp-open: ok, and the echo comes back', async () => {
    const ep = await start('tcp-open');
    expect(ep.expect).toBe('ok');
    const a = await probe({ send: Buffer.from('hello'), holdMs: 300 })({ address: ep.host, port: ep.port }, signal);
    expect(a.outcome).toBe('ok');
    expect(a.detail).toMatchObject({ peer: 'data', bytesReceived: 5 });
    expect(a.timings!.firstByteMs).toBeLessThan(250);
  });

  test('tcp-open on ::1', async () => {
    const ep = await start('tcp-open', '::1');
    const a = await probe({})({ address: '::1', port: ep.port, family: 6 }, signal);
    expect(a.outcome).toBe('ok');
  });

  test('tcp-refuse: refused in phase tcp', async () => {
    const ep = await start('tcp-refuse');
    const a = await probe({})({ address: ep.host, port: ep.port }, signal);
    expect(a).toMatchObject({ outcome: ep.expect, phase: 'tcp', ms: null });
    expect(ep.expect).toBe('refused');
  });

  test('tcp-drop: the SYN is never answered, so the attempt times out', async () => {
    const ep = await start('tcp-drop');
    const t0 = performance.now();
    const a = await probe({ timeoutMs: 400 })({ address: ep.host, port: ep.port }, signal);
    expect(a).toMatchObject({ outcome: 'timeout', phase: 'tcp' });
    expect(ep.expect).toBe('timeout');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(390);
    // 400 ms is before the first retransmission step (1 s): nothing suspected.
    expect(a.counters!.synRetransmitSuspected).toBe(0);
  });

  test('tcp-drop with a timeout past 1 s carries the SYN-retransmission signature', async () => {
    const ep = await start('tcp-drop');
    const r = await connectTcp({ host: ep.host, port: ep.port, timeoutMs: 1300, signal });
    expect(r.outcome).toBe('timeout');
    expect(r.synRetransmitSuspected).toBe(true);
    expect(r.synRetransmits).toBe(1);
  });

  // Regression: a reset right after accept can beat the 'connect' report, so connect() itself
  // says ECONNRESET; that was once read as `refused`, though the handshake had completed.
  test('tcp-rst-accept: reset in phase app within --hold', async () => {
    const ep = await start('tcp-rst-accept');
    const a = await probe({ holdMs: 500 })({ address: ep.host, port: ep.port }, signal);
    expect(a).toMatchObject({ outcome: 'reset', phase: 'app', detail: { peer: 'rst', bytesReceived: 0 } });
    const many = await Promise.all(Array.from({ length: 20 }, () => probe({ holdMs: 300 })({ address: ep.host, port: ep.port }, signal)));
    expect(many.map((x) => `${x.outcome}/${x.phase}`)).toEqual(Array(20).fill('reset/app'));
    // The reset may beat the connect report (then the connect itself says ECONNRESET and ms is unknown).
    if (a.timings?.peerCloseMs !== undefined) expect(a.timings.peerCloseMs).toBeLessThan(400);
    expect(ep.expect).toBe('reset');
  });

  test('tcp-fin-accept: closed in phase app within --hold', async () => {
    const ep = await start('tcp-fin-accept');
    const a = await probe({ holdMs: 500 })({ address: ep.host, port: ep.port }, signal);
    expect(a).toMatchObject({ outcome: 'closed', phase: 'app', detail: { peer: 'fin', bytesReceived: 0 } });
    expect(ep.expect).toBe('closed');
  });

  test('tcp-rst-after-data: connects fine, resets once data is sent', async () => {
    const ep = await start('tcp-rst-after-data');
    const quiet = await probe({ holdMs: 200 })({ address: ep.host, port: ep.port }, signal);
    expect(quiet).toMatchObject({ outcome: 'ok', detail: { peer: 'quiet' } });
    const a = await probe({ send: Buffer.from('ping') })({ address: ep.host, port: ep.port }, signal);
    expect(a).toMatchObject({ outcome: 'reset', phase: 'app', detail: { peer: 'rst' } });
    expect(ep.expect).toBe('reset');
  });

  test('tcp-slow: ok, first byte after the delay', async () => {
    const ep = await start('tcp-slow');
    const a = await probe({ send: Buffer.from('ping') })({ address: ep.host, port: ep.port }, signal);
    expect(a).toMatchObject({ outcome: 'ok', detail: { peer: 'data', bytesReceived: 4 } });
    expect(a.timings!.firstByteMs).toBeGreaterThanOrEqual(TCP_SLOW_DELAY_MS - 5);
    expect(a.timings!.firstByteMs).toBeLessThan(TCP_SLOW_DELAY_MS + 500);
    expect(ep.expect).toBe('ok');
  });

  test('--close rst resets our side: the peer sees ECONNRESET', async () => {
    const net = await import('node:net');
    const seen: string[] = [];
    const srv = net.createServer((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => seen.push(e.code ?? 'error'));
      s.on('end', () => seen.push('fin'));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as import('node:net').AddressInfo).port;
    try {
      await probe({ close: 'rst', holdMs: 50 })({ address: '127.0.0.1', port }, signal);
      await probe({ close: 'fin', holdMs: 50 })({ address: '127.0.0.1', port }, signal);
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).toEqual(['ECONNRESET', 'fin']);
    } finally {
      srv.close();
    }
  });
});
