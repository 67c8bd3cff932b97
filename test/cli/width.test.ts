import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fitLine, fitText } from '../../src/report/fit.js';
import { runCli } from '../helpers/cli.js';
import { BIN, labProcess } from '../helpers/lab.js';
import { spawn } from 'node:child_process';
import { LAB } from '../../src/lab/registry.js';

// Every output fits 100 columns (prose wraps; a command to copy is never
// broken), and -q over many targets is the header, the per-target table and
// the totals. Run against the lab, with many targets where a command takes them.

const WIDTH = 100;
/** A line a user copies and runs: never wrapped, so never held to the width. */
const COMMAND = /^\s*(\$ |try: |conndx |sudo )/;
const width = (l: string) => [...l.replace(/\x1b\[[0-9;]*m/g, '')].length;

function tooWide(text: string): string[] {
  return text.split('\n').filter((l) => width(l) > WIDTH && !COMMAND.test(l));
}

const TLS15 = [
  'tls-ok',
  'tls-1.2-only',
  'tls-expired',
  'tls-not-yet-valid',
  'tls-wrong-host',
  'tls-self-signed',
  'tls-missing-intermediate',
  'tls-private-ca',
  'tls-expiring-soon',
  'tls-client-cert-required',
  'tls-alpn-h2-only',
  'tls-slow-handshake',
  'tls-rst-after-hello',
  'tls-fin-after-hello',
  'tls-alert',
];

describe('every output fits 100 columns', () => {
  let labp: Awaited<ReturnType<typeof labProcess>>;
  let dir = '';
  let ca = '';
  const at = (n: string) => labp.endpoints[n]!.addr;
  const port = (n: string) => labp.endpoints[n]!.port;
  beforeAll(async () => {
    labp = await labProcess([
      ...TLS15,
      'tcp-open',
      'tcp-refuse',
      'tcp-drop',
      'dns-ok',
      'dns-ede',
      'dns-nxdomain',
      'dns-loopback',
      'tls-raw-hybrid',
      'tls-raw-large-drop',
      'smtp-no-starttls',
    ]);
    dir = await mkdtemp(join(tmpdir(), 'conndx-width-'));
    ca = join(dir, 'ca.pem');
    await writeFile(ca, String(labp.info['tls-ok']!.ca));
  }, 30_000);
  afterAll(async () => {
    await labp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('tls over 15 lab endpoints with -q: header, per-target table, totals; every line within 100 columns', async () => {
    const targets = TLS15.map(at);
    const r = await runCli(['tls', ...targets, '--sni', 'lab.conndx.test', '--ca', ca, '-c', '2', '--timeout', '1s', '-q']);
    expect(tooWide(r.stdout + r.stderr)).toEqual([]);
    const lines = r.stdout.trimEnd().split('\n');
    // No block per target: the table says each target's figures.
    expect(r.stdout).not.toMatch(/tls statistics/);
    const tableAt = lines.indexOf('--- per target ---');
    expect(tableAt).toBeGreaterThan(0);
    for (const t of targets) expect(lines.filter((l) => l.startsWith(`  ${t} `))).toHaveLength(1);
    const totalsAt = lines.indexOf('--- all targets ---');
    expect(totalsAt).toBe(tableAt + 2 + targets.length + 1);
    // The header names 15 targets by their count, first and last: at most two lines.
    expect(lines[0]).toMatch(/^CONNDX TLS 15 targets \(/);
    expect(
      lines.filter((l, i) => i < tableAt && (i === 0 || l.startsWith('    ')) && !lines.slice(0, i).some((x) => x.startsWith('warning')))
        .length,
    ).toBeLessThanOrEqual(2);
    // The totals: rate, outcomes (wrapped), the latency table (tcp connect, the TLS server and
    // client parts, the handshake); nothing per target after it.
    expect(lines.length - totalsAt).toBeLessThanOrEqual(12);
    expect(lines.length).toBeLessThanOrEqual(tableAt + 2 + targets.length + 1 + 12);
    expect(lines.length).toBeLessThan(40);
  }, 60_000);

  test('tls, one target with its whole chain (fingerprints broken at a colon)', async () => {
    const r = await runCli(['tls', at('tls-ok'), '--sni', 'lab.conndx.test', '--ca', ca, '-c', '3']);
    expect(tooWide(r.stdout + r.stderr)).toEqual([]);
    // A fingerprint wraps, but its bytes are all there, in order.
    const fp = r.stdout.match(/sha256 ([0-9A-F:]+)\n {10}([0-9A-F:]+)/);
    expect(fp).not.toBeNull();
    expect(`${fp![1]}${fp![2]}`).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  }, 30_000);

  test('tls with STARTTLS failing (a long cause on every attempt line), raw ClientHellos, the groups matrix and a large hello', async () => {
    const runs = await Promise.all([
      runCli(['tls', at('smtp-no-starttls'), '--starttls', 'smtp', '--sni', 'lab.conndx.test', '--ca', ca, '-c', '3']),
      runCli(['tls', at('tls-raw-hybrid'), '--raw', '--groups', '--sni', 'lab.conndx.test']),
      runCli(['tls', at('tls-raw-large-drop'), '--large-hello', '--timeout', '1s']),
    ]);
    for (const r of runs) {
      expect(r.stdout.length).toBeGreaterThan(0);
      expect(tooWide(r.stdout + r.stderr)).toEqual([]);
    }
    expect(runs[0]!.stdout).toMatch(/starttls-not-offered/);
    expect(runs[2]!.stdout).toMatch(/large-hello-dropped/);
  }, 60_000);

  test('tcp and dns over several targets', async () => {
    const runs = await Promise.all([
      runCli(['tcp', at('tcp-open'), at('tcp-refuse'), at('tcp-drop'), '-c', '2', '--timeout', '1s']),
      runCli(['dns', 'lab.test', '--server', at('dns-ok'), '--server', at('dns-ede'), '--server', at('dns-nxdomain'), '-c', '3']),
    ]);
    for (const r of runs) {
      expect(r.stdout).toMatch(/--- per (target|server) ---/);
      expect(tooWide(r.stdout + r.stderr)).toEqual([]);
    }
  }, 30_000);

  test('pcap: the verdict, flows and attempts of every fixture capture', async () => {
    const root = fileURLToPath(new URL('../../fixtures/pcap/', import.meta.url));
    const files: string[] = [];
    for (const sub of await readdir(root, { withFileTypes: true })) {
      if (!sub.isDirectory()) continue;
      for (const f of await readdir(join(root, sub.name))) if (/\.pcap(ng)?$/.test(f)) files.push(join(root, sub.name, f));
    }
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      for (const extra of [[], ['--flows'], ['--attempts']]) {
        const r = await runCli(['pcap', f, ...extra]);
        expect(tooWide(r.stdout + r.stderr), `${f} ${extra.join(' ')}`).toEqual([]);
      }
    }
  }, 60_000);

  test('diagnose: a healthy name, an expired certificate, dropped SYNs, a name that does not exist', async () => {
    const conf = join(dir, 'resolv.conf');
    await writeFile(conf, `nameserver ${at('dns-loopback')}\n`);
    const targets = [
      `https://lab.conndx.test:${port('tls-ok')}/`,
      `https://api.v4.lab.test:${port('tls-expired')}/`,
      `db.v4.lab.test:${port('tcp-drop')}`,
      'https://api.nx.lab.test/',
    ];
    for (const t of targets) {
      const r = await runCli(['diagnose', t, '--resolv-conf', conf, '--ca', ca, '-c', '2', '--timeout', '1s']);
      expect(r.stdout).toMatch(/^VERDICT /m);
      expect(tooWide(r.stdout + r.stderr), t).toEqual([]);
    }
  }, 60_000);

  // check keeps one line per check (Nagios long output, read by name): its stdout is not wrapped; its warnings are.
  test('check: one line per check after the status line; stderr within 100 columns', async () => {
    const cfg = join(dir, 'checks.yaml');
    await writeFile(
      cfg,
      [
        'checks:',
        ...TLS15.slice(0, 8).flatMap((n) => [`  - name: ${n}`, `    tls: ${at(n)}`, '    sni: lab.conndx.test', `    ca: ${ca}`]),
        '  - name: refused',
        `    tcp: ${at('tcp-refuse')}`,
      ].join('\n') + '\n',
    );
    const r = await runCli(['check', '--config', cfg]);
    const [, ...rest] = r.stdout.split('\n');
    expect(rest.filter(Boolean).length).toBe(9);
    expect(tooWide(r.stderr)).toEqual([]);
  }, 60_000);
});

describe('conndx lab fits 100 columns', () => {
  for (const extra of [[], ['--try']]) {
    test(
      `conndx lab ${extra.join(' ')}`.trim(),
      async () => {
        const child = spawn(process.execPath, [BIN, 'lab', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const deadline = Date.now() + 30_000;
        // The last line: the CA file (text view) or the last endpoint's command (--try).
        while (!(extra.length ? out.includes('# proxy-deny') : /^try: conndx tls /m.test(out))) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`lab did not start: ${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        child.kill('SIGINT');
        await new Promise((r) => child.once('close', r));
        expect(tooWide(out)).toEqual([]);
        for (const name of Object.keys(LAB)) expect(out).toMatch(new RegExp(`^(conndx .*# )?${name}[ :]`, 'm'));
      },
      40_000,
    );
  }
});

describe('fitLine', () => {
  test('wraps prose with a hanging indent and never breaks a command', () => {
    const prose = `seq=3 127.0.0.1:1 starttls-not-offered [starttls] after 3.9 ms (${'the EHLO reply does not list it '.repeat(5)})`;
    const out = fitLine(prose);
    expect(out.length).toBeGreaterThan(1);
    for (const l of out) expect(width(l)).toBeLessThanOrEqual(100);
    expect(out.slice(1).every((l) => l.startsWith('    '))).toBe(true);
    expect(out.join(' ').replace(/ +/g, ' ')).toBe(prose.replace(/ +/g, ' ').trim());
    const cmd = `  $ openssl s_client -connect 127.0.0.1:1 -servername ${'x'.repeat(60)}.test -CAfile /tmp/ca.pem </dev/null`;
    expect(fitLine(cmd)).toEqual([cmd]);
    expect(fitText('a\nb\n')).toBe('a\nb\n');
  });
});
