import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseChecks } from '../../src/checks/config.js';
import { exposition } from '../../src/checks/metrics.js';
import { runCheck } from '../../src/checks/run.js';
import { LAB_SERVER_NAME, labPki } from '../../src/lab/certs.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';

// The http kind, added as one module (src/probes/kinds/http.ts) and its registry line:
// `conndx http URL` and `http: URL` checks against lab endpoints on loopback.

const eps: Record<string, LabEndpoint & { addr: string }> = {};
let dir = '';
let ca = '';
beforeAll(async () => {
  for (const n of ['http-ok', 'http-404', 'http-503', 'tls-alpn-h2-only']) eps[n] = await lab(n);
  dir = mkdtempSync(join(tmpdir(), 'conndx-http-kind-'));
  ca = join(dir, 'ca.pem');
  writeFileSync(ca, (await labPki()).ca.cert);
});
afterAll(async () => {
  await Promise.all(Object.values(eps).map((e) => e.close()));
  rmSync(dir, { recursive: true, force: true });
});

const url = (n: string, path = '/', scheme = 'http') => `${scheme}://${eps[n]!.addr}${path}`;
const h2url = () => url('tls-alpn-h2-only', '/', 'https');

describe('conndx http', () => {
  test('prints status, protocol and the first-byte time; --json has them as the result', async () => {
    const text = await runCli(['http', url('http-ok', '/healthz'), '-c', '2']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`CONNDX HTTP ${url('http-ok', '/healthz')}`);
    expect(text.stdout).toContain('status: 200 2');
    expect(text.stdout).toContain('protocol: http/1.1 2');
    expect(text.stdout).toMatch(/first byte\s+\d/);
    const { code, json } = await runCliJson(['http', url('http-ok'), '-c', '3']);
    expect(code).toBe(0);
    expect(json).toMatchObject({ probe: 'http', outcomes: { ok: 3 }, statuses: { 200: 3 }, protocols: { 'http/1.1': 3 } });
    expect(json.latencyMs.p50).toBeGreaterThan(0);
    // First byte after the connect: the request's time does not include the TCP handshake's.
    expect(json.tcpConnectMs.p50).toBeGreaterThan(0);
  });

  test('a 404 fails the attempts (exit 2) unless --expect-status names it', async () => {
    const nf = await runCliJson(['http', url('http-404', '/x'), '-c', '2']);
    expect(nf.code).toBe(2);
    expect(nf.json.outcomes).toEqual({ 'http-404': 2 });
    const ok = await runCliJson(['http', url('http-404', '/x'), '-c', '2', '--expect-status', '200-299,404']);
    expect(ok.code).toBe(0);
    expect(ok.json.outcomes).toEqual({ ok: 2 });
  });

  test('the h2-only server: --http2 with the lab CA is HTTP/2; without the CA the certificate is untrusted', async () => {
    const h2 = await runCliJson(['http', h2url(), '-c', '2', '--http2', '--sni', LAB_SERVER_NAME, '--ca', ca]);
    expect(h2.code).toBe(0);
    expect(h2.json).toMatchObject({ outcomes: { ok: 2 }, protocols: { h2: 2 }, statuses: { 200: 2 } });
    expect(h2.json.tlsHandshakeMs.p50).toBeGreaterThan(0);
    const untrusted = await runCliJson(['http', h2url(), '-c', '1', '--sni', LAB_SERVER_NAME]);
    expect(untrusted.code).toBe(2);
    expect(Object.keys(untrusted.json.outcomes)).toEqual(['tls:cert-untrusted']);
    const insecure = await runCliJson(['http', h2url(), '-c', '1', '--sni', LAB_SERVER_NAME, '--insecure']);
    expect(insecure.json.outcomes).toEqual({ ok: 1 });
  });

  test('bad input is one line and exit 3', async () => {
    const r = await runCli(['http', eps['http-ok']!.addr]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `conndx: bad target "${eps['http-ok']!.addr}": give an http:// or https:// URL, e.g. https://api.example.com/healthz\n`,
    );
    const both = await runCli(['http', url('http-ok'), '--http1.1', '--http2']);
    expect(both.code).toBe(3);
    expect(both.stderr).toBe('conndx: --http1.1 and --http2 cannot be used together\n');
    const st = await runCli(['http', url('http-ok'), '--expect-status', '99']);
    expect(st.code).toBe(3);
    expect(st.stderr).toContain('bad --expect-status "99"');
  });
});

const checks = (yaml: string) => parseChecks(`checks:\n${yaml}`, join(dir, 'c.yaml')).checks;
const one = async (yaml: string) => {
  const [spec] = checks(yaml);
  const run = await runCheck(spec!);
  return { spec: spec!, run };
};
const sample = (text: string, series: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(series))
    .map((l) => l.slice(series.length).trim());

describe('http checks', () => {
  test('a 404 is WARNING, a 503 CRITICAL, and expectStatus 404 makes the 404 OK', async () => {
    const nf = await one(`  - name: nf\n    http: ${url('http-404', '/health')}\n    count: 2\n`);
    expect(nf.run.verdict.state).toBe('WARNING');
    expect(nf.run.verdict.reasons.join(' ')).toContain('http-404 2');
    const down = await one(`  - name: down\n    http: ${url('http-503')}\n    count: 2\n`);
    expect(down.run.verdict.state).toBe('CRITICAL');
    const expected = await one(`  - name: nf-ok\n    http: ${url('http-404', '/health')}\n    count: 2\n    expectStatus: 404\n`);
    expect(expected.run.verdict.state).toBe('OK');
    expect(expected.spec.http!.expectStatus).toEqual([[404, 404]]);
  });

  test('the h2-only server checked with http2: true is OK over HTTP/2; its series say status, version and phases', async () => {
    const h2 = await one(`  - name: h2\n    http: ${h2url()}\n    http2: true\n    sni: ${LAB_SERVER_NAME}\n    ca: ${ca}\n    count: 2\n`);
    expect(h2.run.verdict.state).toBe('OK');
    expect(h2.run.result!.protocols).toEqual({ h2: 2 });
    const { text } = await exposition([h2], { checkLabel: false });
    expect(sample(text, 'probe_http_status_code')).toEqual(['200']);
    expect(sample(text, 'probe_http_version')).toEqual(['2']);
    expect(sample(text, 'probe_tls_version_info')).toEqual(['{version="TLSv1.3"} 1']);
    expect(sample(text, 'probe_ssl_earliest_cert_expiry').length).toBe(1);
    for (const phase of ['tcp', 'tls', 'app'])
      expect(text, phase).toMatch(new RegExp(`conndx_probe_phase_duration_seconds\\{[^}]*phase="${phase}"[^}]*percentile="50"`));
  });

  test('a plain http check has no TLS series; the status series says 404 and the version 1.1', async () => {
    const nf = await one(`  - name: nf\n    http: ${url('http-404')}\n    count: 1\n`);
    const { text } = await exposition([nf], { checkLabel: false });
    expect(sample(text, 'probe_http_status_code')).toEqual(['404']);
    expect(sample(text, 'probe_http_version')).toEqual(['1.1']);
    expect(text).not.toContain('probe_ssl_earliest_cert_expiry');
    expect(text).not.toMatch(/phase="tls",percentile/);
  });

  test('config problems of http checks are named at their keys', () => {
    const issues = (yaml: string) => {
      try {
        checks(yaml);
        return [];
      } catch (e) {
        return (e as { issues: { field: string; message: string }[] }).issues.map((i) => `${i.field}: ${i.message}`);
      }
    };
    expect(issues('  - name: a\n    http: api.test:443\n')).toEqual([
      'checks[0].http: bad target "api.test:443": give an http:// or https:// URL, e.g. https://api.example.com/healthz',
    ]);
    expect(issues('  - name: a\n    http: https://api.test/\n    http1: true\n    http2: true\n')).toEqual([
      'checks[0].http2: http1 and http2 cannot be used together: give one',
    ]);
    expect(issues('  - name: a\n    http: https://api.test/\n    expectStatus: 99\n')).toEqual([
      'checks[0].expectStatus: bad expectStatus "99": give statuses or ranges such as 200-299,301 or 2xx',
    ]);
    expect(issues('  - name: a\n    http: https://api.test/\n    hold: 1s\n')).toEqual([
      'checks[0].hold: "hold" is an option of tcp checks, not of http checks',
    ]);
    expect(issues('  - name: a\n    tcp: 127.0.0.1:1\n    expectStatus: 200\n')).toEqual([
      'checks[0].expectStatus: "expectStatus" is an option of http checks, not of tcp checks',
    ]);
  });
});
