/**
 * Hostile servers on 127.0.0.1 port 0 for conndx's probes: each answers in a
 * way meant to crash, hang or bloat a client. Used by test/hostile and
 * bench/fuzz/hostile.mjs.
 */
import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Hostile {
  port: number;
  close(): Promise<void>;
  /** Resolves once the server has seen `n` queries or connections: the client is really at work. */
  contacted(n: number): Promise<void>;
}

/** Counts queries or connections and wakes whoever waits for a count. */
function contactCounter() {
  let seen = 0;
  const waiting: { n: number; wake: () => void }[] = [];
  return {
    bump() {
      seen++;
      for (let i = waiting.length - 1; i >= 0; i--)
        if (seen >= waiting[i]!.n) {
          waiting[i]!.wake();
          waiting.splice(i, 1);
        }
    },
    contacted: (n: number) => (seen >= n ? Promise.resolve() : new Promise<void>((wake) => waiting.push({ n, wake }))),
  };
}

const header = (id: number, qd: number, an: number, ns = 0, ar = 0) =>
  Buffer.from([id >> 8, id & 255, 0x81, 0x80, qd >> 8, qd & 255, an >> 8, an & 255, ns >> 8, ns & 255, ar >> 8, ar & 255]);

/**
 * The query's question section alone (QNAME, QTYPE, QCLASS): conndx's queries carry an OPT
 * record after it, which a reply built by echoing "the rest of the query" would turn into its
 * first answer, hiding the hostile record behind it.
 */
export function questionOf(q: Buffer): Buffer {
  let i = 12;
  while (i < q.length && q[i] !== 0) i += 1 + q[i]!;
  return q.subarray(12, Math.min(q.length, i + 5));
}

/** Replies built from the query; `null` means never answer. */
export type DnsReply = (q: Buffer) => Buffer | null;

export const DNS_CASES: Record<string, DnsReply> = {
  // the question echoed, then an answer whose name points at itself
  'compression-loop': (q) => {
    const id = q.readUInt16BE(0);
    const question = questionOf(q);
    const at = 12 + question.length;
    return Buffer.concat([
      header(id, 1, 1),
      question,
      Buffer.from([0xc0 | (at >> 8), at & 255, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]),
    ]);
  },
  // two names pointing at each other
  'pointer-ping-pong': (q) => {
    const id = q.readUInt16BE(0);
    const question = questionOf(q);
    const at = 12 + question.length;
    return Buffer.concat([
      header(id, 1, 2),
      question,
      Buffer.from([
        0xc0 | ((at + 16) >> 8),
        (at + 16) & 255,
        0,
        1,
        0,
        1,
        0,
        0,
        0,
        60,
        0,
        4,
        127,
        0,
        0,
        1,
        0xc0 | (at >> 8),
        at & 255,
        0,
        1,
        0,
        1,
        0,
        0,
        0,
        60,
        0,
        4,
        127,
        0,
        0,
        1,
      ]),
    ]);
  },
  // counts far above what the packet holds
  'counts-65535': (q) => Buffer.concat([header(q.readUInt16BE(0), 65535, 65535, 65535, 65535), questionOf(q)]),
  // answer rdlength past the end
  'rdlength-lie': (q) =>
    Buffer.concat([header(q.readUInt16BE(0), 1, 1), questionOf(q), Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0xff, 0xff, 127])]),
  'never-answers': () => null,
  garbage: () => Buffer.from('this is not dns at all, not even close'),
};

export async function hostileDns(reply: DnsReply): Promise<Hostile> {
  const s = createSocket('udp4');
  const counter = contactCounter();
  s.on('message', (m, r) => {
    counter.bump();
    if (m.length < 12) return;
    const out = reply(m);
    if (out) s.send(out, r.port, r.address);
  });
  await new Promise<void>((res) => s.bind(0, '127.0.0.1', res));
  return {
    port: (s.address() as AddressInfo).port,
    close: () => new Promise<void>((res) => s.close(() => res())),
    contacted: counter.contacted,
  };
}

/** A TCP server running `onConn` per connection; all sockets are destroyed on close. */
export async function hostileTcp(onConn: (c: Socket) => void): Promise<Hostile> {
  const socks = new Set<Socket>();
  const counter = contactCounter();
  const srv = createServer((c) => {
    counter.bump();
    socks.add(c);
    c.on('close', () => socks.delete(c));
    c.on('error', () => {});
    onConn(c);
  });
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  return {
    port: (srv.address() as AddressInfo).port,
    contacted: counter.contacted,
    close: () =>
      new Promise<void>((res) => {
        for (const s of socks) s.destroy();
        srv.close(() => res());
      }),
  };
}

/** Writes `chunk` every `ms` until the peer goes away. */
export function trickle(c: Socket, chunk: () => Buffer, ms: number): void {
  const t = setInterval(() => {
    if (c.destroyed) {
      clearInterval(t);
      return;
    }
    c.write(chunk());
  }, ms);
  c.on('close', () => clearInterval(t));
}

const rec = (type: number, body: Buffer) => {
  const h = Buffer.from([type, 3, 3, 0, 0]);
  h.writeUInt16BE(body.length, 3);
  return Buffer.concat([h, body]);
};
const hsMsg = (type: number, body: Buffer) => {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([h, body]);
};
const serverHello = () =>
  rec(22, hsMsg(2, Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 1), Buffer.from([0, 0xc0, 0x2f, 0, 0, 0])])));

export const TLS_CASES: Record<string, (c: Socket) => void> = {
  // one byte a second of a ServerHello, then of nothing
  'trickle-1-byte-per-s': (c) => {
    const sh = serverHello();
    let i = 0;
    trickle(c, () => (sh.subarray(i, ++i).length ? sh.subarray(i - 1, i) : Buffer.from([0])), 1000);
  },
  // a ServerHello then a Certificate message claiming and carrying 1 MB in 16 KB records
  'certificate-1MB': (c) => {
    c.once('data', () => {
      c.write(serverHello());
      const total = 1 << 20;
      const body = Buffer.alloc(total + 3, 0x30);
      body.writeUIntBE(total, 0, 3);
      const msg = hsMsg(11, body);
      for (let o = 0; o < msg.length; o += 16384) c.write(rec(22, msg.subarray(o, o + 16384)));
    });
  },
  'garbage-after-serverhello': (c) => {
    c.once('data', () => {
      c.write(serverHello());
      c.write(Buffer.alloc(65536, 0xee));
    });
  },
  'endless-records': (c) => {
    c.once('data', () => trickle(c, () => rec(23, Buffer.alloc(16384, 0x41)), 5));
  },
  silent: () => {},
};

/** A DNS answer to `q` over TCP: the 2-byte length, then `body` (built from the query). */
const tcpFramed = (msg: Buffer) => Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]);

/** Reads one length-prefixed DNS query from a TCP connection, then runs `then` with it. */
function onTcpQuery(c: Socket, then: (q: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  const on = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length < 2) return;
    const n = buf.readUInt16BE(0);
    if (buf.length < 2 + n) return;
    c.off('data', on);
    then(buf.subarray(2, 2 + n));
  };
  c.on('data', on);
}

/** Hostile resolvers over TCP (the probe asks with --tcp). */
export const DNS_TCP_CASES: Record<string, (c: Socket) => void> = {
  // a 65,535-byte reply (the most a length prefix can say) of 4,000 A records with padding
  'reply-64KB': (c) =>
    onTcpQuery(c, (q) => {
      const id = q.readUInt16BE(0);
      const question = questionOf(q);
      const rr = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
      const n = Math.floor((65535 - 12 - question.length) / rr.length);
      const msg = Buffer.concat([header(id, 1, n), question, ...Array.from({ length: n }, () => rr)]);
      const padded = Buffer.concat([msg, Buffer.alloc(65535 - msg.length)]);
      c.write(tcpFramed(padded));
    }),
  // a length prefix of 65,535, then one byte every 50 ms, forever
  'endless-slow-reply': (c) =>
    onTcpQuery(c, () => {
      c.write(Buffer.from([0xff, 0xff]));
      trickle(c, () => Buffer.from([0]), 50);
    }),
  // replies that never end: length-prefixed garbage messages back to back, as fast as the socket takes them
  'endless-messages': (c) =>
    onTcpQuery(c, () => {
      trickle(c, () => tcpFramed(Buffer.alloc(512, 0xab)), 1);
    }),
};

/** Hostile HTTP servers for diagnose's request phase. */
export const HTTP_CASES: Record<string, (c: Socket) => void> = {
  // a status line that never ends
  'endless-status-line': (c) => c.once('data', () => trickle(c, () => Buffer.alloc(4096, 0x41), 2)),
  // a 200 status line, then header lines forever
  'endless-headers': (c) =>
    c.once('data', () => {
      c.write('HTTP/1.1 200 OK\r\n');
      let i = 0;
      trickle(c, () => Buffer.from(`X-Filler-${i++}: ${'x'.repeat(200)}\r\n`), 1);
    }),
  // a 200 with an endless chunked body
  'endless-body': (c) =>
    c.once('data', () => {
      c.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      trickle(c, () => Buffer.from(`4000\r\n${'y'.repeat(0x4000)}\r\n`), 1);
    }),
};
