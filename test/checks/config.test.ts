import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError, formatIssue, loadChecksFile, parseChecks } from '../../src/checks/config.js';

const FIX = fileURLToPath(new URL('../../fixtures/checks/', import.meta.url));

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(formatIssue);
    throw e;
  }
  throw new Error('expected a ConfigError');
}

// The contract's example, kept here rather than as a file in fixtures/: its
// addresses are examples, and a file would invite running it as a live
// config (conndx sends nothing anywhere but loopback in this repository).
const CONTRACT_EXAMPLE = `# The example of the contract: a TLS endpoint, two resolvers, a database port.
# Parsed by this test only.
checks:
  - name: api-tls
    tls: api.example.com:443
    count: 5
    expect: { minTlsVersion: TLSv1.3, certDaysLeft: 21, p99: 300ms, successRate: 0.99 }
    warn: { p99: 150ms, certDaysLeft: 30 }
  - name: resolvers
    dns: api.example.com
    server: [10.0.0.2, 10.0.0.3]
    expect: { rcode: NOERROR, p99: 50ms }
  - name: db
    tcp: db.internal:5432
    interval: 30s
    expect: { successRate: 1 }
`;

describe('the contract example', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conndx-example-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test('loads with the documented defaults', () => {
    const file = join(dir, 'example.yaml');
    writeFileSync(file, CONTRACT_EXAMPLE);
    const cfg = loadChecksFile(file);
    expect(cfg.checks.map((c) => [c.name, c.probe, c.target, c.line])).toEqual([
      ['api-tls', 'tls', 'api.example.com:443', 4],
      ['resolvers', 'dns', 'api.example.com', 9],
      ['db', 'tcp', 'db.internal:5432', 13],
    ]);
    const [tls, dns, tcp] = cfg.checks;
    expect(tls!.expect).toEqual({ minTlsVersion: 'TLSv1.3', certDaysLeft: 21, p99: 300, successRate: 0.99 });
    expect(tls!.warn).toEqual({ p99: 150, certDaysLeft: 30 });
    expect(tls!.count).toBe(5);
    expect(dns!.dns).toEqual({ servers: ['10.0.0.2', '10.0.0.3'], type: 'A', qtype: 1, tcp: false, noFallback: false });
    expect(dns!.expect).toEqual({ rcode: ['NOERROR'], p99: 50 });
    // Small and bounded by default: 3 attempts at once, 3 s each, every 60 s.
    expect([dns!.count, dns!.concurrency, dns!.timeoutMs, dns!.intervalMs]).toEqual([3, 3, 3000, 60_000]);
    expect(tcp!.intervalMs).toBe(30_000);
  });
});

// Each bad file with its exact messages (file:line:column: field: message), every problem at once.
describe('bad config files name file, line and field', () => {
  const cases: [string, string[]][] = [
    [
      'bad-many.yaml',
      [
        '5:20: checks[0].expect.p99: bad p99 "fast": use a number with a unit, e.g. 250ms, 2s, 1m',
        '5:39: checks[0].expect.successRate: expected a fraction from 0 to 1 (0.99 for 99%), got 99',
        '8:24: checks[1].server[1]: bad address "10.0.0.3:99999": port must be 1-65535',
        '9:5: checks[1].timout: unknown key "timout": did you mean "timeout"?',
        '11:10: checks[2].tcp: bad address "db.internal": expected host:port',
        '12:15: checks[2].expect.minTlsVersion: minTlsVersion applies to tls checks only',
      ],
    ],
    ['bad-syntax.yaml', ['5:3: YAML: Flow map in block collection must be sufficiently indented and end with a }']],
    ['bad-no-probe.yaml', ['2:5: checks[0]: names no probe: give one of dns: NAME, tcp: HOST:PORT, tls: HOST:PORT or http: URL']],
    ['bad-duplicate.yaml', ['4:11: checks[1].name: "db" is already the name of checks[0]: names must be unique']],
    ['bad-not-a-list.yaml', ['2:3: checks: expected a list of checks, got a mapping']],
  ];
  for (const [file, want] of cases) {
    test(file, () => {
      const path = join(FIX, file);
      expect(issuesOf(() => loadChecksFile(path))).toEqual(want.map((w) => `${path}:${w}`));
    });
  }
});

describe('field checks', () => {
  const one = (yaml: string) => issuesOf(() => parseChecks(yaml, 'c.yaml'));
  test('a missing file is one problem, named by the file alone (no line to point at)', () => {
    expect(issuesOf(() => loadChecksFile('/nonexistent/checks.yaml'))).toEqual([
      '/nonexistent/checks.yaml: cannot read the config file: ENOENT',
    ]);
  });
  test('an empty file and an empty list', () => {
    expect(one('')).toEqual(['c.yaml:1:1: the file is empty: it needs a "checks" list']);
    expect(one('check: []\n')).toEqual([
      'c.yaml:1:1: checks: required: a list of checks',
      'c.yaml:1:1: check: unknown key "check": the file holds one key, "checks"',
    ]);
    expect(one('checks: []\n')).toEqual(['c.yaml:1:9: checks: the list is empty: give at least one check']);
  });
  test('two probes in one check', () => {
    expect(one('checks:\n  - name: a\n    dns: x.test\n    tls: x.test:443\n')).toEqual([
      'c.yaml:4:5: checks[0].tls: a check runs one probe: it has dns and tls; split it into 2 checks',
    ]);
  });
  test('an option of another probe', () => {
    expect(one('checks:\n  - name: a\n    tcp: 127.0.0.1:5432\n    server: 127.0.0.1\n    sni: x.test\n')).toEqual([
      'c.yaml:4:5: checks[0].server: "server" is an option of dns checks, not of tcp checks',
      'c.yaml:5:5: checks[0].sni: "sni" is an option of tls checks, not of tcp checks',
    ]);
  });
  test('kebab-case options are pointed to camelCase', () => {
    expect(one('checks:\n  - name: a\n    dns: x.test\n    no-fallback: true\n')).toEqual([
      'c.yaml:4:5: checks[0].no-fallback: unknown key "no-fallback": write options in camelCase ("noFallback")',
    ]);
  });
  test('threshold values', () => {
    expect(
      one(
        [
          'checks:',
          '  - name: a',
          '    dns: x.test',
          '    server: 127.0.0.1:5353',
          '    count: 0',
          '    timeout: 3',
          '    interval: 100ms',
          '    type: BOGUS',
          '    expect: { rcode: NOPE, p50: 10, certDaysLeft: 3 }',
          '',
        ].join('\n'),
      ),
    ).toEqual([
      'c.yaml:5:12: checks[0].count: expected a whole number from 1 to 1000, got 0',
      'c.yaml:6:14: checks[0].timeout: write a unit: "3ms" or "3s"',
      'c.yaml:7:15: checks[0].interval: 100ms is too short: at least 1000 ms',
      'c.yaml:8:11: checks[0].type: unknown record type "BOGUS": use A, NS, CNAME, SOA, PTR, HINFO, MX, TXT, AAAA, SRV, NAPTR, DS, RRSIG, NSEC, DNSKEY, NSEC3, HTTPS, SVCB, CAA, ANY or TYPEnnn',
      'c.yaml:9:22: checks[0].expect.rcode: unknown rcode "NOPE": use NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, BADVERS, BADCOOKIE',
      'c.yaml:9:33: checks[0].expect.p50: write a unit: "10ms"',
      'c.yaml:9:37: checks[0].expect.certDaysLeft: certDaysLeft applies to tls checks only',
    ]);
  });
  test('wrong types are named with what was found', () => {
    expect(one('checks:\n  - name: a\n    tcp: 127.0.0.1:1\n    count: three\n    warn: [1]\n')).toEqual([
      'c.yaml:4:12: checks[0].count: expected a number, got "three"',
      'c.yaml:5:11: checks[0].warn: expected a mapping of thresholds, got a list',
    ]);
  });
});

describe('tls files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conndx-checks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test('ca is read relative to the config file, and must hold a certificate', () => {
    writeFileSync(join(dir, 'not-a-cert.pem'), 'hello\n');
    const file = join(dir, 'checks.yaml');
    writeFileSync(
      file,
      'checks:\n  - name: a\n    tls: 127.0.0.1:443\n    ca: not-a-cert.pem\n  - name: b\n    tls: 127.0.0.1:443\n    ca: missing.pem\n    cert: c.pem\n',
    );
    expect(issuesOf(() => loadChecksFile(file))).toEqual([
      `${file}:4:9: checks[0].ca: "not-a-cert.pem" holds no PEM certificate`,
      `${file}:7:9: checks[1].ca: cannot read "missing.pem" (${join(dir, 'missing.pem')}): ENOENT`,
      `${file}:8:5: checks[1].cert: cert and key go together: give both for a client certificate`,
      `${file}:8:11: checks[1].cert: cannot read "c.pem" (${join(dir, 'c.pem')}): ENOENT`,
    ]);
  });
});
