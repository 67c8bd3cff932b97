import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseChecks } from '../../src/checks/config.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';

// dns checks over DoT and DoH, with EDNS options, and their metric labels, against the lab.

const NAMES = ['dns-dot', 'dns-doh', 'dns-anycast', 'dns-ede'];
const ep: Record<string, LabEndpoint & { addr: string }> = {};
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conndx-dns-check-'));
  for (const n of NAMES) ep[n] = await lab(n);
  writeFileSync(join(dir, 'ca.pem'), String(ep['dns-dot']!.info!.ca));
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

describe('dns checks take the transports and EDNS options of conndx dns', () => {
  test('DoT and DoH checks run, NSID and transport become metric labels', async () => {
    const file = config(
      `checks:\n` +
        `  - name: dot\n    dns: lab.test\n    server: ${String(ep['dns-dot']!.info!.url)}\n    ca: ca.pem\n    nsid: true\n    count: 3\n    concurrency: 1\n    expect: { successRate: 1 }\n` +
        `  - name: doh\n    dns: lab.test\n    server: ${String(ep['dns-doh']!.info!.url)}\n    ca: ca.pem\n    method: GET\n    count: 2\n` +
        `  - name: anycast\n    dns: lab.test\n    server: ${ep['dns-anycast']!.addr}\n    nsid: true\n    dnssec: true\n    count: 4\n`,
    );
    const out = join(dir, 'prom');
    const r = await runCli(['check', '--config', file, '--json', '--textfile', mkdtemp(out)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const byName = Object.fromEntries(j.checks.map((c: { name: string }) => [c.name, c])) as Record<string, any>;
    expect(byName.dot.result).toMatchObject({ outcomes: { ok: 3 }, connections: 1, nsid: { 'lab-ns-1': 3 }, query: { transport: 'dot' } });
    expect(byName.dot.result.tls.version).toBe('TLSv1.3');
    expect(byName.doh.result).toMatchObject({ outcomes: { ok: 2 }, http: { h2: 2 }, query: { transport: 'doh' } });
    expect((ep['dns-doh']!.info!.stats as { requests: Record<string, number> }).requests).toEqual({ 'GET h2': 2 });
    expect(byName.anycast.result.nsid).toEqual({ 'anycast-a': 2, 'anycast-b': 2 });
    const promFile = readdirSync(out).find((f) => f.endsWith('.prom'))!;
    const m = parsePromText(readFileSync(join(out, promFile), 'utf8'));
    expect(sampleValue(m, 'conndx_dns_nsid_replies', { check: 'anycast', nsid: 'anycast-a', transport: 'udp' })).toBe(2);
    expect(sampleValue(m, 'conndx_dns_nsid_replies', { check: 'dot', nsid: 'lab-ns-1', transport: 'dot' })).toBe(3);
    expect(sampleValue(m, 'conndx_probe_attempts_total', { check: 'doh', outcome: 'ok', transport: 'doh' })).toBe(2);
    expect(
      sampleValue(m, 'conndx_probe_phase_duration_seconds', { check: 'dot', phase: 'tls', percentile: '50', transport: 'dot' }),
    ).toBeGreaterThan(0);
    expect(sampleValue(m, 'probe_tls_version_info', { check: 'dot', version: 'TLSv1.3' })).toBe(1);
  });

  test('a SERVFAIL with its EDE is CRITICAL; edns: false sends no OPT record', async () => {
    const file = config(
      `checks:\n  - name: ede\n    dns: lab.test\n    server: ${ep['dns-ede']!.addr}\n    count: 2\n  - name: plain\n    dns: lab.test\n    server: ${ep['dns-anycast']!.addr}\n    edns: false\n    count: 2\n`,
    );
    const before = (ep['dns-anycast']!.info!.stats as { withOpt: number }).withOpt;
    const r = await runCli(['check', '--config', file, '--json']);
    const j = JSON.parse(r.stdout);
    expect(j.checks[0].state).toBe('CRITICAL');
    expect(j.checks[0].result.ede).toEqual({ '22 No Reachable Authority': 2 });
    expect(j.checks[1].result.outcomes).toEqual({ ok: 2 });
    expect((ep['dns-anycast']!.info!.stats as { withOpt: number }).withOpt).toBe(before);
  });

  test.each([
    ['transport: quic', /transport/],
    ['method: GET', /method applies to dns checks over doh only/],
    ['reuse: false', /reuse applies to dns checks over dot or doh only/],
    ['edns: false\n    nsid: true', /nsid needs the OPT record/],
    ['ecs: 192.0.2.0/99', /ecs/],
    ['ednsSize: 100', /ednsSize/],
  ])('bad: %s', (extra, msg) => {
    const text = `checks:\n  - name: x\n    dns: lab.test\n    server: 127.0.0.1\n    ${extra}\n`;
    expect(() => parseChecks(text, join(dir, 'bad.yaml'))).toThrow(msg);
  });
});

function mkdtemp(p: string): string {
  rmSync(p, { recursive: true, force: true });
  mkdirSync(p);
  return p;
}
