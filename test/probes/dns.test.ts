import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dns2 from 'dns2';
import { describe, expect, test } from 'vitest';
import { DNS_LAB } from '../../src/lab/dns.js';
import { DNS_EDNS_LAB } from '../../src/lab/dns-edns.js';
import { DNS_OUTCOMES } from '../../src/core/types.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { BIN, lab } from '../helpers/lab.js';

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

describe('conndx dns against lab endpoints', () => {
  const rows = Object.keys(DNS_LAB).filter((n) => n !== 'dns-slow-tail');
  test.each(rows)('%s yields its contract outcome', async (name) => {
    const ep = await lab(name);
    try {
      const { code, json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '4', '--timeout', '300ms']);
      expect(json.outcomes).toEqual({ [ep.expect]: 4 });
      expect(sum(json.outcomes)).toBe(json.attempts);
      expect(json.attempts).toBe(4);
      expect(code).toBe(ep.expect === 'ok' ? 0 : 2);
      expect(json.probe).toBe('dns');
      expect(json.target).toBe('lab.test');
      expect(json.meta.command).toContain('conndx dns lab.test');
      // One server: byServer names it, as it would among several.
      expect(Object.keys(json.byServer)).toEqual([ep.addr]);
      expect(json.byServer[ep.addr].outcomes).toEqual(json.outcomes);
      if (ep.expect === 'ok') {
        expect(json.latencyMs.p50).toBeGreaterThan(0);
        expect(json.answers[0]).toContain('192.0.2.10');
      } else {
        expect(json.latencyMs).toBeNull();
      }
    } finally {
      await ep.close();
    }
  });

  test('every DNS outcome name of the contract is covered by a test here', () => {
    // lab endpoints cover the rcode and network outcomes; truncated and error have their own tests below
    const covered = new Set([
      ...Object.keys(DNS_LAB).map((n) => n.replace(/^dns-/, '')),
      // the EDNS lab (test/probes/dns-edns.test.ts): dns-nodata
      ...Object.keys(DNS_EDNS_LAB).map((n) => n.replace(/^dns-/, '')),
      'ok',
      'timeout',
      'network-error',
      'truncated',
      'error',
    ]);
    const expects = new Set(rows.map(() => ''));
    void expects;
    for (const o of DNS_OUTCOMES) expect(covered.has(o) || ['rcode-other'].includes(o), o).toBe(true);
  });

  test('a truncated UDP reply is retried over TCP and counted', async () => {
    const ep = await lab('dns-truncated');
    try {
      const fb = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '3']);
      expect(fb.json.outcomes).toEqual({ ok: 3 });
      expect(fb.json.tcpFallback).toBe(3);
      const nf = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '3', '--no-fallback']);
      expect(nf.json.outcomes).toEqual({ truncated: 3 });
      expect(nf.code).toBe(2);
      const tcp = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '2', '--tcp']);
      expect(tcp.json.outcomes).toEqual({ ok: 2 });
      expect(tcp.json.tcpFallback).toBe(0);
    } finally {
      await ep.close();
    }
  });

  test('truncated over UDP with no TCP listener is `truncated`', async () => {
    const { Packet } = dns2;
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    udp.on('message', (m, r) => {
      const res = Packet.createResponseFromRequest(Packet.parse(m));
      res.header.tc = 1;
      udp.send(res.toBuffer(), r.port, r.address);
    });
    try {
      const { json } = await runCliJson([
        'dns',
        'lab.test',
        '--server',
        `127.0.0.1:${udp.address().port}`,
        '-c',
        '2',
        '--timeout',
        '500ms',
      ]);
      expect(json.outcomes).toEqual({ truncated: 2 });
    } finally {
      udp.close();
    }
  });

  test('replies with the wrong id or question are not taken as answers', async () => {
    const ep = await lab('dns-spoof');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '3']);
      expect(json.outcomes).toEqual({ ok: 3 });
      expect(json.mismatchedReplies).toBe(6);
      expect(json.latencyMs.min).toBeGreaterThanOrEqual(19);
    } finally {
      await ep.close();
    }
  });

  test('a closed port over TCP is a network-error, and a silent one over TCP a timeout', async () => {
    const closed = await lab('dns-closed');
    const drop = await lab('dns-drop');
    try {
      const a = await runCliJson(['dns', 'lab.test', '--server', closed.addr, '-c', '2', '--tcp']);
      expect(a.json.outcomes).toEqual({ 'network-error': 2 });
      const b = await runCliJson(['dns', 'lab.test', '--server', drop.addr, '-c', '2', '--tcp', '--timeout', '200ms']);
      expect(b.json.outcomes).toEqual({ timeout: 2 });
    } finally {
      await closed.close();
      await drop.close();
    }
  });

  test.each(['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'NS', 'SOA', 'SRV', 'PTR'])('record type %s', async (type) => {
    const ep = await lab('dns-ok');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '1', '--type', type]);
      expect(json.outcomes).toEqual({ ok: 1 });
      expect(json.query.type).toBe(type);
      expect(json.answers.length).toBe(1);
      expect(json.answers[0]).toContain(` ${type} `);
    } finally {
      await ep.close();
    }
  });

  test('several servers: a breakdown keyed exactly as written, and IPv6 resolvers', async () => {
    const v4 = await lab('dns-ok');
    const v6 = await lab('dns-nxdomain', { host: '::1' });
    try {
      const { code, json } = await runCliJson(['dns', 'lab.test', '--server', v4.addr, '--server', `[::1]:${v6.port}`, '-c', '3']);
      expect(Object.keys(json.byServer)).toEqual([v4.addr, `[::1]:${v6.port}`]);
      expect(json.byServer[v4.addr].outcomes).toEqual({ ok: 3 });
      expect(json.byServer[`[::1]:${v6.port}`].outcomes).toEqual({ nxdomain: 3 });
      expect(json.outcomes).toEqual({ ok: 3, nxdomain: 3 });
      expect(code).toBe(1);
    } finally {
      await v4.close();
      await v6.close();
    }
  });

  test('--ndjson prints one line per query as it finishes', async () => {
    const ep = await lab('dns-ok');
    try {
      const r = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '5', '--ndjson']);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(5);
      for (const l of lines) {
        expect(l).toMatchObject({ target: ep.addr, phase: 'dns', outcome: 'ok' });
        expect(typeof l.seq).toBe('number');
        expect(typeof l.ms).toBe('number');
        expect(l.startedAt).toMatch(/Z$/);
      }
    } finally {
      await ep.close();
    }
  });

  test('human output: ping-like lines, a --- summary, no colour off a TTY', async () => {
    const ep = await lab('dns-ok');
    try {
      const r = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '3']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^CONNDX DNS lab\.test A via/);
      expect(r.stdout.match(/^seq=\d+ .* ok /gm)).toHaveLength(3);
      expect(r.stdout).toContain('--- lab.test dns statistics ---');
      expect(r.stdout).not.toMatch(/\x1b\[/);
      const tty = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '1'], { tty: true });
      expect(tty.stdout).toMatch(/\x1b\[/);
      const noColor = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '1'], { tty: true, env: { NO_COLOR: '1' } });
      expect(noColor.stdout).not.toMatch(/\x1b\[/);
    } finally {
      await ep.close();
    }
  });
});

describe("local limits are this machine's errors, not the server's", () => {
  const exec = promisify(execFile);
  test('out of file descriptors gives `error` with EMFILE named, never a target failure', async () => {
    const ep = await lab('dns-drop');
    try {
      const r = await exec('bash', [
        '-c',
        `ulimit -n 100; exec "${process.execPath}" "${BIN}" dns lab.test --server ${ep.addr} --tcp -c 150 --concurrency 150 --timeout 1s --no-cap --json`,
      ]).catch((e) => e);
      const json = JSON.parse(r.stdout);
      expect(json.outcomes.error).toBeGreaterThan(0);
      expect(json.localErrors).toBe(json.outcomes.error);
      expect(Object.keys(json.errors).join()).toMatch(/EMFILE/);
      expect(sum(json.outcomes)).toBe(150);
      expect(r.stderr).toMatch(/say nothing about the target/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await ep.close();
    }
  });
});

describe('bad input: one line on stderr, exit 3', () => {
  test.each([
    [['dns', 'x.test', '--bogus']],
    [['dns', 'x.test', '--server', '127.0.0.1:99999']],
    [['dns', 'x.test', '--server', '300.1.1.1']],
    [['dns', 'x.test', '--server', '127.0.0.1', '--timeout', '5 parsecs']],
    [['dns', 'x.test', '--server', '127.0.0.1', '--count', '-3']],
    [['dns', 'x.test', '--server', '127.0.0.1', '--type', 'BOGUS']],
    [['dns', 'bad..name', '--server', '127.0.0.1']],
    [['dns', 'x.test', '--server', '127.0.0.1', '--json', '--ndjson']],
    [['dns']],
  ])('%j', async (argv) => {
    const r = await runCli(argv);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^conndx: /);
    expect(r.stdout).toBe('');
  });
});
