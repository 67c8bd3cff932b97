// --proxy: the TCP connect to an HTTP CONNECT proxy and its answer to CONNECT are phases of their
// own (proxy, tunnel), so a proxy that refuses is never reported as the target refusing.
// Real servers on 127.0.0.1: the lab's proxies, a closed port, a proxy that never answers.
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PROXY_LAB } from '../../src/lab/proxy.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { parseProxyUrl, proxyFromEnv, type ProxyConfig } from '../../src/probes/proxy.js';
import { createTlsProbe } from '../../src/probes/tls.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const eps: Record<string, LabEndpoint> = {};
const servers: net.Server[] = [];
beforeAll(async () => {
  for (const [name, f] of Object.entries(PROXY_LAB)) eps[name] = await f();
});
afterAll(async () => {
  await Promise.all(Object.values(eps).map((e) => e.close()));
  for (const s of servers) s.close();
});

const proxyOf = (port: number): ProxyConfig => ({ url: `http://127.0.0.1:${port}`, host: '127.0.0.1', port });
const behind = () => {
  const [host, port] = String(eps['proxy-connect']!.info!.proxyTarget).split(':');
  return { host: host!, port: Number(port) };
};

async function probe(proxyPort: number, target = behind(), timeoutMs = 2000) {
  const p = createTlsProbe({ timeoutMs, ca: eps['proxy-connect']!.info!.ca as string });
  return p(
    {
      key: `${target.host}:${target.port}`,
      host: target.host,
      port: target.port,
      serverName: 'lab.conndx.test',
      proxy: proxyOf(proxyPort),
    },
    new AbortController().signal,
  );
}

async function listen(onConn: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    onConn(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('through a proxy', () => {
  test('proxy-connect: a verified handshake through the tunnel; proxy connect and CONNECT timed apart, no tcp connect', async () => {
    const a = await probe(eps['proxy-connect']!.port);
    expect(a.outcome, a.cause).toBe('ok');
    expect(a.phase).toBe('tls');
    expect(a.timings?.proxyConnectMs).toBeGreaterThan(0);
    expect(a.timings?.tunnelMs).toBeGreaterThan(0);
    expect(a.timings?.tcpConnectMs).toBeUndefined();
    expect(a.tallies?.proxyStatuses).toBe('200');
    expect(a.ms).toBeGreaterThan(0);
  });

  test('proxy-deny: proxy-denied in phase tunnel, with the status', async () => {
    const a = await probe(eps['proxy-deny']!.port);
    expect(a.outcome).toBe('proxy-denied');
    expect(a.phase).toBe('tunnel');
    expect(a.cause).toMatch(/answered 403 Forbidden/);
    expect(a.tallies?.proxyStatuses).toBe('403');
    expect(a.timings?.proxyConnectMs).toBeGreaterThan(0);
    expect(a.timings?.tunnelMs).toBeGreaterThan(0);
  });

  test('a proxy that cannot reach the target answers 502: the proxy says so, the target is not blamed', async () => {
    const a = await probe(eps['proxy-connect']!.port, { host: '127.0.0.1', port: await closedPort() });
    expect(a.outcome).toBe('proxy-denied');
    expect(a.phase).toBe('tunnel');
    expect(a.tallies?.proxyStatuses).toBe('502');
  });

  test('the lab proxy refuses a non-loopback target with 403 (it never connects off this machine)', async () => {
    const a = await probe(eps['proxy-connect']!.port, { host: '192.0.2.1', port: 443 });
    expect(a.outcome).toBe('proxy-denied');
    expect(a.cause).toMatch(/CONNECT 192\.0\.2\.1:443 answered 403/);
  });

  test('a closed proxy port: proxy-refused in phase proxy, not tcp:refused', async () => {
    const a = await probe(await closedPort());
    expect(a.outcome).toBe('proxy-refused');
    expect(a.phase).toBe('proxy');
    expect(a.cause).toMatch(/^proxy http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  test('a proxy that accepts and never answers CONNECT: proxy-answer-timeout at --timeout', async () => {
    const port = await listen(() => {});
    const t0 = performance.now();
    const a = await probe(port, behind(), 300);
    const took = performance.now() - t0;
    expect(a.outcome).toBe('proxy-answer-timeout');
    expect(a.phase).toBe('tunnel');
    expect(took).toBeGreaterThanOrEqual(295);
    expect(a.timings?.proxyConnectMs).toBeGreaterThan(0);
  });

  test('a proxy that resets on CONNECT: proxy-reset; one that answers something else: proxy-protocol-error', async () => {
    const rst = await listen((s) => s.once('data', () => s.resetAndDestroy()));
    expect((await probe(rst)).outcome).toBe('proxy-reset');
    const junk = await listen((s) => s.once('data', () => s.write('SSH-2.0-OpenSSH_9.6\r\n\r\n')));
    const j = await probe(junk);
    expect(j.outcome).toBe('proxy-protocol-error');
    expect(j.cause).toMatch(/not an HTTP answer to CONNECT: "SSH-2\.0/);
  });

  test('credentials in the URL go as Proxy-Authorization: Basic', async () => {
    let got = '';
    const port = await listen((s) =>
      s.once('data', (d: Buffer) => {
        got = d.toString('latin1');
        s.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
      }),
    );
    const u = parseProxyUrl(`http://alice:s%40cret@127.0.0.1:${port}`);
    if ('error' in u) throw new Error(u.error);
    expect(u.url).toBe(`http://127.0.0.1:${port}`);
    const p = createTlsProbe({ timeoutMs: 2000 });
    const a = await p({ key: 'x', host: '127.0.0.1', port: 9, proxy: { ...u } }, new AbortController().signal);
    expect(a.outcome).toBe('proxy-denied');
    expect(a.tallies?.proxyStatuses).toBe('407');
    expect(got).toContain(`Proxy-Authorization: Basic ${Buffer.from('alice:s@cret').toString('base64')}\r\n`);
    expect(got.startsWith('CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n')).toBe(true);
  });
});

describe('proxy settings', () => {
  test('HTTPS_PROXY unless NO_PROXY names the host (exact, domain, *, with or without a port)', () => {
    const env = { HTTPS_PROXY: 'http://127.0.0.1:3128', NO_PROXY: 'internal.test, .corp.test,10.0.0.5,db.test:5432,[::1]:8443' };
    expect(proxyFromEnv(env, 'api.example.test', 443)).toBe('http://127.0.0.1:3128');
    expect(proxyFromEnv(env, 'internal.test', 443)).toBeNull();
    expect(proxyFromEnv(env, 'a.internal.test', 443)).toBeNull();
    expect(proxyFromEnv(env, 'x.corp.test', 443)).toBeNull();
    expect(proxyFromEnv(env, 'corp.test', 443)).toBeNull();
    expect(proxyFromEnv(env, 'notcorp.test', 443)).toBe('http://127.0.0.1:3128');
    expect(proxyFromEnv(env, '10.0.0.5', 443)).toBeNull();
    expect(proxyFromEnv(env, 'db.test', 5432)).toBeNull();
    expect(proxyFromEnv(env, 'db.test', 443)).toBe('http://127.0.0.1:3128');
    expect(proxyFromEnv(env, '::1', 8443)).toBeNull();
    expect(proxyFromEnv(env, '::1', 443)).toBe('http://127.0.0.1:3128');
    expect(proxyFromEnv({ https_proxy: 'http://p.test:1', no_proxy: '*' }, 'a.test', 443)).toBeNull();
    expect(proxyFromEnv({ HTTP_PROXY: 'http://p.test:1' }, 'a.test', 443)).toBeNull();
  });

  test('only http:// proxy URLs without a path', () => {
    expect(parseProxyUrl('https://p.test:3128')).toEqual({ error: expect.stringMatching(/only http:\/\/ proxies/) });
    expect(parseProxyUrl('http://p.test:3128/x')).toEqual({ error: expect.stringMatching(/no path/) });
    expect(parseProxyUrl('p.test:3128')).toEqual({ error: expect.stringMatching(/^only http/) });
    expect(parseProxyUrl('http://[::1]:3128')).toEqual({ url: 'http://[::1]:3128', host: '::1', port: 3128 });
  });
});

describe('conndx tls --proxy', () => {
  test('JSON: proxyConnectMs and tunnelMs summarised, the statuses counted; a denial exits 2', async () => {
    const target = String(eps['proxy-connect']!.info!.proxyTarget);
    const ok = await runCliJson(['tls', target, '--proxy', `http://127.0.0.1:${eps['proxy-connect']!.port}`, '--insecure', '-c', '3']);
    expect(ok.code).toBe(0);
    expect(ok.json.outcomes).toEqual({ ok: 3 });
    expect(ok.json.proxyConnectMs.p50).toBeGreaterThan(0);
    expect(ok.json.tunnelMs.p50).toBeGreaterThan(0);
    expect(ok.json.tcpConnectMs).toBeUndefined();
    expect(ok.json.proxyStatuses).toEqual({ 200: 3 });
    const no = await runCliJson(['tls', target, '--proxy', `http://127.0.0.1:${eps['proxy-deny']!.port}`, '-c', '2']);
    expect(no.code).toBe(2);
    expect(no.json.outcomes).toEqual({ 'proxy-denied': 2 });
    expect(no.json.proxyStatuses).toEqual({ 403: 2 });
  });

  test('--proxy env: HTTPS_PROXY from the environment, NO_PROXY honoured; without --proxy env it is ignored', async () => {
    const target = String(eps['proxy-connect']!.info!.proxyTarget);
    const proxy = `http://127.0.0.1:${eps['proxy-deny']!.port}`;
    const via = await runCli(['tls', target, '--proxy', 'env', '-c', '1', '--json'], { env: { HTTPS_PROXY: proxy } });
    expect(JSON.parse(via.stdout).outcomes).toEqual({ 'proxy-denied': 1 });
    const direct = await runCli(['tls', target, '--proxy', 'env', '--insecure', '-c', '1', '--json'], {
      env: { HTTPS_PROXY: proxy, NO_PROXY: '127.0.0.1' },
    });
    expect(JSON.parse(direct.stdout).outcomes).toEqual({ ok: 1 });
    const ignored = await runCli(['tls', target, '--insecure', '-c', '1', '--json'], { env: { HTTPS_PROXY: proxy } });
    const j = JSON.parse(ignored.stdout);
    expect(j.outcomes).toEqual({ ok: 1 });
    expect(j.tcpConnectMs.p50).toBeGreaterThan(0);
  });

  test('a bad proxy URL is bad input: one line, exit 3', async () => {
    const r = await runCli(['tls', '127.0.0.1:443', '--proxy', 'socks5://127.0.0.1:1080']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad --proxy "socks5:\/\/127\.0\.0\.1:1080": only http:\/\/ proxies/);
  });
});

describe('checks: proxy in a tls check', () => {
  test('OK through the tunnelling proxy, CRITICAL naming proxy-denied through the refusing one; a bad URL is a config error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conndx-proxy-check-'));
    writeFileSync(join(dir, 'ca.pem'), String(eps['proxy-connect']!.info!.ca));
    const file = join(dir, 'checks.yaml');
    const target = String(eps['proxy-connect']!.info!.proxyTarget);
    const check = (name: string, ep: string) =>
      `  - name: ${name}\n    tls: ${target}\n    proxy: http://127.0.0.1:${eps[ep]!.port}\n    sni: lab.conndx.test\n    ca: ca.pem\n    expect: { successRate: 1 }\n`;
    try {
      writeFileSync(file, `checks:\n${check('via', 'proxy-connect')}${check('denied', 'proxy-deny')}`);
      const r = await runCli(['check', '--config', file]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout).toMatch(/^via OK: tls 127\.0\.0\.1:\d+: success 3\/3/m);
      expect(r.stdout).toMatch(/^denied CRITICAL: .*proxy-denied/m);
      writeFileSync(file, `checks:\n  - name: bad\n    tls: 127.0.0.1:443\n    proxy: socks5://127.0.0.1:1080\n`);
      const bad = await runCli(['check', '--config', file]);
      expect(bad.code).toBe(3);
      expect(bad.stderr).toMatch(/bad proxy "socks5:\/\/127\.0\.0\.1:1080": only http:\/\/ proxies/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
