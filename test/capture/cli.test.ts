import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { conversation, dnsQuery, dnsResponse, udpDatagram, writePcap } from '../../fixtures/pcap/build.js';
import { allInOne } from '../../fixtures/pcap/scenarios.js';
import { parseFilter } from '../../src/capture/filter.js';
import { main } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'conndx-pcap-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sink(isTTY = false): Writable & { text: string; isTTY: boolean } {
  const w = new Writable({
    write(chunk, _e, cb) {
      w.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string; isTTY: boolean };
  w.text = '';
  w.isTTY = isTTY;
  return w;
}

async function run(argv: string[], tty = false) {
  const stdout = sink(tty),
    stderr = sink(tty);
  const code = await main({ argv, stdout, stderr, env: {} });
  return { code, out: stdout.text, err: stderr.text };
}

const all = join(dir, 'all.pcap');
writeFileSync(all, writePcap(allInOne()));

describe('conndx pcap', () => {
  test('--json carries the contract fields, a verdict, warnings and meta', async () => {
    const r = await run(['pcap', all, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    for (const k of ['file', 'format', 'packets', 'durationS', 'skipped', 'tcp', 'tls', 'dns', 'failures', 'verdict', 'warnings', 'meta'])
      expect(j, k).toHaveProperty(k);
    expect(j.format).toBe('pcap');
    expect(j.connections).toBeUndefined();
    expect(j.meta.command).toBe(`conndx pcap ${all} --json`);
    expect(j.tcp).toMatchObject({ connections: 17, refused: 1, unanswered: 2 });
    expect(j.dns).toMatchObject({ queries: 5, answered: 4, tcp: 1 });
    // The reset and the close right after accept are app failures, as `conndx tcp` says.
    expect(j.verdict.phase).toBe('tls');
    expect(j.failures).toEqual({ dns: 2, tcp: 3, tls: 5, app: 4 });
  });

  test('the human summary names the phase and the figures', async () => {
    const r = await run(['pcap', all]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/TCP\s+17 attempts, 14 established/);
    // Prose wraps at 100 columns under its line: read it unwrapped.
    expect(r.out.replace(/\n {4,}/g, ' ')).toMatch(
      /accepted, then before any data: reset 1, closed by the server 1 \(phase app, as conndx tcp says\)/,
    );
    expect(r.out).toMatch(/--- verdict ---\n\[tls\] TLS handshake failure 83% of 6/);
    expect(r.out).not.toMatch(/\x1b\[/);
  });

  test('--flows --filter keeps one record per connection on the filtered port', async () => {
    const r = await run(['pcap', all, '--flows', '--json', '--filter', 'port 443']);
    const j = JSON.parse(r.out);
    expect(j.connections.length).toBe(9); // 6 TLS connections, the unanswered attempt (2 records), the RSTOS0 one
    expect(j.connections.every((c: { server: string }) => c.server.endsWith(':443'))).toBe(true);
    expect(j.ip.filteredOut).toBeGreaterThan(0);
    const text = await run(['pcap', all, '--flows', '--filter', 'port 443 and not host 10.9.9.9']);
    expect(text.out.split('\n')[0]).toMatch(/^\s*start \(UTC\)\s+client\s+server\s+state/);
    // Each row starts with its UTC time to the microsecond, the same instant as the JSON's epoch seconds.
    const first = text.out.split('\n')[1]!.trim().split(/\s+/)[0]!;
    expect(first).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const starts = j.connections.map((c: { start: number }) => c.start);
    expect(Math.abs(Date.parse(first) / 1000 - Math.min(...starts))).toBeLessThan(0.001);
  });

  test('utcMicros keeps microseconds and carries a rounded-up second', async () => {
    const { utcMicros } = await import('../../src/report/pcap.js');
    expect(utcMicros(1700000000.000123)).toBe('2023-11-14T22:13:20.000123Z');
    expect(utcMicros(1700000000 + 0.9999996)).toBe('2023-11-14T22:13:21.000000Z');
    expect(utcMicros(Number.NaN)).toBe('-');
  });

  test('--filter with a time window', async () => {
    const t = 1700000000 + 200; // the third scenario starts at +200 s
    const r = await run(['pcap', all, '--json', '--filter', `after ${t} and before ${t + 100}`]);
    expect(JSON.parse(r.out).tcp.connections).toBe(1);
    const iso = new Date(t * 1000).toISOString();
    const r2 = await run(['pcap', all, '--json', '--filter', `after ${iso}`]);
    expect(JSON.parse(r2.out).tcp.connections).toBe(15);
  });

  test('--dns-port reads another port as DNS', async () => {
    const f = join(dir, 'dns8053.pcap');
    const c = '10.0.0.1',
      s = '10.0.0.53';
    writeFileSync(
      f,
      writePcap([
        { ts: 1, ip: udpDatagram({ src: c, dst: s, sport: 40000, dport: 8053 }, dnsQuery(7, 'x.example')) },
        { ts: 1.005, ip: udpDatagram({ src: s, dst: c, sport: 8053, dport: 40000 }, dnsResponse(7, 'x.example', 5)) },
      ]),
    );
    expect(JSON.parse((await run(['pcap', f, '--json'])).out).dns.queries).toBe(0);
    const j = JSON.parse((await run(['pcap', f, '--json', '--dns-port', '8053'])).out);
    expect(j.dns).toMatchObject({ queries: 1, answered: 1, rcodes: { REFUSED: 1 } });
    expect(j.dns.latencyMs.p50).toBeCloseTo(5, 1);
  });

  test('bad input: one line on stderr, exit 3', async () => {
    const notCap = join(dir, 'text.pcap');
    writeFileSync(notCap, 'hello, this is not a capture at all\n');
    const empty = join(dir, 'empty.pcap');
    writeFileSync(empty, '');
    for (const argv of [
      ['pcap', notCap],
      ['pcap', empty],
      ['pcap', join(dir, 'missing.pcap')],
      ['pcap', all, '--filter', 'port banana'],
      ['pcap', all, '--dns-port', '70000'],
      ['pcap', dir],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(3);
      expect(r.err.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.err).not.toMatch(/internal error|\n\s+at /);
    }
  });

  test('an unsupported link type is said and counted, not misread as Ethernet', async () => {
    const f = join(dir, 'lt147.pcap');
    const b = writePcap(conversation('10.0.0.1', '10.0.0.2', 1, 2).syn(1).pkts);
    b.writeUInt32LE(147, 20);
    writeFileSync(f, b);
    const r = await run(['pcap', f, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.skipped.reasons.unsupported_link_type).toBe(1);
    expect(j.tcp.connections).toBe(0);
    expect(r.err).toMatch(/link type 147 is not supported/);
  });
});

describe('--filter parsing', () => {
  test.each([
    ['host 10.0.0.1', true],
    ['src port 53 or dst port 53', true],
    ['not (tcp and port 443)', true],
    ['host ::1', true],
    ['host 2001:db8::1 && !udp', true],
    ['after 2024-01-01T00:00:00Z', true],
    ['port', false],
    ['host nope', false],
    ['(port 1', false],
    ['frobnicate', false],
    ['', false],
    ['after yesterday', false],
  ])('%s → %s', (expr, ok) => {
    expect(parseFilter(expr).ok).toBe(ok);
  });
});
