import * as net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { computeSynSchedule, connectTcp, synRetransmitsImplied, synScheduleOf, type SynSchedule } from '../../src/probes/tcp.js';

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(onConn: (s: net.Socket) => void = (s) => s.end(), host = '127.0.0.1'): Promise<number> {
  const srv = net.createServer(onConn);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, host, r));
  return (srv.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const signal = new AbortController().signal;

describe('connectTcp', () => {
  test('connects to a listener and hands over the socket with a connect time', async () => {
    const port = await listen();
    const r = await connectTcp({ host: '127.0.0.1', port, timeoutMs: 2000, signal });
    expect(r.outcome).toBe('ok');
    expect(r.socket).toBeInstanceOf(net.Socket);
    expect(r.socket!.remotePort).toBe(port);
    expect(r.connectMs).toBeGreaterThan(0);
    expect(r.connectMs).toBeLessThan(500);
    expect(r.synRetransmitSuspected).toBeUndefined();
    r.socket!.destroy();
  });

  test('a closed port is refused, not an error', async () => {
    const port = await closedPort();
    const r = await connectTcp({ host: '127.0.0.1', port, timeoutMs: 2000, signal });
    expect(r).toMatchObject({ outcome: 'refused', connectMs: null, cause: 'ECONNREFUSED' });
    expect(r.local).toBeUndefined();
    expect(r.socket).toBeUndefined();
  });

  test('IPv6 loopback', async () => {
    const port = await listen((s) => s.end(), '::1');
    const r = await connectTcp({ host: '::1', port, timeoutMs: 2000, signal, family: 6 });
    expect(r.outcome).toBe('ok');
    expect(r.socket!.remoteFamily).toBe('IPv6');
    r.socket!.destroy();
  });

  test('an aborted signal ends the attempt as a timeout', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await connectTcp({ host: '127.0.0.1', port: 9, timeoutMs: 2000, signal: ac.signal });
    expect(r.outcome).toBe('timeout');
  });
});

describe('SYN retransmission schedule', () => {
  test('linear timeouts first, then doubling (tcp_syn_retries 6, tcp_syn_linear_timeouts 4)', () => {
    // Measured on Linux 6.x: resends at 1,2,3,4,5,7,11,19,35,67 s (10 = 6 + 4), given up at about 131 s.
    const s = synScheduleOf(6, 4, 'test');
    expect(s.stepsMs).toEqual([1000, 2000, 3000, 4000, 5000, 7000, 11000, 19000, 35000, 67000]);
    expect(s.giveUpMs).toBe(131000);
  });
  test('older kernels double from the start (127 s in all)', () => {
    expect(computeSynSchedule(6, 0)).toEqual([1000, 3000, 7000, 15000, 31000, 63000, 127000]);
    expect(synScheduleOf(6, 0, 'test').giveUpMs).toBe(127000);
  });
  test('late steps get a wider window: the kernel timer drifts', () => {
    const s = synScheduleOf(6, 4, 'test');
    expect(synRetransmitsImplied(67_900, true, s)).toBe(10);
    expect(synRetransmitsImplied(11_600, true, s)).toBe(7);
    expect(synRetransmitsImplied(12_200, true, s)).toBe(0);
  });
  const sched: SynSchedule = { stepsMs: [1000, 3000, 7000], giveUpMs: 15000, source: 'test' };
  test.each([
    [0.2, true, 0],
    [990, true, 1],
    [1000.4, true, 1],
    [1450, true, 1],
    [1600, true, 0],
    [3100, true, 2],
    [900, false, 0],
    [2000, false, 1],
    [3000, false, 2],
  ])('%f ms (completed %s) implies %i retransmission(s)', (ms, completed, n) => {
    expect(synRetransmitsImplied(ms, completed, sched)).toBe(n);
  });
});
