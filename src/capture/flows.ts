/**
 * The TCP flow table: one entry per live 4-tuple, each holding the current
 * connection record with Zeek's per-endpoint state machine
 * (TCPSessionAdapter: UpdateInactiveState, UpdateSYN_SentState, …) and
 * Zeek's record boundaries: a SYN that reuses a closed 4-tuple, a SYN with a
 * new initial sequence number, an attempt unanswered 5 s after its first SYN,
 * a packet more than 5 s after the close completed or a RST, and 5 min of
 * inactivity all end the record. Memory is bounded by live connections.
 */
import { EP, type EndpointState, zeekConnState, type ZeekState } from './classify.js';
import { seqDelta, createByteStream, feedStream, type ByteStream } from './stream.js';
import { ACK, FIN, RST, SYN, type TcpSegment } from './tcp.js';
import { createTlsState, feedTls, startsWithClientHello, type TlsState } from './tls.js';
import { looksLikeTlsRecord, namePlaintext } from '../core/plaintext.js';

/** Zeek's defaults: tcp_attempt_delay, tcp_close_delay, tcp_reset_delay, tcp_inactivity_timeout. */
export const ATTEMPT_DELAY_S = 5;
export const CLOSE_DELAY_S = 5;
export const RESET_DELAY_S = 5;
export const INACTIVITY_TIMEOUT_S = 300;
const TOO_LARGE_SEQ_DELTA = 1048576;
/** Client data segments inspected for a ClientHello (STARTTLS sends it mid-stream). */
const TLS_PROBE_SEGMENTS = 16;

/**
 * Ports Zeek treats as likely servers (likely_server_ports, filled by the
 * analyzers that register well-known ports) when a connection starts without
 * a SYN: the endpoint on such a port becomes the responder.
 */
export const LIKELY_SERVER_PORTS = new Set<number>([
  21, 22, 23, 25, 53, 69, 80, 81, 88, 110, 111, 123, 135, 137, 139, 143, 161, 162, 179, 389, 443, 445, 465, 502, 514, 563, 585, 587, 614,
  631, 636, 750, 853, 989, 990, 992, 993, 995, 1080, 1433, 1434, 1812, 1813, 2049, 2811, 3128, 3268, 3306, 3389, 5060, 5061, 5222, 5223,
  5353, 5355, 5432, 5672, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8443, 8888, 9092, 11211, 20000, 27017,
]);

export interface Endpoint {
  state: EndpointState;
  prevState: EndpointState;
  seqInit: boolean;
  startSeq: number;
  lastSeq: number;
  ackSeq: number;
  didClose: boolean;
  synSeen: boolean;
  finSeen: boolean;
  histLastSyn: number;
  histLastFin: number;
  histLastRst: number;
  pkts: number;
  payload: number;
  /**
   * Path-MTU watch, kept in the endpoint itself (no allocation, no work on an ordinary segment):
   * what a PMTU black hole looks like from one sender. Its data up to some size is acknowledged,
   * one larger segment is sent again and again and never is. `pmAcked`: the largest single
   * advance of the peer's acknowledgement over data (at least the segment it acknowledged).
   */
  pmAcked: number;
  /** The retransmitted segment not acknowledged (length 0: none), and how often it was sent again. */
  pmRtxSeq: number;
  pmRtxLen: number;
  pmRtxCount: number;
}

/** A retransmission (its end not past the highest data sent) of the largest segment yet: remembered. */
function watchRetransmit(ep: Endpoint, seq: number, len: number): void {
  if (len < ep.pmRtxLen) return;
  if (ep.pmRtxLen > 0 && seq === ep.pmRtxSeq && len === ep.pmRtxLen) ep.pmRtxCount++;
  else if (len > ep.pmRtxLen) {
    ep.pmRtxSeq = seq;
    ep.pmRtxLen = len;
    ep.pmRtxCount = 1;
  }
}

/**
 * The peer's acknowledgement moved `d` bytes over `ep`'s data (more than the SYN or FIN alone:
 * data was acknowledged), and may cover the retransmitted segment.
 */
function watchAck(ep: Endpoint, d: number, ack: number): void {
  if (d > 1 && d > ep.pmAcked && d <= TOO_LARGE_SEQ_DELTA && !(ack === 0 && d > TOO_LARGE_SEQ_DELTA)) ep.pmAcked = d;
  if (ep.pmRtxLen > 0 && seqDelta(ack, (ep.pmRtxSeq + ep.pmRtxLen) >>> 0) >= 0) {
    if (ep.pmRtxLen > ep.pmAcked) ep.pmAcked = ep.pmRtxLen;
    ep.pmRtxLen = 0;
    ep.pmRtxCount = 0;
  }
}

/**
 * A flow's identity: the key (IPv4: a 30-bit hash, with the exact tuple compared on lookup;
 * IPv6: one flat string) and `h`, the hash that picks its bucket.
 */
export interface FlowId {
  key: number | string;
  h: number;
  x: number;
  y: number;
  ports: number;
}

export interface Conn {
  key: number | string;
  idX: number;
  idY: number;
  idPorts: number;
  /** Set when the record is finished (the eviction queue skips it). */
  ended: boolean;
  /** Creation number: a record object is reused once released, and the eviction queue holds the number it was queued with. */
  serial: number;
  /** In the table's free list (released, not yet reused). */
  pooled: boolean;
  /** The next record in the same hash bucket, and the bucket. */
  nextInBucket: Conn | null;
  bucket: number;
  /** Whether the originator is the key's first half. */
  origFirst: boolean;
  orig: Endpoint;
  resp: Endpoint;
  /**
   * IPv6 only: the text of the key's first and second address (IPv4 addresses are the key's
   * numbers, put in words only when asked: origAddr() / respAddr()).
   */
  addrFirst: string;
  addrSecond: string;
  origPort: number;
  respPort: number;
  v6: boolean;
  start: number;
  lastTime: number;
  history: string;
  histSeen: number;
  removeAt: number;
  attemptAt: number;
  // Facts for the failure diagnosis.
  origSyns: number;
  firstSynTs: number;
  lastSynTs: number;
  synAckTs: number;
  /** A SYN-ACK from the originator's side: the SYN/SYN-ACK pair seen in reverse order. */
  synAckFromOrigTs: number;
  firstSynSeq: number;
  rstBy: 'orig' | 'resp' | null;
  rstTs: number;
  finBy: 'orig' | 'resp' | null;
  tls: TlsState | null;
  tlsProbe: number;
  tlsStreams: [ByteStream, ByteStream] | null;
  tlsDone: boolean;
  flipped: boolean;
  /** The first ICMP unreachable / time-exceeded that quoted this flow (its name), and when. */
  icmp: string | null;
  icmpTs: number;
  /** MTU of an ICMP fragmentation-needed / packet-too-big quoting this flow (-1: none seen). */
  icmpMtu: number;
  /** A plaintext upgrade request seen before the ClientHello: starttls, imap, pop3, ftp, postgres, or null. */
  upgrade: string | null;
  /** The ClientHello came after plaintext (STARTTLS): the upgrade named, `plaintext` when unknown. */
  starttls: string | null;
  /**
   * The server spoke first, before the client sent anything (an SSH banner, an SMTP greeting):
   * what it said, named. Kept only until the client's first payload; a ClientHello then is
   * answered by no TLS (`not-tls`).
   */
  greeting: string | null;
}

export interface FinishedConn {
  conn: Conn;
  zeekState: ZeekState;
  /** Why the record ended: a timer/reuse inside the capture, or the end of the capture. */
  endedBy: 'timer' | 'reuse' | 'capture-end' | 'evicted';
}

function resetEndpoint(e: Endpoint): void {
  e.state = EP.INACTIVE;
  e.prevState = EP.INACTIVE;
  e.seqInit = false;
  e.startSeq = 0;
  e.lastSeq = 0;
  e.ackSeq = 0;
  e.didClose = false;
  e.synSeen = false;
  e.finSeen = false;
  e.histLastSyn = -1;
  e.histLastFin = -1;
  e.histLastRst = -1;
  e.pkts = 0;
  e.payload = 0;
  e.pmAcked = 0;
  e.pmRtxSeq = 0;
  e.pmRtxLen = 0;
  e.pmRtxCount = 0;
}

function newEndpoint(): Endpoint {
  return {
    state: EP.INACTIVE,
    prevState: EP.INACTIVE,
    seqInit: false,
    startSeq: 0,
    lastSeq: 0,
    ackSeq: 0,
    didClose: false,
    synSeen: false,
    finSeen: false,
    histLastSyn: -1,
    histLastFin: -1,
    histLastRst: -1,
    pkts: 0,
    payload: 0,
    pmAcked: 0,
    pmRtxSeq: 0,
    pmRtxLen: 0,
    pmRtxCount: 0,
  };
}

function ipv4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The originator's address in text. */
export function origAddr(c: Conn): string {
  if (c.v6) return c.origFirst ? c.addrFirst : c.addrSecond;
  return ipv4Text(c.origFirst ? c.idX : c.idY);
}

/** The responder's address in text. */
export function respAddr(c: Conn): string {
  if (c.v6) return c.origFirst ? c.addrSecond : c.addrFirst;
  return ipv4Text(c.origFirst ? c.idY : c.idX);
}

function setState(e: Endpoint, s: EndpointState): void {
  e.prevState = e.state;
  e.state = s;
}

/** Zeek's TCP_Endpoint::Size(), from sequence numbers: bytes sent, SYN and FIN not counted. */
export function endpointSize(e: Endpoint, peer: Endpoint): number {
  if (!e.seqInit) return 0;
  if (e.prevState === EP.SYN_SENT && e.state === EP.RESET && peer.state === EP.INACTIVE) return 0;
  const last = seqDelta(e.lastSeq, e.startSeq);
  const ack = seqDelta(e.ackSeq, e.startSeq);
  let size = Math.max(last, ack, 0);
  if (e.synSeen && size > 0) size--;
  if (e.finSeen && size > 0) size--;
  return size;
}

export function connState(c: Conn): ZeekState {
  return zeekConnState(c.orig.state, c.resp.state, endpointSize(c.orig, c.resp), endpointSize(c.resp, c.orig), c.history);
}

const H_SYN = 1,
  H_FIN = 2,
  H_RST = 4,
  H_FINRST = 8,
  H_MULTI = 16,
  H_DATA = 32,
  H_ACK = 64;

function checkHistory(c: Conn, isOrig: boolean, mask: number, code: string): boolean {
  const m = isOrig ? mask : mask << 16;
  if ((c.histSeen & m) === 0) {
    c.histSeen |= m;
    c.history += isOrig ? code : code.toLowerCase();
    return false;
  }
  return true;
}

function addHistory(c: Conn, isOrig: boolean, code: string): void {
  c.history += isOrig ? code : code.toLowerCase();
}

function updateHistory(c: Conn, isOrig: boolean, flags: number, relSeq: number, len: number, ep: Endpoint): void {
  const bits = (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0) + (flags & RST ? 1 : 0);
  if (bits > 1) {
    if (flags & FIN && flags & RST) checkHistory(c, isOrig, H_FINRST, 'I');
    else checkHistory(c, isOrig, H_MULTI, 'Q');
  } else if (bits === 1) {
    if (flags & SYN) {
      const code = flags & ACK ? 'H' : 'S';
      if (checkHistory(c, isOrig, H_SYN, code) && relSeq !== ep.histLastSyn) addHistory(c, isOrig, code);
      ep.histLastSyn = relSeq;
    }
    if (flags & FIN) {
      if (checkHistory(c, isOrig, H_FIN, 'F') && relSeq + len !== ep.histLastFin) addHistory(c, isOrig, 'F');
      ep.histLastFin = relSeq + len;
    }
    if (flags & RST) {
      if (checkHistory(c, isOrig, H_RST, 'R') && relSeq !== ep.histLastRst) addHistory(c, isOrig, 'R');
      ep.histLastRst = relSeq;
    }
  } else if (len) checkHistory(c, isOrig, H_DATA, 'D');
  else if (flags & ACK) checkHistory(c, isOrig, H_ACK, 'A');
}

function initEndpoint(e: Endpoint, flags: number, seq: number, lastSeq: number): void {
  switch (e.state) {
    case EP.INACTIVE:
      if (flags & SYN) {
        e.startSeq = seq;
        e.ackSeq = seq;
        e.lastSeq = lastSeq;
      } else {
        e.startSeq = (seq - 1) >>> 0;
        e.ackSeq = e.startSeq;
        e.lastSeq = seq;
      }
      e.seqInit = true;
      break;
    case EP.SYN_SENT:
    case EP.SYN_ACK_SENT:
    case EP.ESTABLISHED:
    case EP.PARTIAL:
      if (flags & SYN && (seq !== e.startSeq || e.state === EP.ESTABLISHED || e.state === EP.PARTIAL)) {
        e.startSeq = seq;
        e.ackSeq = seq;
        e.lastSeq = lastSeq;
      }
      break;
    case EP.RESET:
      if (flags & SYN && e.prevState === EP.INACTIVE) {
        e.startSeq = seq;
        e.ackSeq = seq;
        e.lastSeq = lastSeq;
      }
      break;
    default:
      break;
  }
}

/**
 * Most records open at once. Past it the oldest open record is ended early
 * ("evicted": summarised and counted by its state then), so memory stays
 * bounded on any capture: 1,000,000 unanswered SYNs within 1 s would
 * otherwise hold 1,000,000 records until their 5 s attempt timer.
 */
export const MAX_LIVE_FLOWS = 20_000;

export interface FlowTableOptions {
  onFinish: (f: FinishedConn) => void;
  /** Default MAX_LIVE_FLOWS. */
  maxLive?: number;
}

export interface FlowTable {
  /** Live records. */
  size(): number;
  /** Records ended early because the table was full. */
  evicted(): number;
  /**
   * The caller is done with a finished record (it keeps no reference to it): its object may be
   * reused for a new record. Records never released are simply left to the garbage collector.
   */
  release(c: Conn): void;
  /** One TCP segment. `srcFirst`: the source is the key's first half. */
  /**
   * `seg.off`..`seg.end` is the payload inside `buf`; `makeConn` names the endpoints of a new
   * record (IPv6: their text; IPv4: the key holds them, the strings may be empty).
   */
  packet(
    id: FlowId,
    srcFirst: boolean,
    ts: number,
    seg: TcpSegment,
    buf: Buffer,
    makeConn: () => { srcAddr: string; dstAddr: string; v6: boolean },
  ): Conn;
  /** The live record of this flow, if any (ICMP errors are matched to the flow they quote). */
  find(id: FlowId): Conn | undefined;
  /** End records whose timers have fired by `now` (network time). */
  sweep(now: number): void;
  /** End of capture: every record still open is logged. */
  flush(): void;
}

/**
 * PostgreSQL SSLRequest (length 8, code 80877103), or an upgrade command line: STARTTLS (SMTP,
 * IRC, …), a tagged STARTTLS (IMAP), STLS (POP3), AUTH TLS (FTP).
 */
function upgradeRequest(p: Buffer): string | null {
  if (p.length === 8 && p.readUInt32BE(0) === 8 && p.readUInt32BE(4) === 80877103) return 'postgres';
  if (p.length > 64) return null;
  const line = p.toString('latin1').toUpperCase();
  if (/^STARTTLS\r?\n$/.test(line)) return 'starttls';
  if (/^AUTH (TLS|SSL)\r?\n$/.test(line)) return 'ftp';
  if (/^\S+ STARTTLS\r?\n$/.test(line)) return 'imap';
  if (/^STLS\r?\n$/.test(line)) return 'pop3';
  return null;
}

const SMTP_PORTS = new Set([25, 465, 587, 2525]);

/** A record object with every field set (one shape for all records); create() fills it. */
function blankConn(): Conn {
  return {
    key: 0,
    idX: 0,
    idY: 0,
    idPorts: 0,
    ended: false,
    serial: 0,
    pooled: false,
    nextInBucket: null,
    bucket: 0,
    origFirst: true,
    orig: newEndpoint(),
    resp: newEndpoint(),
    addrFirst: '',
    addrSecond: '',
    origPort: 0,
    respPort: 0,
    v6: false,
    start: 0,
    lastTime: 0,
    history: '',
    histSeen: 0,
    removeAt: Infinity,
    attemptAt: Infinity,
    origSyns: 0,
    firstSynTs: -1,
    lastSynTs: -1,
    synAckTs: -1,
    synAckFromOrigTs: -1,
    firstSynSeq: -1,
    rstBy: null,
    rstTs: -1,
    finBy: null,
    tls: null,
    tlsProbe: 0,
    tlsStreams: null,
    tlsDone: false,
    flipped: false,
    icmp: null,
    icmpTs: -1,
    icmpMtu: -1,
    upgrade: null,
    starttls: null,
    greeting: null,
  };
}

export function createFlowTable(opts: FlowTableOptions): FlowTable {
  let live = 0;
  let evicted = 0;
  const maxLive = opts.maxLive ?? MAX_LIVE_FLOWS;
  // Nothing here grows with the capture: a fixed bucket array (records chain through
  // nextInBucket) and a fixed eviction queue, both sized by maxLive. A Map with a record
  // deleted and another set per connection reallocates its table over and over, and those
  // tables are large objects that only a full collection frees.
  let nb = 1024;
  while (nb < 2 * maxLive) nb *= 2;
  const mask = nb - 1;
  const buckets: (Conn | null)[] = new Array<Conn | null>(nb).fill(null);

  // Records in creation order, for eviction: a FIFO with a moving head (ended records are
  // skipped); full, it is compacted in place (at most maxLive records are live).
  const cap = 2 * maxLive + 16;
  const order: (Conn | null)[] = new Array<Conn | null>(cap).fill(null);
  /** The serial each queued record had when queued (a reused object's old entry is stale). */
  const orderSerial = new Float64Array(cap);
  let orderHead = 0;
  let orderTail = 0;
  let serial = 0;
  /** Released record objects, reused by create(). */
  const free: Conn[] = [];

  function queued(i: number): boolean {
    const c = order[i]!;
    return !c.ended && c.serial === orderSerial[i];
  }

  /** Ends the oldest open record. */
  function evictOne(): void {
    while (orderHead < orderTail && !queued(orderHead)) orderHead++;
    if (orderHead >= orderTail) return;
    const c = order[orderHead++]!;
    evicted++;
    finish(c, 'evicted');
  }

  function enqueue(c: Conn): void {
    if (orderTail === cap) {
      let w = 0;
      for (let i = orderHead; i < orderTail; i++) {
        if (!queued(i)) continue;
        order[w] = order[i]!;
        orderSerial[w] = orderSerial[i]!;
        w++;
      }
      order.fill(null, w, orderTail);
      orderHead = 0;
      orderTail = w;
    }
    order[orderTail] = c;
    orderSerial[orderTail] = c.serial;
    orderTail++;
  }

  function lookup(id: FlowId): Conn | undefined {
    let c = buckets[id.h & mask] ?? null;
    while (c && !(c.key === id.key && c.idX === id.x && c.idY === id.y && c.idPorts === id.ports)) c = c.nextInBucket;
    return c ?? undefined;
  }

  function unlink(c: Conn): void {
    const head = buckets[c.bucket];
    if (head === c) buckets[c.bucket] = c.nextInBucket;
    else {
      let p = head ?? null;
      while (p && p.nextInBucket !== c) p = p.nextInBucket;
      if (p) p.nextInBucket = c.nextInBucket;
    }
    c.nextInBucket = null;
    c.ended = true;
    live--;
  }

  function finish(c: Conn, endedBy: FinishedConn['endedBy']): void {
    unlink(c);
    opts.onFinish({ conn: c, zeekState: connState(c), endedBy });
  }

  function expired(c: Conn, ts: number): boolean {
    if (ts >= c.removeAt) return true;
    if (ts >= c.attemptAt) {
      c.attemptAt = Infinity;
      // Zeek's AttemptTimer: still only a SYN with no answer.
      if ((c.orig.state === EP.SYN_SENT || c.orig.state === EP.SYN_ACK_SENT) && c.resp.state === EP.INACTIVE) return true;
    }
    return ts - c.lastTime > INACTIVITY_TIMEOUT_S;
  }

  function isClosed(c: Conn): boolean {
    return c.orig.didClose || c.resp.didClose;
  }

  /** Zeek's TCPSessionAdapter::IsReuse: does this SYN start a new connection on the 4-tuple? */
  function isReuse(c: Conn, seg: TcpSegment): boolean {
    if (!(seg.flags & SYN)) return false;
    let connOrig = c.orig;
    if (seg.flags & ACK) {
      if (c.orig.state !== EP.INACTIVE) return false;
      connOrig = c.resp;
    }
    if (!isClosed(c)) {
      if (seg.seq === connOrig.startSeq) return false;
      if (!(seg.flags & ACK) && connOrig.state === EP.SYN_ACK_SENT && c.resp.state === EP.INACTIVE && seg.seq === c.resp.startSeq)
        return false;
    }
    return true;
  }

  function create(
    id: FlowId,
    srcFirst: boolean,
    ts: number,
    seg: TcpSegment,
    addrs: { srcAddr: string; dstAddr: string; v6: boolean },
  ): Conn {
    // Zeek's TCPAnalyzer::WantConnection: without a clean SYN, guess the responder by port.
    let flip = false;
    if (!(seg.flags & SYN) || seg.flags & ACK) {
      if (LIKELY_SERVER_PORTS.has(seg.srcPort)) {
        flip = LIKELY_SERVER_PORTS.has(seg.dstPort) ? !(seg.flags & SYN) && seg.srcPort < seg.dstPort : true;
      }
    }
    if (live >= maxLive) evictOne();
    // A released record object is reused: records are promoted to the old generation (they live
    // through many young collections), so a new object each would grow the heap with garbage on a
    // capture of many short records (1,000,000 SYNs: 290 MB RSS before this).
    const c = free.pop() ?? blankConn();
    c.key = id.key;
    c.idX = id.x;
    c.idY = id.y;
    c.idPorts = id.ports;
    c.ended = false;
    c.serial = ++serial;
    c.pooled = false;
    c.bucket = id.h & mask;
    c.nextInBucket = buckets[c.bucket] ?? null;
    c.origFirst = flip ? !srcFirst : srcFirst;
    resetEndpoint(c.orig);
    resetEndpoint(c.resp);
    c.addrFirst = srcFirst ? addrs.srcAddr : addrs.dstAddr;
    c.addrSecond = srcFirst ? addrs.dstAddr : addrs.srcAddr;
    c.origPort = flip ? seg.dstPort : seg.srcPort;
    c.respPort = flip ? seg.srcPort : seg.dstPort;
    c.v6 = addrs.v6;
    c.start = ts;
    c.lastTime = ts;
    c.history = flip ? '^' : '';
    c.histSeen = 0;
    c.removeAt = Infinity;
    c.attemptAt = Infinity;
    c.origSyns = 0;
    c.firstSynTs = -1;
    c.lastSynTs = -1;
    c.synAckTs = -1;
    c.synAckFromOrigTs = -1;
    c.firstSynSeq = -1;
    c.rstBy = null;
    c.rstTs = -1;
    c.finBy = null;
    c.tls = null;
    c.tlsProbe = 0;
    c.tlsStreams = null;
    c.tlsDone = false;
    c.flipped = flip;
    c.icmp = null;
    c.icmpTs = -1;
    c.icmpMtu = -1;
    c.upgrade = null;
    c.starttls = null;
    c.greeting = null;
    buckets[c.bucket] = c;
    live++;
    enqueue(c);
    return c;
  }

  /** Zeek's Connection::FlipRoles, for a SYN/SYN-ACK seen in reverse order. */
  function flipRoles(c: Conn): void {
    const e = c.orig;
    c.orig = c.resp;
    c.resp = e;
    c.origFirst = !c.origFirst;
    const p = c.origPort;
    c.origPort = c.respPort;
    c.respPort = p;
    c.histSeen = ((c.histSeen & 0xffff) << 16) | (c.histSeen >>> 16);
    c.history += '^';
    c.flipped = !c.flipped;
  }

  function connectionClosed(c: Conn, ep: Endpoint, peer: Endpoint): void {
    if (ep.didClose) return;
    ep.didClose = true;
    const complete = ep.state === EP.RESET || peer.didClose || peer.state === EP.INACTIVE;
    if (complete) {
      // CancelTimers() drops the attempt timer; the record is removed tcp_close_delay later.
      c.attemptAt = Infinity;
      c.removeAt = Math.min(c.removeAt, c.lastTime + CLOSE_DELAY_S);
    }
  }

  function stateMachine(c: Conn, ts: number, isOrig: boolean, ep: Endpoint, peer: Endpoint, seg: TcpSegment, len: number): void {
    const f = seg.flags;
    let doClose = false;
    switch (ep.state) {
      case EP.INACTIVE: {
        if (f & SYN) {
          if (isOrig) {
            setState(ep, f & ACK ? EP.SYN_ACK_SENT : EP.SYN_SENT);
            c.attemptAt = Math.min(c.attemptAt, ts + ATTEMPT_DELAY_S);
          } else {
            if (!(f & ACK) && peer.state === EP.SYN_ACK_SENT && seg.seq === ep.startSeq) {
              // SYN and SYN-ACK seen in reverse order: flip, and establish.
              flipRoles(c);
              // After the flip, `ep` is the originator and `peer` the responder.
              setState(peer, EP.ESTABLISHED);
            }
            if (peer.state === EP.SYN_SENT) setState(peer, EP.ESTABLISHED);
            setState(ep, EP.ESTABLISHED);
          }
        }
        if (f & FIN) {
          setState(ep, EP.CLOSED);
          doClose = true;
        }
        if (f & RST) {
          setState(ep, EP.RESET);
          doClose = true;
        }
        if (ep.state === EP.INACTIVE) {
          const o = c.orig;
          if (!isOrig && len === 0 && o.state === EP.SYN_SENT) {
            // An ACK of the SYN before the SYN-ACK: not a partial connection.
          } else if (f & ACK && peer.state === EP.ESTABLISHED) {
            setState(ep, EP.ESTABLISHED);
          } else {
            setState(ep, EP.PARTIAL);
          }
        }
        break;
      }
      case EP.SYN_SENT:
      case EP.SYN_ACK_SENT:
        if (f & FIN) {
          setState(ep, EP.CLOSED);
          doClose = true;
        }
        if (f & RST) {
          setState(ep, EP.RESET);
          doClose = true;
        }
        break;
      case EP.ESTABLISHED:
      case EP.PARTIAL:
        if (f & SYN && ep.state === EP.PARTIAL && peer.state === EP.INACTIVE && !(f & ACK)) setState(ep, EP.SYN_SENT);
        if (f & FIN && !(f & RST)) {
          setState(ep, EP.CLOSED);
          // A FIN after the peer's FIN-then-RST: that was a normal close.
          if (peer.state === EP.RESET && peer.prevState === EP.CLOSED) setState(peer, EP.CLOSED);
          doClose = true;
        }
        if (f & RST) {
          setState(ep, EP.RESET);
          doClose = true;
        }
        break;
      case EP.CLOSED:
        if (f & RST && peer.state !== EP.CLOSED) {
          setState(ep, EP.RESET);
          if (!ep.didClose) doClose = true;
          c.removeAt = Math.min(c.removeAt, ts + RESET_DELAY_S);
        }
        break;
      default:
        break;
    }
    if (doClose) {
      // The state machine may have flipped roles: use the endpoint objects it acted on.
      connectionClosed(c, ep, peer);
    }
  }

  function process(c: Conn, isOrig: boolean, ts: number, seg: TcpSegment, buf: Buffer): void {
    const f = seg.flags;
    const ep = isOrig ? c.orig : c.resp;
    const peer = isOrig ? c.resp : c.orig;
    const len = seg.len;
    const segLen = (f & RST ? 0 : len) + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
    const seqEnd = (seg.seq + segLen) >>> 0;
    ep.pkts++;
    initEndpoint(ep, f, seg.seq, seqEnd);
    const relSeq = seqDelta(seg.seq, ep.startSeq);
    updateHistory(c, isOrig, f, relSeq, len, ep);
    if (!c.orig.didClose || !c.resp.didClose) c.lastTime = ts;
    if (f & SYN) ep.synSeen = true;
    if (f & FIN) ep.finSeen = true;
    if (f & ACK) {
      if (peer.state === EP.INACTIVE) {
        peer.startSeq = (seg.ack - 1) >>> 0;
        peer.ackSeq = peer.startSeq;
        peer.lastSeq = peer.startSeq;
        peer.seqInit = true;
      } else if (!(f & RST)) {
        const d = seqDelta(seg.ack, peer.ackSeq);
        if (!(seg.ack === 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0) peer.ackSeq = seg.ack;
        if (d > peer.pmAcked || peer.pmRtxLen > 0) watchAck(peer, d, seg.ack);
      }
    }
    const deltaLast = seqDelta(seqEnd, ep.lastSeq);
    if (f & (SYN | RST) && (deltaLast > TOO_LARGE_SEQ_DELTA || deltaLast < -TOO_LARGE_SEQ_DELTA)) {
      // don't trust it
    } else if (f & FIN && ep.lastSeq === (ep.startSeq + 1) >>> 0) ep.lastSeq = seqEnd;
    else if (ep.state === EP.RESET) {
      // don't trust sequence numbers after a RST
    } else if (deltaLast > 0) ep.lastSeq = seqEnd;

    // Diagnosis facts (roles as they stand before any flip below).
    if (f & SYN && !(f & ACK) && isOrig) {
      c.origSyns++;
      if (c.firstSynTs < 0) {
        c.firstSynTs = ts;
        c.firstSynSeq = seg.seq;
      }
      if (c.synAckTs < 0) c.lastSynTs = ts;
    }
    if (f & SYN && f & ACK && !isOrig && c.synAckTs < 0) c.synAckTs = ts;
    if (f & SYN && f & ACK && isOrig && c.synAckFromOrigTs < 0) c.synAckFromOrigTs = ts;
    if (f & RST && !c.rstBy) {
      c.rstBy = isOrig ? 'orig' : 'resp';
      c.rstTs = ts;
    }
    if (f & FIN && !c.finBy) c.finBy = isOrig ? 'orig' : 'resp';
    if (len > 0 && !(f & RST)) {
      ep.payload += len;
      if (deltaLast <= 0) watchRetransmit(ep, seg.seq, len);
    }

    const wasFlipped = c.flipped;
    stateMachine(c, ts, isOrig, ep, peer, seg, len);
    if (c.flipped !== wasFlipped) {
      // The reverse-order SYN makes this packet the originator's, and the SYN-ACK seen first the
      // responder's answer (the capture saw them in the wrong order: no RTT can be told).
      isOrig = !isOrig;
      c.origSyns = 1;
      c.firstSynTs = ts;
      c.firstSynSeq = seg.seq;
      c.lastSynTs = -1;
      c.synAckTs = c.synAckFromOrigTs;
      if (c.rstBy) c.rstBy = c.rstBy === 'orig' ? 'resp' : 'orig';
      if (c.finBy) c.finBy = c.finBy === 'orig' ? 'resp' : 'orig';
    }
    // Only the client's first segments are looked at until a ClientHello shows up; no view of
    // the payload is made otherwise (most packets of a capture are bulk data).
    if (len > 0 && !isOrig && !(f & RST) && !c.tls && !c.tlsDone && c.orig.payload === 0 && c.resp.payload === len && seg.end > seg.off) {
      const first = buf.subarray(seg.off, seg.end);
      if (!looksLikeTlsRecord(first)) c.greeting = namePlaintext(first);
    }
    if (len > 0 && !(f & RST) && !c.tlsDone && seg.end > seg.off && (c.tls ? !c.tlsStreams![isOrig ? 0 : 1].broken : isOrig)) {
      tlsData(c, isOrig, ts, seg, buf.subarray(seg.off, seg.end));
    }
  }

  function tlsData(c: Conn, isOrig: boolean, ts: number, seg: TcpSegment, payload: Buffer): void {
    if (!c.tls) {
      if (!isOrig) return;
      if (c.tlsProbe++ >= TLS_PROBE_SEGMENTS) {
        c.tlsDone = true;
        return;
      }
      if (!startsWithClientHello(payload)) {
        c.greeting = null;
        if (!c.upgrade) c.upgrade = upgradeRequest(payload);
        return;
      }
      const greeted = c.greeting !== null && c.orig.payload === payload.length;
      if (c.orig.payload > payload.length || (c.resp.payload > 0 && !greeted)) {
        // A bare STARTTLS command is SMTP's on the mail ports (IRC and others use the word too).
        const smtp = c.upgrade === 'starttls' && SMTP_PORTS.has(c.respPort);
        c.starttls = smtp ? 'smtp' : (c.upgrade ?? 'plaintext');
      }
      c.tls = createTlsState();
      // The server greeted in plaintext and the client answered with a ClientHello: no TLS there.
      if (greeted) c.tls.plaintext = c.greeting;
      c.greeting = null;
      c.tlsStreams = [createByteStream(seg.seq), createByteStream(null)];
    }
    const t = c.tls;
    const stream = c.tlsStreams![isOrig ? 0 : 1];
    feedStream(stream, seg.seq, payload, seg.len, (b) => feedTls(t, isOrig, b, ts));
    if (t.complete || (c.tlsStreams![0].broken && c.tlsStreams![1].broken)) c.tlsDone = true;
  }

  return {
    size: () => live,
    evicted: () => evicted,
    release(c) {
      if (!c.ended || c.pooled || free.length >= maxLive) return;
      c.pooled = true;
      c.tls = null;
      c.tlsStreams = null;
      c.nextInBucket = null;
      free.push(c);
    },
    find: lookup,
    packet(id, srcFirst, ts, seg, buf, makeConn) {
      let c = lookup(id);
      if (c) {
        if (expired(c, ts)) {
          finish(c, 'timer');
          c = undefined;
        } else if (seg.flags & SYN && isReuse(c, seg)) {
          finish(c, 'reuse');
          c = undefined;
        }
      }
      if (!c) c = create(id, srcFirst, ts, seg, makeConn());
      process(c, srcFirst === c.origFirst, ts, seg, buf);
      return c;
    },
    sweep(now) {
      // The eviction queue holds every live record once, oldest first: walked instead of the
      // buckets (their number is fixed, the live records may be few), and compacted on the way.
      let w = 0;
      const end = orderTail;
      for (let i = orderHead; i < end; i++) {
        if (!queued(i)) continue;
        const c = order[i]!;
        const sn = orderSerial[i]!;
        if (expired(c, now)) {
          finish(c, 'timer');
          continue;
        }
        order[w] = c;
        orderSerial[w] = sn;
        w++;
      }
      order.fill(null, w, end);
      orderHead = 0;
      orderTail = w;
    },
    flush() {
      const all: Conn[] = [];
      for (let i = 0; i < nb; i++) for (let c: Conn | null = buckets[i] ?? null; c; c = c.nextInBucket) all.push(c);
      all.sort((a, b) => a.start - b.start || a.serial - b.serial);
      for (const c of all) finish(c, 'capture-end');
    },
  };
}
