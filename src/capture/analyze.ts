/**
 * The analysis: reader → link → ip → tcp/udp → flows, TLS and DNS → one
 * result object (the contract's "capture analysis"). Memory is bounded by
 * the live connections and pending DNS queries; the per-connection list is
 * kept only when `flows` is asked for, and then at most MAX_ROWS rows.
 */
import { createHistogram, type Histogram } from '../core/histogram.js';
import { classifyConnection, type Phase, type ZeekState } from './classify.js';
import { decodeDns, looksLikeDns, rcodeName, type DnsMessage } from './dns.js';
import type { PacketFilter, PacketView } from './filter.js';
import { createFlowTable, MAX_LIVE_FLOWS, origAddr, respAddr, type Conn, type FinishedConn, type FlowId } from './flows.js';
import { createByteStream, feedStream, type ByteStream } from './stream.js';
import { decodeIpv4, decodeIpv6, formatIpv4, formatIpv6, type IpPacket } from './ip.js';
import { decodeLink, isSupportedLinkType, LINK_NAMES, type LinkLayer } from './link.js';
import { readCaptureFile, type CaptureFormat, type ReaderStats } from './reader.js';
import { decodeTcp, type TcpSegment } from './tcp.js';
import { alertName, tlsVersionName } from './tls.js';
import { decodeUdp, type UdpDatagram } from './udp.js';
import { createAttemptJoin, type AttemptPhase, type AttemptsSummary, type Lookup, type QueryRow } from './attempts.js';
import { QTYPE_NAMES } from '../core/dns.js';
import { answerAddresses } from './dns-answers.js';
import { decodeIcmpError } from './icmp.js';
import { createRowKeeper, MAX_ROWS, rowsWarning, type RowKeeper } from './rows.js';

export interface Pcts {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ConnectionRecord {
  client: string;
  server: string;
  start: number;
  zeekState: ZeekState;
  history: string;
  phase: Phase;
  outcome: string;
  synRetransmits: number;
  rttMs: number | null;
  sni: string | null;
  tlsVersion: string | null;
  alert: string | null;
  resetBy: 'client' | 'server' | null;
  /** The ICMP unreachable / time-exceeded that quoted this connection (e.g. `admin-prohibited`). */
  icmp: string | null;
  /** MTU of an ICMP fragmentation-needed / packet-too-big that quoted it. */
  icmpMtu: number | null;
  /** Set when a PMTU black hole is suspected: who sent the lost segment and the sizes (TCP payload bytes). */
  pmtu: PmtuSuspicion | null;
  /** The ClientHello followed a plaintext upgrade: `smtp`, `starttls`, `imap`, `pop3`, `ftp`, `postgres` or `plaintext`. */
  starttls: string | null;
  /** What named the outcome beyond its name (the ICMP code, the PMTU sizes), or null. */
  cause: string | null;
}

export interface PmtuSuspicion {
  sender: 'client' | 'server';
  lostSegmentBytes: number;
  retransmits: number;
  largestAckedBytes: number;
}

export interface PcapResult {
  file: string;
  format: CaptureFormat;
  packets: number;
  durationS: number;
  firstPacketAt: number | null;
  skipped: { records: number; bytes: number; reasons: Record<string, number> };
  linkTypes: string[];
  ip: { ipv4: number; ipv6: number; fragments: number; nonIp: number; filteredOut: number };
  tcp: {
    connections: number;
    established: number;
    handshakeSuccessRate: number | null;
    synRetransmitted: number;
    refused: number;
    unanswered: number;
    /** Attempts answered by an ICMP error, by its name. */
    unreachable: number;
    unreachableBy: Record<string, number>;
    pmtuBlackholeSuspected: number;
    resets: number;
    resetsBy: { client: number; server: number };
    resetsInPhase: { tcp: number; tls: number; app: number };
    /** Resets the client sent after its own FIN: it ended its own connection (Zeek: SF), no failure. */
    resetsAfterClientClose: number;
    /** Attempts reset after the TCP handshake before either side sent any payload (phase app, as `conndx tcp` says). */
    resetsBeforeData: number;
    /** Attempts the server closed (FIN) after the TCP handshake before any payload (phase app, outcome closed). */
    closedBeforeData: number;
    midstream: number;
    records: number;
    states: Record<string, number>;
    handshakeRttMs: Pcts | null;
    connectMs: Pcts | null;
  };
  tls: {
    handshakes: number;
    completed: number;
    failed: number;
    failureRate: number | null;
    stalled: number;
    reset: number;
    closed: number;
    timeout: number;
    versions: Record<string, number>;
    offeredVersions: Record<string, number>;
    alerts: Record<string, number>;
    helloRetryRequests: number;
    outcomes: Record<string, number>;
  };
  dns: {
    queries: number;
    answered: number;
    unanswered: number;
    retransmitted: number;
    unmatchedResponses: number;
    truncated: number;
    tcp: number;
    malformed: number;
    rcodes: Record<string, number>;
    latencyMs: Pcts | null;
  };
  icmp: {
    /** ICMP / ICMPv6 errors read (unreachable, time exceeded, too big), by name. */
    errors: number;
    byName: Record<string, number>;
    /** Errors quoting a TCP flow the capture holds, a UDP datagram, or nothing known. */
    matchedTcp: number;
    udp: number;
    /** Of `udp`: errors quoting a DNS query still unanswered (its lookup is then `icmp:<name>`). */
    matchedDns: number;
    unmatched: number;
    /** MTUs named by fragmentation-needed / packet-too-big, with counts. */
    mtus: Record<string, number>;
  };
  attempts: AttemptsSummary;
  failures: { dns: number; tcp: number; tls: number; app: number };
  verdict: { phase: Phase | 'dns'; summary: string };
  warnings: string[];
  connections?: ConnectionRecord[];
  /** With `connections`: records left out of the list (only the first MAX_ROWS by start are listed). */
  connectionsOmitted?: number;
}

export interface AnalyzeOptions {
  flows?: boolean;
  /** Keep one row per attempt (`attempts.rows`); the attempts summary is always made. */
  attempts?: boolean;
  filter?: PacketFilter;
  /** Extra ports whose UDP/TCP payload is read as DNS (53, 5353 and 5355 always are). */
  dnsPorts?: number[];
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  signal?: AbortSignal;
  chunkSize?: number;
  /** Most rows `connections` and `attempts.rows` list (default MAX_ROWS); the counts cover all. */
  maxRows?: number;
}

export type AnalyzeOutcome = { ok: true; result: PcapResult } | { ok: false; reason: string };

const DEFAULT_DNS_PORTS = [53, 5353, 5355];
/** A query with no answer this long after it is unanswered (and forgotten, to bound memory). */
const DNS_ANSWER_WINDOW_S = 30;
/**
 * Sweep timers every this many seconds of capture time. Expiry is also checked whenever a
 * record sees a packet, so this only bounds memory; it changes no record.
 */
const SWEEP_EVERY_S = 10;
/** An unanswered attempt's later records are joined to it for this long (same ISN). */
const ATTEMPT_HOLD_S = 120;

function pcts(h: Histogram): Pcts | null {
  if (h.count() === 0) return null;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const s = h.stats()!;
  return { p50: r(s.p50), p90: r(s.p90), p99: r(s.p99), max: r(s.max) };
}

function inc(m: Record<string, number>, k: string, by = 1): void {
  m[k] = (m[k] ?? 0) + by;
}

/** A `half` key back to text: `10.0.0.1:53`, `[2001:db8::1]:53`. */
function halfText(h: string): string {
  const w = [...h].map((c) => c.charCodeAt(0));
  const port = w.pop()!;
  if (w.length === 2) return `${w[0]! >> 8}.${w[0]! & 255}.${w[1]! >> 8}.${w[1]! & 255}:${port}`;
  const b = Buffer.alloc(16);
  w.forEach((x, i) => b.writeUInt16BE(x, 2 * i));
  return `[${formatIpv6(b, 0)}]:${port}`;
}

function half(buf: Buffer, off: number, v6: boolean, port: number): string {
  if (!v6) return String.fromCharCode(buf.readUInt16BE(off), buf.readUInt16BE(off + 2), port);
  return String.fromCharCode(
    buf.readUInt16BE(off),
    buf.readUInt16BE(off + 2),
    buf.readUInt16BE(off + 4),
    buf.readUInt16BE(off + 6),
    buf.readUInt16BE(off + 8),
    buf.readUInt16BE(off + 10),
    buf.readUInt16BE(off + 12),
    buf.readUInt16BE(off + 14),
    port,
  );
}

function endpointText(addr: string, port: number, v6: boolean): string {
  return v6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Smallest lost segment that can mean a path MTU problem (below any IPv4 path's 576-byte minimum it cannot). */
const PMTU_MIN_LOST_BYTES = 512;

/**
 * A PMTU black hole, suspected: one side sent a segment again at least twice and it was never
 * acknowledged, while every acknowledged segment (either way) was smaller, and no ICMP
 * fragmentation-needed / packet-too-big quoted the flow.
 */
export function pmtuOf(c: Conn): PmtuSuspicion | null {
  if (c.icmpMtu >= 0) return null;
  if (c.orig.pmRtxLen === 0 && c.resp.pmRtxLen === 0) return null;
  const acked = Math.max(c.orig.pmAcked, c.resp.pmAcked);
  if (acked === 0) return null;
  for (const [ep, sender] of [
    [c.resp, 'server'],
    [c.orig, 'client'],
  ] as const) {
    if (ep.pmRtxLen >= PMTU_MIN_LOST_BYTES && ep.pmRtxCount >= 2 && ep.pmRtxLen > acked)
      return { sender, lostSegmentBytes: ep.pmRtxLen, retransmits: ep.pmRtxCount, largestAckedBytes: acked };
  }
  return null;
}

function pmtuWords(p: PmtuSuspicion): string {
  return `a ${p.lostSegmentBytes}-byte segment from the ${p.sender} retransmitted ${p.retransmits} times, never acknowledged; acknowledged segments up to ${p.largestAckedBytes} bytes`;
}

interface PendingQuery {
  ts: number;
  client: string;
  name: string;
  qtype: number;
  /** With --attempts: the query's row, completed by its answer. */
  row?: QueryRow;
  /** An ICMP unreachable quoting the query (the resolver's port closed, or no route to it). */
  icmp?: string;
}

interface Attempt {
  first: Conn;
  syns: number;
  last: FinishedConn;
  heldAt: number;
}

export interface Analyzer {
  packet(linkType: number, ts: number, buf: Buffer, off: number, end: number, origLen: number): void;
  finish(file: string, reader: ReaderStats): PcapResult;
  /** So far, without ending anything (`--follow`): attempts already over, and the connections still open. */
  progress(): AnalyzerProgress;
}

export interface AnalyzerProgress {
  packets: number;
  durationS: number;
  open: number;
  tcp: { connections: number; established: number; unreachable: number };
  dns: { queries: number; answered: number };
  failures: PcapResult['failures'];
  verdict: PcapResult['verdict'];
}

/** The analysis as a packet sink, usable with any reader (tests feed it chunk by chunk). */
export function createAnalyzer(opts: AnalyzeOptions = {}): Analyzer {
  // A byte per port: checked twice per packet, cheaper than a Set.
  const dnsPort = new Uint8Array(65536);
  for (const p of [...DEFAULT_DNS_PORTS, ...(opts.dnsPorts ?? [])]) if (p >= 0 && p < 65536) dnsPort[p] = 1;
  const filter = opts.filter;
  let packets = 0;
  let firstTs = Infinity;
  let lastTs = -Infinity;
  let nextSweep = -Infinity;
  const skippedReasons: Record<string, number> = {};
  let skippedRecords = 0;
  let skippedBytes = 0;
  const ipStats = { ipv4: 0, ipv6: 0, fragments: 0, nonIp: 0, filteredOut: 0 };
  const unsupportedLinks = new Set<number>();
  const warnings: string[] = [];

  const tcp: PcapResult['tcp'] = {
    connections: 0,
    established: 0,
    handshakeSuccessRate: null,
    synRetransmitted: 0,
    refused: 0,
    unanswered: 0,
    unreachable: 0,
    unreachableBy: {},
    pmtuBlackholeSuspected: 0,
    resets: 0,
    resetsBy: { client: 0, server: 0 },
    resetsInPhase: { tcp: 0, tls: 0, app: 0 },
    resetsAfterClientClose: 0,
    resetsBeforeData: 0,
    closedBeforeData: 0,
    midstream: 0,
    records: 0,
    states: {},
    handshakeRttMs: null,
    connectMs: null,
  };
  const tls: PcapResult['tls'] = {
    handshakes: 0,
    completed: 0,
    failed: 0,
    failureRate: null,
    stalled: 0,
    reset: 0,
    closed: 0,
    timeout: 0,
    versions: {},
    offeredVersions: {},
    alerts: {},
    helloRetryRequests: 0,
    outcomes: {},
  };
  const dns: PcapResult['dns'] = {
    queries: 0,
    answered: 0,
    unanswered: 0,
    retransmitted: 0,
    unmatchedResponses: 0,
    truncated: 0,
    tcp: 0,
    malformed: 0,
    rcodes: {},
    latencyMs: null,
  };
  const icmp: PcapResult['icmp'] = { errors: 0, byName: {}, matchedTcp: 0, udp: 0, matchedDns: 0, unmatched: 0, mtus: {} };
  const keepRows = opts.attempts === true;
  const join = createAttemptJoin({ keepRows, maxRows: opts.maxRows });
  const queryRows: QueryRow[] | null = keepRows ? [] : null;
  let queriesOmitted = 0;
  /** The DNS answer each attempt's first record was joined to at its first SYN. */
  const lookupOf = new WeakMap<Conn, Lookup>();
  const failures = { dns: 0, tcp: 0, tls: 0, app: 0 };
  const rttHist = createHistogram();
  const connectHist = createHistogram();
  const dnsHist = createHistogram();
  const connections: RowKeeper<ConnectionRecord> | undefined = opts.flows ? createRowKeeper(opts.maxRows ?? MAX_ROWS) : undefined;
  const held = new Map<string, Attempt>();
  const dnsPending = new Map<string, PendingQuery>();

  function skip(reason: string, bytes: number): void {
    skippedRecords++;
    skippedBytes += bytes;
    inc(skippedReasons, reason);
  }

  function record(f: FinishedConn): void {
    const c = f.conn;
    const facts = classify(f);
    tcp.records++;
    inc(tcp.states, f.zeekState);
    if (connections && !connections.wants(c.start)) connections.skip();
    else if (connections) {
      const t = c.tls;
      connections.push({
        client: endpointText(origAddr(c), c.origPort, c.v6),
        server: endpointText(respAddr(c), c.respPort, c.v6),
        start: c.start,
        zeekState: f.zeekState,
        history: c.history,
        phase: facts.phase,
        outcome: facts.outcome,
        synRetransmits: Math.max(0, c.origSyns - 1),
        rttMs: c.synAckTs >= 0 && c.lastSynTs >= 0 ? round3((c.synAckTs - c.lastSynTs) * 1000) : null,
        sni: t?.clientHello?.sni ?? null,
        tlsVersion: t?.serverHello ? tlsVersionName(t.serverHello.selected) : null,
        alert: t?.alert ? alertName(t.alert.desc) : null,
        resetBy: c.rstBy === 'orig' ? 'client' : c.rstBy === 'resp' ? 'server' : null,
        icmp: c.icmp,
        icmpMtu: c.icmpMtu >= 0 ? c.icmpMtu : null,
        pmtu: pmtuOf(c),
        starttls: c.starttls,
        cause: facts.cause ?? null,
      });
    }
    // Zeek splits a SYN unanswered for 5 s into records; the client's retries with the same
    // initial sequence number are still one attempt.
    const hold = f.endedBy === 'timer' && f.zeekState === 'S0' && c.origSyns > 0;
    if (!hold && held.size === 0) {
      countAttempt({ first: c, syns: c.origSyns, last: f, heldAt: c.lastTime });
      release(c);
      return;
    }
    const hk = typeof c.key === 'string' ? c.key : `${c.idX}:${c.idY}:${c.idPorts}`;
    const prev = held.get(hk);
    let attempt: Attempt = { first: c, syns: c.origSyns, last: f, heldAt: c.lastTime };
    if (prev) {
      held.delete(hk);
      if (c.firstSynSeq >= 0 && c.firstSynSeq === prev.first.firstSynSeq && c.origPort === prev.first.origPort) {
        attempt = { first: prev.first, syns: prev.syns + c.origSyns, last: f, heldAt: c.lastTime };
        if (prev.last.conn !== prev.first) release(prev.last.conn);
      } else {
        done(prev);
      }
    }
    if (hold) {
      held.set(hk, attempt);
      // Bounded as the flow table is: the oldest held attempt is counted now.
      if (held.size > MAX_LIVE_FLOWS) {
        const [k, a] = held.entries().next().value as [string, Attempt];
        held.delete(k);
        done(a);
      }
    } else done(attempt);
  }

  /** An attempt counted; its records' objects go back to the flow table. */
  function done(a: Attempt): void {
    countAttempt(a);
    release(a.first);
    if (a.last.conn !== a.first) release(a.last.conn);
  }

  function release(c: Conn): void {
    lookupOf.delete(c);
    dnsTcp.delete(c);
    table.release(c);
  }

  function classify(f: FinishedConn, icmpName: string | null = f.conn.icmp) {
    const c = f.conn;
    const t = c.tls;
    const pm = pmtuOf(c);
    const r = classifyConnection({
      zeekState: f.zeekState,
      attempt: c.origSyns > 0,
      synAcked: c.synAckTs >= 0,
      rstBy: c.rstBy === 'orig' ? 'client' : c.rstBy === 'resp' ? 'server' : null,
      finBy: c.finBy === 'orig' ? 'client' : c.finBy === 'resp' ? 'server' : null,
      clientBytes: c.orig.payload,
      serverBytes: c.resp.payload,
      tls: t
        ? {
            complete: t.complete,
            alert: t.alert ? alertName(t.alert.desc) : null,
            encryptedAlert: t.encryptedAlert,
            serverBytes: t.server.bytes,
            plaintext: t.plaintext,
          }
        : null,
      openAtEnd: f.endedBy === 'capture-end' && !c.orig.didClose && !c.resp.didClose,
      icmp: icmpName,
      pmtuBlackhole: pm !== null,
    });
    if (r.outcome === 'pmtu-blackhole-suspected' && pm) r.cause = pmtuWords(pm);
    return r;
  }

  function countAttempt(a: Attempt): void {
    const c = a.last.conn;
    const first = a.first;
    const icmpName = c.icmp ?? first.icmp;
    const { phase, outcome, cause } = classify(a.last, icmpName);
    if (outcome === 'pmtu-blackhole-suspected') tcp.pmtuBlackholeSuspected++;
    if (first.origSyns > 0) {
      const l = lookupOf.get(first) ?? null;
      const t = c.tls;
      const rowPhase = (phase === 'tls' && c.starttls ? 'starttls' : phase) as AttemptPhase;
      const connected = c.synAckTs >= 0 && c.synAckTs >= first.firstSynTs;
      // A row is built only when it is listed: the summary needs none (and 1,000,000 rows made only to be
      // counted would be garbage in the old generation: their allocation site is pretenured).
      if (!join.wantsRow(first.firstSynTs)) {
        join.count(rowPhase, outcome, cause ?? null, l !== null, connected, t !== null && t.complete);
      } else
        join.add({
          start: first.firstSynTs,
          client: endpointText(origAddr(first), first.origPort, first.v6),
          server: endpointText(respAddr(first), first.respPort, first.v6),
          name: l ? l.name : null,
          lookupMs: l ? round3(Math.max(0, l.answerTs - l.queryTs) * 1000) : null,
          rcode: l ? l.rcode : null,
          connectMs: connected ? round3((c.synAckTs - first.firstSynTs) * 1000) : null,
          synRetransmits: Math.max(0, a.syns - 1),
          tls: t
            ? {
                outcome: t.complete ? 'ok' : phase === 'tls' ? outcome : 'incomplete',
                version: t.serverHello ? tlsVersionName(t.serverHello.selected) : null,
                sni: t.clientHello?.sni ?? null,
                starttls: c.starttls,
              }
            : null,
          appBytes: { sent: c.orig.payload, received: c.resp.payload },
          phase: rowPhase,
          outcome,
          cause: cause ?? null,
        });
      tcp.connections++;
      if (c.synAckTs >= 0) {
        tcp.established++;
        if (c.lastSynTs >= 0) rttHist.record((c.synAckTs - c.lastSynTs) * 1000);
        if (c.synAckTs >= first.firstSynTs) connectHist.record((c.synAckTs - first.firstSynTs) * 1000);
      }
      if (a.syns > 1) tcp.synRetransmitted++;
      if (phase === 'tcp' && outcome === 'refused') tcp.refused++;
      if (phase === 'tcp' && outcome === 'timeout') tcp.unanswered++;
      if (phase === 'tcp' && outcome === 'unreachable') {
        tcp.unreachable++;
        inc(tcp.unreachableBy, cause ?? 'unknown');
      }
      if (phase === 'app' && outcome === 'closed') tcp.closedBeforeData++;
      if (phase === 'app' && outcome === 'reset' && !c.tls && c.orig.payload === 0 && c.resp.payload === 0) tcp.resetsBeforeData++;
    } else {
      tcp.midstream++;
    }
    // A RST to an unanswered SYN is a refusal (server) or the client giving up, not a reset.
    if (c.rstBy && (c.synAckTs >= 0 || first.origSyns === 0)) {
      tcp.resets++;
      if (c.rstBy === 'orig') tcp.resetsBy.client++;
      else tcp.resetsBy.server++;
      if (phase === 'ok') tcp.resetsAfterClientClose++;
      else tcp.resetsInPhase[phase]++;
    }
    const t = c.tls;
    if (t) {
      tls.handshakes++;
      if (t.complete) tls.completed++;
      if (phase === 'tls') {
        tls.failed++;
        inc(tls.outcomes, outcome);
        if (outcome === 'stalled') tls.stalled++;
        else if (outcome === 'reset') tls.reset++;
        else if (outcome === 'closed') tls.closed++;
        else if (outcome === 'timeout') tls.timeout++;
      }
      if (t.serverHello) inc(tls.versions, tlsVersionName(t.serverHello.selected));
      for (const v of t.clientHello?.offeredVersions ?? []) inc(tls.offeredVersions, tlsVersionName(v));
      if (t.alert) inc(tls.alerts, alertName(t.alert.desc));
      if (t.hrr) tls.helloRetryRequests++;
    }
    if (phase !== 'ok') failures[phase]++;
  }

  const table = createFlowTable({ onFinish: record });

  /**
   * One DNS message. `client` is the address of the host that asked (the query's source, the
   * response's destination); `addrs` gives a response's A/AAAA addresses when asked.
   */
  function dnsMessage(
    m: DnsMessage,
    ts: number,
    srcHalf: string,
    dstHalf: string,
    overTcp: boolean,
    client: string,
    addrs: () => string[],
  ): void {
    if (!m.qr) {
      const key = `${srcHalf}|${dstHalf}|${m.id}|${m.qname}|${m.qtype}`;
      if (dnsPending.has(key)) {
        dns.retransmitted++;
        return;
      }
      dns.queries++;
      if (overTcp) dns.tcp++;
      const pq: PendingQuery = { ts, client, name: m.qname ?? '.', qtype: m.qtype ?? 0 };
      if (queryRows && queryRows.length >= (opts.maxRows ?? MAX_ROWS)) queriesOmitted++;
      else if (queryRows) {
        pq.row = {
          start: ts,
          client: halfText(srcHalf),
          server: halfText(dstHalf),
          id: m.id,
          name: pq.name,
          qtype: QTYPE_NAMES[pq.qtype] ?? `TYPE${pq.qtype}`,
          transport: overTcp ? 'tcp' : 'udp',
          rcode: null,
          lookupMs: null,
        };
        queryRows.push(pq.row);
      }
      dnsPending.set(key, pq);
    } else {
      const key = `${dstHalf}|${srcHalf}|${m.id}|${m.qname}|${m.qtype}`;
      const q = dnsPending.get(key);
      if (q === undefined) {
        dns.unmatchedResponses++;
        return;
      }
      const qts = q.ts;
      dnsPending.delete(key);
      dns.answered++;
      if (m.tc) dns.truncated++;
      const name = rcodeName(m.rcode);
      if (q.row) {
        q.row.rcode = name;
        q.row.lookupMs = round3(Math.max(0, ts - qts) * 1000);
      }
      inc(dns.rcodes, name);
      if (name !== 'NOERROR' && name !== 'NXDOMAIN') failures.dns++;
      dnsHist.record(Math.max(0, ts - qts) * 1000);
      join.lookup({
        client: q.client,
        name: q.name,
        qtype: q.qtype,
        queryTs: qts,
        answerTs: ts,
        rcode: name,
        addrs: m.rcode === 0 && m.ancount > 0 ? addrs() : [],
        used: false,
      });
    }
  }

  function lookupUnanswered(q: PendingQuery): void {
    join.lookup({
      client: q.client,
      name: q.name,
      qtype: q.qtype,
      queryTs: q.ts,
      answerTs: -1,
      rcode: null,
      addrs: [],
      used: false,
      icmp: q.icmp,
    });
  }

  /**
   * DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each message has a 2-byte length. The byte stream
   * is reassembled per direction, so a message split over segments (or two in one) is read.
   */
  const dnsTcp = new WeakMap<Conn, { streams: [ByteStream, ByteStream]; acc: [Buffer[], Buffer[]]; len: [number, number] }>();
  function dnsOverTcp(conn: Conn, isOrig: boolean, ts: number, seg: TcpSegment, data: Buffer, srcHalf: string, dstHalf: string): void {
    let st = dnsTcp.get(conn);
    if (!st) {
      st = { streams: [createByteStream(), createByteStream()], acc: [[], []], len: [0, 0] };
      dnsTcp.set(conn, st);
    }
    const d = isOrig ? 0 : 1;
    const s = st;
    feedStream(s.streams[d], seg.seq, data.subarray(seg.off, seg.end), seg.len, (bytes) => {
      // The stream hands out views of the frame buffer, which is reused: keep copies.
      s.acc[d].push(Buffer.from(bytes));
      s.len[d] += bytes.length;
      for (;;) {
        if (s.len[d] < 2) return true;
        let all = s.acc[d].length === 1 ? s.acc[d][0]! : Buffer.concat(s.acc[d], s.len[d]);
        const need = 2 + all.readUInt16BE(0);
        if (all.length < need) {
          s.acc[d] = [all];
          return true;
        }
        const m = decodeDns(all, 2, need);
        const msg = all;
        if ('anomaly' in m) dns.malformed++;
        else dnsMessage(m, ts, srcHalf, dstHalf, true, origAddr(conn), () => answerAddresses(msg, 2, need));
        all = all.subarray(need);
        s.acc[d] = all.length ? [all] : [];
        s.len[d] = all.length;
      }
    });
  }

  function sweep(now: number): void {
    table.sweep(now);
    for (const [k, a] of held)
      if (now - a.heldAt > ATTEMPT_HOLD_S) {
        held.delete(k);
        done(a);
      }
    for (const [k, q] of dnsPending) {
      if (now - q.ts > DNS_ANSWER_WINDOW_S) {
        dnsPending.delete(k);
        dns.unanswered++;
        failures.dns++;
        lookupUnanswered(q);
      }
    }
    join.sweep(now);
  }

  const view: PacketView = { buf: Buffer.alloc(0), v6: false, srcOff: 0, dstOff: 0, proto: 0, srcPort: 0, dstPort: 0, ts: 0 };

  // The packet being handled, for the one closure that names a new record's endpoints.
  let curBuf: Buffer = Buffer.alloc(0);
  let curIp: IpPacket | null = null;
  const addrScratch = { srcAddr: '', dstAddr: '', v6: false };
  const newConnAddrs = () => {
    const ip = curIp!;
    const v6 = ip.version === 6;
    // IPv4: the flow key holds the addresses; their text is made only when a report needs it.
    addrScratch.srcAddr = v6 ? formatIpv6(curBuf, ip.srcOff) : '';
    addrScratch.dstAddr = v6 ? formatIpv6(curBuf, ip.dstOff) : '';
    addrScratch.v6 = v6;
    return addrScratch;
  };
  const codes: number[] = new Array(18).fill(0);
  // Reused per packet: nothing keeps a reference past the packet (records copy what they need).
  const linkScratch: LinkLayer = { net: 'ipv4', off: 0 };
  const ipScratch: IpPacket = { version: 4, proto: 0, srcOff: 0, dstOff: 0, off: 0, end: 0, wireLen: 0, fragment: false };
  const tcpScratch: TcpSegment = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, off: 0, end: 0, len: 0 };
  let keySrcFirst = false;

  const fid: FlowId = { key: 0, h: 0, x: 0, y: 0, ports: 0 };
  /**
   * The flow's identity, endpoints in a fixed order. IPv4: a 30-bit hash (a small integer,
   * the cheapest Map key) plus the exact tuple compared on lookup; IPv6: one flat string.
   */
  function flowKey(buf: Buffer, ip: IpPacket, sp: number, dp: number): FlowId {
    if (ip.version === 4) {
      const a = buf.readUInt32BE(ip.srcOff),
        b = buf.readUInt32BE(ip.dstOff);
      keySrcFirst = a < b || (a === b && sp <= dp);
      const x = keySrcFirst ? a : b,
        y = keySrcFirst ? b : a;
      const ports = keySrcFirst ? sp * 65536 + dp : dp * 65536 + sp;
      let h = Math.imul(x ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(y + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(ports | 0, 0x27d4eb2f);
      h = (h ^ (h >>> 15)) & 0x3fffffff;
      fid.key = h;
      fid.h = h;
      fid.x = x;
      fid.y = y;
      fid.ports = ports;
      return fid;
    }
    const cmp = buf.compare(buf, ip.dstOff, ip.dstOff + 16, ip.srcOff, ip.srcOff + 16);
    keySrcFirst = cmp < 0 || (cmp === 0 && sp <= dp);
    const [o1, p1, o2, p2] = keySrcFirst ? [ip.srcOff, sp, ip.dstOff, dp] : [ip.dstOff, dp, ip.srcOff, sp];
    for (let i = 0; i < 8; i++) {
      codes[i] = buf.readUInt16BE(o1 + 2 * i);
      codes[9 + i] = buf.readUInt16BE(o2 + 2 * i);
    }
    codes[8] = p1;
    codes[17] = p2;
    fid.key = String.fromCharCode.apply(null, codes);
    let h = 0x811c9dc5;
    for (let i = 0; i < 18; i++) h = Math.imul(h ^ codes[i]!, 0x01000193);
    fid.h = (h ^ (h >>> 15)) & 0x3fffffff;
    fid.x = 0;
    fid.y = 0;
    fid.ports = 0;
    return fid;
  }

  function packet(linkType: number, ts: number, data: Buffer, start: number, capEnd: number, origLen: number): void {
    packets++;
    if (ts < firstTs) firstTs = ts;
    if (ts > lastTs) lastTs = ts;
    if (ts >= nextSweep) {
      if (nextSweep !== -Infinity) sweep(ts);
      nextSweep = ts + SWEEP_EVERY_S;
    }
    void origLen;
    const caplen = capEnd - start;
    const link = decodeLink(linkType, data, start, capEnd, linkScratch);
    if ('anomaly' in link) {
      if (link.anomaly === 'unsupported_link_type') {
        if (!unsupportedLinks.has(linkType)) unsupportedLinks.add(linkType);
        skip('unsupported_link_type', caplen);
      } else if (link.anomaly === 'not_ip' || link.anomaly === 'not_ip_llc') ipStats.nonIp++;
      else skip(link.anomaly, caplen);
      return;
    }
    const ipr: IpPacket | { anomaly: string } =
      link.net === 'ipv4' ? decodeIpv4(data, link.off, capEnd, ipScratch) : decodeIpv6(data, link.off, capEnd, ipScratch);
    if ('anomaly' in ipr) {
      skip(ipr.anomaly, caplen);
      return;
    }
    const ip = ipr;
    if (ip.version === 4) ipStats.ipv4++;
    else ipStats.ipv6++;
    if (ip.fragment) {
      ipStats.fragments++;
      return;
    }
    const v6 = ip.version === 6;
    if (ip.proto === 6) {
      const seg = decodeTcp(data, ip.off, ip.end, ip.wireLen, tcpScratch);
      if ('anomaly' in seg) {
        skip(seg.anomaly, caplen);
        return;
      }
      if (filter && !passes(data, ip, seg.srcPort, seg.dstPort, ts)) {
        ipStats.filteredOut++;
        return;
      }
      const id = flowKey(data, ip, seg.srcPort, seg.dstPort);
      curBuf = data;
      curIp = ip;
      const conn = table.packet(id, keySrcFirst, ts, seg, data, newConnAddrs);
      if ((seg.flags & 0x12) === 0x02 && dns.answered > 0) joinFirstSyn(conn, ts);
      if ((dnsPort[seg.srcPort] === 1 || dnsPort[seg.dstPort] === 1) && seg.end > seg.off && !(seg.flags & 0x04)) {
        dnsOverTcp(
          conn,
          keySrcFirst === conn.origFirst,
          ts,
          seg,
          data,
          half(data, ip.srcOff, v6, seg.srcPort),
          half(data, ip.dstOff, v6, seg.dstPort),
        );
      }
      return;
    }
    if (ip.proto === 17) {
      const u = decodeUdp(data, ip.off, ip.end);
      if ('anomaly' in u) {
        skip(u.anomaly, caplen);
        return;
      }
      if (filter && !passes(data, ip, u.srcPort, u.dstPort, ts)) {
        ipStats.filteredOut++;
        return;
      }
      if (dnsPort[u.srcPort] === 1 || dnsPort[u.dstPort] === 1) udpDns(data, ip, u, ts);
      return;
    }
    if (filter && !passes(data, ip, 0, 0, ts)) {
      ipStats.filteredOut++;
      return;
    }
    if (ip.proto === (v6 ? 58 : 1)) icmpPacket(data, ip, ts, caplen);
  }

  /** The attempt's DNS answer is the one before its first SYN: joined now, while it is the latest. */
  function joinFirstSyn(conn: Conn, ts: number): void {
    if (conn.origSyns !== 1 || conn.firstSynTs !== ts) return;
    const l = join.join(origAddr(conn), respAddr(conn), ts);
    if (l) lookupOf.set(conn, l);
  }

  function udpDns(data: Buffer, ip: IpPacket, u: UdpDatagram, ts: number): void {
    const v6 = ip.version === 6;
    const m = decodeDns(data, u.off, u.end);
    if ('anomaly' in m) {
      dns.malformed++;
      return;
    }
    if (!looksLikeDns(m)) return;
    const off = m.qr ? ip.dstOff : ip.srcOff;
    dnsMessage(
      m,
      ts,
      half(data, ip.srcOff, v6, u.srcPort),
      half(data, ip.dstOff, v6, u.dstPort),
      false,
      v6 ? formatIpv6(data, off) : formatIpv4(data, off),
      () => answerAddresses(data, u.off, u.end),
    );
  }

  /**
   * An unreachable quoting a DNS query (a resolver's port closed, no route to it): noted on the
   * query when the quote holds the DNS header and question (Linux quotes up to 576 bytes).
   */
  function dnsUnreachable(data: Buffer, inner: IpPacket, sp: number, dp: number, name: string): void {
    const v6 = inner.version === 6;
    const m = decodeDns(data, inner.off + 8, inner.end);
    if ('anomaly' in m || m.qr) return;
    const q = dnsPending.get(`${half(data, inner.srcOff, v6, sp)}|${half(data, inner.dstOff, v6, dp)}|${m.id}|${m.qname}|${m.qtype}`);
    if (!q || q.icmp) return;
    q.icmp = name;
    icmp.matchedDns++;
  }

  /** An ICMP error: counted by name, and noted on the TCP flow it quotes. */
  function icmpPacket(data: Buffer, ip: IpPacket, ts: number, caplen: number): void {
    const v6 = ip.version === 6;
    const e = decodeIcmpError(data, ip.off, ip.end, v6);
    if (e === null) return;
    if ('anomaly' in e) {
      skip(e.anomaly, caplen);
      return;
    }
    icmp.errors++;
    inc(icmp.byName, e.name);
    if (e.kind === 'too-big') inc(icmp.mtus, String(e.mtu));
    if (e.inner.proto === 17) {
      icmp.udp++;
      if (e.kind === 'unreachable' && dnsPort[e.dstPort] === 1) dnsUnreachable(data, e.inner, e.srcPort, e.dstPort, e.name);
      return;
    }
    if (e.inner.proto !== 6 || e.srcPort === 0) {
      icmp.unmatched++;
      return;
    }
    const c = table.find(flowKey(data, e.inner, e.srcPort, e.dstPort));
    if (!c) {
      icmp.unmatched++;
      return;
    }
    icmp.matchedTcp++;
    if (e.kind === 'too-big') {
      if (c.icmpMtu < 0 || e.mtu < c.icmpMtu) c.icmpMtu = e.mtu;
    } else if (!c.icmp) {
      c.icmp = e.name;
      c.icmpTs = ts;
    }
  }

  function passes(buf: Buffer, ip: IpPacket, sp: number, dp: number, ts: number): boolean {
    view.buf = buf;
    view.v6 = ip.version === 6;
    view.srcOff = ip.srcOff;
    view.dstOff = ip.dstOff;
    view.proto = ip.proto;
    view.srcPort = sp;
    view.dstPort = dp;
    view.ts = ts;
    return filter!(view);
  }

  function finish(file: string, reader: ReaderStats): PcapResult {
    table.flush();
    for (const a of held.values()) done(a);
    held.clear();
    dns.unanswered += dnsPending.size;
    failures.dns += dnsPending.size;
    for (const q of dnsPending.values()) lookupUnanswered(q);
    dnsPending.clear();
    for (const [r, n] of Object.entries(reader.skipped)) {
      inc(skippedReasons, r, n);
      skippedRecords += n;
    }
    skippedBytes += reader.skippedBytes;
    // Malformed packets (the reader's own findings already have their warnings above).
    const malformed = Object.entries(skippedReasons).filter(([r]) => r !== 'unsupported_link_type' && !(r in reader.skipped));
    const nMalformed = malformed.reduce((a, [, n]) => a + n, 0);
    if (nMalformed)
      warnings.push(
        `skipped ${nMalformed} malformed packet${nMalformed === 1 ? '' : 's'} (${malformed.map(([r, n]) => `${r} ${n}`).join(', ')})`,
      );
    warnings.push(...reader.warnings);
    if (table.evicted() > 0) {
      warnings.push(
        `more than ${MAX_LIVE_FLOWS.toLocaleString('en')} TCP connections were open at once: ${table.evicted().toLocaleString('en')} of them were summarised early (counted by their state when summarised, e.g. an unanswered SYN as never answered; a later packet of one starts a new record)`,
      );
    }
    for (const lt of unsupportedLinks) {
      const n = skippedReasons.unsupported_link_type ?? 0;
      warnings.push(
        `link type ${lt}${LINK_NAMES[lt] ? ` (${LINK_NAMES[lt]})` : ''} is not supported: ${n} packet${n === 1 ? ' was' : 's were'} skipped`,
      );
    }
    if (reader.linkTypes.length && reader.linkTypes.every((lt) => !isSupportedLinkType(lt)) && unsupportedLinks.size === 0) {
      warnings.push(`link type ${reader.linkTypes.join(', ')} is not supported`);
    }
    tcp.handshakeSuccessRate = tcp.connections ? round4(tcp.established / tcp.connections) : null;
    tcp.handshakeRttMs = pcts(rttHist);
    tcp.connectMs = pcts(connectHist);
    tls.failureRate = tls.handshakes ? round4(tls.failed / tls.handshakes) : null;
    dns.latencyMs = pcts(dnsHist);
    const connectionList = connections?.finish();
    const result: PcapResult = {
      file,
      format: reader.format,
      packets,
      durationS: packets ? round6(lastTs - firstTs) : 0,
      firstPacketAt: packets ? firstTs : null,
      skipped: { records: skippedRecords, bytes: skippedBytes, reasons: skippedReasons },
      linkTypes: [...new Set(reader.linkTypes)].map((lt) => LINK_NAMES[lt] ?? String(lt)),
      ip: ipStats,
      tcp,
      tls,
      dns,
      icmp,
      attempts: queryRows ? { ...join.finish(dns.latencyMs), queries: queryRows, queriesOmitted } : join.finish(dns.latencyMs),
      failures,
      verdict: { phase: 'ok', summary: '' },
      warnings,
    };
    result.verdict = verdictOf(result);
    if (connectionList) {
      result.connections = connectionList;
      result.connectionsOmitted = connections!.total() - connectionList.length;
      const w = rowsWarning('TCP connection records', '--flows', connectionList.length, connections!.total());
      if (w) warnings.push(w);
    }
    if (result.attempts.rows) {
      const w = rowsWarning('connection attempts', '--attempts', result.attempts.rows.length, result.attempts.attempts);
      if (w) warnings.push(w);
    }
    if (queryRows && queriesOmitted) {
      const w = rowsWarning('DNS queries', '--attempts', queryRows.length, queryRows.length + queriesOmitted);
      if (w) warnings.push(w);
    }
    return result;
  }

  function progress(): AnalyzerProgress {
    const snap = { tcp: { ...tcp }, tls: { ...tls }, dns: { ...dns }, failures: { ...failures } };
    return {
      packets,
      durationS: packets ? round6(lastTs - firstTs) : 0,
      open: table.size() + held.size,
      tcp: { connections: tcp.connections, established: tcp.established, unreachable: tcp.unreachable },
      dns: { queries: dns.queries, answered: dns.answered },
      failures: { ...failures },
      verdict: verdictOf(snap),
    };
  }

  return { packet, finish, progress };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}
function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function pct(part: number, whole: number): string {
  if (whole === 0) return '0%';
  const p = (100 * part) / whole;
  return p >= 10 || p === 0 ? `${Math.round(p)}%` : `${p.toFixed(1)}%`;
}

function top(m: Record<string, number>): [string, number] | null {
  let best: [string, number] | null = null;
  for (const [k, v] of Object.entries(m)) if (!best || v > best[1]) best = [k, v];
  return best;
}

/** The phase where most failures happened, and one sentence in the words of an outage report. */
export function verdictOf(r: Pick<PcapResult, 'tcp' | 'tls' | 'dns' | 'failures'>): PcapResult['verdict'] {
  const { tcp, tls, dns, failures } = r;
  const order = ['dns', 'tcp', 'tls', 'app'] as const;
  let phase: Phase | 'dns' = 'ok';
  let most = 0;
  for (const p of order)
    if (failures[p] > most) {
      most = failures[p];
      phase = p;
    }
  const dnsPart = () => {
    const bad = Object.entries(dns.rcodes)
      .filter(([k]) => k !== 'NOERROR' && k !== 'NXDOMAIN')
      .map(([k, v]) => `${v} ${k}`);
    return `DNS: ${dns.unanswered} of ${dns.queries} queries unanswered (${pct(dns.unanswered, dns.queries)})${bad.length ? `, ${bad.join(', ')}` : ''}`;
  };
  const tcpPart = () => {
    const bits = [`TCP handshake success ${pct(tcp.established, tcp.connections)} of ${tcp.connections} attempts`];
    if (tcp.synRetransmitted) bits.push(`SYN retransmitted in ${pct(tcp.synRetransmitted, tcp.connections)} of attempts`);
    if (tcp.refused) bits.push(`${pct(tcp.refused, tcp.connections)} refused (RST)`);
    if (tcp.unanswered) bits.push(`${pct(tcp.unanswered, tcp.connections)} never answered`);
    if (tcp.unreachable) {
      const by = Object.entries(tcp.unreachableBy ?? {})
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${n}`);
      bits.push(`${pct(tcp.unreachable, tcp.connections)} unreachable (ICMP ${by.join(', ')})`);
    }
    return bits.join(', ');
  };
  const tlsPart = () => {
    const bits = [`TLS handshake failure ${pct(tls.failed, tls.handshakes)} of ${tls.handshakes}`];
    if (tls.failed) {
      if (tls.reset) bits.push(`${pct(tls.reset, tls.failed)} RST`);
      const alert = top(Object.fromEntries(Object.entries(tls.outcomes).filter(([k]) => k.startsWith('alert:'))));
      if (alert) bits.push(`${pct(alert[1], tls.failed)} ${alert[0].replace(':', ' ')}`);
      if (tls.stalled) bits.push(`${pct(tls.stalled, tls.failed)} stalled`);
      if (tls.timeout) bits.push(`${pct(tls.timeout, tls.failed)} abandoned by the client`);
      if (tls.closed) bits.push(`${pct(tls.closed, tls.failed)} closed`);
      const pm = tls.outcomes['pmtu-blackhole-suspected'];
      if (pm) bits.push(`${pct(pm, tls.failed)} PMTU black hole suspected (a full-size segment never acknowledged)`);
    }
    return bits.join(', ');
  };
  const appPart = () => {
    const pm = tcp.pmtuBlackholeSuspected - (tls.outcomes['pmtu-blackhole-suspected'] ?? 0);
    const closed = tcp.closedBeforeData;
    const resets = failures.app - Math.max(0, pm) - closed;
    const bits: string[] = [];
    if (resets > 0 || (pm <= 0 && closed === 0)) {
      const early = tcp.resetsBeforeData ? `, ${tcp.resetsBeforeData} of them right after accept, before any data` : '';
      bits.push(
        `${resets} connection${resets === 1 ? '' : 's'} reset after the handshake${early} (resets in all phases: ${tcp.resetsBy.server} by the server, ${tcp.resetsBy.client} by the client)`,
      );
    }
    if (closed > 0) bits.push(`${closed} closed by the server right after accept, before any data`);
    if (pm > 0) bits.push(`${pm} with a PMTU black hole suspected (a full-size segment never acknowledged)`);
    return bits.join(', ');
  };
  if (phase === 'ok') {
    const bits: string[] = [];
    if (tcp.connections) bits.push(`${tcp.connections} TCP connection attempt${tcp.connections === 1 ? '' : 's'}, all established`);
    if (tls.handshakes) bits.push(`${tls.completed} of ${tls.handshakes} TLS handshakes completed`);
    if (dns.queries) bits.push(`${dns.answered} of ${dns.queries} DNS queries answered`);
    return { phase, summary: bits.length ? `No failures found: ${bits.join('; ')}.` : 'No TCP, TLS or DNS traffic found.' };
  }
  const parts: string[] = [];
  const lead = { dns: dnsPart, tcp: tcpPart, tls: tlsPart, app: appPart }[phase];
  parts.push(lead());
  // Then the other failing phases, most failures first.
  for (const p of [...order].sort((a, b) => failures[b] - failures[a])) {
    if (p === phase || failures[p] === 0) continue;
    parts.push({ dns: dnsPart, tcp: tcpPart, tls: tlsPart, app: appPart }[p]());
  }
  return { phase, summary: `${parts.join('; ')}.` };
}

/** Analyse a capture file. `{ ok: false }` only when the file has no valid capture header. */
export async function analyzeCapture(path: string, opts: AnalyzeOptions = {}): Promise<AnalyzeOutcome> {
  const an = createAnalyzer(opts);
  const r = await readCaptureFile(path, an.packet, { onProgress: opts.onProgress, signal: opts.signal, chunkSize: opts.chunkSize });
  if (!r.ok) return r;
  return { ok: true, result: an.finish(path, r.stats) };
}
