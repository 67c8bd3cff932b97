import dgram from 'node:dgram';
import net from 'node:net';
import dns2 from 'dns2';
import { LAB_HOST, type LabEndpoint, type LabFactory } from './types.js';

const { Packet } = dns2;
type DnsPacket = InstanceType<typeof Packet>;

/**
 * A lab resolver whose answers can be connected to: names under `lab.test`
 * and `conndx.test` resolve to loopback (A 127.0.0.1, AAAA ::1), so that
 * `conndx diagnose` can follow a name from the lookup to the connect without
 * ever leaving this machine. `*.v4.lab.test` has only the A record,
 * `*.v6.lab.test` only AAAA; a name with an `nx` label (`nx.lab.test`,
 * `db.nx.lab.test`) and names outside the two zones get NXDOMAIN.
 */
export const LOOPBACK_ZONES = ['lab.test', 'conndx.test'] as const;

/** What the loopback resolver holds for a name: addresses per type, or null for NXDOMAIN. */
export function loopbackAnswer(name: string): { A: string[]; AAAA: string[] } | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  const inZone = LOOPBACK_ZONES.some((z) => n === z || n.endsWith(`.${z}`));
  if (!inZone || n.split('.').includes('nx')) return null;
  if (n === 'v4.lab.test' || n.endsWith('.v4.lab.test')) return { A: ['127.0.0.1'], AAAA: [] };
  if (n === 'v6.lab.test' || n.endsWith('.v6.lab.test')) return { A: [], AAAA: ['::1'] };
  return { A: ['127.0.0.1'], AAAA: ['::1'] };
}

function reply(req: DnsPacket): Buffer {
  const res = Packet.createResponseFromRequest(req);
  const q = req.questions[0];
  if (!q) return res.toBuffer();
  const held = loopbackAnswer(q.name);
  if (!held) {
    res.header.rcode = 3;
    return res.toBuffer();
  }
  const T = Packet.TYPE;
  const list = q.type === T.A ? held.A : q.type === T.AAAA ? held.AAAA : [];
  for (const address of list) {
    res.answers.push({ name: q.name, class: Packet.CLASS.IN, ttl: 5, type: q.type, address } as unknown as DnsPacket['answers'][number]);
  }
  return res.toBuffer();
}

/** UDP and TCP on one loopback port; `delayMs` says how long to hold the n-th query (from 0). */
async function serve(host: string, delayMs: (n: number) => number): Promise<{ port: number; close(): Promise<void> }> {
  let n = 0;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, f: () => void) => {
    if (ms <= 0) return f();
    const t = setTimeout(() => { timers.delete(t); f(); }, ms);
    timers.add(t);
  };
  const answer = (msg: Buffer): Buffer | null => {
    try { return reply(Packet.parse(msg)); } catch { return null; }
  };
  for (let tries = 0; ; tries++) {
    const udp = dgram.createSocket(net.isIP(host) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(0, host, () => { udp.off('error', rej); res(); }); });
    const port = udp.address().port;
    const tcp = net.createServer();
    try {
      await new Promise<void>((res, rej) => { tcp.once('error', rej); tcp.listen(port, host, () => { tcp.off('error', rej); res(); }); });
    } catch (e) {
      udp.close();
      if (tries < 20) continue;
      throw e;
    }
    udp.on('error', () => {});
    udp.on('message', (msg, rinfo) => {
      const out = answer(msg);
      if (out) later(delayMs(n++), () => udp.send(out, rinfo.port, rinfo.address, () => {}));
    });
    const conns = new Set<net.Socket>();
    tcp.on('connection', (sock) => {
      conns.add(sock);
      sock.on('close', () => conns.delete(sock));
      sock.on('error', () => {});
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const out = answer(Buffer.from(msg));
          if (!out) continue;
          later(delayMs(n++), () => {
            if (sock.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            sock.write(Buffer.concat([len, out]));
          });
        }
      });
    });
    return {
      port,
      close: async () => {
        for (const t of timers) clearTimeout(t);
        for (const s of conns) s.destroy();
        await Promise.all([
          new Promise<void>((r) => udp.close(() => r())),
          new Promise<void>((r) => tcp.close(() => r())),
        ]);
      },
    };
  }
}

/** How slow the slow-tail loopback resolver's slow answers are, and how often. */
export const LOOPBACK_SLOW_MS = 400;
export const LOOPBACK_SLOW_EVERY = 4;

const loopbackDns: LabFactory = async (opts) => {
  const host = opts?.host ?? LAB_HOST;
  const b = await serve(host, () => 0);
  return {
    name: 'dns-loopback', kind: 'dns', host, port: b.port, expect: 'ok',
    description: 'answers *.lab.test and *.conndx.test with A 127.0.0.1 / AAAA ::1 (*.v4.lab.test: A only), NXDOMAIN otherwise',
    info: { name: 'ok.lab.test' }, close: b.close,
  } satisfies LabEndpoint;
};

const loopbackSlowTailDns: LabFactory = async (opts) => {
  const host = opts?.host ?? LAB_HOST;
  const b = await serve(host, (n) => (n % LOOPBACK_SLOW_EVERY === LOOPBACK_SLOW_EVERY - 1 ? LOOPBACK_SLOW_MS : 0));
  return {
    name: 'dns-loopback-slow-tail', kind: 'dns', host, port: b.port, expect: 'ok',
    description: `as dns-loopback, but every ${LOOPBACK_SLOW_EVERY}th query is answered after ${LOOPBACK_SLOW_MS} ms`,
    info: { name: 'ok.lab.test', slowMs: LOOPBACK_SLOW_MS, every: LOOPBACK_SLOW_EVERY }, close: b.close,
  } satisfies LabEndpoint;
};

export const NAMES_LAB: Record<string, LabFactory> = {
  'dns-loopback': loopbackDns,
  'dns-loopback-slow-tail': loopbackSlowTailDns,
};
