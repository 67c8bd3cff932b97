// Attempts from real traffic (issue 18): in a network namespace of our own (only its loopback,
// MTU 1500), a resolver that answers late, nftables dropping SYNs, a server that resets the TLS
// handshake, a rule that drops every packet over 1000 bytes from one server (a PMTU black hole)
// and one that rejects with ICMP admin-prohibited. tcpdump captures lo; `analyzeCapture` must give
// each attempt the row the test caused. Skipped without root and the tools, unless
// CONNDX_REQUIRE_ROOT_TESTS=1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { analyzeCapture, type PcapResult } from '../../src/capture/index.js';
import { createNetns, netnsEnv, ROOT_TESTS_REQUIRED, type Netns } from '../helpers/tcp-env.js';

const env = netnsEnv(['nft', 'tcpdump']);
const SLOW_MS = 1500;

test.runIf(!env.ok && ROOT_TESTS_REQUIRED)('root network tests can run (CONNDX_REQUIRE_ROOT_TESTS=1)', () => {
  expect.fail(env.reason);
});

const dir = mkdtempSync(join(tmpdir(), 'conndx-attempts-ns-'));
let ns: Netns | null = null;
afterAll(() => {
  ns?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

// A resolver on 127.0.0.53: one A record per name, slow.test answered SLOW_MS late.
const RESOLVER = `
const dgram = require('node:dgram');
const A = { 'slow.test': '127.0.0.10', 'drop.test': '127.0.0.11', 'reset.test': '127.0.0.12', 'big.test': '127.0.0.13', 'blocked.test': '127.0.0.14' };
const s = dgram.createSocket('udp4');
s.on('message', (m, from) => {
  let o = 12; const labels = [];
  while (m[o]) { labels.push(m.toString('latin1', o + 1, o + 1 + m[o])); o += 1 + m[o]; }
  const qEnd = o + 5, name = labels.join('.'), addr = A[name];
  const head = Buffer.from(m.subarray(0, 12)); head.writeUInt16BE(addr ? 0x8180 : 0x8183, 2); head.writeUInt16BE(addr ? 1 : 0, 6);
  const parts = [head, m.subarray(12, qEnd)];
  if (addr) parts.push(Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...addr.split('.').map(Number)]));
  setTimeout(() => s.send(Buffer.concat(parts), from.port, from.address), name === 'slow.test' ? ${SLOW_MS} : 0);
});
s.bind(53, '127.0.0.53', () => console.log('ready'));
`;

// Servers: echo (slow), nothing special behind the dropped SYNs, reset on the ClientHello, 20 kB answer (big).
const SERVERS = `
const net = require('node:net');
let up = 0;
const ready = () => { if (++up === 4) console.log('ready'); };
for (const ip of ['127.0.0.10', '127.0.0.11']) net.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.end(d)); }).listen(443, ip, ready);
net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.resetAndDestroy()); }).listen(443, '127.0.0.12', ready);
net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.write(Buffer.alloc(20000, 0x61))); }).listen(443, '127.0.0.13', ready);
`;

// The client: resolve with an explicit server, then connect; one JSON line per name.
const CLIENT = `
const dns = require('node:dns'), net = require('node:net'), tls = require('node:tls');
const r = new dns.promises.Resolver({ timeout: 4000, tries: 1 }); r.setServers(['127.0.0.53']);
async function one(name, useTls) {
  const t0 = process.hrtime.bigint();
  const [addr] = await r.resolve4(name);
  const lookupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const outcome = await new Promise((resolve) => {
    const opts = { host: addr, port: 443 };
    const s = useTls ? tls.connect({ ...opts, servername: name, rejectUnauthorized: false }) : net.connect(opts, () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
    s.on('data', () => {});
    s.on('error', (e) => resolve(e.code || 'error'));
    s.on('close', () => resolve('closed'));
    setTimeout(() => { s.destroy(); resolve('gave-up'); }, 3500);
  });
  console.log(JSON.stringify({ name, addr, lookupMs, outcome }));
}
(async () => {
  await one('slow.test', false);
  await one('drop.test', false);
  await one('reset.test', true);
  await one('big.test', false);
  await one('blocked.test', false);
})();
`;

function waitFor(child: ReturnType<Netns['spawn']>, text: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const on = (d: Buffer) => {
      seen += String(d);
      if (seen.includes(text)) resolve();
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}: ${seen}`)));
    setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), 10_000).unref();
  });
}

describe.skipIf(!env.ok)(`attempts from real traffic in a network namespace${env.ok ? '' : ` (skipped: ${env.reason})`}`, () => {
  test('slow resolver, dropped SYNs, TLS reset, PMTU black hole, ICMP admin-prohibited: one right row each', async () => {
    ns = createNetns();
    ns.run(['ip', 'link', 'set', 'lo', 'mtu', '1500']);
    ns.run(
      ['nft', '-f', '-'],
      `table inet conndx {
        chain in { type filter hook input priority 0;
          ip daddr 127.0.0.11 tcp dport 443 tcp flags & (syn|ack) == syn drop
          ip saddr 127.0.0.13 tcp sport 443 ip length > 1000 drop
          ip daddr 127.0.0.14 tcp dport 443 reject with icmp type admin-prohibited
        }
      }`,
    );
    for (const [f, text] of [
      ['resolver.cjs', RESOLVER],
      ['servers.cjs', SERVERS],
      ['client.cjs', CLIENT],
    ] as const)
      writeFileSync(join(dir, f), text);
    const pcap = join(dir, 'attempts.pcap');
    const td = ns.spawn(['tcpdump', '-i', 'lo', '-nn', '-U', '--immediate-mode', '-w', pcap, 'tcp port 443 or udp port 53 or icmp']);
    await waitFor(td, 'listening on', 'tcpdump');
    const resolver = ns.spawn([process.execPath, join(dir, 'resolver.cjs')]);
    const servers = ns.spawn([process.execPath, join(dir, 'servers.cjs')]);
    await Promise.all([waitFor(resolver, 'ready', 'resolver'), waitFor(servers, 'ready', 'servers')]);
    // "listening on" comes a moment before the capture ring sees packets.
    await new Promise((r) => setTimeout(r, 500));
    const out = ns.run([process.execPath, join(dir, 'client.cjs')]);
    const client = Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { name: string; lookupMs: number; outcome: string })
        .map((x) => [x.name, x]),
    );
    // What the client itself saw: the faults are in place.
    expect(client['slow.test']!.lookupMs).toBeGreaterThanOrEqual(SLOW_MS);
    expect(client['drop.test']!.outcome).toBe('gave-up');
    expect(client['reset.test']!.outcome).toBe('ECONNRESET');
    expect(client['big.test']!.outcome).toBe('gave-up');
    expect(client['blocked.test']!.outcome).toBe('EHOSTUNREACH');
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise((r) => td.once('exit', r));
    td.kill('SIGINT');
    await exited;
    expect(readFileSync(pcap).length).toBeGreaterThan(24);

    const res = await analyzeCapture(pcap, { attempts: true, flows: true });
    if (!res.ok) throw new Error(res.reason);
    const r: PcapResult = res.result;
    const rows = r.attempts.rows!;
    const byName = (n: string) => {
      const got = rows.filter((x) => x.name === n);
      expect(got, `${n}: ${JSON.stringify(rows)}`).toHaveLength(1);
      return got[0]!;
    };
    const slow = byName('slow.test');
    expect(slow).toMatchObject({ server: '127.0.0.10:443', rcode: 'NOERROR', phase: 'ok', outcome: 'ok', synRetransmits: 0 });
    // On the wire the answer came at least SLOW_MS after the query, and within what the client waited.
    expect(slow.lookupMs!).toBeGreaterThanOrEqual(SLOW_MS);
    expect(slow.lookupMs!).toBeLessThanOrEqual(client['slow.test']!.lookupMs);
    expect(slow.appBytes).toEqual({ sent: 18, received: 18 });

    const drop = byName('drop.test');
    expect(drop).toMatchObject({ server: '127.0.0.11:443', phase: 'tcp', outcome: 'timeout', connectMs: null });
    expect(drop.synRetransmits).toBeGreaterThanOrEqual(1);

    const reset = byName('reset.test');
    expect(reset).toMatchObject({ server: '127.0.0.12:443', phase: 'tls', outcome: 'reset', tls: { outcome: 'reset', sni: 'reset.test' } });

    const big = byName('big.test');
    expect(big).toMatchObject({ server: '127.0.0.13:443', outcome: 'pmtu-blackhole-suspected', phase: 'app' });
    const conn = r.connections!.find((k) => k.server === '127.0.0.13:443')!;
    expect(conn.pmtu!.sender).toBe('server');
    expect(conn.pmtu!.largestAckedBytes).toBe(18);
    // The lost segment is larger than the rule lets through, and at most one MSS of the 1500 MTU.
    expect(conn.pmtu!.lostSegmentBytes).toBeGreaterThan(1000 - 52);
    expect(conn.pmtu!.lostSegmentBytes).toBeLessThanOrEqual(1460);
    expect(conn.pmtu!.retransmits).toBeGreaterThanOrEqual(2);

    const blocked = byName('blocked.test');
    expect(blocked).toMatchObject({ server: '127.0.0.14:443', phase: 'tcp', outcome: 'unreachable', cause: 'admin-prohibited' });
    expect(r.icmp.byName).toMatchObject({ 'admin-prohibited': 1 });

    expect(rows).toHaveLength(5);
    expect(r.attempts.lookups).toMatchObject({ total: 5, ledToConnection: 5, withoutConnection: 0 });
    expect(r.attempts.summary).toMatch(/^DNS p99 1\.\d s; of 5 attempts 60% connected, 20% ok, /);
  }, 60_000);
});
