import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { startTls } from '../helpers/tls-lab.js';

let dir: string;
let caFile: string;
const open: LabEndpoint[] = [];
async function start(name: string) {
  const ep = await startTls(name);
  open.push(ep);
  if (ep.info?.ca) writeFileSync(caFile, ep.info.ca as string);
  return { ep, addr: `127.0.0.1:${ep.port}` };
}
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'conndx-tls-'));
  caFile = join(dir, 'ca.pem');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});

describe('conndx tls --json', () => {
  test('the contract fields of a good run', async () => {
    const { addr } = await start('tls-ok');
    const { code, json } = await runCliJson([
      'tls',
      addr,
      '--sni',
      'lab.conndx.test',
      '--ca',
      caFile,
      '--count',
      '3',
      '--alpn',
      'h2,http/1.1',
    ]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ probe: 'tls', target: addr, attempts: 3, succeeded: 3, failed: 0, outcomes: { ok: 3 } });
    for (const k of ['latencyMs', 'tcpConnectMs']) {
      expect(Object.keys(json[k])).toEqual(['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p999', 'max']);
    }
    expect(json.negotiated).toMatchObject({ version: 'TLSv1.3', group: 'X25519', alpn: 'http/1.1', resumed: false });
    expect(json.certificate).toMatchObject({ subject: 'CN=lab.conndx.test, O=conndx lab', chainLength: 3, selfSigned: false });
    expect(json.meta.command).toContain('tls');
  });
  test('--versions against the TLS 1.2-only endpoint: TLSv1.3 alert:protocol_version, TLSv1.2 ok', async () => {
    const { addr } = await start('tls-1.2-only');
    const { code, json } = await runCliJson(['tls', addr, '--sni', 'lab.conndx.test', '--ca', caFile, '--count', '1', '--versions']);
    expect(code).toBe(0);
    expect(json.versions).toEqual({ 'TLSv1.2': 'ok', 'TLSv1.3': 'alert:protocol_version' });
    expect(json.attempts).toBe(1);
  });
  test("a failing endpoint: exit 2, the outcome in the contract's words, certificate facts still there", async () => {
    const { addr } = await start('tls-expired');
    const { code, json } = await runCliJson(['tls', addr, '--sni', 'lab.conndx.test', '--ca', caFile, '--count', '2']);
    expect(code).toBe(2);
    expect(json.outcomes).toEqual({ 'cert-expired': 2 });
    expect(json.latencyMs).toBeNull();
    expect(json.certificate.daysLeft).toBeLessThan(0);
  });
  test('--insecure: exit 0, the problem kept and warned about', async () => {
    const { addr } = await start('tls-expired');
    const r = await runCli(['tls', addr, '--sni', 'lab.conndx.test', '--ca', caFile, '--count', '2', '--insecure', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).certProblem.outcome).toBe('cert-expired');
    expect(r.stderr).toMatch(/cert-expired ignored because of --insecure/);
  });
  test('two targets: byTarget keyed as written, each with its own outcome', async () => {
    const a = await start('tls-ok');
    const b = await start('tls-rst-after-hello');
    const { code, json } = await runCliJson(['tls', a.addr, b.addr, '--sni', 'lab.conndx.test', '--ca', caFile, '--count', '2']);
    expect(code).toBe(1);
    expect(json.byTarget[a.addr].outcomes).toEqual({ ok: 2 });
    expect(json.byTarget[b.addr].outcomes).toEqual({ reset: 2 });
    expect(json.outcomes).toEqual({ ok: 2, reset: 2 });
  });
});

describe('conndx tls human output', () => {
  test('header, per-attempt lines, split timings and the facts', async () => {
    const { addr } = await start('tls-expiring-soon');
    const r = await runCli(['tls', addr, '--sni', 'lab.conndx.test', '--ca', caFile, '--count', '2', '--versions', '--resume']);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out.split('\n')[0]).toBe(`CONNDX TLS ${addr} sni=lab.conndx.test (count 2, concurrency 1, timeout 3s)`);
    expect(out).toMatch(new RegExp(`seq=0 ${addr} ok [\\d.]+ ms TLSv1.3 TLS_\\S+ resumed=yes tcp [\\d.]+ ms`));
    expect(out).toMatch(/^ {2}tcp connect\s/m);
    expect(out).toMatch(/^ {2}tls handshake\s/m);
    expect(out).toMatch(/^negotiated: TLSv1.3 TLS_\S+, group X25519, alpn -, resumed yes$/m);
    expect(out).toMatch(/^certificate: CN=lab.conndx.test, O=conndx lab$/m);
    expect(out).toMatch(/\((6|7) days left\)/);
    expect(out).toMatch(/^ {2}TLSv1.2 {2}ok$/m);
    expect(r.stderr).toMatch(/certificate CN=lab.conndx.test, O=conndx lab expires in (6|7) days/);
  });
  test('a failure shows its phase and cause: tcp phase for a closed port', async () => {
    const { ep, addr } = await start('tls-ok');
    await ep.close();
    open.splice(open.indexOf(ep), 1);
    const r = await runCli(['tls', addr, '--count', '1']);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(new RegExp(`seq=0 ${addr} tcp:refused \\[tcp\\]`));
  });
  test('an alert shows in the tls phase', async () => {
    const { addr } = await start('tls-alert');
    const r = await runCli(['tls', addr, '--sni', 'alert-112.lab.conndx.test', '--count', '1']);
    expect(r.stdout).toMatch(/alert:unrecognized_name \[tls\]/);
  });
});

describe('bad input: one line, exit 3', () => {
  const cases: [string, string[], RegExp][] = [
    ['bad version', ['--min-version', 'TLSv1.1'], /bad --min-version "TLSv1.1"/],
    ['min above max', ['--min-version', '1.3', '--max-version', '1.2'], /--min-version TLSv1.3 is above --max-version TLSv1.2/],
    ['cert without key', ['--cert', '/etc/hostname'], /--cert and --key go together/],
    ['unreadable ca', ['--ca', '/nonexistent/ca.pem'], /cannot read --ca "\/nonexistent\/ca.pem": ENOENT/],
    ['ca without a certificate', ['--ca', '/etc/hostname'], /bad --ca "\/etc\/hostname": no PEM certificate/],
    ['empty alpn', ['--alpn', ','], /bad --alpn/],
    ['bad sni', ['--sni', 'not a name'], /bad --sni/],
  ];
  for (const [name, args, re] of cases) {
    test(name, async () => {
      const r = await runCli(['tls', '127.0.0.1:1', ...args]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    });
  }
  test('a malformed target', async () => {
    const r = await runCli(['tls', '127.0.0.1:99999']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/port must be 1-65535/);
  });
});
