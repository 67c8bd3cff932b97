import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { bench } from '../helpers/diagnose-env.js';

let b: Awaited<ReturnType<typeof bench>>;
const eps: Record<string, LabEndpoint> = {};
let ca = '';
beforeAll(async () => {
  b = await bench();
  for (const n of ['tls-alpn-h2-only', 'tls-ok', 'http-ok']) eps[n] = await b.start(n);
  ca = await b.ca();
});
afterAll(() => b.close());

const tlsArgs = () => ['--sni', LAB_SERVER_NAME, '--ca', ca];
const diag = (target: string, extra: string[] = []) => runCliJson(['diagnose', target, ...b.args(extra)]);

describe('diagnose speaks HTTP/2', () => {
  test('the h2-only server: healthy, ALPN h2 in the TLS phase, the GET over HTTP/2 with status and first byte', async () => {
    const { code, json } = await diag(`https://ok.v4.lab.test:${eps['tls-alpn-h2-only']!.port}/`, ['--count', '3', ...tlsArgs()]);
    expect(json.verdict).toMatchObject({ status: 'ok', phase: 'ok', outcome: 'ok' });
    expect(code).toBe(0);
    expect(json.plan.httpProtocol).toBe('auto');
    expect(json.tls.negotiated.alpn).toBe('h2');
    expect(json.http).toMatchObject({
      outcomes: { ok: 3 },
      protocols: { h2: 3 },
      statuses: { 200: 3 },
      protocol: 'h2',
      statusLine: 'HTTP/2 200',
    });
    expect(json.http.latencyMs.p50).toBeGreaterThan(0);
    expect(json.verdict.summary).toContain('over HTTP/2');
  });

  test('the same server with --http1.1: failing in the TLS phase, alert no_application_protocol (what an http/1.1-only client gets)', async () => {
    const { code, json } = await diag(`https://ok.v4.lab.test:${eps['tls-alpn-h2-only']!.port}/`, [
      '--count',
      '2',
      '--http1.1',
      ...tlsArgs(),
    ]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tls', outcome: 'alert:no_application_protocol' });
    expect(code).toBe(1);
  });

  test('an HTTP/1.1 server under the default: ALPN picks http/1.1, the GET goes over HTTP/1.1', async () => {
    const { code, json } = await diag(`https://ok.v4.lab.test:${eps['tls-ok']!.port}/`, ['--count', '2', ...tlsArgs()]);
    expect(code).toBe(0);
    expect(json.tls.negotiated.alpn).toBe('http/1.1');
    expect(json.http).toMatchObject({ protocols: { 'http/1.1': 2 }, protocol: 'http/1.1', statuses: { 200: 2 } });
  });

  test('--http2 against an HTTP/1.1-only TLS server: the TLS phase fails with alert no_application_protocol', async () => {
    const { json } = await diag(`https://ok.v4.lab.test:${eps['tls-ok']!.port}/`, ['--count', '2', '--http2', ...tlsArgs()]);
    expect(json.plan.httpProtocol).toBe('h2');
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tls', outcome: 'alert:no_application_protocol' });
  });

  test('--http2 over plain TCP (prior knowledge) to an HTTP/1.1 server: failing in the app phase, not ok', async () => {
    const { code, json } = await diag(`http://ok.v4.lab.test:${eps['http-ok']!.port}/`, ['--count', '2', '--http2']);
    expect(json.verdict.status).toBe('failing');
    expect(json.verdict.phase).toBe('app');
    expect(json.http.protocols).toEqual({ h2: 2 });
    expect(code).toBe(1);
  });

  test('--http1.1 with --http2: one line, exit 3', async () => {
    const r = await runCli(['diagnose', `https://127.0.0.1:${eps['tls-ok']!.port}/`, '--http1.1', '--http2']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toMatch(/--http1\.1 and --http2 cannot be used together/);
  });
});
