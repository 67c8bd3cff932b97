// Issue 18 from exact bytes: ICMP errors matched to the flow they quote, attempts joined to
// their DNS answer, PMTU black holes, STARTTLS. Every expectation is written from the packets.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  F,
  clientHello,
  conversation,
  dnsQuery,
  dnsResponse,
  icmpError,
  ipPacket,
  serverHello,
  sortByTime,
  tcpSegment,
  udpDatagram,
  writePcap,
  type Endpoints,
} from '../../fixtures/pcap/build.js';
import { ATTEMPT_SCENARIOS } from '../../fixtures/pcap/attempts.js';
import { analyzeCapture, type PcapResult } from '../../src/capture/index.js';

const dir = mkdtempSync(join(tmpdir(), 'conndx-icmp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type P = { ts: number; ip: Buffer };
let n = 0;
async function analyze(pkts: P[], attempts = true): Promise<PcapResult> {
  const p = join(dir, `c${n++}.pcap`);
  writeFileSync(p, writePcap(sortByTime(pkts)));
  const r = await analyzeCapture(p, { flows: true, attempts });
  if (!r.ok) throw new Error(r.reason);
  return r.result;
}

const T0 = 1700000000;
const C = '10.0.0.1';
const S = '10.0.0.9';
const ROUTER = '10.0.0.254';

describe('ICMP errors matched to the flow they quote', () => {
  test('admin-prohibited answering a SYN: the attempt is unreachable with the code named', async () => {
    const c = conversation(C, S, 40000, 443).syn(T0);
    const syn = c.pkts[0]!.ip;
    const r = await analyze([...c.pkts, { ts: T0 + 0.002, ip: icmpError(ROUTER, syn, 3, 13) }]);
    expect(r.connections![0]).toMatchObject({ zeekState: 'S0', phase: 'tcp', outcome: 'unreachable', icmp: 'admin-prohibited' });
    expect(r.tcp.unreachable).toBe(1);
    expect(r.tcp.unanswered).toBe(0);
    expect(r.tcp.unreachableBy).toEqual({ 'admin-prohibited': 1 });
    expect(r.icmp).toMatchObject({ errors: 1, matchedTcp: 1, unmatched: 0, byName: { 'admin-prohibited': 1 } });
    expect(r.failures.tcp).toBe(1);
    expect(r.verdict.phase).toBe('tcp');
    expect(r.verdict.summary).toContain('100% unreachable (ICMP admin-prohibited 1)');
    expect(r.attempts.rows![0]).toMatchObject({ phase: 'tcp', outcome: 'unreachable', cause: 'admin-prohibited' });
  });

  test('each destination-unreachable code by name (IPv4), and time exceeded', async () => {
    const want: [number, number, string][] = [
      [3, 0, 'net-unreachable'],
      [3, 1, 'host-unreachable'],
      [3, 2, 'protocol-unreachable'],
      [3, 3, 'port-unreachable'],
      [3, 5, 'source-route-failed'],
      [3, 6, 'net-unknown'],
      [3, 7, 'host-unknown'],
      [3, 8, 'source-host-isolated'],
      [3, 9, 'net-prohibited'],
      [3, 10, 'host-prohibited'],
      [3, 11, 'net-tos-unreachable'],
      [3, 12, 'host-tos-unreachable'],
      [3, 13, 'admin-prohibited'],
      [3, 14, 'host-precedence-violation'],
      [3, 15, 'precedence-cutoff'],
      [11, 0, 'ttl-exceeded'],
    ];
    const pkts: P[] = [];
    want.forEach(([type, code], i) => {
      const c = conversation(C, S, 41000 + i, 443).syn(T0 + i);
      pkts.push(...c.pkts, { ts: T0 + i + 0.001, ip: icmpError(ROUTER, c.pkts[0]!.ip, type, code) });
    });
    const r = await analyze(pkts);
    expect(r.connections!.map((k) => [k.outcome, k.icmp])).toEqual(want.map(([, , name]) => ['unreachable', name]));
    expect(r.tcp.unreachable).toBe(want.length);
  });

  test('ICMPv6: administratively prohibited, address and port unreachable, by name', async () => {
    const want: [number, string][] = [
      [1, 'admin-prohibited'],
      [3, 'address-unreachable'],
      [4, 'port-unreachable'],
      [0, 'no-route'],
    ];
    const pkts: P[] = [];
    want.forEach(([code], i) => {
      const c = conversation('2001:db8::1', '2001:db8::9', 42000 + i, 443).syn(T0 + i);
      pkts.push(...c.pkts, { ts: T0 + i + 0.001, ip: icmpError('2001:db8::fe', c.pkts[0]!.ip, 1, code) });
    });
    const r = await analyze(pkts);
    expect(r.connections!.map((k) => [k.client, k.outcome, k.icmp])).toEqual(
      want.map(([, name], i) => [`[2001:db8::1]:${42000 + i}`, 'unreachable', name]),
    );
    expect(r.icmp.matchedTcp).toBe(4);
  });

  test('fragmentation needed carries its MTU to the flow, which is then not a black hole', async () => {
    const c = conversation(C, S, 40100, 443)
      .syn(T0)
      .synAck(T0 + 0.01)
      .ack(T0 + 0.011);
    const big = tcpSegment({ src: C, dst: S, sport: 40100, dport: 443 }, 1001, 5001, F.ACK, Buffer.alloc(1460, 1));
    const r = await analyze([
      ...c.pkts,
      { ts: T0 + 0.02, ip: big },
      { ts: T0 + 0.021, ip: icmpError(ROUTER, big, 3, 4, 1400) },
      { ts: T0 + 0.3, ip: big },
      { ts: T0 + 0.9, ip: big },
    ]);
    expect(r.connections![0]).toMatchObject({ icmpMtu: 1400, pmtu: null, icmp: null });
    expect(r.icmp.mtus).toEqual({ '1400': 1 });
    expect(r.icmp.byName).toEqual({ 'fragmentation-needed': 1 });
  });

  test('IPv6 packet too big: the MTU is the 32-bit field', async () => {
    const c = conversation('2001:db8::1', '2001:db8::9', 40101, 443)
      .syn(T0)
      .synAck(T0 + 0.01)
      .ack(T0 + 0.011);
    const big = tcpSegment({ src: '2001:db8::9', dst: '2001:db8::1', sport: 443, dport: 40101 }, 5001, 1001, F.ACK, Buffer.alloc(1440, 1));
    const r = await analyze([...c.pkts, { ts: T0 + 0.02, ip: big }, { ts: T0 + 0.021, ip: icmpError('2001:db8::fe', big, 2, 0, 1280) }]);
    expect(r.connections![0]!.icmpMtu).toBe(1280);
    expect(r.icmp.byName).toEqual({ 'packet-too-big': 1 });
  });

  test('an error quoting a flow never seen, a UDP datagram, echo, and a cut-short ICMP', async () => {
    const ghost = tcpSegment({ src: C, dst: '10.9.9.9', sport: 1, dport: 2 }, 7, 0, F.SYN);
    const udp = udpDatagram({ src: C, dst: '10.0.0.53', sport: 5000, dport: 53 }, dnsQuery(1, 'a.test'));
    const echo = ipPacket({ src: ROUTER, dst: C, sport: 0, dport: 0 }, 1, Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]));
    const cut = ipPacket({ src: ROUTER, dst: C, sport: 0, dport: 0 }, 1, Buffer.from([3, 1, 0]));
    const r = await analyze([
      { ts: T0, ip: icmpError(ROUTER, ghost, 3, 1) },
      { ts: T0 + 1, ip: icmpError(ROUTER, udp, 3, 3) },
      { ts: T0 + 2, ip: echo },
      { ts: T0 + 3, ip: cut },
    ]);
    expect(r.icmp).toMatchObject({ errors: 2, matchedTcp: 0, udp: 1, unmatched: 1 });
    expect(r.skipped.reasons).toEqual({ truncated_icmp: 1 });
    expect(r.tcp.connections).toBe(0);
  });
});

/** A resolver exchange: query at `qts`, answer (A 10.0.0.9, from the builder) at `ats`, or none. */
function lookup(client: string, id: number, name: string, qts: number, ats: number | null, rcode = 0): P[] {
  const q: Endpoints = { src: client, dst: '10.0.0.53', sport: 30000 + id, dport: 53 };
  const a: Endpoints = { src: '10.0.0.53', dst: client, sport: 53, dport: 30000 + id };
  const out: P[] = [{ ts: qts, ip: udpDatagram(q, dnsQuery(id, name)) }];
  if (ats !== null) out.push({ ts: ats, ip: udpDatagram(a, dnsResponse(id, name, rcode)) });
  return out;
}

test('a DNS query answered by ICMP port unreachable (the whole query quoted): its lookup says so', async () => {
  const q = udpDatagram({ src: C, dst: '10.0.0.53', sport: 5000, dport: 53 }, dnsQuery(7, 'down.test'));
  const r = await analyze([
    { ts: T0, ip: q },
    { ts: T0 + 0.001, ip: icmpError('10.0.0.53', q, 3, 3, 0, true) },
  ]);
  expect(r.icmp).toMatchObject({ errors: 1, udp: 1, matchedDns: 1 });
  expect(r.dns.unanswered).toBe(1);
  expect(r.attempts.lookups.withoutConnectionBy).toEqual({ 'icmp:port-unreachable': 1 });
  expect(r.attempts.summary).toBe('no TCP connection attempts; 1 lookup led to no connection (1 icmp:port-unreachable).');
});

describe('attempts: each connection joined to the DNS answer that gave its address', () => {
  test('slow lookup, retransmitted SYNs, TLS reset: one row with every fact; lookups without a connection apart', async () => {
    const pkts: P[] = [];
    // api.test answered after 4.2 s; three SYNs (4.3, 5.3, 7.3), SYN-ACK 7.31, ClientHello, reset by the server.
    pkts.push(...lookup(C, 1, 'api.test', T0, T0 + 4.2));
    const a = conversation(C, S, 40200, 443)
      .syn(T0 + 4.3)
      .syn(T0 + 5.3)
      .syn(T0 + 7.3)
      .synAck(T0 + 7.31)
      .ack(T0 + 7.311);
    a.clientData(T0 + 7.312, clientHello('api.test')).rstFromServer(T0 + 7.4);
    pkts.push(...a.pkts);
    // nope.test: NXDOMAIN; lost.test: never answered; neither led to a connection.
    pkts.push(...lookup(C, 2, 'nope.test', T0 + 1, T0 + 1.01, 3));
    pkts.push(...lookup(C, 3, 'lost.test', T0 + 2, null));
    // A connection with no lookup seen (to an address no answer gave).
    pkts.push(
      ...conversation(C, '10.0.0.7', 40201, 80)
        .syn(T0 + 8)
        .synAck(T0 + 8.01)
        .ack(T0 + 8.011)
        .clientFin(T0 + 8.1)
        .serverFin(T0 + 8.11).pkts,
    );
    const r = await analyze(pkts);
    const rows = r.attempts.rows!;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      client: `${C}:40200`,
      server: `${S}:443`,
      name: 'api.test',
      lookupMs: 4200,
      rcode: 'NOERROR',
      connectMs: 3010,
      synRetransmits: 2,
      tls: { outcome: 'reset', version: null, sni: 'api.test', starttls: null },
      appBytes: { sent: clientHello('api.test').length, received: 0 },
      phase: 'tls',
      outcome: 'reset',
    });
    expect(rows[1]).toMatchObject({ server: '10.0.0.7:80', name: null, lookupMs: null, phase: 'ok', outcome: 'ok', tls: null });
    expect(r.attempts).toMatchObject({
      attempts: 2,
      withLookup: 1,
      connected: 2,
      ok: 1,
      lookups: { total: 3, ledToConnection: 1, withoutConnection: 2, withoutConnectionBy: { NXDOMAIN: 1, unanswered: 1 } },
    });
    expect(r.attempts.lookupMs!.max).toBe(4200);
    expect(r.attempts.summary).toBe(
      'DNS p99 4.2 s; of 2 attempts 100% connected, 50% ok, 50% tls reset, 1 with no DNS answer seen; 2 lookups led to no connection (1 NXDOMAIN, 1 unanswered).',
    );
  });

  test('the latest answer before the SYN, same client, within the window', async () => {
    const pkts: P[] = [];
    pkts.push(...lookup(C, 1, 'first.test', T0, T0 + 0.01));
    pkts.push(...lookup(C, 2, 'second.test', T0 + 10, T0 + 10.01));
    // 9.9: before second.test's answer → first.test. 10.5: second.test. 75: past the 60 s window → none.
    pkts.push(
      ...conversation(C, S, 40300, 443)
        .syn(T0 + 9.9)
        .rstFromServer(T0 + 9.901, false).pkts,
    );
    pkts.push(
      ...conversation(C, S, 40301, 443)
        .syn(T0 + 10.5)
        .rstFromServer(T0 + 10.501, false).pkts,
    );
    pkts.push(
      ...conversation(C, S, 40302, 443)
        .syn(T0 + 75)
        .rstFromServer(T0 + 75.001, false).pkts,
    );
    // Another client never asked: not joined to this client's answers.
    pkts.push(
      ...conversation('10.0.0.2', S, 40303, 443)
        .syn(T0 + 10.6)
        .rstFromServer(T0 + 10.601, false).pkts,
    );
    const r = await analyze(pkts);
    expect(r.attempts.rows!.map((x) => [x.client, x.name, x.outcome])).toEqual([
      [`${C}:40300`, 'first.test', 'refused'],
      [`${C}:40301`, 'second.test', 'refused'],
      ['10.0.0.2:40303', null, 'refused'],
      [`${C}:40302`, null, 'refused'],
    ]);
    expect(r.attempts.lookups).toMatchObject({ total: 2, ledToConnection: 2, withoutConnection: 0 });
  });

  test('without --attempts the summary is made but no rows are kept', async () => {
    const r = await analyze([...lookup(C, 1, 'x.test', T0, T0 + 0.5), ...conversation(C, S, 40400, 443).syn(T0 + 1).pkts], false);
    expect(r.attempts.rows).toBeUndefined();
    expect(r.attempts).toMatchObject({ attempts: 1, withLookup: 1, connected: 0 });
    expect(r.attempts.summary).toMatch(/^DNS p99 500 ms; of 1 attempt 0% connected, 0% ok, 100% tcp timeout\.$/);
  });
});

describe('PMTU black hole', () => {
  /** Handshake, a small ClientHello the server acknowledges, then one full-size server segment sent `tx` times. */
  function blackhole(port: number, tx: number, icmpMtu = 0): P[] {
    const ce: Endpoints = { src: C, dst: S, sport: port, dport: 443 };
    const se: Endpoints = { src: S, dst: C, sport: 443, dport: port };
    const c = conversation(C, S, port, 443)
      .syn(T0)
      .synAck(T0 + 0.01)
      .ack(T0 + 0.011);
    const hello = clientHello('big.test');
    const out: P[] = [...c.pkts, { ts: T0 + 0.012, ip: tcpSegment(ce, 1001, 5001, F.ACK | F.PSH, hello) }];
    out.push({ ts: T0 + 0.013, ip: tcpSegment(se, 5001, 1001 + hello.length, F.ACK) });
    const flight = Buffer.concat([serverHello(0x0303), Buffer.alloc(1448 - serverHello(0x0303).length, 0x16)]);
    const big = tcpSegment(se, 5001, 1001 + hello.length, F.ACK, flight);
    for (let i = 0; i < tx; i++) out.push({ ts: T0 + 0.014 + 0.2 * (2 ** i - 1), ip: big });
    if (icmpMtu) out.push({ ts: T0 + 0.015, ip: icmpError(ROUTER, big, 3, 4, icmpMtu) });
    out.push({ ts: T0 + 4, ip: tcpSegment(ce, 1001 + hello.length, 5001, F.RST | F.ACK) });
    return out;
  }

  test('small segments acknowledged, the full-size one sent four times unacknowledged: suspected, with the sizes', async () => {
    const r = await analyze(blackhole(40500, 4));
    const k = r.connections![0]!;
    expect(k).toMatchObject({ phase: 'tls', outcome: 'pmtu-blackhole-suspected' });
    expect(k.pmtu).toEqual({ sender: 'server', lostSegmentBytes: 1448, retransmits: 3, largestAckedBytes: clientHello('big.test').length });
    expect(k.cause).toBe(
      `a 1448-byte segment from the server retransmitted 3 times, never acknowledged; acknowledged segments up to ${clientHello('big.test').length} bytes`,
    );
    expect(r.tcp.pmtuBlackholeSuspected).toBe(1);
    expect(r.tls.outcomes).toEqual({ 'pmtu-blackhole-suspected': 1 });
    expect(r.verdict.summary).toContain('PMTU black hole suspected');
    expect(r.attempts.rows![0]).toMatchObject({ phase: 'tls', outcome: 'pmtu-blackhole-suspected' });
  });

  test('not suspected: one retransmission only, or an ICMP fragmentation-needed was seen, or the big segment was acknowledged', async () => {
    const once = await analyze(blackhole(40501, 2));
    expect(once.connections![0]!.pmtu).toBeNull();
    expect(once.connections![0]!.outcome).not.toBe('pmtu-blackhole-suspected');
    const told = await analyze(blackhole(40502, 4, 1400));
    expect(told.connections![0]).toMatchObject({ pmtu: null, icmpMtu: 1400 });
    // The same, but the client acknowledges the third copy: plain loss.
    const pk = blackhole(40503, 3);
    const ack = tcpSegment({ src: C, dst: S, sport: 40503, dport: 443 }, 1001 + clientHello('big.test').length, 5001 + 1448, F.ACK);
    const lossy = await analyze([...pk, { ts: T0 + 0.9, ip: ack }]);
    expect(lossy.connections![0]!.pmtu).toBeNull();
  });
});

describe('STARTTLS: the ClientHello after a plaintext upgrade', () => {
  test('SMTP STARTTLS then a reset handshake: reported under the starttls phase', async () => {
    const c = conversation(C, S, 40600, 25)
      .syn(T0)
      .synAck(T0 + 0.01)
      .ack(T0 + 0.011);
    c.serverData(T0 + 0.02, Buffer.from('220 mail.test ESMTP\r\n'))
      .clientData(T0 + 0.03, Buffer.from('EHLO client.test\r\n'))
      .serverData(T0 + 0.04, Buffer.from('250-mail.test\r\n250 STARTTLS\r\n'))
      .clientData(T0 + 0.05, Buffer.from('STARTTLS\r\n'))
      .serverData(T0 + 0.06, Buffer.from('220 2.0.0 Ready to start TLS\r\n'))
      .clientData(T0 + 0.07, clientHello('mail.test'))
      .rstFromServer(T0 + 0.08);
    const r = await analyze(c.pkts);
    expect(r.connections![0]).toMatchObject({ phase: 'tls', outcome: 'reset', starttls: 'smtp', sni: 'mail.test' });
    expect(r.attempts.rows![0]).toMatchObject({ phase: 'starttls', outcome: 'reset', tls: { outcome: 'reset', starttls: 'smtp' } });
    expect(r.attempts.byPhase).toEqual({ starttls: 1 });
  });

  test('PostgreSQL SSLRequest, S, then a ClientHello and a ServerHello', async () => {
    const c = conversation(C, S, 40601, 5432)
      .syn(T0)
      .synAck(T0 + 0.01)
      .ack(T0 + 0.011);
    const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    c.clientData(T0 + 0.02, sslRequest)
      .serverData(T0 + 0.03, Buffer.from('S'))
      .clientData(T0 + 0.04, clientHello('db.test', [0x0304]))
      .serverData(T0 + 0.05, serverHello(0x0304))
      .clientFin(T0 + 0.1)
      .serverFin(T0 + 0.11);
    const r = await analyze(c.pkts);
    expect(r.connections![0]).toMatchObject({ starttls: 'postgres', sni: 'db.test', tlsVersion: 'TLSv1.3' });
    expect(r.attempts.rows![0]!.tls).toMatchObject({ starttls: 'postgres', version: 'TLSv1.3' });
  });

  test('a ClientHello as the first bytes is not STARTTLS', async () => {
    const c = conversation(C, S, 40602, 443)
      .syn(T0)
      .synAck(T0 + 0.01)
      .ack(T0 + 0.011)
      .clientData(T0 + 0.02, clientHello('w.test'));
    const r = await analyze(c.pkts);
    expect(r.connections![0]!.starttls).toBeNull();
  });
});

describe('STARTTLS names', () => {
  test('IRC STARTTLS (not a mail port), FTP AUTH TLS, POP3 STLS, and other plaintext first', async () => {
    const cases: [number, string, string][] = [
      [6667, 'STARTTLS\r\n', 'starttls'],
      [21, 'AUTH TLS\r\n', 'ftp'],
      [110, 'STLS\r\n', 'pop3'],
      [143, 'a1 STARTTLS\r\n', 'imap'],
      [8080, 'CONNECT x.test:443 HTTP/1.1\r\n\r\n', 'plaintext'],
    ];
    const pkts: P[] = [];
    cases.forEach(([port, cmd], i) => {
      const c = conversation(C, S, 40700 + i, port)
        .syn(T0 + i)
        .synAck(T0 + i + 0.01)
        .ack(T0 + i + 0.011);
      c.clientData(T0 + i + 0.02, Buffer.from(cmd))
        .serverData(T0 + i + 0.03, Buffer.from('ok\r\n'))
        .clientData(T0 + i + 0.04, clientHello('x.test'));
      pkts.push(...c.pkts);
    });
    const r = await analyze(pkts);
    expect(r.connections!.map((k) => k.starttls)).toEqual(cases.map(([, , name]) => name));
  });
});

describe('the attempt join bounds its memory', () => {
  test('past maxJoinable client/address pairs the oldest is let go; the window forgets old answers', async () => {
    const { createAttemptJoin } = await import('../../src/capture/attempts.js');
    const j = createAttemptJoin({ maxJoinable: 3, windowS: 60 });
    for (let i = 0; i < 5; i++)
      j.lookup({
        client: C,
        name: `n${i}.test`,
        qtype: 1,
        queryTs: T0 + i,
        answerTs: T0 + i + 0.1,
        rcode: 'NOERROR',
        addrs: [`10.1.0.${i}`],
        used: false,
      });
    // The two oldest pairs were dropped: their answers can no longer be joined.
    expect(j.join(C, '10.1.0.0', T0 + 10)).toBeNull();
    expect(j.join(C, '10.1.0.1', T0 + 10)).toBeNull();
    expect(j.join(C, '10.1.0.4', T0 + 10)!.name).toBe('n4.test');
    // 200 s later nothing is joinable, and every lookup is settled.
    j.sweep(T0 + 200);
    expect(j.join(C, '10.1.0.3', T0 + 200)).toBeNull();
    const s = j.finish(null);
    expect(s.lookups).toEqual({ total: 5, ledToConnection: 1, withoutConnection: 4, withoutConnectionBy: { 'not-used': 4 } });
  });
});

describe('the committed issue-18 fixtures (fixtures/pcap/{icmp,attempts,pmtu,starttls})', () => {
  function at(obj: unknown, path: string): unknown {
    // Keys may contain dots or dashes: match the longest key first.
    let cur: unknown = obj;
    let rest = path;
    while (rest) {
      const o = cur as Record<string, unknown>;
      const key = Object.keys(o ?? {})
        .filter((k) => rest === k || rest.startsWith(`${k}.`))
        .sort((a, b) => b.length - a.length)[0];
      if (key === undefined) return undefined;
      cur = o[key];
      rest = rest.slice(key.length + 1);
    }
    return cur;
  }
  for (const s of ATTEMPT_SCENARIOS) {
    test(`${s.dir}/${s.name}`, async () => {
      const r = await analyze(s.pkts);
      expect(r.attempts.rows!).toHaveLength(s.rows.length);
      s.rows.forEach((want, i) => expect(r.attempts.rows![i]).toMatchObject(want));
      for (const [path, value] of Object.entries(s.summary)) expect(at(r, path), path).toEqual(value);
    });
  }
});
