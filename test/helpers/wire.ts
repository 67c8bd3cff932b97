import { readFileSync } from 'node:fs';

export interface Wire {
  syn?: number;
  synAck?: number;
  /** Client payload segments, server payload segments: times (s). */
  client: number[];
  server: number[];
}

/** The client side of each TCP connection in a tcpdump -i lo capture (Ethernet, IPv4): packet times by port. */
export function wireTimes(file: string, serverPorts: Set<number>): Map<number, Wire> {
  const b = readFileSync(file);
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const nano = b.readUInt32LE(0) === 0xa1b23c4d || b.readUInt32BE(0) === 0xa1b23c4d;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const out = new Map<number, Wire>();
  for (let o = 24; o + 16 <= b.length; ) {
    const ts = u32(o) + u32(o + 4) / (nano ? 1e9 : 1e6);
    const incl = u32(o + 8);
    const p = o + 16;
    o = p + incl;
    if (b.readUInt16BE(p + 12) !== 0x0800 || b[p + 23] !== 6) continue;
    const ip = p + 14;
    const ihl = (b[ip]! & 15) * 4;
    const tcp = ip + ihl;
    const sport = b.readUInt16BE(tcp);
    const dport = b.readUInt16BE(tcp + 2);
    const flags = b[tcp + 13]!;
    const len = b.readUInt16BE(ip + 2) - ihl - (b[tcp + 12]! >> 4) * 4;
    const fromClient = serverPorts.has(dport);
    if (!fromClient && !serverPorts.has(sport)) continue;
    const cport = fromClient ? sport : dport;
    let w = out.get(cport);
    if (!w) out.set(cport, (w = { client: [], server: [] }));
    if (fromClient && flags & 2 && w.syn === undefined) w.syn = ts;
    if (!fromClient && flags & 2 && flags & 16 && w.synAck === undefined) w.synAck = ts;
    if (len > 0) (fromClient ? w.client : w.server).push(ts);
  }
  return out;
}

/** ClientHello → the server's last segment before our second flight (its Finished flight), and → our second flight, in ms. */
export function tlsWire(w: Wire): { serverMs: number; untilClientMs: number } | null {
  const hello = w.client[0];
  const fin = w.client[1];
  if (hello === undefined || fin === undefined) return null;
  const flight = w.server.filter((t) => t > hello && t < fin);
  if (!flight.length) return null;
  return { serverMs: (Math.max(...flight) - hello) * 1000, untilClientMs: (fin - hello) * 1000 };
}

/** The most this process's event loop was held up while `f` ran (ms). */
export async function withLag<T>(f: () => Promise<T>): Promise<{ value: T; lagMs: number }> {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  try {
    const value = await f();
    return { value, lagMs: h.max / 1e6 };
  } finally {
    h.disable();
  }
}
