// diagnose --report and --redact against lab endpoints on 127.0.0.1 (and ::1): the path is
// checked before the run, the verdict is never lost, every report carries the source
// address, the UTC time, the host and an interrupted mark, and --redact leaves none of
// the real names, addresses or paths in any output.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { makeScrubber } from '../../src/redact.js';
import { runCli } from '../helpers/cli.js';
import { BIN } from '../helpers/lab.js';
import { bench, CHROMIUM, need } from '../helpers/diagnose-env.js';

let b: Awaited<ReturnType<typeof bench>>;
let ca: string;
const port: Record<string, number> = {};
beforeAll(async () => {
  b = await bench();
  for (const n of ['tls-ok', 'tls-expired']) port[n] = (await b.start(n)).port;
  ca = await b.ca();
});
afterAll(() => b.close());

const tlsArgs = (extra: string[] = []) => b.args(['--sni', LAB_SERVER_NAME, '--ca', ca, ...extra]);

/** A TCP server that counts the connections it gets and never answers (a TLS handshake to it waits). */
async function silentServer(): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let n = 0;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    n++;
    socks.add(s);
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}

describe('--report FILE: checked first, never costs the verdict', () => {
  test('a missing directory: exit 3 with one line, before any probe (no connection reaches the target)', async () => {
    const srv = await silentServer();
    try {
      const r = await runCli(['diagnose', `127.0.0.1:${srv.port}`, '--tls', '--report', join(b.dir, 'nodir', 'x.md')]);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^conndx: bad --report ".*nodir\/x\.md": the directory .*nodir does not exist$/m);
      expect(srv.accepted()).toBe(0);
      const dir = await runCli(['diagnose', `127.0.0.1:${srv.port}`, '--report', b.dir + '/']);
      expect(dir.code).toBe(3);
      expect(srv.accepted()).toBe(0);
    } finally {
      await srv.close();
    }
  });

  test('a write that fails after the run (a full disk): the verdict is on stdout first, then one error line, exit 3', async () => {
    const full = join(b.dir, 'full.md');
    symlinkSync('/dev/full', full);
    const r = await runCli(['diagnose', `https://api.v4.lab.test:${port['tls-ok']}/`, ...tlsArgs(['--count', '2', '--report', full])]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^VERDICT OK · /m);
    expect(r.stdout).not.toMatch(/report written/);
    expect(r.stderr.trim().split('\n')).toEqual([`conndx: cannot write --report "${full}": ENOSPC`]);
  });
});

describe('what every report carries', () => {
  let human: Awaited<ReturnType<typeof runCli>>;
  let json: Record<string, any>;
  let md: string;
  let html: string;
  beforeAll(async () => {
    const mdFile = join(b.dir, 'expired.md');
    const htmlFile = join(b.dir, 'expired.html');
    human = await runCli(['diagnose', `https://api.v4.lab.test:${port['tls-expired']}/`, ...tlsArgs(['--count', '2', '--report', mdFile])]);
    const j = await runCli([
      'diagnose',
      `https://api.v4.lab.test:${port['tls-expired']}/`,
      ...tlsArgs(['--count', '2', '--report', htmlFile, '--json']),
    ]);
    json = JSON.parse(j.stdout);
    md = readFileSync(mdFile, 'utf8');
    html = readFileSync(htmlFile, 'utf8');
  });

  test('the terminal verdict line carries the UTC time and the host', () => {
    const head = human.stdout.split('\n').find((l) => l.startsWith('VERDICT'))!;
    const stamp = json.meta.startedAt.slice(0, 10);
    expect(head).toMatch(new RegExp(`^VERDICT FAILING · tls · cert-expired · ${stamp} \\d\\d:\\d\\d:\\d\\d UTC · ${hostname()}$`));
  });

  test('JSON: the source address of each address, the host and the UTC start', () => {
    expect(json.addresses.map((a: { source: string }) => a.source)).toEqual(['127.0.0.1']);
    expect(json.meta.host).toBe(hostname());
    expect(json.meta.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(json.interrupted).toBeUndefined();
  });

  test('Markdown: an expired certificate reads "expired 30 days ago", and the run table has the source, time and host', () => {
    expect(json.tls.certificate.daysLeft).toBeLessThan(0);
    expect(md).toContain(`(expired ${-json.tls.certificate.daysLeft} days ago)`);
    expect(md).not.toMatch(/\(-\d+ days left\)/);
    expect(md).toMatch(/^\| source address \| 127\.0\.0\.1 \|$/m);
    expect(md).toMatch(new RegExp(`^\\| host \\| ${hostname()} \\|$`, 'm'));
    expect(md).toMatch(/^\| started \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|$/m);
  });

  test('HTML: a TLS/certificate section with the chain as sent, and per-address timings', () => {
    const tls = /<div id="tls">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
    expect(tls).toMatch(/<table id="negotiated">.*<td>TLSv1\.3<\/td><td>TLS_\w+<\/td><td>\w+<\/td>/);
    expect(tls).toMatch(/Certificate problem: cert-expired/);
    expect(tls).toMatch(/expired 30 days ago/);
    expect(tls).toContain(json.tls.certificate.fingerprint256);
    const chain = /<table id="chain">([\s\S]*?)<\/table>/.exec(tls)?.[1] ?? '';
    const rows = chain.match(/<tr><td>\d+<\/td>/g) ?? [];
    expect(rows).toHaveLength(json.tls.certificate.chain.length);
    expect(chain).toMatch(/sent by the server/);
    expect(chain).toMatch(/EC P-256/);
    const per = /<table id="per-address">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
    expect(per).toMatch(/<th>connect p50 \/ p99 ms<\/th>/);
    const p50 = json.tcp.byTarget['127.0.0.1:' + port['tls-expired']].latencyMs.p50;
    expect(per).toContain(`<td>127.0.0.1:${port['tls-expired']}</td>`);
    expect(per).toMatch(new RegExp(`<td>${String(p50).replace('.', '\\.').slice(0, 4)}[\\d.]* / [\\d.]+</td>`));
  });
});

/** The real process (dist/, built by `npm run build`), sent SIGINT once `after` ms have passed. */
/** Runs conndx and sends SIGINT once `ready()` says the run reached the moment to cut (polled, not a timer). */
function interrupted(args: string[], ready: () => boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' } });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setInterval(() => {
      if (!ready()) return;
      clearInterval(t);
      child.kill('SIGINT');
    }, 5);
    child.on('close', (code) => {
      clearInterval(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('an interrupted run (Ctrl-C)', () => {
  test('JSON, Markdown and the terminal say it was interrupted; exit 130', async () => {
    const srv = await silentServer();
    try {
      const mdFile = join(b.dir, 'cut.md');
      // The TLS phase waits on a server that never answers: Ctrl-C comes in the middle of it (the attempts in flight end at their timeout).
      const base = ['diagnose', `127.0.0.1:${srv.port}`, '--tls', '--timeout', '3s', '--count', '3'];
      // The TCP phase's 3 connections, then the first of the TLS phase: the signal comes then.
      const tlsStarted = (from: number) => () => srv.accepted() >= from + 4;
      const r = await interrupted([...base, '--report', mdFile], tlsStarted(srv.accepted()));
      expect(r.code, r.stderr).toBe(130);
      expect(r.stdout).toMatch(/^ {2}interrupted \(Ctrl-C\)/m);
      // Never "healthy, every phase succeeded" for phases that did not run: the TCP phase worked, TLS was cut.
      expect(r.stdout).not.toMatch(/every attempt of every phase succeeded/);
      // The TLS attempt in flight ends at its timeout (FAILING tls timeout) or is cut before it (DEGRADED tls interrupted).
      expect(r.stdout).toMatch(/^VERDICT (DEGRADED · tls · interrupted|FAILING · tls · timeout) · /m);
      const md = readFileSync(mdFile, 'utf8');
      expect(md).toMatch(/\*\*Interrupted\*\*/);
      expect(md).toMatch(/^\| interrupted \| yes/m);
      const j = await interrupted([...base, '--json'], tlsStarted(srv.accepted()));
      expect(j.code).toBe(130);
      expect(JSON.parse(j.stdout).interrupted).toBe(true);
      const v = JSON.parse(j.stdout).verdict;
      expect(v.phase).toBe('tls');
      expect([v.status, v.outcome]).toEqual(v.status === 'degraded' ? ['degraded', 'interrupted'] : ['failing', 'timeout']);
    } finally {
      await srv.close();
    }
  });
});

describe('--redact', () => {
  test('placeholders are stable: the same name is the same placeholder, a new one the next', () => {
    const s = makeScrubber({ redact: true, seed: { names: ['db.corp.example'], paths: ['/healthz'] } });
    expect(s.text('https://db.corp.example:8443/healthz?x=1 and db.corp.example again, 10.1.2.3 and [fd00::5]:53, web.corp.example.')).toBe(
      'https://host-1:8443/path-1?query-1 and host-1 again, addr-1 and [addr-2]:53, host-2.',
    );
    expect(s.text('10.1.2.3 ≠ 10.1.2.4; at 16:24:19 UTC; TLSv1.3; report.md; sha256 AA:BB:CC:DD:EE:FF:00:11:22')).toBe(
      'addr-1 ≠ addr-3; at 16:24:19 UTC; TLSv1.3; report.md; sha256 AA:BB:CC:DD:EE:FF:00:11:22',
    );
  });

  test('no real name, address, path or query in the terminal, JSON, Markdown or HTML output', async () => {
    const url = `https://api.lab.test:${port['tls-ok']}/private/healthz?token=abc123`;
    const mdFile = join(b.dir, 'red.md');
    const htmlFile = join(b.dir, 'red.html');
    const args = [url, ...tlsArgs(['--count', '2', '--redact', '--show-query'])];
    const outs = [
      await runCli(['diagnose', ...args, '--report', mdFile, '-v']),
      await runCli(['diagnose', ...args, '--report', htmlFile, '--json']),
    ];
    const texts = [...outs.flatMap((r) => [r.stdout, r.stderr]), readFileSync(mdFile, 'utf8'), readFileSync(htmlFile, 'utf8')];
    const real = [
      /api\.lab\.test/,
      new RegExp(LAB_SERVER_NAME.replace(/\./g, '\\.')),
      /127\.0\.0\.1/,
      /(?<![\w:])::1(?![\w:])/,
      /\/private/,
      /healthz/,
      /token=abc123/,
      /conndx lab/,
      new RegExp(`\\b${hostname()}\\b`),
    ];
    for (const t of texts) for (const re of real) expect(re.test(t), `${re} in:\n${t.slice(0, 3000)}`).toBe(false);
    const json = JSON.parse(outs[1]!.stdout);
    expect(json.redacted).toBe(true);
    // The same placeholders in every output of the run: the target's name is host-1, its path /path-1.
    expect(json.target).toBe(`https://host-1:${port['tls-ok']}/path-1?query-1`);
    expect(readFileSync(mdFile, 'utf8')).toContain(`# conndx diagnose https://host-1:${port['tls-ok']}/path-1?query-1`);
    expect(json.meta.command).toContain(`host-1:${port['tls-ok']}/path-1?query-1`);
    expect(json.verdict.status).toBeDefined();
    expect(json.tls.certificate.subject).toMatch(/^CN=host-\d+, O=name-\d+$/);
  });
});

const skip = need('chromium', { paths: CHROMIUM });
const chromium = () => CHROMIUM.find((p) => existsSync(p)) ?? 'chromium';

/** Distinct byte values of a PNG's decoded scanlines: a blank page has a handful, a page with text and charts many. */
function pngVariety(buf: Buffer): { width: number; height: number; distinct: number } {
  expect(buf.subarray(1, 4).toString('latin1')).toBe('PNG');
  let off = 8;
  const idat: Buffer[] = [];
  let width = 0,
    height = 0;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.subarray(off + 4, off + 8).toString('latin1');
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < raw.length; i += 7) seen.add(raw[i]!);
  return { width, height, distinct: seen.size };
}

describe('the HTML report in headless Chromium', () => {
  test.skipIf(skip !== null)(
    `a screenshot with the TLS section, offset waterfall bars, not blank${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const page = join(b.dir, 'shot.html');
      const r = await runCli(['diagnose', `https://api.lab.test:${port['tls-ok']}/`, ...tlsArgs(['--count', '3', '--report', page])]);
      expect([0, 1]).toContain(r.code);
      const profile = mkdtempSync(join(tmpdir(), 'conndx-chromium-'));
      const png = join(b.dir, 'shot.png');
      try {
        const flags = [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-background-networking',
          `--user-data-dir=${profile}`,
        ];
        await promisify(execFile)(chromium(), [...flags, `--screenshot=${png}`, '--window-size=1200,1600', pathToFileURL(page).href], {
          timeout: 60_000,
        });
        const { stdout: dom } = await promisify(execFile)(chromium(), [...flags, '--dump-dom', pathToFileURL(page).href], {
          timeout: 60_000,
          maxBuffer: 16 << 20,
        });
        const v = pngVariety(readFileSync(png));
        expect(v.width).toBe(1200);
        expect(v.distinct).toBeGreaterThan(30);
        // Offset bars: each phase's bar starts where the one before ended.
        const bars = [...dom.matchAll(/<rect class="bar" data-phase="([^"]+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => ({
          phase: m[1],
          x: Number(m[2]),
          w: Number(m[3]),
        }));
        expect(bars.map((x) => x.phase)).toEqual(['lookup', 'connect', 'tls', 'first byte']);
        for (let i = 1; i < bars.length; i++) {
          const prev = bars[i - 1]!;
          // A bar drawn at its 2 px minimum may reach past where its phase ended; never short of it.
          expect(bars[i]!.x).toBeGreaterThanOrEqual(prev.x + Math.min(prev.w, 2) - 0.11);
          expect(bars[i]!.x).toBeLessThanOrEqual(prev.x + prev.w + 0.11);
        }
        expect(dom).toMatch(/<h2>TLS and certificate<\/h2>/);
        expect(dom).toMatch(/<table id="chain">/);
        expect(dom).toMatch(/<table id="per-address">/);
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );
});
