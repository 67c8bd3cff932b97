import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';
import type { SecureLabStats } from '../../src/lab/dns-secure.js';
import { daysLeft } from '../../src/probes/cert.js';

// DoT and DoH against the lab's own TLS resolvers on loopback (certificates made at start).

type Ep = Awaited<ReturnType<typeof lab>>;
const statsOf = (ep: Ep) => ep.info!.stats as SecureLabStats;
const urlOf = (ep: Ep) => ep.info!.url as string;

let dir: string;
let caFile: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conndx-dns-secure-'));
  caFile = join(dir, 'ca.pem');
  const ep = await lab('dns-dot');
  writeFileSync(caFile, ep.info!.ca as string);
  await ep.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('DNS over TLS', () => {
  test('tls:// answers with the TLS facts of the connection, and one connection carries every query', async () => {
    const ep = await lab('dns-dot');
    try {
      const { code, json } = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '5', '--nsid']);
      expect(code).toBe(0);
      expect(json.outcomes).toEqual({ ok: 5 });
      expect(json.query.transport).toBe('dot');
      expect(json.nsid).toEqual({ 'lab-ns-1': 5 });
      expect(json.tls.version).toBe('TLSv1.3');
      expect(json.tls.certificate.subject).toContain('lab.conndx.test');
      expect(json.tls.certificate.daysLeft).toBe(daysLeft(json.tls.certificate.notAfter));
      expect(json.tls.certificate.daysLeft).toBeGreaterThan(0);
      expect(json.connections).toBe(1);
      expect(statsOf(ep).handshakes).toBe(1);
      expect(statsOf(ep).queries).toBe(5);
      expect(json.tcpConnectMs.max).toBeGreaterThan(0);
      expect(json.tlsHandshakeMs.max).toBeGreaterThan(0);
      expect(json.queryMs.max).toBeGreaterThan(0);
    } finally {
      await ep.close();
    }
  });

  test('--no-reuse opens a connection per query; each query time holds its connect, handshake and query phases', async () => {
    const ep = await lab('dns-dot');
    try {
      const r = await runCli(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '4', '--no-reuse', '--ndjson']);
      const ls = lines(r.stdout);
      expect(ls).toHaveLength(4);
      expect(statsOf(ep).handshakes).toBe(4);
      for (const l of ls) {
        expect(l.outcome).toBe('ok');
        expect(l.detail.reused).toBe(false);
        const t = l.timings;
        expect(t.tcpConnectMs).toBeGreaterThan(0);
        expect(t.tlsHandshakeMs).toBeGreaterThan(0);
        expect(t.queryMs).toBeGreaterThan(0);
        // the phases follow one another inside the attempt
        expect(l.ms).toBeGreaterThanOrEqual(t.tcpConnectMs + t.tlsHandshakeMs + t.queryMs);
      }
      const reuse = await runCli(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '3', '--ndjson']);
      const rl = lines(reuse.stdout);
      expect(rl.map((l) => l.detail.reused)).toEqual([false, true, true]);
      expect(rl[1].timings.tcpConnectMs).toBeUndefined();
      expect(statsOf(ep).handshakes).toBe(5);
    } finally {
      await ep.close();
    }
  });

  test('a server that closes each connection: the kept one is found closed and a new one is opened', async () => {
    const ep = await lab('dns-dot-close');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '4']);
      expect(json.outcomes).toEqual({ ok: 4 });
      expect(json.connections).toBe(4);
      expect(statsOf(ep).handshakes).toBe(4);
    } finally {
      await ep.close();
    }
  });

  test('an untrusted certificate fails in phase tls; --insecure passes it and keeps the problem', async () => {
    const ep = await lab('dns-dot');
    try {
      const bad = await runCli(['dns', 'lab.test', '--server', urlOf(ep), '-c', '2', '--ndjson']);
      expect(bad.code).toBe(2);
      for (const l of lines(bad.stdout)) {
        expect(l.outcome).toBe('cert-untrusted');
        expect(l.phase).toBe('tls');
        expect(l.timings.tcpConnectMs).toBeGreaterThan(0);
      }
      const ins = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '-c', '2', '--insecure']);
      expect(ins.json.outcomes).toEqual({ ok: 2 });
      expect(ins.json.tls.certProblem.outcome).toBe('cert-untrusted');
      const wrong = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '--sni', 'other.conndx.test', '-c', '1']);
      expect(wrong.json.outcomes).toEqual({ 'cert-hostname-mismatch': 1 });
    } finally {
      await ep.close();
    }
  });

  test('a closed DoT port is tcp:refused in phase tcp; --transport dot with a bare address works too', async () => {
    const ep = await lab('dns-dot');
    const port = ep.port;
    try {
      const ok = await runCliJson(['dns', 'lab.test', '--transport', 'dot', '--server', ep.addr, '--ca', caFile, '-c', '1']);
      expect(ok.json.outcomes).toEqual({ ok: 1 });
    } finally {
      await ep.close();
    }
    const r = await runCli(['dns', 'lab.test', '--server', `tls://127.0.0.1:${port}`, '--ca', caFile, '-c', '1', '--ndjson']);
    const [l] = lines(r.stdout);
    expect(l.outcome).toBe('tcp:refused');
    expect(l.phase).toBe('tcp');
  });
});

describe('DNS over HTTPS', () => {
  test('HTTP/2 POST by default; GET with --method GET; every stream on one connection at concurrency 10', async () => {
    const ep = await lab('dns-doh');
    try {
      const post = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '3']);
      expect(post.json.outcomes).toEqual({ ok: 3 });
      expect(post.json.http).toEqual({ h2: 3 });
      expect(post.json.query.transport).toBe('doh');
      expect(statsOf(ep).requests).toEqual({ 'POST h2': 3 });
      const get = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '2', '--method', 'GET']);
      expect(get.json.outcomes).toEqual({ ok: 2 });
      expect(statsOf(ep).requests).toEqual({ 'POST h2': 3, 'GET h2': 2 });
      const before = statsOf(ep).handshakes;
      const many = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '40', '--concurrency', '10']);
      expect(many.json.outcomes).toEqual({ ok: 40 });
      expect(many.json.connections).toBe(1);
      expect(statsOf(ep).handshakes - before).toBe(1);
      const fresh = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '3', '--no-reuse']);
      expect(fresh.json.connections).toBe(3);
      expect(statsOf(ep).handshakes - before).toBe(4);
    } finally {
      await ep.close();
    }
  });

  test('HTTP/1.1 when the server offers no h2, or with --http1; the connection is kept', async () => {
    const h1 = await lab('dns-doh-h1');
    const h2 = await lab('dns-doh');
    try {
      const a = await runCliJson(['dns', 'lab.test', '--server', urlOf(h1), '--ca', caFile, '-c', '3']);
      expect(a.json.outcomes).toEqual({ ok: 3 });
      expect(a.json.http).toEqual({ h1: 3 });
      expect(a.json.connections).toBe(1);
      expect(statsOf(h1).requests).toEqual({ 'POST h1': 3 });
      const b = await runCliJson(['dns', 'lab.test', '--server', urlOf(h2), '--ca', caFile, '-c', '2', '--http1', '--method', 'GET']);
      expect(b.json.outcomes).toEqual({ ok: 2 });
      expect(statsOf(h2).requests).toEqual({ 'GET h1': 2 });
    } finally {
      await h1.close();
      await h2.close();
    }
  });

  test('HTTP status codes are outcomes: http-503, http-404', async () => {
    const ep = await lab('dns-doh-503');
    const ok = await lab('dns-doh');
    try {
      const { code, json } = await runCliJson(['dns', 'lab.test', '--server', urlOf(ep), '--ca', caFile, '-c', '2']);
      expect(code).toBe(2);
      expect(json.outcomes).toEqual({ 'http-503': 2 });
      const nf = await runCliJson(['dns', 'lab.test', '--server', urlOf(ok).replace('/dns-query', '/wrong'), '--ca', caFile, '-c', '1']);
      expect(nf.json.outcomes).toEqual({ 'http-404': 1 });
    } finally {
      await ep.close();
      await ok.close();
    }
  });
});

describe('bad transport input: one line, exit 3', () => {
  test.each([
    [['--server', '127.0.0.1', '--transport', 'quic']],
    [['--server', 'tls://127.0.0.1/x']],
    [['--server', 'ftp://127.0.0.1']],
    [['--server', 'tls://127.0.0.1', '--server', '127.0.0.1']],
    [['--server', 'tls://127.0.0.1', '--transport', 'doh']],
    [['--server', 'tls://127.0.0.1', '--method', 'GET']],
    [['--server', '127.0.0.1', '--no-reuse']],
    [['--server', '127.0.0.1', '--tcp', '--transport', 'dot']],
    [['--server', 'https://127.0.0.1/dns-query', '--method', 'PUT']],
    [['--server', 'https://127.0.0.1/dns-query', '--ca', '/nonexistent/ca.pem']],
  ])('%j', async (extra) => {
    const r = await runCli(['dns', 'x.test', ...extra]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^conndx: /);
  });
});
