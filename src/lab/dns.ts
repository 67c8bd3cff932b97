import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import dns2 from 'dns2';
import { LAB_HOST, type LabFactory } from './types.js';

const { Packet } = dns2;
type DnsPacket = InstanceType<typeof Packet>;

/** What a lab DNS handler answers: a packet, raw bytes, or nothing at all. */
type Answer = DnsPacket | Buffer | null;
/** `raw` is the query as received: what dns2 drops (EDNS options it has no decoder for) is read from it. */
export type Handler = (req: DnsPacket, transport: 'udp' | 'tcp', raw: Buffer) => Answer | Promise<Answer>;

export const LAB_ANSWER_V4 = '192.0.2.10';
export const LAB_ANSWER_V6 = '2001:db8::10';

/** A NOERROR reply with one record of the asked type (documentation addresses only). */
export function answerFor(req: DnsPacket): DnsPacket {
  const res = Packet.createResponseFromRequest(req);
  const q = req.questions[0];
  if (!q) return res;
  const base = { name: q.name, class: Packet.CLASS.IN, ttl: 60 };
  const T = Packet.TYPE;
  const rr: Record<number, Record<string, unknown>> = {
    [T.A]: { type: T.A, address: LAB_ANSWER_V4 },
    [T.AAAA]: { type: T.AAAA, address: LAB_ANSWER_V6 },
    [T.CNAME]: { type: T.CNAME, domain: `alias.${q.name}` },
    [T.MX]: { type: T.MX, exchange: `mail.${q.name}`, priority: 10 },
    [T.TXT]: { type: T.TXT, data: 'conndx lab' },
    [T.NS]: { type: T.NS, ns: `ns1.${q.name}` },
    [T.PTR]: { type: T.PTR, domain: 'host.lab.test' },
    [T.SRV]: { type: T.SRV, priority: 1, weight: 1, port: 443, target: `svc.${q.name}` },
    [T.SOA]: {
      type: T.SOA,
      primary: `ns1.${q.name}`,
      admin: `hostmaster.${q.name}`,
      serial: 1,
      refresh: 3600,
      retry: 600,
      expiration: 86400,
      minimum: 60,
    },
  };
  const r = rr[q.type];
  if (r) res.answers.push({ ...base, ...r } as unknown as DnsPacket['answers'][number]);
  return res;
}

function withRcode(req: DnsPacket, rcode: number): DnsPacket {
  const res = Packet.createResponseFromRequest(req);
  res.header.rcode = rcode;
  return res;
}

export interface Bound {
  port: number;
  close(): Promise<void>;
}

function toBuffer(a: Answer): Buffer | null {
  if (a === null) return null;
  return Buffer.isBuffer(a) ? a : a.toBuffer();
}

/**
 * UDP and TCP on the same loopback port, as a DNS server has. dns2's
 * servers bind every interface unless told an address, so the address is
 * always passed. Raw sockets carry what dns2 would not send (malformed
 * bytes, TC without payload limits), so the servers here are dgram/net with
 * dns2 as the codec.
 */
export interface ServeOptions {
  /** The answer depends only on the question and transport: build it once, then patch the id. */
  cacheable?: boolean;
  /** Hold each query this long before answering (ms); `raw` is the query. */
  delayMs?: (raw: Buffer) => number;
  /** Told how long each query was actually held (receipt to send). */
  onHeld?: (ms: number) => void;
}

/**
 * The reply bytes to one query message (null: stay silent), as serveDns
 * gives them over UDP and TCP and the DoT and DoH endpoints over TLS and HTTP.
 */
export function makeResponder(handler: Handler, so: ServeOptions = {}): (msg: Buffer, transport: 'udp' | 'tcp') => Promise<Buffer | null> {
  const cache = new Map<string, Buffer | null>();
  // Parsing with dns2 costs more than the rest of a reply; a lab that answers
  // thousands of queries a second reuses the reply bytes of a question it saw.
  return async (msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | null> => {
    const t0 = performance.now();
    const key = so.cacheable && msg.length >= 12 ? transport + msg.subarray(12).toString('latin1') : undefined;
    let out: Buffer | null | undefined = key === undefined ? undefined : cache.get(key);
    if (out === undefined) {
      let req: DnsPacket;
      try {
        req = Packet.parse(msg);
      } catch {
        return null;
      }
      out = toBuffer(await handler(req, transport, msg));
      if (key !== undefined && cache.size < 10_000) cache.set(key, out);
    }
    if (out && key !== undefined) {
      out = Buffer.from(out);
      msg.copy(out, 0, 0, 2);
    }
    const d = so.delayMs?.(msg);
    if (d) await delay(d);
    so.onHeld?.(performance.now() - t0);
    return out;
  };
}

export async function serveDns(handler: Handler, host = LAB_HOST, so: ServeOptions = {}): Promise<Bound> {
  let closed = false;
  const reply = makeResponder(handler, so);
  for (let tries = 0; ; tries++) {
    // Large buffers: a burst of thousands of queries must not be lost in the lab's own socket.
    const udp = dgram.createSocket({ type: net.isIP(host) === 6 ? 'udp6' : 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    await new Promise<void>((res, rej) => {
      udp.once('error', rej);
      udp.bind(0, host, () => {
        udp.off('error', rej);
        res();
      });
    });
    const port = udp.address().port;
    const tcp = net.createServer();
    try {
      await new Promise<void>((res, rej) => {
        tcp.once('error', rej);
        tcp.listen(port, host, () => {
          tcp.off('error', rej);
          res();
        });
      });
    } catch (e) {
      udp.close();
      if (tries < 20) continue;
      throw e;
    }
    udp.on('message', async (msg, rinfo) => {
      const out = await reply(msg, 'udp');
      // A reply held past close() is dropped: the socket is gone.
      if (out && !closed) udp.send(out, rinfo.port, rinfo.address, () => {});
    });
    udp.on('error', () => {});
    const conns = new Set<net.Socket>();
    tcp.on('connection', (sock) => {
      conns.add(sock);
      sock.on('close', () => conns.delete(sock));
      sock.on('error', () => {});
      let buf = Buffer.alloc(0);
      sock.on('data', async (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const out = await reply(Buffer.from(msg), 'tcp');
          if (out && !sock.destroyed) {
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            sock.write(Buffer.concat([len, out]));
          }
        }
      });
    });
    return {
      port,
      close: async () => {
        closed = true;
        for (const s of conns) s.destroy();
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
      },
    };
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function endpoint(name: string, description: string, expect: string, handler: Handler): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const b = await serveDns(handler, host, { cacheable: true });
    return { name, kind: 'dns', host, port: b.port, description, expect, info: { name: 'lab.test' }, close: b.close };
  };
}

/**
 * The slow-tail resolver: every tenth query waits `slowMs`, the rest `fastMs`,
 * by arrival order, so the mix is known exactly. It records how long it
 * held each query (receipt to send), which is the truth a client's
 * percentiles are checked against.
 */
export function slowTailDns(opts: { fastMs?: number; slowMs?: number; every?: number } = {}): LabFactory {
  const fastMs = opts.fastMs ?? 5;
  const slowMs = opts.slowMs ?? 100;
  const every = opts.every ?? 10;
  return async (o) => {
    let n = 0;
    const held: number[] = [];
    const host = o?.host ?? LAB_HOST;
    const b = await serveDns(answerFor, host, {
      cacheable: true,
      delayMs: () => (n++ % every === every - 1 ? slowMs : fastMs),
      onHeld: (ms) => {
        held.push(ms);
        if (held.length > 1_000_000) held.splice(0, held.length / 2);
      },
    });
    return {
      name: 'dns-slow-tail',
      kind: 'dns',
      host,
      port: b.port,
      description: `answers ${100 - 100 / every}% after ${fastMs} ms and ${100 / every}% after ${slowMs} ms`,
      expect: 'ok',
      info: { name: 'lab.test', held },
      close: b.close,
    };
  };
}

/**
 * A resolver with a known capacity: while at most `capacity` queries are
 * outstanding it answers after `fastMs`; past that, every query waits
 * `slowMs`, as an overloaded server does. `--adaptive` should settle near
 * `capacity`.
 */
export function degradingDns(opts: { capacity?: number; fastMs?: number; slowMs?: number } = {}): LabFactory {
  const capacity = opts.capacity ?? 40;
  const fastMs = opts.fastMs ?? 20;
  const slowMs = opts.slowMs ?? 200;
  return async (o) => {
    let outstanding = 0;
    const host = o?.host ?? LAB_HOST;
    const b = await serveDns(answerFor, host, {
      cacheable: true,
      delayMs: () => (++outstanding > capacity ? slowMs : fastMs),
      onHeld: () => {
        outstanding--;
      },
    });
    return {
      name: 'dns-degrade',
      kind: 'dns',
      host,
      port: b.port,
      description: `answers after ${fastMs} ms up to ${capacity} queries outstanding, after ${slowMs} ms beyond`,
      expect: 'ok',
      info: { name: 'lab.test', capacity },
      close: b.close,
    };
  };
}

/**
 * A resolver that answers one query at a time, each taking `serviceMs`: its
 * capacity is 1000/serviceMs queries per second, and past that a queue
 * builds, as it does in a real overloaded server. An open-loop run above the
 * capacity must show that queue in its latencies.
 */
export function serialDns(opts: { serviceMs?: number } = {}): LabFactory {
  const serviceMs = opts.serviceMs ?? 10;
  return async (o) => {
    let busyUntil = 0;
    const host = o?.host ?? LAB_HOST;
    const b = await serveDns(answerFor, host, {
      cacheable: true,
      delayMs: () => {
        const now = performance.now();
        busyUntil = Math.max(busyUntil, now) + serviceMs;
        return busyUntil - now;
      },
    });
    return {
      name: 'dns-serial',
      kind: 'dns',
      host,
      port: b.port,
      description: `answers one query at a time, ${serviceMs} ms each (capacity ${Math.round(1000 / serviceMs)}/s; beyond it a queue builds)`,
      expect: 'ok',
      info: { name: 'lab.test', serviceMs },
      close: b.close,
    };
  };
}

/** Never answers, over UDP or TCP. */
const dropDns: LabFactory = endpoint('dns-drop', 'reads every query and never answers (UDP and TCP)', 'timeout', () => null);

/** A port with nothing listening: ICMP port unreachable over UDP, RST over TCP. */
const closedDns: LabFactory = async (opts) => {
  const host = opts?.host ?? LAB_HOST;
  const b = await serveDns(() => null, host);
  await b.close();
  return {
    name: 'dns-closed',
    kind: 'dns',
    host,
    port: b.port,
    description: 'a closed port: UDP gets ICMP port unreachable, TCP gets RST',
    expect: 'network-error',
    info: { name: 'lab.test' },
    close: async () => {},
  };
};

/** UDP says TC with no answer; TCP on the same port gives the full answer (RFC 7766). */
const truncatedDns = endpoint('dns-truncated', 'truncated (TC) over UDP, full answer over TCP on the same port', 'ok', (req, transport) => {
  if (transport === 'tcp') return answerFor(req);
  const res = Packet.createResponseFromRequest(req);
  res.header.tc = 1;
  return res;
});

/** Echoes the id and QR but claims an answer it does not carry. */
const malformedDns = endpoint(
  'dns-malformed',
  'replies with a header that promises an answer the bytes do not hold',
  'malformed',
  (req) => {
    const good = answerFor(req).toBuffer();
    good.writeUInt16BE(3, 6); // ANCOUNT 3, only one present
    return good.subarray(0, good.length - 2);
  },
);

/** First a reply with a wrong id, then one for another name, then the right one: only the last may count. */
const spoofDns: LabFactory = async (opts) => {
  const host = opts?.host ?? LAB_HOST;
  const udp = dgram.createSocket(net.isIP(host) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((r) => udp.bind(0, host, () => r()));
  udp.on('message', async (msg, rinfo) => {
    let req: DnsPacket;
    try {
      req = Packet.parse(msg);
    } catch {
      return;
    }
    const send = (b: Buffer) => udp.send(b, rinfo.port, rinfo.address, () => {});
    const wrongId = answerFor(req).toBuffer();
    wrongId.writeUInt16BE((req.header.id + 1) & 0xffff, 0);
    send(wrongId);
    const other = Packet.createResponseFromRequest(req);
    other.questions = [{ ...req.questions[0]!, name: `other.${req.questions[0]?.name ?? 'lab.test'}` } as (typeof other.questions)[number]];
    send(other.toBuffer());
    await delay(20);
    send(answerFor(req).toBuffer());
  });
  return {
    name: 'dns-spoof',
    kind: 'dns',
    host,
    port: udp.address().port,
    description: 'sends a reply with the wrong id and one for another name before the real answer (after 20 ms)',
    expect: 'ok',
    info: { name: 'lab.test' },
    close: () => new Promise<void>((r) => udp.close(() => r())),
  };
};

export const DNS_LAB: Record<string, LabFactory> = {
  'dns-ok': endpoint('dns-ok', `answers at once (A ${LAB_ANSWER_V4}, AAAA ${LAB_ANSWER_V6}, and every common type)`, 'ok', (req) =>
    answerFor(req),
  ),
  'dns-slow-tail': slowTailDns(),
  'dns-degrade': degradingDns(),
  'dns-serial': serialDns(),
  'dns-drop': dropDns,
  'dns-nxdomain': endpoint('dns-nxdomain', 'answers NXDOMAIN', 'nxdomain', (req) => withRcode(req, 3)),
  'dns-servfail': endpoint('dns-servfail', 'answers SERVFAIL', 'servfail', (req) => withRcode(req, 2)),
  'dns-refused': endpoint('dns-refused', 'answers REFUSED', 'refused', (req) => withRcode(req, 5)),
  'dns-notimp': endpoint('dns-notimp', 'answers NOTIMP', 'notimp', (req) => withRcode(req, 4)),
  'dns-formerr': endpoint('dns-formerr', 'answers FORMERR', 'formerr', (req) => withRcode(req, 1)),
  'dns-rcode-other': endpoint('dns-rcode-other', 'answers YXDOMAIN (rcode 6)', 'rcode-other', (req) => withRcode(req, 6)),
  'dns-truncated': truncatedDns,
  'dns-malformed': malformedDns,
  'dns-spoof': spoofDns,
  'dns-closed': closedDns,
};
