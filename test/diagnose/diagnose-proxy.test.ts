import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server } from 'node:net';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { bench } from '../helpers/diagnose-env.js';

// diagnose --proxy: the proxy's connect and its answer to CONNECT are phases of their own.

let b: Awaited<ReturnType<typeof bench>>;
const eps: Record<string, LabEndpoint> = {};
let ca = '';
let closedPort = 0;
beforeAll(async () => {
  b = await bench();
  for (const n of ['proxy-connect', 'proxy-deny']) eps[n] = await b.start(n);
  ca = await b.ca();
  // A port with nothing listening: bound, then closed.
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closedPort = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
});
afterAll(() => b.close());

const proxyUrl = (n: string) => `http://127.0.0.1:${eps[n]!.port}`;
const behind = (n: string) => `https://${String(eps[n]!.info!.proxyTarget)}/`;
const trust = () => ['--sni', LAB_SERVER_NAME, '--ca', ca];
const diag = (target: string, extra: string[] = []) => runCliJson(['diagnose', target, ...b.args(extra)]);

describe('diagnose through an HTTP CONNECT proxy', () => {
  test('a proxy that tunnels: proxy connect and CONNECT timed apart, TLS and HTTP through tunnels, healthy', async () => {
    const { code, json } = await diag(behind('proxy-connect'), ['--count', '3', '--proxy', proxyUrl('proxy-connect'), ...trust()]);
    expect(json.verdict).toMatchObject({ status: 'ok', phase: 'ok' });
    expect(code).toBe(0);
    expect(json.plan.proxy).toBe(proxyUrl('proxy-connect'));
    expect(json.tcp).toBeNull();
    expect(json.dns).toBeNull();
    expect(json.proxy.outcomes).toEqual({ ok: 3 });
    expect(json.proxy.proxyStatuses).toEqual({ 200: 3 });
    expect(json.proxy.proxyConnectMs.max).toBeGreaterThan(0);
    expect(json.proxy.tunnelMs.max).toBeGreaterThan(0);
    expect(json.tls.outcomes).toEqual({ ok: 3 });
    expect(json.tls.proxyConnectMs.max).toBeGreaterThan(0);
    expect(json.http.outcomes).toEqual({ ok: 3 });
    expect(json.http.proxyConnectMs.max).toBeGreaterThan(0);
    expect(json.http.tcpConnectMs).toBeUndefined();
    expect(json.verdict.summary).toContain(`proxy ${proxyUrl('proxy-connect')} connect p50`);
  });

  test('the waterfall shows the proxy connect and CONNECT rows', async () => {
    const r = await runCli([
      'diagnose',
      behind('proxy-connect'),
      ...b.args(['--count', '2', '--proxy', proxyUrl('proxy-connect'), ...trust()]),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}proxy connect +\d/m);
    expect(r.stdout).toMatch(/^ {2}proxy CONNECT +\d/m);
  });

  test('a proxy that refuses CONNECT (403): FAILING at the proxy (tunnel, proxy-denied), the target not blamed, next checks carry --proxy', async () => {
    const { code, json } = await diag(behind('proxy-deny'), ['--count', '3', '--proxy', proxyUrl('proxy-deny'), ...trust()]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tunnel', outcome: 'proxy-denied' });
    expect(code).toBe(1);
    expect(json.verdict.summary).toContain('The target itself was not reached');
    expect(json.proxy.proxyStatuses).toEqual({ 403: 3 });
    expect(json.tls).toBeNull();
    expect(json.http).toBeNull();
    expect(json.verdict.evidence.join('\n')).toContain('403');
    for (const n of json.verdict.next as string[]) expect(n).toContain(`--proxy ${proxyUrl('proxy-deny')}`);
    const r = await runCli(['diagnose', behind('proxy-deny'), ...b.args(['--count', '2', '--proxy', proxyUrl('proxy-deny'), ...trust()])]);
    expect(r.stdout).toMatch(/proxy CONNECT +- +- +failed: proxy-denied/);
  });

  test('nothing listening where the proxy should be: FAILING at phase proxy, proxy-refused', async () => {
    const { code, json } = await diag(behind('proxy-connect'), ['--count', '2', '--proxy', `http://127.0.0.1:${closedPort}`, ...trust()]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'proxy', outcome: 'proxy-refused' });
    expect(code).toBe(1);
  });

  test.each([
    [['--proxy', 'socks5://127.0.0.1:1080'], /bad --proxy .*only http:\/\//],
    [['--proxy', 'http://127.0.0.1:3128', '--capture'], /--capture does not go with --proxy/],
  ])('%j: one line, exit 3', async (extra, re) => {
    const r = await runCli(['diagnose', 'https://127.0.0.1:1/', ...extra]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(re);
  });
});
