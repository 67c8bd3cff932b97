import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import type { SecureLabStats } from '../../src/lab/dns-secure.js';
import { LAB_NSID } from '../../src/lab/dns-edns.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { bench } from '../helpers/diagnose-env.js';

// diagnose of a DoT (tls://) or DoH (https://…/dns-query) resolver against the lab's encrypted resolvers.

let b: Awaited<ReturnType<typeof bench>>;
const eps: Record<string, LabEndpoint> = {};
let ca = '';
beforeAll(async () => {
  b = await bench();
  for (const n of ['dns-dot', 'dns-dot-ede', 'dns-doh', 'dns-doh-503']) eps[n] = await b.start(n);
  ca = await b.ca();
});
afterAll(() => b.close());

const stats = (n: string) => eps[n]!.info!.stats as SecureLabStats;
const dot = (n: string) => `tls://127.0.0.1:${eps[n]!.port}`;
const doh = (n: string) => `https://127.0.0.1:${eps[n]!.port}/dns-query`;
const trust = () => ['--sni', LAB_SERVER_NAME, '--ca', ca];
const diag = (target: string, extra: string[] = []) => runCliJson(['diagnose', target, ...b.args(extra)]);
/** A suggested next check, run as written (its arguments hold no spaces or quotes here). */
const runNext = (line: string) => {
  expect(line).not.toMatch(/['"]/);
  return runCliJson(line.split(' ').slice(1));
};

describe('diagnose a DoT resolver', () => {
  test('healthy: TCP, TLS with the certificate facts, then . NS over the kept connection, connect / TLS / query apart', async () => {
    const before = { ...stats('dns-dot') };
    const { code, json } = await diag(dot('dns-dot'), ['--count', '3', ...trust()]);
    expect(json.verdict).toMatchObject({ status: 'ok', phase: 'ok', outcome: 'ok' });
    expect(code).toBe(0);
    expect(json.plan.resolver).toEqual({ transport: 'dot', name: '.', type: 'NS' });
    expect(json.plan.http).toBe(false);
    expect(json.tcp.outcomes).toEqual({ ok: 3 });
    expect(json.tls.outcomes).toEqual({ ok: 3 });
    expect(json.tls.negotiated.alpn).toBe('dot');
    expect(json.tls.certificate.subject).toContain(LAB_SERVER_NAME);
    const q = json.resolver;
    expect(q.outcomes).toEqual({ ok: 3 });
    expect(q.rcodes).toEqual({ NOERROR: 3 });
    expect(q.query).toMatchObject({ name: '.', type: 'NS', transport: 'dot' });
    expect(q.nsid).toEqual({ [LAB_NSID]: 3 });
    expect(q.connections).toBe(1);
    for (const k of ['tcpConnectMs', 'tlsHandshakeMs', 'queryMs']) expect(q[k].max).toBeGreaterThan(0);
    expect(Object.keys(q.byTarget)).toEqual([`127.0.0.1:${eps['dns-dot']!.port}`]);
    // The server's own count: three handshakes of the TLS phase, one for the queries; three queries.
    expect(stats('dns-dot').handshakes - before.handshakes).toBe(4);
    expect(stats('dns-dot').queries - before.queries).toBe(3);
    expect(json.verdict.summary).toMatch(/DoT \. NS NOERROR query p50/);
  });

  test('the waterfall has the query row, the per-address table its column', async () => {
    const r = await runCli(['diagnose', dot('dns-dot'), ...b.args(['--count', '2', '-v', ...trust()])]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tcp → tls → dot query . NS');
    expect(r.stdout).toMatch(/^ {2}dns query +\d/m);
    expect(r.stdout).toMatch(/address +tcp +tls +query/);
  });

  test('a resolver named by a name: the name is resolved first, then every address is asked', async () => {
    const { code, json } = await diag(`tls://ok.v4.lab.test:${eps['dns-dot']!.port}`, [
      '--count',
      '2',
      ...trust(),
      '--name',
      'lab.test',
      '--type',
      'A',
    ]);
    expect(code).toBe(0);
    expect(json.dns.queried).toBe('ok.v4.lab.test');
    expect(json.plan.resolver).toMatchObject({ name: 'lab.test', type: 'A' });
    expect(json.resolver.answers.join(' ')).toMatch(/ A \d+\.\d+\.\d+\.\d+/);
  });

  test('SERVFAIL with EDE 22: FAILING in app, the EDE named in the sentence, the next check reproduces it', async () => {
    const { code, json } = await diag(dot('dns-dot-ede'), ['--count', '3', ...trust()]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'app', outcome: 'servfail' });
    expect(code).toBe(1);
    expect(json.tls.outcomes).toEqual({ ok: 3 });
    expect(json.resolver.ede).toEqual({ '22 No Reachable Authority': 3 });
    expect(json.verdict.summary).toContain('Extended DNS Error 22 No Reachable Authority');
    const next = json.verdict.next[0] as string;
    expect(next).toBe(`conndx dns . --server ${dot('dns-dot-ede')} --type NS --sni ${LAB_SERVER_NAME} --ca ${ca} --nsid --count 20`);
    const again = await runNext(next.replace('--count 20', '--count 2'));
    expect(again.json.outcomes).toEqual({ servfail: 2 });
    expect(again.json.ede).toEqual({ '22 No Reachable Authority': 2 });
  });

  test('a certificate the run does not trust: FAILING in tls, no query sent, the next check is the conndx dns that sees it', async () => {
    const before = stats('dns-dot').queries;
    const { code, json } = await diag(dot('dns-dot'), ['--count', '2']);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'tls', outcome: 'cert-untrusted' });
    expect(code).toBe(1);
    expect(json.resolver).toBeNull();
    expect(stats('dns-dot').queries).toBe(before);
    const next = json.verdict.next[0] as string;
    expect(next).toBe(`conndx dns . --server ${dot('dns-dot')} --type NS --nsid --count 20`);
    const again = await runNext(next.replace('--count 20', '--count 1'));
    expect(again.json.outcomes).toEqual({ 'cert-untrusted': 1 });
  });
});

describe('diagnose a DoH resolver', () => {
  test('healthy over HTTP/2: ALPN h2 in the TLS phase, POST queries answered', async () => {
    const before = { ...stats('dns-doh').requests };
    const { code, json } = await diag(doh('dns-doh'), ['--count', '3', ...trust()]);
    expect(code).toBe(0);
    expect(json.plan.resolver).toEqual({ transport: 'doh', name: '.', type: 'NS', url: doh('dns-doh') });
    expect(json.tls.negotiated.alpn).toBe('h2');
    expect(json.resolver.outcomes).toEqual({ ok: 3 });
    expect(json.resolver.rcodes).toEqual({ NOERROR: 3 });
    expect((stats('dns-doh').requests['POST h2'] ?? 0) - (before['POST h2'] ?? 0)).toBe(3);
  });

  test('HTTP 503 from the DoH server: FAILING in app with http-503, TCP and TLS healthy', async () => {
    const { code, json } = await diag(doh('dns-doh-503'), ['--count', '2', ...trust()]);
    expect(json.verdict).toMatchObject({ status: 'failing', phase: 'app', outcome: 'http-503' });
    expect(code).toBe(1);
    expect(json.tcp.outcomes).toEqual({ ok: 2 });
    expect(json.tls.outcomes).toEqual({ ok: 2 });
    expect(json.verdict.next[0]).toBe(
      `conndx dns . --server ${doh('dns-doh-503')} --type NS --sni ${LAB_SERVER_NAME} --ca ${ca} --nsid --count 20`,
    );
  });
});

describe('resolver targets: bad input', () => {
  test.each([
    [['diagnose', 'tls://127.0.0.1:853/x'], /tls:\/\/ takes host\[:port\] only/],
    [['diagnose', 'tls://127.0.0.1:853', '--http'], /--http does not apply to a resolver target/],
    [['diagnose', 'tls://127.0.0.1:853', '--name', 'a..b'], /bad --name "a\.\.b"/],
    [['diagnose', 'tls://127.0.0.1:853', '--type', 'BOGUS'], /bad --type "BOGUS"/],
    [['diagnose', '127.0.0.1:443', '--name', 'lab.test'], /--name applies to resolver targets only/],
  ])('%j: one line, exit 3', async (argv, re) => {
    const r = await runCli(argv);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(re);
  });
});
