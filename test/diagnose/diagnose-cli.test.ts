import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { LOOPBACK_SLOW_MS } from '../../src/lab/names.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { bench } from '../helpers/diagnose-env.js';

let b: Awaited<ReturnType<typeof bench>>;
let ca: string;
const eps: Record<string, { port: number }> = {};
beforeAll(async () => {
  b = await bench();
  for (const n of [
    'tls-ok',
    'tcp-refuse',
    'tcp-drop',
    'tls-rst-after-hello',
    'tls-plaintext-http',
    'tls-expired',
    'dns-loopback-slow-tail',
    'http-ok',
    'http-503',
    'http-404',
    'http-slow',
  ])
    eps[n] = await b.start(n);
  ca = await b.ca();
});
afterAll(() => b.close());

const tlsArgs = () => ['--sni', LAB_SERVER_NAME, '--ca', ca];
const diag = (target: string, extra: string[] = []) => runCliJson(['diagnose', target, ...b.args(extra)]);

describe('diagnose names the phase and outcome of each lab fault', () => {
  test('healthy HTTPS endpoint: exit 0, every phase ok, byTarget keyed by address', async () => {
    const { code, json } = await diag(`https://ok.v4.lab.test:${eps['tls-ok']!.port}/healthz`, ['--count', '3', ...tlsArgs()]);
    expect(json.verdict).toMatchObject({ status: 'ok', phase: 'ok', outcome: 'ok' });
    expect(code).toBe(0);
    const key = `127.0.0.1:${eps['tls-ok']!.port}`;
    expect(json.addresses.map((a: { key: string }) => a.key)).toEqual([key]);
    for (const phase of ['tcp', 'tls', 'http']) {
      expect(json[phase]).toMatchObject({ probe: phase, attempts: 3, succeeded: 3, outcomes: { ok: 3 } });
      expect(json[phase].byTarget[key].succeeded).toBe(3);
      expect(json[phase].latencyMs.p50).toBeGreaterThan(0);
    }
    expect(json.http.statuses).toEqual({ 200: 3 });
    expect(json.tls.negotiated.version).toMatch(/^TLSv1\.[23]$/);
    expect(json.dns).toMatchObject({
      probe: 'dns',
      queried: 'ok.v4.lab.test',
      system: { source: 'emulated', outcome: 'ok', addresses: ['127.0.0.1'] },
    });
    expect(json.dns.byType.A.outcomes).toEqual({ ok: 3 });
    expect(json.meta).toMatchObject({ conndxVersion: expect.any(String), host: expect.any(String) });
    expect(json.meta.command).toContain('conndx diagnose');
  });

  test('slow DNS tail: degraded, phase dns, outcome slow, naming the slowest resolver', async () => {
    const slow = eps['dns-loopback-slow-tail']!;
    const rc = b.file('slow.conf', `nameserver 127.0.0.1:${slow.port}\n`);
    const { code, json } = await runCliJson([
      'diagnose',
      `https://api.v4.lab.test:${eps['tls-ok']!.port}/`,
      '--resolv-conf',
      rc,
      '--hosts',
      b.hosts,
      '--count',
      '4',
      ...tlsArgs(),
    ]);
    expect(json.verdict).toMatchObject({ status: 'degraded', phase: 'dns', outcome: 'slow' });
    expect(json.verdict.summary).toContain(`127.0.0.1:${slow.port}`);
    expect(json.dns.latencyMs.max).toBeGreaterThanOrEqual(LOOPBACK_SLOW_MS * 0.9);
    expect(json.tls.outcomes).toEqual({ ok: 4 });
    expect(code).toBe(1);
  });

  test('two resolvers, one with a slow tail: the verdict names the slow one, byServer holds both', async () => {
    const slow = `127.0.0.1:${eps['dns-loopback-slow-tail']!.port}`;
    const fast = `127.0.0.1:${b.dns.port}`;
    const { json } = await diag(`https://api.v4.lab.test:${eps['tls-ok']!.port}/`, [
      '--count',
      '4',
      '--server',
      fast,
      '--server',
      slow,
      ...tlsArgs(),
    ]);
    expect(json.verdict).toMatchObject({ status: 'degraded', phase: 'dns', outcome: 'slow' });
    expect(json.verdict.summary).toContain(`slowest resolver, ${slow}`);
    expect(Object.keys(json.dns.byServer).sort()).toEqual([fast, slow].sort());
    expect(json.dns.byServer[fast].latencyMs.p99).toBeLessThan(json.dns.byServer[slow].latencyMs.p99);
  });

  test('a resolver that never answers, next to one that does: degraded, phase dns, outcome timeout, the dead one named', async () => {
    const drop = await b.start('dns-drop');
    const dead = `127.0.0.1:${drop.port}`;
    const { code, json } = await diag(`https://api.v4.lab.test:${eps['tls-ok']!.port}/`, [
      '--count',
      '2',
      '--timeout',
      '400ms',
      '--server',
      `127.0.0.1:${b.dns.port}`,
      '--server',
      dead,
      ...tlsArgs(),
    ]);
    expect(json.verdict).toMatchObject({ status: 'degraded', phase: 'dns', outcome: 'timeout' });
    expect(json.verdict.summary).toContain(`resolver ${dead}`);
    expect(json.dns.byServer[dead].outcomes).toEqual({ timeout: 4 });
    expect(json.tls.outcomes).toEqual({ ok: 2 });
    expect(code).toBe(1);
  });

  test('a name that does not resolve is a finding: phase dns, outcome nxdomain, exit 1 (not 3)', async () => {
    const { code, json } = await diag('https://api.nx.lab.test/', ['--count', '2']);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'dns', outcome: 'nxdomain' });
    expect(json.dns.outcomes).toEqual({ nxdomain: 4 });
    expect(json.tcp).toBeNull();
    expect(code).toBe(1);
  });

  test('refused: phase tcp, outcome refused', async () => {
    const { code, json } = await diag(`db.v4.lab.test:${eps['tcp-refuse']!.port}`, ['--count', '3']);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tcp', outcome: 'refused' });
    expect(json.tcp.outcomes).toEqual({ refused: 3 });
    expect(json.tls).toBeNull();
    expect(code).toBe(1);
  });

  test('dropped SYNs: phase tcp, outcome timeout, SYN retransmission in the evidence', async () => {
    const { code, json } = await diag(`db.v4.lab.test:${eps['tcp-drop']!.port}`, [
      '--count',
      '2',
      '--timeout',
      '1200ms',
      '--concurrency',
      '2',
    ]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tcp', outcome: 'timeout' });
    expect(json.tcp.synRetransmitSuspected).toBe(2);
    expect(json.verdict.evidence.join('\n')).toMatch(/SYN retransmission suspected in 2 of 2/);
    expect(code).toBe(1);
  });

  test('dropped SYNs: the phase stops after 3 identical timeouts and concludes; the waterfall says how it failed', async () => {
    const target = `db.v4.lab.test:${eps['tcp-drop']!.port}`;
    const { json } = await diag(target, ['--count', '10', '--timeout', '300ms']);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tcp', outcome: 'timeout' });
    expect(json.tcp.attempts).toBe(3);
    expect(json.tcp.outcomes).toEqual({ timeout: 3 });
    expect(json.tcp.stoppedEarly).toMatchObject({ after: 3, outcome: 'timeout', of: 10 });
    expect(json.verdict.evidence.join('\n')).toMatch(/stopped after 3 identical timeouts/);
    // Three attempts, not ten: the phase took three timeouts' time, not ten.
    expect(json.tcp.elapsedMs).toBeLessThan(10 * 300);
    const text = await runCli(['diagnose', target, ...b.args(['--count', '10', '--timeout', '300ms'])]);
    expect(text.stdout).toMatch(/connect +- +- +failed: timeout after 300 ms/);
    expect(text.stdout).toMatch(/waterfall \(p50 bars of the phases that worked; connect failed\)/);
  });

  test('reset after the ClientHello: phase tls, outcome reset (TCP itself healthy)', async () => {
    const { json } = await diag(`https://api.v4.lab.test:${eps['tls-rst-after-hello']!.port}/`, ['--count', '2', ...tlsArgs()]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tls', outcome: 'reset' });
    expect(json.tcp.outcomes).toEqual({ ok: 2 });
    expect(json.http).toBeNull();
  });

  test('plain HTTP on the TLS port: phase tls, outcome not-tls, what answered in the evidence', async () => {
    const { json } = await diag(`https://api.v4.lab.test:${eps['tls-plaintext-http']!.port}/`, ['--count', '2', ...tlsArgs()]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tls', outcome: 'not-tls' });
    expect(json.tcp.outcomes).toEqual({ ok: 2 });
    expect(json.verdict.evidence.join('\n')).toContain('HTTP/1.1 400 Bad Request');
  });

  test('expired certificate: phase tls, outcome cert-expired, the dates in the evidence', async () => {
    const { json } = await diag(`https://api.v4.lab.test:${eps['tls-expired']!.port}/`, ['--count', '2', ...tlsArgs()]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tls', outcome: 'cert-expired' });
    expect(json.verdict.evidence.join('\n')).toMatch(/expired 30 days ago/);
    // The suggested conndx tls trusts what this run trusted: run as printed, it sees the same
    // cert-expired, not a cert-untrusted of its own.
    const next = (json.verdict.next as string[]).find((l) => l.startsWith('conndx tls '))!;
    expect(next).toContain(`--ca ${ca}`);
    const { execFile } = await import('node:child_process');
    const { BIN } = await import('../helpers/lab.js');
    // Asynchronously: the lab's servers live in this process.
    const out = await new Promise<string>((resolve) =>
      execFile('bash', ['-c', `${next.replace(/^conndx /, `${process.execPath} ${BIN} `)} --count 1 --json`], (_e, stdout) =>
        resolve(stdout),
      ),
    );
    expect(Object.keys(JSON.parse(out).outcomes)).toEqual(['cert-expired']);
  });

  test('HTTP 503: phase app, outcome http-503, the status in the evidence', async () => {
    const { code, json } = await diag(`http://api.v4.lab.test:${eps['http-503']!.port}/healthz`, ['--count', '2']);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'app', outcome: 'http-503' });
    expect(json.http.statuses).toEqual({ 503: 2 });
    expect(json.tls).toBeNull();
    expect(code).toBe(1);
  });

  test('HTTP status: 404 is degraded, exit 1; --expect-status decides (failing outside it, ok inside)', async () => {
    const url = `http://api.v4.lab.test:${eps['http-404']!.port}/healthz`;
    const plain = await diag(url, ['--count', '2']);
    expect(plain.json.verdict).toMatchObject({ status: 'degraded', phase: 'app', outcome: 'http-404' });
    expect(plain.code).toBe(1);
    const strict = await diag(url, ['--count', '2', '--expect-status', '200-299']);
    expect(strict.json.verdict).toMatchObject({ status: 'failing', phase: 'app', outcome: 'http-404' });
    expect(strict.json.plan.expectStatus).toEqual([[200, 299]]);
    const wanted = await diag(url, ['--count', '2', '--expect-status', '404']);
    expect(wanted.json.verdict).toMatchObject({ status: 'ok' });
    expect(wanted.code).toBe(0);
    const five = await diag(`http://api.v4.lab.test:${eps['http-503']!.port}/`, ['--count', '2']);
    expect(five.json.verdict).toMatchObject({ status: 'failing', phase: 'app', outcome: 'http-503' });
    const bad = await runCli(['diagnose', url, '--expect-status', '2x9']);
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('bad --expect-status "2x9"');
  });

  test('a slow first byte: degraded, phase app, outcome slow; plain http:// needs no TLS', async () => {
    const { json } = await diag(`http://api.v4.lab.test:${eps['http-slow']!.port}/`, ['--count', '1']);
    expect(json.verdict).toMatchObject({ status: 'degraded', phase: 'app', outcome: 'slow' });
    expect(json.http.latencyMs.p50).toBeGreaterThanOrEqual(1100);
  });

  test('plain HTTP endpoint that works: exit 0, the Host header carries the port', async () => {
    const { code, json } = await diag(`http://api.v4.lab.test:${eps['http-ok']!.port}/x?y=1`, ['--count', '2', '--show-query']);
    expect(json.verdict.status).toBe('ok');
    expect(json.plan).toMatchObject({ tls: false, http: true, path: '/x?y=1' });
    expect(code).toBe(0);
  });

  test('--insecure lets the expired certificate through to HTTP, and the verdict is ok', async () => {
    const { code, json } = await diag(`https://api.v4.lab.test:${eps['tls-expired']!.port}/`, ['--count', '2', ...tlsArgs(), '--insecure']);
    expect(json.verdict.status).toBe('ok');
    expect(json.http.statuses).toEqual({ 200: 2 });
    expect(code).toBe(0);
  });
});

describe('every address, both families, and how the name was resolved', () => {
  test('A and AAAA: both addresses tried; ::1 refuses while 127.0.0.1 works → degraded, the address named', async () => {
    const port = eps['tls-ok']!.port;
    const { code, json } = await diag(`https://api.lab.test:${port}/`, ['--count', '2', ...tlsArgs()]);
    expect(json.addresses.map((a: { key: string }) => a.key).sort()).toEqual([`127.0.0.1:${port}`, `[::1]:${port}`].sort());
    expect(json.tcp.byTarget[`127.0.0.1:${port}`].outcomes).toEqual({ ok: 2 });
    expect(json.tcp.byTarget[`[::1]:${port}`].outcomes).toEqual({ refused: 2 });
    expect(json.verdict).toMatchObject({ status: 'degraded', phase: 'tcp', outcome: 'refused' });
    expect(json.verdict.summary).toContain(`[::1]:${port}`);
    expect(json.verdict.summary).toMatch(/fails over IPv6 .* while IPv4 works/);
    expect(code).toBe(1);
  });

  test('-4 keeps to IPv4: no AAAA query, no ::1', async () => {
    const { json } = await diag(`https://api.lab.test:${eps['tls-ok']!.port}/`, ['--count', '1', '-4', ...tlsArgs()]);
    expect(Object.keys(json.dns.byType)).toEqual(['A']);
    expect(json.addresses).toHaveLength(1);
    expect(json.verdict.status).toBe('ok');
  });

  test('a hosts entry that DNS does not know: the disagreement is evidence, and the hosts address is tried', async () => {
    const hosts = b.file('hosts-override', `127.0.0.2 api.v4.lab.test\n`);
    const port = eps['tls-ok']!.port;
    const { json } = await runCliJson([
      'diagnose',
      `api.v4.lab.test:${port}`,
      '--resolv-conf',
      b.resolvConf,
      '--hosts',
      hosts,
      '--count',
      '1',
      '--no-tls',
    ]);
    expect(json.dns.system).toMatchObject({ via: 'hosts', addresses: ['127.0.0.2'] });
    const keys = json.addresses.map((a: { key: string; from: string[] }) => a.key);
    expect(keys).toEqual([`127.0.0.2:${port}`, `127.0.0.1:${port}`]);
    expect(json.verdict.evidence.join('\n')).toMatch(/system resolver and DNS disagree/);
  });

  test('search list and ndots: a short name becomes the search-domain name, and that is what the resolvers are asked', async () => {
    const rc = b.file('search.conf', `nameserver 127.0.0.1:${b.dns.port}\nsearch v4.lab.test\noptions ndots:2\n`);
    const { json } = await runCliJson([
      'diagnose',
      `api:${eps['tls-ok']!.port}`,
      '--resolv-conf',
      rc,
      '--hosts',
      b.hosts,
      '--count',
      '1',
      '--no-tls',
    ]);
    expect(json.dns.queried).toBe('api.v4.lab.test');
    expect(json.dns.search).toMatchObject({ search: ['v4.lab.test'], ndots: 2 });
    expect(json.verdict.status).toBe('ok');
    expect(json.verdict.evidence.join('\n')).toMatch(/became api\.v4\.lab\.test through the search list \(ndots 2\)/);
  });

  test('an address literal skips DNS', async () => {
    const { json } = await diag(`127.0.0.1:${eps['tls-ok']!.port}`, ['--count', '1', '--tls', ...tlsArgs()]);
    expect(json.dns).toBeNull();
    expect(json.tls.outcomes).toEqual({ ok: 1 });
  });
});

describe('reports and output', () => {
  test('--report FILE.md: verdict first, UTC time, exact command, version, host, tables', async () => {
    const md = join(b.dir, 'incident.md');
    const r = await runCli(['diagnose', `db.v4.lab.test:${eps['tcp-refuse']!.port}`, ...b.args(['--count', '2', '--report', md])]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`report written to ${md}`);
    const text = readFileSync(md, 'utf8');
    const lines = text.split('\n');
    expect(lines[0]).toBe(`# conndx diagnose db.v4.lab.test:${eps['tcp-refuse']!.port}`);
    expect(lines[2]).toMatch(/^\*\*Verdict: .* FAILING\*\* — phase \*\*tcp\*\*, outcome \*\*`refused`\*\*$/);
    expect(text).toMatch(/\| started \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|/);
    expect(text).toContain(`| command | \`conndx diagnose db.v4.lab.test:${eps['tcp-refuse']!.port} --resolv-conf`);
    expect(text).toMatch(/\| conndx \| \d+\.\d+\.\d+/);
    // Every table has a header separator right after its header row, and the same cell count on each row.
    const tables = text.split('\n\n').filter((blk) => blk.startsWith('|'));
    expect(tables.length).toBeGreaterThanOrEqual(3);
    for (const t of tables) {
      const rows = t.split('\n');
      expect(rows[1]).toMatch(/^\| ---( \| -{3}:?)* \|$/);
      const cells = (row: string) => row.replace(/\\\|/g, '').split('|').length;
      for (const row of rows) expect(cells(row)).toBe(cells(rows[0]!));
    }
    expect(text.indexOf('Verdict')).toBeLessThan(text.indexOf('## Evidence'));
  });

  test('terminal output stays within 80 columns and leads with the verdict', async () => {
    const r = await runCli(['diagnose', `https://api.lab.test:${eps['tls-ok']!.port}/healthz`, ...b.args(['--count', '2', ...tlsArgs()])]);
    const lines = r.stdout.split('\n');
    // A next check is one command that pastes as printed, never wrapped: only prose is held to 80.
    for (const l of lines.filter((x) => !x.startsWith('  $ '))) expect([...l].length, l).toBeLessThanOrEqual(80);
    expect(r.stdout).toMatch(/VERDICT DEGRADED · tcp · refused/);
    expect(r.stdout).toMatch(/waterfall/);
    expect(lines.findIndex((l) => l.startsWith('VERDICT'))).toBeLessThan(lines.findIndex((l) => l.startsWith('waterfall')));
  });

  test('bad input: one line on stderr, exit 3', async () => {
    for (const argv of [
      ['diagnose', 'ftp://x.lab.test/'],
      ['diagnose', 'host:99999'],
      ['diagnose', 'x.lab.test:443', '--report', 'out.pdf'],
      ['diagnose', 'x.lab.test:443', '--server', 'not-an-address'],
      ['diagnose', 'x.lab.test:443', '--resolv-conf', '/nonexistent/resolv.conf'],
      ['diagnose', 'x.lab.test:443', '--timeout', 'soon'],
    ]) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(3);
      expect(r.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });
});
