import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { unwrapProse } from '../helpers/unwrap.js';

const NAMES = [
  'tcp-open',
  'tcp-refuse',
  'tls-ok',
  'tls-1.2-only',
  'tls-expiring-soon',
  'dns-ok',
  'dns-nxdomain',
  'dns-drop',
  'tls-slow-handshake',
];
const ep: Record<string, LabEndpoint & { addr: string }> = {};
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conndx-check-'));
  for (const n of NAMES) ep[n] = await lab(n);
  writeFileSync(join(dir, 'ca.pem'), String(ep['tls-ok']!.info!.ca));
});
afterAll(async () => {
  await Promise.all(Object.values(ep).map((e) => e.close()));
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function config(yaml: string): string {
  const file = join(dir, `checks-${seq++}.yaml`);
  writeFileSync(file, yaml);
  return file;
}
const tlsCheck = (name: string, endpoint: string, extra: string) =>
  `  - name: ${name}\n    tls: ${ep[endpoint]!.addr}\n    sni: ${LAB_SERVER_NAME}\n    ca: ca.pem\n${extra.replace(/^/gm, '    ')}\n`;

describe('conndx check against lab endpoints', () => {
  test('OK: exit 0, the status line first, perfdata after |, one line per check', async () => {
    const file = config(
      `checks:\n${tlsCheck('api-tls', 'tls-ok', 'expect: { minTlsVersion: TLSv1.3, certDaysLeft: 21, p99: 2s, successRate: 1 }')}` +
        `  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n    expect: { successRate: 1 }\n` +
        `  - name: resolver\n    dns: lab.test\n    server: ${ep['dns-ok']!.addr}\n    expect: { rcode: NOERROR, p99: 2s }\n`,
    );
    const r = await runCli(['check', '--config', file]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(lines[0]).toMatch(
      /^CONNDX OK - 0 critical, 0 warning, 0 unknown, 3 ok \| 'api-tls_success'=1;;1:;0;1 'api-tls_p50'=[\d.]+ms;;;0; 'api-tls_p99'=[\d.]+ms;;2000;0; 'api-tls_cert_days'=\d+;;21:;; /,
    );
    expect(lines[0]).toMatch(/'db_success'=1;;1:;0;1 .*'resolver_success'=1;1:;;0;1 /);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(
      /^api-tls OK: tls 127\.0\.0\.1:\d+: success 3\/3; p50 [\d.]+ms; p99 [\d.]+ms; TLSv1\.3; certificate \d+ days left$/,
    );
    expect(lines[2]).toMatch(/^db OK: tcp 127\.0\.0\.1:\d+: success 3\/3; p50 /);
    expect(lines[3]).toMatch(/^resolver OK: dns lab\.test: success 3\/3; .*rcode NOERROR 3$/);
    // Only the busy-machine warning may appear (timers late on a loaded machine).
    expect(r.stderr).toMatch(
      /^(warning: this process was busy: timers ran up to \d+ ms late \(p99\), so latencies may be inflated by\s+about that much\n)?$/,
    );
  });

  test('WARNING: exit 1 when only a warn threshold is crossed', async () => {
    const file = config(
      `checks:\n${tlsCheck('soon', 'tls-expiring-soon', 'expect: { certDaysLeft: 3 }\nwarn: { certDaysLeft: 14 }')}` +
        `  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n`,
    );
    const r = await runCli(['check', '--config', file]);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout.split('\n')[0]).toMatch(
      /^CONNDX WARNING - 0 critical, 1 warning, 0 unknown, 1 ok: soon WARNING \(certificate [67] days left < 14\) \| /,
    );
    expect(r.stdout.split('\n')[1]).toMatch(/^soon WARNING: tls .*: certificate [67] days left < 14; success 3\/3/);
  });

  test('CRITICAL: exit 2, the worst state decides, each reason named', async () => {
    const file = config(
      `checks:\n${tlsCheck('old-tls', 'tls-1.2-only', 'expect: { minTlsVersion: TLSv1.3 }')}` +
        `  - name: refused\n    tcp: ${ep['tcp-refuse']!.addr}\n` +
        `  - name: resolvers\n    dns: lab.test\n    server: ["${ep['dns-ok']!.addr}", "${ep['dns-nxdomain']!.addr}"]\n    expect: { rcode: NOERROR }\n` +
        `${tlsCheck('soon', 'tls-expiring-soon', 'warn: { certDaysLeft: 14 }')}` +
        `  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n`,
    );
    const r = await runCli(['check', '--config', file]);
    expect(r.code, r.stdout).toBe(2);
    const first = r.stdout.split('\n')[0]!;
    expect(first).toContain(
      'CONNDX CRITICAL - 3 critical, 1 warning, 0 unknown, 1 ok: old-tls CRITICAL (TLSv1.2 < TLSv1.3), refused CRITICAL (success 0/3 (refused 3)), ' +
        `resolvers CRITICAL (${ep['dns-nxdomain']!.addr} success 0/3 (nxdomain 3); ${ep['dns-nxdomain']!.addr} rcode NXDOMAIN 3/3 (expected NOERROR)), soon WARNING (`,
    );
    // Each server of a DNS check has its own perfdata.
    expect(first).toContain(`'resolvers@${ep['dns-ok']!.addr}_success'=1;`);
    expect(first).toContain(`'resolvers@${ep['dns-nxdomain']!.addr}_success'=0;`);
  });

  test('UNKNOWN: exit 3 for a bad config, file:line:field on stdout and stderr, nothing probed', async () => {
    const file = config(
      `checks:\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n    expect: { p99: fast }\n  - name: x\n    tls: 127.0.0.1:1\n    timout: 2s\n`,
    );
    const r = await runCli(['check', '--config', file]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe(
      `CONNDX UNKNOWN - bad config: ${file}:4:20: checks[0].expect.p99: bad p99 "fast": use a number with a unit, e.g. 250ms, 2s, 1m (and 1 more)\n` +
        `${file}:7:5: checks[1].timout: unknown key "timout": did you mean "timeout"?\n`,
    );
    expect(r.stderr).toBe(
      `conndx: ${file}:4:20: checks[0].expect.p99: bad p99 "fast": use a number with a unit, e.g. 250ms, 2s, 1m\n` +
        `conndx: ${file}:7:5: checks[1].timout: unknown key "timout": did you mean "timeout"?\n`,
    );
  });

  test('bad config on one terminal: each problem said once; a missing file has no :0:0; http: wants a URL', async () => {
    // http checks run now (src/probes/kinds/http.ts): a host:port is no URL, and a look-alike key points to http.
    const file = config(`checks:\n  - name: web\n    htttp: api.test:443\n`);
    const r = await runCli(['check', '--config', file], { tty: true });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('unknown key "htttp": did you mean "http"?');
    expect(r.stdout).not.toMatch(/did you mean "tcp"/);
    expect(r.stdout).toContain(`${file}:2:5: checks[0]: names no probe`);
    expect(r.stderr).toBe('');
    const missing = await runCli(['check', '--config', join(dir, 'nope.yaml')]);
    expect(missing.stdout).toBe(`CONNDX UNKNOWN - bad config: ${join(dir, 'nope.yaml')}: cannot read the config file: ENOENT\n`);
    expect(missing.stdout).not.toContain(':0:0');
  });

  test('UNKNOWN for a missing config file, and --json says so too', async () => {
    const r = await runCli(['check', '--config', join(dir, 'nope.yaml'), '--json']);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ status: 'UNKNOWN', exitCode: 3, errors: [{ message: 'cannot read the config file: ENOENT' }] });
    expect(j.meta.command).toContain('conndx check --config');
  });

  test('--json: every check with state, reasons, measures, the contract result, and meta', async () => {
    const file = config(
      `checks:\n  - name: refused\n    tcp: ${ep['tcp-refuse']!.addr}\n    count: 2\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n`,
    );
    const r = await runCli(['check', '--config', file, '--json']);
    expect(r.code).toBe(2);
    const j = JSON.parse(r.stdout);
    expect(j.status).toBe('CRITICAL');
    expect(j.counts).toEqual({ ok: 1, warning: 0, critical: 1, unknown: 0 });
    expect(j.summary).toMatch(/^CONNDX CRITICAL - 1 critical/);
    expect(j.checks.map((c: { name: string; state: string }) => [c.name, c.state])).toEqual([
      ['refused', 'CRITICAL'],
      ['db', 'OK'],
    ]);
    expect(j.checks[0].result).toMatchObject({ probe: 'tcp', attempts: 2, succeeded: 0, outcomes: { refused: 2 } });
    expect(j.checks[0].measures[0]).toMatchObject({ key: 'successRate', value: 0, state: 'CRITICAL' });
    expect(Object.keys(j.meta)).toEqual(['conndxVersion', 'startedAt', 'host', 'command']);
  });

  test("--dry-run names each kind's own settings (its planWords)", async () => {
    const file = config(
      'checks:\n' +
        '  - name: ns\n    dns: lab.test\n    server: 127.0.0.1:5353\n    type: AAAA\n    tcp: true\n' +
        '  - name: db\n    tcp: 127.0.0.1:5432\n    hold: 2s\n    close: rst\n' +
        '  - name: mail\n    tls: 127.0.0.1:2525\n    sni: mail.lab.test\n    starttls: smtp\n    resume: true\n' +
        '  - name: web\n    http: https://127.0.0.1:8443/healthz\n    http2: true\n    expectStatus: 200-299\n    insecure: true\n',
    );
    const r = await runCli(['check', '--config', file, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    const line = (name: string) => r.stdout.split('\n').find((l) => l.startsWith(`${name} (line`)) ?? '';
    expect(line('ns')).toMatch(/: dns lab\.test, type AAAA, via 127\.0\.0\.1:5353, over tcp, count/);
    expect(line('db')).toMatch(/: tcp 127\.0\.0\.1:5432, hold 2s, close rst, count/);
    expect(line('mail')).toMatch(/: tls 127\.0\.0\.1:2525, sni mail\.lab\.test, resume, starttls smtp, count/);
    expect(line('web')).toMatch(/: http https:\/\/127\.0\.0\.1:8443\/healthz, HTTP\/2 only, expect status 200-299, insecure, count/);
  });

  test('--dry-run prints the plan and probes nothing', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const file = config(
        `checks:\n  - name: db\n    tcp: 127.0.0.1:${port}\n    count: 2\n    interval: 30s\n    expect: { successRate: 1, p99: 50ms }\n    warn: { p90: 20ms }\n`,
      );
      const r = await runCli(['check', '--config', file, '--dry-run']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(
        `CONNDX CHECK PLAN ${file}: 1 check\n` +
          `db (line 2): tcp 127.0.0.1:${port}, count 2, concurrency 2, timeout 3s, interval 30s\n` +
          '  CRITICAL if success < 100%, p99 > 50ms\n' +
          '  WARNING if p90 > 20ms\n',
      );
      await new Promise((r) => setTimeout(r, 100));
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  test('--textfile writes node_exporter output atomically (write, then rename)', async () => {
    const out = join(dir, 'textfile');
    mkdirSync(out);
    writeFileSync(join(out, 'conndx-tf.prom'), 'stale\n');
    const file = join(dir, 'tf.yaml');
    writeFileSync(file, `checks:\n  - name: refused\n    tcp: ${ep['tcp-refuse']!.addr}\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n`);
    const r = await runCli(['check', '--config', file, '--textfile', out]);
    expect(r.code).toBe(2);
    expect(readdirSync(out)).toEqual(['conndx-tf.prom']);
    const fam = parsePromText(readFileSync(join(out, 'conndx-tf.prom'), 'utf8'));
    expect(sampleValue(fam, 'probe_success', { check: 'db' })).toBe(1);
    expect(sampleValue(fam, 'probe_success', { check: 'refused' })).toBe(0);
    expect(sampleValue(fam, 'conndx_check_state', { check: 'refused' })).toBe(2);
    expect(sampleValue(fam, 'conndx_probe_attempts_total', { check: 'refused', phase: 'tcp', outcome: 'refused' })).toBe(3);
    expect(sampleValue(fam, 'conndx_check_failure_phase', { check: 'refused', phase: 'tcp' })).toBe(1);

    const bad = await runCli(['check', '--config', file, '--textfile', join(dir, 'no-such-dir')]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/^CONNDX CRITICAL/);
    // A loaded machine may add its busy warning before it: the error is the one line that is not a warning.
    expect(
      unwrapProse(bad.stderr)
        .split('\n')
        .filter((l) => l && !l.startsWith('warning: ')),
    ).toEqual([expect.stringMatching(/^conndx: cannot write --textfile .*no-such-dir\/conndx-tf\.prom: ENOENT$/)]);
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
  });
});

describe('checks run concurrently, bounded, and a slow one delays no other', () => {
  test('a check that times out does not hold up the others', async () => {
    const file = config(
      `checks:\n  - name: silent\n    dns: lab.test\n    server: ${ep['dns-drop']!.addr}\n    timeout: 1500ms\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n`,
    );
    const t0 = performance.now();
    const r = await runCli(['check', '--config', file, '--json']);
    const elapsed = performance.now() - t0;
    const j = JSON.parse(r.stdout);
    expect(r.code).toBe(2);
    const [silent, db] = j.checks;
    expect(silent.result.outcomes).toEqual({ timeout: 3 });
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    // The database check finished long before the silent resolver timed out.
    expect(db.state).toBe('OK');
    expect(db.durationMs).toBeLessThan(1000);
  });

  test('all at once by default; --max-concurrent bounds them', async () => {
    // Each check is one handshake with a server that holds the ClientHello 250 ms.
    const checks = Array.from({ length: 5 }, (_, i) => tlsCheck(`slow${i}`, 'tls-slow-handshake', 'count: 1')).join('');
    const file = config(`checks:\n${checks}`);
    const timed = async (args: string[]) => {
      const t0 = performance.now();
      const r = await runCli(['check', '--config', file, ...args]);
      expect(r.code, r.stdout).toBe(0);
      return performance.now() - t0;
    };
    const together = await timed([]);
    const oneByOne = await timed(['--max-concurrent', '1']);
    expect(oneByOne).toBeGreaterThanOrEqual(5 * 250);
    expect(together).toBeLessThan(1200);
  });
});
