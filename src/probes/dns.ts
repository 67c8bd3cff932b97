import dgram from 'node:dgram';
import net from 'node:net';
import dns2 from 'dns2';
import { now } from '../core/clock.js';
import { localErrorCause } from './local-errors.js';
import type { ProbePlan, WorkerProbeSpec } from '../core/types.js';
import { QTYPE_NAMES, answersQuestion, firstAnswers, rcodeName, wellFormed, type Question } from './dns-wire.js';
import type { Attempt, DnsOutcome, Probe, TargetRef } from '../core/types.js';
import {
  adFlag,
  encodeOpt,
  encodeQuestion,
  fullRcode,
  scanReply,
  serverCookieOk,
  type EdnsOptions,
  type EdnsReply,
  type ReplyScan,
} from './edns.js';

const { Packet } = dns2;

/** Answer records decoded (and shown) per reply; a larger answer section is counted, not decoded. */
const MAX_DECODED = 64;

export interface DnsServer {
  /** As the user wrote it (the key in byServer). */
  key: string;
  address: string;
  port: number;
}

export interface DnsQuery {
  name: string;
  type: number;
  /** Force TCP for every query. */
  tcp: boolean;
  /** Report `truncated` instead of retrying over TCP. */
  noFallback: boolean;
  timeoutMs: number;
  /** Decode answers into facts (costs a parse per reply). */
  decodeAnswers: boolean;
  /** The OPT record to send (RFC 6891); absent or null: none (--no-edns). */
  edns?: EdnsOptions | null;
  /** A fresh random label in front of the name on every query, so each one misses the resolver's cache. */
  randomLabel?: boolean;
  /**
   * NOERROR without a record of the asked type: the outcome `nodata` (default), or `ok` where an
   * empty answer is a normal one (diagnose asking AAAA of an IPv4-only name).
   */
  nodata?: 'outcome' | 'ok';
}

/** Length of the --random-label label: 12 of [a-z0-9], about 62 bits. */
export const RANDOM_LABEL_LENGTH = 12;
const LABEL_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Outcome of a reply's RCODE (RFC 1035 §4.1.1, RFC 6895). */
export function outcomeOfRcode(rcode: number): DnsOutcome {
  switch (rcode) {
    case 0:
      return 'ok';
    case 1:
      return 'formerr';
    case 2:
      return 'servfail';
    case 3:
      return 'nxdomain';
    case 4:
      return 'notimp';
    case 5:
      return 'refused';
    default:
      return 'rcode-other';
  }
}

/** A reply, or why there is none. `at` is when it arrived (engine clock). */
type Reply =
  | { kind: 'message'; buf: Buffer; at: number; /** Every section readable (checked once, by whoever received it). */ valid: boolean }
  | { kind: 'error'; outcome: DnsOutcome; cause: string; local?: boolean; at: number };

/** The question as sent (name, type, class on the wire) and as text. */
export interface Asked {
  wire: Buffer;
  question: Question;
}

/**
 * One UDP socket per server, shared by every query of the run: replies are
 * matched by id and question, so thousands can be outstanding at once.
 * (A socket per query, as dns2's own client does, is about 25x slower.)
 */
export interface DnsUdpChannel {
  /**
   * Sends `q` under an id not outstanding on this socket (written into bytes
   * 0-1) and calls `done` once: with the reply, or the reason there is none.
   */
  query(q: Buffer, asked: Asked, timeoutMs: number, done: (r: Reply) => void): void;
  /** Replies that matched nothing outstanding (late, or id/question mismatch). */
  mismatched(): number;
  /** The same replies by why: an id no query had, an id of a query that had timed out, another question (or not a response). */
  mismatchKinds(): MismatchCounts;
  /** The socket's own port (every query of the channel leaves from it). */
  localPort: number;
  close(): void;
}

export interface MismatchCounts {
  /** An id no query of the run was waiting for. */
  idMismatch: number;
  /** The id of a query that had already timed out. */
  late: number;
  /** The id of an outstanding query but another question, or without the QR bit. */
  questionMismatch: number;
}

interface Pending {
  id: number;
  asked: Asked;
  sentAt: number;
  deadline: number;
  done: (r: Reply) => void;
}

export function openUdpChannel(server: DnsServer): Promise<DnsUdpChannel> {
  const sock = dgram.createSocket({
    type: net.isIP(server.address) === 6 ? 'udp6' : 'udp4',
    recvBufferSize: 8 << 20,
    sendBufferSize: 8 << 20,
  });
  // Outstanding queries in send order. Every query of a run has the same
  // timeout, so the oldest expire first: one sweep replaces a timer per query.
  const pending = new Map<number, Pending>();
  // Ids of queries that timed out, so a reply that comes after its deadline is named late, not foreign.
  const expired = new Set<number>();
  const sweep = setInterval(() => {
    const t = now();
    for (const [id, p] of pending) {
      if (p.deadline > t) break;
      pending.delete(id);
      if (expired.size >= 4096) expired.clear();
      expired.add(id);
      p.done({ kind: 'error', outcome: 'timeout', cause: `no reply within ${Math.round(p.deadline - p.sentAt)} ms`, at: t });
    }
  }, 10);
  sweep.unref();
  let mismatched = 0;
  const kinds: MismatchCounts = { idMismatch: 0, late: 0, questionMismatch: 0 };
  let closed = false;

  // Stamp each reply the moment its callback runs and do the rest later, in
  // one batch per turn of the event loop: matching and settling a reply
  // starts the next query (a send), and that work would otherwise delay the
  // stamps of the replies behind it in the same poll.
  let inBuf: Buffer[] = [];
  let inAt: number[] = [];
  let draining = false;
  const drain = () => {
    const bufs = inBuf;
    const ats = inAt;
    inBuf = [];
    inAt = [];
    draining = false;
    for (let i = 0; i < bufs.length; i++) {
      const buf = bufs[i]!;
      const id = (buf[0]! << 8) | buf[1]!;
      const p = pending.get(id);
      if (!p) {
        mismatched++;
        if (expired.has(id)) kinds.late++;
        else kinds.idMismatch++;
        continue;
      }
      // RFC 5452 §9.1: a reply must match id and question; anything else may be
      // spoofed or stale. A reply that cannot be read goes to the query (malformed).
      const valid = wellFormed(buf);
      if (valid && (!(buf[2]! & 0x80) || !answersQuestion(buf, p.asked.wire))) {
        mismatched++;
        kinds.questionMismatch++;
        continue;
      }
      pending.delete(id);
      p.done({ kind: 'message', buf, at: ats[i]!, valid });
    }
  };
  sock.on('message', (buf) => {
    const at = now();
    if (buf.length < 2) {
      mismatched++;
      kinds.idMismatch++;
      return;
    }
    inBuf.push(buf);
    inAt.push(at);
    if (!draining) {
      draining = true;
      setImmediate(drain);
    }
  });
  // A connected UDP socket receives ICMP port/host unreachable as an error on
  // the socket; it cannot say which query it answered, so it fails the oldest.
  sock.on('error', (err: NodeJS.ErrnoException) => {
    const at = now();
    const local = localErrorCause(err);
    const oldest = pending.values().next().value;
    if (!oldest) return;
    pending.delete(oldest.id);
    oldest.done(
      local
        ? { kind: 'error', outcome: 'error', cause: local, local: true, at }
        : { kind: 'error', outcome: 'network-error', cause: err.code ?? err.message, at },
    );
  });

  // Entries whose send has not completed yet, in send order (a ring: at most 65535 are outstanding).
  const SEND_RING_MASK = 0xffff;
  const sending: (Pending | undefined)[] = new Array<Pending | undefined>(SEND_RING_MASK + 1);
  let sendHead = 0;
  let sendTail = 0;
  const afterSend = (err: Error | null) => {
    const entry = sending[sendHead];
    sending[sendHead] = undefined;
    sendHead = (sendHead + 1) & SEND_RING_MASK;
    if (!err || !entry) return;
    if (pending.get(entry.id) !== entry) return;
    pending.delete(entry.id);
    const local = localErrorCause(err);
    entry.done(
      local
        ? { kind: 'error', outcome: 'error', cause: local, local: true, at: now() }
        : { kind: 'error', outcome: 'network-error', cause: (err as NodeJS.ErrnoException).code ?? err.message, at: now() },
    );
  };

  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.connect(server.port, server.address, () => {
      sock.off('error', reject);
      resolve({
        query(q, asked, timeoutMs, done) {
          if (closed) return done({ kind: 'error', outcome: 'error', cause: 'channel closed', at: now() });
          if (pending.size >= 0xffff)
            return done({
              kind: 'error',
              outcome: 'error',
              cause: 'more than 65535 queries outstanding on one socket',
              local: true,
              at: now(),
            });
          // Random ids (RFC 5452 §4.3), never one still outstanding: a reused id would steal another query's reply.
          let id: number;
          do id = (Math.random() * 0x10000) | 0;
          while (pending.has(id));
          expired.delete(id);
          q[0] = id >> 8;
          q[1] = id & 0xff;
          const sentAt = now();
          const entry: Pending = { id, asked, sentAt, deadline: sentAt + timeoutMs, done };
          // No per-query abort listener: close() settles whatever is outstanding when the run ends.
          pending.set(id, entry);
          // One shared send callback, not a closure per query: sends complete in the order they
          // were made, so the entry a callback is about is the oldest one not yet completed.
          sending[sendTail] = entry;
          sendTail = (sendTail + 1) & SEND_RING_MASK;
          sock.send(q, afterSend);
        },
        mismatched: () => mismatched,
        mismatchKinds: () => ({ ...kinds }),
        localPort: sock.address().port,
        close() {
          closed = true;
          clearInterval(sweep);
          for (const p of pending.values()) p.done({ kind: 'error', outcome: 'timeout', cause: 'run ended', at: now() });
          pending.clear();
          try {
            sock.close();
          } catch {
            /* already closed */
          }
        },
      });
    });
  });
}

/** One query over TCP (RFC 1035 §4.2.2: two-byte length prefix). */
export function queryTcp(server: DnsServer, q: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Reply> {
  return new Promise((done) => {
    let settled = false;
    const chunks: Buffer[] = [];
    let have = 0;
    const t0 = now();
    const sock = net.connect({ host: server.address, port: server.port });
    const finish = (r: Reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      done(r);
    };
    const timer = setTimeout(
      () => finish({ kind: 'error', outcome: 'timeout', cause: `no reply over TCP within ${timeoutMs} ms`, at: now() }),
      timeoutMs,
    );
    const onAbort = () => finish({ kind: 'error', outcome: 'timeout', cause: 'aborted', at: now() });
    signal.addEventListener('abort', onAbort, { once: true });
    sock.setNoDelay(true);
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length);
      sock.write(Buffer.concat([len, q]));
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      if (have < 2) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(all);
      const need = all.readUInt16BE(0);
      if (have >= 2 + need) {
        const at = now();
        // A reply completed past the deadline (the timer was late: a busy process) is a
        // timeout, as the timer would have said: no answer counts as ok after --timeout.
        if (at - t0 > timeoutMs)
          return finish({ kind: 'error', outcome: 'timeout', cause: `no complete reply over TCP within ${timeoutMs} ms`, at });
        const msg = all.subarray(2, 2 + need);
        finish({ kind: 'message', buf: msg, at, valid: wellFormed(msg) });
      }
    });
    sock.on('end', () =>
      finish({
        kind: 'error',
        outcome: have > 0 ? 'malformed' : 'network-error',
        cause: have > 0 ? 'TCP reply cut short' : 'server closed the TCP connection without replying',
        at: now(),
      }),
    );
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const local = localErrorCause(err);
      finish(
        local
          ? { kind: 'error', outcome: 'error', cause: local, local: true, at: now() }
          : { kind: 'error', outcome: 'network-error', cause: err.code ?? err.message, at: now() },
      );
    });
  });
}

/**
 * A transport that carries one query per call and times its own phases:
 * DoT (src/probes/dns-dot.ts) and DoH (src/probes/dns-doh.ts).
 */
export interface DnsExchange {
  transport: 'dot' | 'doh';
  exchange(q: Buffer, timeoutMs: number, signal: AbortSignal): Promise<ExchangeReply>;
  close(): void;
}

/** A reply over DoT/DoH, with the phase times (connectMs, tlsMs, queryMs) and the connection's facts. */
export type ExchangeReply = (
  | { kind: 'message'; buf: Buffer; at: number; valid: boolean }
  | { kind: 'error'; outcome: string; cause: string; local?: boolean; at: number; phase?: 'tcp' | 'tls' | 'dns' }
) & {
  timings?: Record<string, number>;
  facts?: Record<string, unknown>;
  detail?: Record<string, unknown>;
  counters?: Record<string, number>;
};

export interface DnsProbeTarget {
  server: DnsServer;
  udp?: DnsUdpChannel;
  /** DoT or DoH to this server. */
  exchange?: DnsExchange;
}

type Transport = 'udp' | 'tcp' | 'dot' | 'doh';

/**
 * The DNS probe: one query to one server. Latency is query sent to the
 * final response, a TCP retry after a truncated UDP reply included; over
 * DoT and DoH it includes the connect and TLS handshake when the query
 * opened a connection (each phase is also timed on its own).
 */
export function makeDnsProbe(q: DnsQuery): Probe<DnsProbeTarget> {
  const edns = q.edns ?? null;
  const name = q.name.toLowerCase().replace(/\.$/, '');
  const rl = q.randomLabel ? RANDOM_LABEL_LENGTH : 0;
  // Header and question; with --random-label a placeholder label of fixed length leads, overwritten per query.
  const question = encodeQuestion(rl ? `${'x'.repeat(rl)}.${name}` : q.name, q.type);
  const fixedAsked: Asked = { wire: Buffer.from(question.subarray(12)), question: { name, type: q.type, cls: 1 } };
  const opt0 = edns ? encodeOpt(edns) : null;
  // Per server: the OPT record to send, carrying the server cookie of its last reply (RFC 7873 §5.3).
  const optFor = new Map<string, Buffer>();
  const serverCookies = new Map<string, string>();

  const build = (t: DnsProbeTarget): { buf: Buffer; asked: Asked } => {
    const opt = edns ? (optFor.get(t.server.key) ?? opt0!) : null;
    const buf = Buffer.allocUnsafe(question.length + (opt ? opt.length : 0));
    question.copy(buf);
    if (opt) {
      opt.copy(buf, question.length);
      buf[11] = 1; // ARCOUNT
    }
    if (!rl) return { buf, asked: fixedAsked };
    for (let i = 0; i < rl; i++) buf[13 + i] = LABEL_CHARS.charCodeAt((Math.random() * LABEL_CHARS.length) | 0);
    const label = buf.toString('latin1', 13, 13 + rl);
    return {
      buf,
      asked: {
        wire: Buffer.from(buf.subarray(12, question.length)),
        question: { name: name ? `${label}.${name}` : label, type: q.type, cls: 1 },
      },
    };
  };

  const decodedFor = new Set<string>();
  // Per-attempt objects the aggregate only reads, shared across attempts (hot path: no EDNS in the reply).
  const okTallies = { rcodes: 'NOERROR' };
  const okDetail = new Map<number, Record<string, unknown>>();

  type EdnsFacts = { detail: Record<string, unknown>; tallies: Record<string, string>; counters: Record<string, number> };
  // The default run (OPT and cookie, nothing else asked): the facts of one server's replies are the
  // same reply after reply, so they are built once per server and shared while they stay the same.
  const plainAsk = edns !== null && !edns.nsid && !edns.ecs && !edns.dnssec;
  const plainFacts = new Map<string, { e: EdnsReply; state: string; facts: EdnsFacts }>();
  const sameReply = (a: EdnsReply, b: EdnsReply) =>
    a.udpSize === b.udpSize &&
    a.version === b.version &&
    a.dnssecOk === b.dnssecOk &&
    (a.cookie?.server === undefined
      ? b.cookie?.server === undefined
      : b.cookie?.server !== undefined && a.cookie.server.equals(b.cookie.server));
  const okParts = new WeakMap<EdnsFacts, Map<number, { tallies: Record<string, string>; detail: Record<string, unknown> }>>();

  /** What the reply's OPT record says, as detail, tallies and counters; null when no OPT was sent. */
  const ednsFacts = (t: DnsProbeTarget, buf: Buffer, scan: ReplyScan): (EdnsFacts & { shared?: boolean }) | null => {
    if (!edns) return null;
    const e0 = scan.edns;
    const plain = plainAsk && e0 !== null && e0.ede.length === 0 && e0.ecsScope === undefined && e0.nsid === undefined;
    if (plain) {
      const prev = plainFacts.get(t.server.key);
      const c = e0.cookie;
      const state = !edns.clientCookie
        ? ''
        : !c
          ? 'none'
          : !c.client.equals(edns.clientCookie)
            ? 'client-mismatch'
            : !c.server
              ? 'no-server-cookie'
              : serverCookieOk(c.server)
                ? 'ok'
                : 'bad-server-cookie';
      if (prev && prev.state === state && sameReply(prev.e, e0)) return { ...prev.facts, shared: true };
      const facts = ednsFactsOf(t, buf, scan);
      plainFacts.set(t.server.key, { e: e0, state, facts });
      return facts;
    }
    return ednsFactsOf(t, buf, scan);
  };

  const ednsFactsOf = (t: DnsProbeTarget, buf: Buffer, scan: ReplyScan): EdnsFacts => {
    const edns = q.edns!;
    const detail: Record<string, unknown> = {};
    const tallies: Record<string, string> = {};
    const counters: Record<string, number> = {};
    const e = scan.edns;
    tallies.edns = e ? 'opt' : scan.badOpt ? 'bad-opt' : 'no-opt';
    if (e) {
      detail.edns = { udpSize: e.udpSize, version: e.version, do: e.dnssecOk };
      if (e.ede.length) {
        detail.ede = e.ede;
        tallies.ede = e.ede.map((x) => `${x.code} ${x.name}`).join(', ');
      }
      if (e.ecsScope !== undefined) detail.ecsScope = e.ecsScope;
    }
    if (edns.nsid) {
      if (e?.nsid !== undefined) detail.nsid = e.nsid;
      tallies.nsid = e?.nsid ?? '(none)';
    }
    if (edns.ecs) tallies.ecsScope = e?.ecsScope === undefined ? '(none)' : `/${e.ecsScope}`;
    if (edns.clientCookie && e) {
      const c = e.cookie;
      let state: string;
      if (!c) state = 'none';
      else if (!c.client.equals(edns.clientCookie)) state = 'client-mismatch';
      else if (!c.server) state = 'no-server-cookie';
      else if (!serverCookieOk(c.server)) state = 'bad-server-cookie';
      else {
        state = 'ok';
        const hex = c.server.toString('hex');
        if (serverCookies.get(t.server.key) !== hex) {
          serverCookies.set(t.server.key, hex);
          optFor.set(t.server.key, encodeOpt(edns, c.server));
        }
        detail.serverCookie = hex;
      }
      tallies.cookie = state;
    }
    if (edns.dnssec) {
      const ad = adFlag(buf);
      detail.ad = ad;
      detail.rrsig = scan.rrsig;
      counters.adReplies = ad ? 1 : 0;
      counters.rrsigReplies = scan.rrsig > 0 ? 1 : 0;
    }
    return { detail, tallies, counters };
  };

  /** The attempt for a reply that arrived (`ms` after the query left). */
  const fromMessage = (
    t: DnsProbeTarget,
    buf: Buffer,
    valid: boolean,
    ms: number,
    transport: Transport,
    id: number,
    fellBack: boolean,
    asked: Asked,
  ): Attempt => {
    const counters: Record<string, number> | undefined = fellBack ? { tcpFallback: 1 } : undefined;
    if (!valid) {
      return {
        outcome: 'malformed',
        phase: 'dns',
        ms: null,
        cause: 'reply cannot be parsed',
        counters,
        detail: { transport, bytes: buf.length },
      };
    }
    // The UDP channel matched id and question before handing the reply over.
    if (transport !== 'udp' && (((buf[0]! << 8) | buf[1]!) !== id || !answersQuestion(buf, asked.wire))) {
      // Only reachable over a stream: a reply on our own connection that answers another question.
      return {
        outcome: 'malformed',
        phase: 'dns',
        ms: null,
        cause: 'reply id or question does not match the query',
        counters,
        detail: { transport },
      };
    }
    const flags = (buf[2]! << 8) | buf[3]!;
    if (flags & 0x0200 && transport !== 'udp') {
      return {
        outcome: 'truncated',
        phase: 'dns',
        ms: null,
        cause: `TC bit set on a ${transport.toUpperCase()} reply`,
        counters,
        detail: { transport },
      };
    }
    const scan = scanReply(buf, q.type);
    const rc = fullRcode(buf, scan.edns);
    const ancount = (buf[6]! << 8) | buf[7]!;
    let outcome: string = outcomeOfRcode(rc);
    // NOERROR without a record of the asked type (RFC 2308 §2.2): the name exists, the data does not.
    if (outcome === 'ok' && scan.ofType === 0 && q.nodata !== 'ok') outcome = 'nodata';
    const rcode = rcodeName(rc);
    const ef = ednsFacts(t, buf, scan);
    let a: Attempt;
    if (outcome === 'ok' && transport === 'udp' && !fellBack && !ef) {
      let detail = okDetail.get(ancount);
      if (!detail) okDetail.set(ancount, (detail = { transport, rcode, answers: ancount }));
      a = { outcome, phase: 'dns', ms, tallies: okTallies, detail };
    } else if (outcome === 'ok' && transport === 'udp' && !fellBack && ef?.shared) {
      // The same facts as this server's previous reply: share the attempt's parts too (no counters in a plain run).
      const key = plainFacts.get(t.server.key)!.facts;
      let byCount = okParts.get(key);
      if (!byCount) okParts.set(key, (byCount = new Map()));
      let parts = byCount.get(ancount);
      if (!parts)
        byCount.set(
          ancount,
          (parts = { tallies: { rcodes: rcode, ...ef.tallies }, detail: { transport, rcode, answers: ancount, ...ef.detail } }),
        );
      a = { outcome, phase: 'dns', ms, tallies: parts.tallies, detail: parts.detail };
    } else {
      const answered = outcome === 'ok';
      a = {
        outcome,
        phase: 'dns',
        ms: answered ? ms : null,
        // A SERVFAIL, NXDOMAIN or NODATA is an answer that took a measured time: keep it.
        ...(answered ? {} : { timings: { replyMs: ms } }),
        tallies: ef ? { rcodes: rcode, ...ef.tallies } : { rcodes: rcode },
        counters: ef ? { ...counters, ...ef.counters } : counters,
        detail: { transport, rcode, answers: ancount, ...(answered ? {} : { replyMs: round(ms) }), ...ef?.detail },
      };
    }
    if (outcome !== 'ok') {
      const ede = scan.edns?.ede ?? [];
      a.cause =
        (outcome === 'nodata' ? `NOERROR without a ${QTYPE_NAMES[q.type] ?? `TYPE${q.type}`} record` : rcode) +
        (ede.length ? ` (EDE ${ede.map((x) => `${x.code} ${x.name}${x.text ? `: ${x.text}` : ''}`).join('; ')})` : '');
    }
    if (q.decodeAnswers || !decodedFor.has(t.server.key)) {
      decodedFor.add(t.server.key);
      try {
        // At most MAX_DECODED records are decoded and shown; the rest are counted.
        const shown = firstAnswers(buf, MAX_DECODED);
        const parsed = Packet.parse(shown === null || shown === buf ? buf : Buffer.from(shown.buffer, shown.byteOffset, shown.length));
        const answers = parsed.answers.map((r) => formatAnswer(r as unknown as Record<string, unknown>));
        if (ancount > MAX_DECODED && shown !== null) answers.push(`(and ${ancount - MAX_DECODED} more records, not decoded)`);
        a.facts = { answers };
        a.detail = { ...a.detail, records: a.facts.answers };
      } catch {
        // the walk above found it well-formed; dns2 not decoding a type is no failure
      }
    }
    return a;
  };

  const fromError = (reply: Reply & { kind: 'error' }, transport: Transport, fellBack: boolean): Attempt => ({
    outcome: reply.outcome,
    phase: 'dns',
    ms: null,
    cause: reply.cause,
    local: reply.local,
    counters: fellBack ? { tcpFallback: 1 } : undefined,
    detail: { transport },
  });

  /** Over TCP from the start (--tcp, or no UDP channel). */
  const overTcp = async (t: DnsProbeTarget, buf: Buffer, asked: Asked, signal: AbortSignal): Promise<Attempt> => {
    const start = now();
    const reply = await queryTcp(t.server, buf, q.timeoutMs, signal);
    if (reply.kind === 'error') return fromError(reply, 'tcp', false);
    return fromMessage(t, reply.buf, reply.valid, reply.at - start, 'tcp', buf.readUInt16BE(0), false, asked);
  };

  /** Over DoT or DoH: the exchange times its phases; the attempt's ms is the whole of it. */
  const overExchange = async (t: DnsProbeTarget, x: DnsExchange, buf: Buffer, asked: Asked, signal: AbortSignal): Promise<Attempt> => {
    const start = now();
    const reply = await x.exchange(buf, q.timeoutMs, signal);
    let a: Attempt;
    if (reply.kind === 'error') {
      a = { ...fromError(reply as Reply & { kind: 'error' }, x.transport, false), phase: reply.phase ?? 'dns' };
      if (reply.timings) a.timings = { ...reply.timings };
    } else {
      a = fromMessage(t, reply.buf, reply.valid, reply.at - start, x.transport, buf.readUInt16BE(0), false, asked);
      if (reply.timings) a.timings = { ...a.timings, ...reply.timings };
    }
    if (reply.facts) a.facts = { ...a.facts, ...reply.facts };
    if (reply.detail) a.detail = { ...a.detail, ...reply.detail };
    if (reply.counters) a.counters = { ...a.counters, ...reply.counters };
    if (reply.detail?.http) a.tallies = { ...a.tallies, http: String(reply.detail.http) };
    return a;
  };

  /** RFC 7766 §5: a truncated UDP reply is retried over TCP, within the same deadline. */
  const fallBack = async (t: DnsProbeTarget, buf: Buffer, asked: Asked, start: number, signal: AbortSignal): Promise<Attempt> => {
    const left = Math.max(1, q.timeoutMs - (now() - start));
    const reply = await queryTcp(t.server, buf, left, signal);
    if (reply.kind === 'error') {
      return {
        outcome: reply.outcome === 'timeout' || reply.outcome === 'network-error' ? 'truncated' : reply.outcome,
        phase: 'dns',
        ms: null,
        cause: `truncated over UDP; TCP retry: ${reply.cause}`,
        local: reply.local,
        counters: { tcpFallback: 1 },
        detail: { transport: 'tcp', tc: true },
      };
    }
    return fromMessage(t, reply.buf, reply.valid, reply.at - start, 'tcp', buf.readUInt16BE(0), true, asked);
  };

  return (t, signal) => {
    const { buf, asked } = build(t);
    if (t.exchange) {
      buf.writeUInt16BE((Math.random() * 0x10000) | 0, 0);
      return overExchange(t, t.exchange, buf, asked, signal);
    }
    if (q.tcp || !t.udp) {
      buf.writeUInt16BE((Math.random() * 0x10000) | 0, 0);
      return overTcp(t, buf, asked, signal);
    }
    // UDP: a callback straight from the channel, one promise per attempt. With per-attempt
    // records (decodeAnswers) each names its query id and port, as a capture shows the query.
    const udp = t.udp;
    const resolveWith = q.decodeAnswers
      ? (a: Attempt) =>
          a.detail?.transport === 'udp' ? { ...a, detail: { ...a.detail, queryId: (buf[0]! << 8) | buf[1]!, localPort: udp.localPort } } : a
      : (a: Attempt) => a;
    return new Promise<Attempt>((done) => {
      const resolve = (a: Attempt | Promise<Attempt>) => done(a instanceof Promise ? a.then(resolveWith) : resolveWith(a));
      const start = now();
      udp.query(buf, asked, q.timeoutMs, (reply) => {
        if (reply.kind === 'error') return resolve(fromError(reply, 'udp', false));
        const b = reply.buf;
        if (reply.valid && b[2]! & 0x02) {
          if (q.noFallback) {
            return resolve({
              outcome: 'truncated',
              phase: 'dns',
              ms: null,
              cause: 'TC bit set (--no-fallback)',
              tallies: { rcodes: rcodeName(b[3]! & 0xf) },
              detail: { transport: 'udp', tc: true },
            });
          }
          return resolve(fallBack(t, buf, asked, start, signal));
        }
        resolve(fromMessage(t, b, reply.valid, reply.at - start, 'udp', (buf[0]! << 8) | buf[1]!, false, asked));
      });
    });
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * One answer record in presentation format (as dig prints the RDATA): every
 * field a record type carries, so an SRV keeps its weight and port and an SOA
 * its serial.
 */
export function formatAnswer(r: Record<string, unknown>): string {
  const type = Number(r.type);
  const known = Object.entries(Packet.TYPE).find(([, v]) => v === type)?.[0];
  const typeName = known ?? QTYPE_NAMES[type] ?? `TYPE${type}`;
  // A type dns2 cannot decode (RRSIG, NSEC, …): RFC 3597's generic form, never raw bytes on a terminal.
  if (!known && Buffer.isBuffer(r.data))
    return `${String(r.name)} ${String(r.ttl)} ${typeName} \\# ${r.data.length} ${r.data.toString('hex')}`;
  const txt = (d: unknown) => (Array.isArray(d) ? d : [d]).map((x) => JSON.stringify(String(x))).join(' ');
  let rdata: string;
  switch (typeName) {
    case 'SOA':
      rdata = [r.primary, r.admin, r.serial, r.refresh, r.retry, r.expiration, r.minimum].join(' ');
      break;
    case 'SRV':
      rdata = [r.priority, r.weight, r.port, r.target].join(' ');
      break;
    case 'MX':
      rdata = `${String(r.priority)} ${String(r.exchange)}`;
      break;
    case 'CAA':
      rdata = `${String(r.flags)} ${String(r.tag)} ${JSON.stringify(String(r.value ?? ''))}`;
      break;
    case 'TXT':
    case 'SPF':
      rdata = txt(r.data);
      break;
    default: {
      const value =
        r.address ??
        r.domain ??
        r.ns ??
        r.exchange ??
        r.target ??
        (Array.isArray(r.data) ? (r.data as string[]).join('') : r.data) ??
        r.primary ??
        '';
      rdata = String(value);
    }
  }
  return `${String(r.name)} ${String(r.ttl)} ${typeName} ${rdata}`.trim();
}

export interface DnsPlanOptions extends DnsQuery {
  servers: DnsServer[];
  /** DoT or DoH per server (src/probes/dns-dot.ts, dns-doh.ts); UDP/TCP when absent. */
  openExchange?: (server: DnsServer) => DnsExchange | Promise<DnsExchange>;
}

/** What the result says of the query sent (`query` field). */
function describeQuery(o: DnsPlanOptions, typeName: string, transport: string): Record<string, unknown> {
  const e = o.edns;
  return {
    name: o.name,
    type: typeName,
    transport,
    fallback: !o.noFallback,
    ...(o.randomLabel ? { randomLabel: true } : {}),
    edns: e
      ? {
          udpSize: e.udpSize,
          do: e.dnssec,
          nsid: e.nsid,
          cookie: Boolean(e.clientCookie),
          ...(e.ecs ? { ecs: e.ecs.text } : {}),
        }
      : false,
  };
}

// `conndx dns --workers N` over UDP and TCP: each worker thread rebuilds the
// probe from the query alone (src/probes/dns-worker.ts).
/** What crosses to a worker: the query and the servers, plain data. */
export interface DnsWorkerArgs {
  query: DnsQuery;
  servers: DnsServer[];
}

/** The worker spec of a UDP/TCP dns plan: the query's fields only (no function, no socket). */
export function dnsWorkerSpec(q: DnsQuery, targets: TargetRef<DnsProbeTarget>[]): WorkerProbeSpec {
  const query: DnsQuery = {
    name: q.name,
    type: q.type,
    tcp: q.tcp,
    noFallback: q.noFallback,
    timeoutMs: q.timeoutMs,
    decodeAnswers: q.decodeAnswers,
    ...(q.edns !== undefined ? { edns: q.edns } : {}),
    ...(q.randomLabel !== undefined ? { randomLabel: q.randomLabel } : {}),
    ...(q.nodata !== undefined ? { nodata: q.nodata } : {}),
  };
  const servers = targets.map((t) => ({ ...t.target.server }));
  return {
    // The factory: src/probes/dns-worker.ts (its own sockets in each thread).
    module: 'probes/dns-worker.js',
    factory: 'createDnsWorkerProbe',
    args: { query, servers } satisfies DnsWorkerArgs,
    // The targets without their sockets: a worker finds its own by the server's key.
    targets: targets.map((t) => ({ key: t.key, target: { server: { ...t.target.server } } })),
    // One thread answers most resolvers; more only when asked.
    onlyWhenAsked: true,
  };
}

/** Mismatched replies by server key, as a worker thread reports them at the end of its share. */
export type WorkerMismatch = Record<string, MismatchCounts>;

function addMismatch(into: WorkerMismatch, key: string, k: MismatchCounts): void {
  const m = (into[key] ??= { idMismatch: 0, late: 0, questionMismatch: 0 });
  m.idMismatch += k.idMismatch;
  m.late += k.late;
  m.questionMismatch += k.questionMismatch;
}

/**
 * The DNS probe against each server, with the shared UDP sockets (or the
 * DoT/DoH connections) opened: what `conndx dns`, checks and diagnose run.
 * Call `close()` when done.
 */
export async function planDns(o: DnsPlanOptions): Promise<{
  plan: ProbePlan<DnsProbeTarget>;
  close(): void;
}> {
  const channels: DnsUdpChannel[] = [];
  const exchanges: DnsExchange[] = [];
  const byKey = new Map<string, DnsUdpChannel>();
  const targets: TargetRef<DnsProbeTarget>[] = [];
  try {
    for (const server of o.servers) {
      const t: DnsProbeTarget = { server };
      if (o.openExchange) {
        t.exchange = await o.openExchange(server);
        exchanges.push(t.exchange);
      } else if (!o.tcp) {
        t.udp = await openUdpChannel(server);
        channels.push(t.udp);
        byKey.set(server.key, t.udp);
      }
      targets.push({ key: server.key, target: t });
    }
  } catch (e) {
    for (const c of channels) c.close();
    for (const x of exchanges) x.close();
    throw e;
  }
  const fromWorkers: WorkerMismatch = {};
  const typeName = QTYPE_NAMES[o.type] ?? `TYPE${o.type}`;
  const transport = exchanges[0]?.transport ?? (o.tcp ? 'tcp' : 'udp');
  const zeroCounters = ['tcpFallback'];
  if (exchanges.length) zeroCounters.push('connections');
  if (o.edns?.dnssec) zeroCounters.push('adReplies', 'rrsigReplies');
  return {
    plan: {
      probe: 'dns',
      label: o.name,
      targets,
      fn: makeDnsProbe(o),
      breakdown: 'byServer',
      zeroCounters,
      // UDP shares one socket per server; TCP (forced, or a fallback) holds one per query; DoT/DoH one per connection.
      fdsPerAttempt: 1,
      // Over UDP and TCP, worker threads (--workers) rebuild the probe with sockets of their own.
      ...(exchanges.length
        ? { oneThread: `DoT and DoH run on one thread (${transport} connections are not shared across threads)` }
        : { worker: dnsWorkerSpec(o, targets) }),
      // Each worker's sockets' mismatched replies, per server, added to this thread's own.
      workerReports: (reports) => {
        for (const r of reports as WorkerMismatch[]) for (const [key, k] of Object.entries(r)) addMismatch(fromWorkers, key, k);
      },
      decorate: (res) => {
        res.query = describeQuery(o, typeName, transport);
        const per: Record<string, MismatchCounts> = {};
        for (const [key, c] of byKey) if (c.mismatched()) addMismatch(per, key, c.mismatchKinds());
        for (const [key, k] of Object.entries(fromWorkers)) addMismatch(per, key, k);
        const total = (k: MismatchCounts) => k.idMismatch + k.late + k.questionMismatch;
        const mismatched = Object.values(per).reduce((n, k) => n + total(k), 0);
        if (mismatched) {
          res.mismatchedReplies = mismatched;
          // Which server sent them, and why each was not taken.
          for (const [key, k] of Object.entries(per)) {
            const sub = (res.byServer as Record<string, Record<string, unknown>> | undefined)?.[key];
            if (sub) Object.assign(sub, { mismatchedReplies: total(k), ...k });
          }
          res.mismatchedBy = per;
        }
      },
    },
    close() {
      for (const c of channels) c.close();
      for (const x of exchanges) x.close();
    },
  };
}
