/**
 * conndx's fuzz harness: mutations of seed captures fed in-process to the
 * capture reader (pcap and pcapng, in random chunks), the link/IP/TCP/UDP
 * decoders, the DNS and TLS dissectors and the flow table (through the
 * analysis), and to the probes' DNS reply decoder and TLS error parsing.
 *
 * Every input is a pure function of (run seed, input index), so a crash or a
 * slow input is reproduced from two numbers; `mutate()` regenerates it.
 * Used by test/fuzz (a small budget in the suite) and bench/fuzz/fuzz.mjs
 * (millions of inputs, by hand).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createAnalyzer } from '../capture/analyze.js';
import { decodeDns, decodeDnsName } from '../capture/dns.js';
import { decodeIpv4, decodeIpv6 } from '../capture/ip.js';
import { decodeLink, LINK_DECODERS } from '../capture/link.js';
import { createChunkReader } from '../capture/reader.js';
import { decodeTcp } from '../capture/tcp.js';
import { createTlsState, decodeClientHello, decodeServerHello, feedTls } from '../capture/tls.js';
import { decodeUdp } from '../capture/udp.js';
import { answersQuestion, readName, skipName, walkMessage, wellFormed } from '../probes/dns-wire.js';
import { alertName, classifyTlsError, opensslReason, receivedAlert } from '../probes/classify-tls.js';

/** xorshift32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let s = seed | 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const LIES = [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0xfffffff0, 0x01000000, 0x10000, 0xffff];

/** Offsets of pcapng block-length fields (start and trailer) and option-length fields, walked as far as they make sense. */
function pcapngFields(b: Buffer): { blockLens: number[]; optLens: number[] } {
  const blockLens: number[] = [];
  const optLens: number[] = [];
  let o = 0;
  for (let n = 0; n < 4096 && o + 12 <= b.length; n++) {
    const len = b.readUInt32LE(o + 4);
    blockLens.push(o + 4);
    if (len < 12 || len % 4 || o + len > b.length) break;
    blockLens.push(o + len - 4);
    const type = b.readUInt32LE(o);
    // Options start after the fixed part: SHB 24, IDB 16, EPB 28 + padded data.
    let q =
      type === 0x0a0d0d0a
        ? o + 24
        : type === 1
          ? o + 16
          : type === 6 && o + 24 <= b.length
            ? o + 28 + ((b.readUInt32LE(o + 20) + 3) & ~3)
            : -1;
    while (q >= 0 && q + 4 <= o + len - 4) {
      optLens.push(q + 2);
      q += 4 + ((b.readUInt16LE(q + 2) + 3) & ~3);
    }
    o += len;
  }
  return { blockLens, optLens };
}

/** Offsets of classic pcap record-length fields (caplen, origlen). */
function pcapFields(b: Buffer): number[] {
  const out = b.length >= 24 ? [16, 20] : [];
  let o = 24;
  for (let n = 0; n < 4096 && o + 16 <= b.length; n++) {
    out.push(o + 8, o + 12);
    const cap = b.readUInt32LE(o + 8);
    const capBE = b.readUInt32BE(o + 8);
    const c = cap < 0x100000 ? cap : capBE < 0x100000 ? capBE : -1;
    if (c < 0) break;
    o += 16 + c;
  }
  return out;
}

function writeU32(b: Buffer, at: number, v: number, le: boolean): void {
  if (at < 0 || at + 4 > b.length) return;
  if (le) b.writeUInt32LE(v >>> 0, at);
  else b.writeUInt32BE(v >>> 0, at);
}

export const MUTATIONS = [
  'bitflip',
  'bytes',
  'truncate',
  'lenfield',
  'blocklen',
  'optlen',
  'splice',
  'duplicate',
  'delete',
  'insert',
  'none',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** Input `index` of a run: a seed chosen and mutated 1-4 times. */
export function mutate(seeds: readonly Buffer[], runSeed: number, index: number): { bytes: Buffer; seed: number; ops: Mutation[] } {
  const r = rng((runSeed * 2654435761) ^ (index * 40503) ^ 0x5bd1e995);
  for (let i = 0; i < 3; i++) r();
  const pick = (n: number) => Math.floor(r() * n);
  const seed = pick(seeds.length);
  let b = Buffer.from(seeds[seed]!);
  const ops: Mutation[] = [];
  const n = 1 + pick(4);
  for (let k = 0; k < n; k++) {
    const op = MUTATIONS[pick(MUTATIONS.length)]!;
    ops.push(op);
    const ng = b.length >= 4 && b.readUInt32BE(0) === 0x0a0d0d0a;
    const le = b.length < 4 || b[0] === 0xd4 || b[0] === 0x4d || (ng && b.length >= 12 && b.readUInt32LE(8) === 0x1a2b3c4d);
    switch (op) {
      case 'bitflip':
        for (let i = 0, m = 1 + pick(16); i < m && b.length; i++) b[pick(b.length)]! ^= 1 << pick(8);
        break;
      case 'bytes':
        for (let i = 0, m = 1 + pick(8); i < m && b.length; i++) b[pick(b.length)] = [0, 0xff, 0x7f, 0x80, pick(256)][pick(5)]!;
        break;
      case 'truncate':
        b = b.subarray(0, pick(b.length + 1));
        break;
      case 'lenfield': {
        const f = ng ? pcapngFields(b).blockLens : pcapFields(b);
        const at = f.length ? f[pick(f.length)]! : pick(Math.max(1, b.length - 3));
        writeU32(b, at, LIES[pick(LIES.length)]! + (r() < 0.3 ? pick(64) : 0), le);
        break;
      }
      case 'blocklen': {
        const f = ng ? pcapngFields(b).blockLens : pcapFields(b);
        if (f.length) {
          const at = f[pick(f.length)]!;
          if (at + 4 > b.length) break;
          const cur = le ? b.readUInt32LE(at) : b.readUInt32BE(at);
          writeU32(b, at, cur + [4, -4, 8, 1, -1, 0x10000][pick(6)]!, le);
        }
        break;
      }
      case 'optlen': {
        const f = ng ? pcapngFields(b).optLens : [];
        if (f.length) {
          const at = f[pick(f.length)]!;
          if (at + 2 <= b.length) b.writeUInt16LE([0, 0xffff, 0xfffc, 1, pick(65536)][pick(5)]!, at);
        }
        break;
      }
      case 'splice': {
        const o = seeds[pick(seeds.length)]!;
        const from = pick(o.length + 1);
        const at = pick(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), o.subarray(from, from + pick(2048))]);
        break;
      }
      case 'duplicate': {
        const at = pick(b.length + 1);
        const len = pick(Math.min(4096, b.length - at + 1));
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
        break;
      }
      case 'delete': {
        const at = pick(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + pick(64))]);
        break;
      }
      case 'insert': {
        const at = pick(b.length + 1);
        const junk = Buffer.alloc(pick(64));
        for (let i = 0; i < junk.length; i++) junk[i] = pick(256);
        b = Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
        break;
      }
      case 'none':
        break;
    }
    if (b.length > 4 << 20) b = b.subarray(0, 4 << 20);
  }
  // chunk cuts for the reader, part of the input
  return { bytes: b, seed, ops };
}

export interface RunStats {
  packets: number;
  records: number;
}

/** Slices of a capture handed straight to the decoders (what the analysis would only reach through valid lower layers). */
function decoders(b: Buffer, r: () => number): void {
  const off = Math.floor(r() * Math.min(b.length + 1, 128));
  const slice = b.subarray(off, off + Math.floor(r() * 1600));
  for (const lt of LINK_DECODERS.keys()) decodeLink(lt, slice);
  for (const ip of [decodeIpv4(slice, 0), decodeIpv6(slice, 0)]) {
    if ('anomaly' in ip) continue;
    if (ip.end > slice.length) throw new Error(`ip end ${ip.end} past the buffer (${slice.length})`);
    const t = decodeTcp(slice, ip.off, ip.end, ip.wireLen);
    if (!('anomaly' in t) && t.end > slice.length) throw new Error(`tcp end ${t.end} past the buffer`);
    decodeUdp(slice, ip.off, ip.end);
  }
  decodeTcp(slice, 0, slice.length, slice.length);
  decodeUdp(slice, 0, slice.length);
  decodeDns(slice);
  decodeDnsName(slice, Math.floor(r() * (slice.length + 1)), slice.length);
  decodeClientHello(slice);
  decodeServerHello(slice);
  const t = createTlsState();
  feedTls(t, true, slice.subarray(0, slice.length >> 1), 0);
  feedTls(t, false, slice.subarray(slice.length >> 1), 1);
  // the probes' DNS reply decoder
  walkMessage(slice);
  wellFormed(slice);
  readName(slice, 12);
  skipName(slice, Math.floor(r() * (slice.length + 1)));
  answersQuestion(slice, slice.subarray(0, Math.min(slice.length, 40)));
  // the probes' TLS alert parsing reads OpenSSL's error text and code
  const text = slice.subarray(0, 120).toString('latin1');
  const err = Object.assign(new Error(`SSL routines:ssl3_read_bytes:${text} SSL alert number ${slice[0] ?? 0}`), {
    code: slice.length % 2 ? 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' : `ERR_SSL_${text.slice(0, 8)}`,
    reason: slice.length % 3 ? text : undefined,
  });
  receivedAlert(err);
  opensslReason(err);
  classifyTlsError(err, { endFirst: (slice[1] ?? 0) > 127 });
  alertName(slice[2] ?? 0);
}

/** One input through everything. Throws on a crash; the caller times it. */
export function runInput(bytes: Buffer, runSeed: number, index: number): RunStats {
  const r = rng((index * 2246822519) ^ runSeed ^ 0x27d4eb2f);
  const an = createAnalyzer({ flows: true });
  const reader = createChunkReader(an.packet);
  // Random chunk boundaries: 0-6 cuts.
  const cuts = Array.from({ length: Math.floor(r() * 7) }, () => Math.floor(r() * (bytes.length + 1))).sort((a, b) => a - b);
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    reader.push(bytes.subarray(prev, c));
    prev = c;
  }
  const end = reader.end();
  let packets = 0,
    records = 0;
  if (end.ok) {
    const res = an.finish('fuzz', end.stats!);
    packets = res.packets;
    records = end.stats!.records;
    if (!(packets >= 0)) throw new Error(`negative packet count ${packets}`);
    JSON.stringify(res);
  }
  decoders(bytes, r);
  return { packets, records };
}

/** A small pcap and pcapng of their own: DNS over UDP, a TCP handshake carrying a TLS ClientHello and ServerHello. */
export function generatedSeeds(): Buffer[] {
  const eth = (ip: Buffer) => Buffer.concat([Buffer.from('0000000000020000000000010800', 'hex'), ip]);
  const ipv4 = (proto: number, l4: Buffer, rev = false) => {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + l4.length, 2);
    h[8] = 64;
    h[9] = proto;
    Buffer.from(rev ? [10, 0, 0, 2, 10, 0, 0, 1] : [10, 0, 0, 1, 10, 0, 0, 2]).copy(h, 12);
    return Buffer.concat([h, l4]);
  };
  const udp = (sp: number, dp: number, p: Buffer) => {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(sp, 0);
    h.writeUInt16BE(dp, 2);
    h.writeUInt16BE(8 + p.length, 4);
    return Buffer.concat([h, p]);
  };
  const tcp = (sp: number, dp: number, seq: number, ack: number, flags: number, p = Buffer.alloc(0)) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(sp, 0);
    h.writeUInt16BE(dp, 2);
    h.writeUInt32BE(seq >>> 0, 4);
    h.writeUInt32BE(ack >>> 0, 8);
    h[12] = 0x50;
    h[13] = flags;
    h.writeUInt16BE(65535, 14);
    return Buffer.concat([h, p]);
  };
  const q = Buffer.from('123401000001000000000000036c6162047465737400000100 01'.replace(/ /g, ''), 'hex');
  const a = Buffer.from('123481800001000100000000036c6162047465737400000100 01c00c000100010000003c00047f000001'.replace(/ /g, ''), 'hex');
  const hs = (type: number, body: Buffer) => {
    const h = Buffer.alloc(4);
    h[0] = type;
    h.writeUIntBE(body.length, 1, 3);
    const m = Buffer.concat([h, body]);
    const r = Buffer.from([22, 3, 1, 0, 0]);
    r.writeUInt16BE(m.length, 3);
    return Buffer.concat([r, m]);
  };
  const sni = Buffer.from('0000000e000c0000096c61622e74657374', 'hex');
  const ext = Buffer.concat([Buffer.from([0, sni.length >> 8, sni.length & 255]).subarray(1), sni]);
  const ch = hs(
    1,
    Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 7), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0]), Buffer.from([0, ext.length]), ext]),
  );
  const sh = hs(2, Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 9), Buffer.from([0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4])]));
  const alert = Buffer.from([21, 3, 3, 0, 2, 2, 40]);
  const frames = [
    eth(ipv4(17, udp(40000, 53, q))),
    eth(ipv4(17, udp(53, 40000, a), true)),
    eth(ipv4(6, tcp(40001, 443, 100, 0, 0x02))),
    eth(ipv4(6, tcp(443, 40001, 900, 101, 0x12), true)),
    eth(ipv4(6, tcp(40001, 443, 101, 901, 0x10))),
    eth(ipv4(6, tcp(40001, 443, 101, 901, 0x18, ch))),
    eth(ipv4(6, tcp(443, 40001, 901, 101 + ch.length, 0x18, Buffer.concat([sh, alert])), true)),
    eth(ipv4(6, tcp(40001, 443, 101 + ch.length, 901, 0x04))),
  ];
  const recs: Buffer[] = [];
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  frames.forEach((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1000 + i, 0);
    h.writeUInt32LE(i * 1000, 4);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    recs.push(h, f);
  });
  const pcap = Buffer.concat([head, ...recs]);
  const block = (type: number, body: Buffer) => {
    const pad = Buffer.alloc((4 - (body.length % 4)) % 4);
    const len = 12 + body.length + pad.length;
    const h = Buffer.alloc(8);
    h.writeUInt32LE(type, 0);
    h.writeUInt32LE(len, 4);
    const t = Buffer.alloc(4);
    t.writeUInt32LE(len, 0);
    return Buffer.concat([h, body, pad, t]);
  };
  const shb = block(
    0x0a0d0d0a,
    Buffer.concat([
      Buffer.from('4d3c2b1a01000000ffffffffffffffff', 'hex'),
      Buffer.from('0100050063646e78000000000000 0000'.replace(/ /g, ''), 'hex'),
    ]),
  );
  const idb = block(
    1,
    Buffer.concat([Buffer.from('0100000000000400', 'hex'), Buffer.from('0900010006000000 0000 0000'.replace(/ /g, ''), 'hex')]),
  );
  const epbs = frames.map((f, i) => {
    const b = Buffer.alloc(20);
    b.writeUInt32LE(0, 0);
    b.writeUInt32LE(0, 4);
    b.writeUInt32LE(1000 + i, 8);
    b.writeUInt32LE(f.length, 12);
    b.writeUInt32LE(f.length, 16);
    const pad = Buffer.alloc((4 - (f.length % 4)) % 4);
    return block(6, Buffer.concat([b, f, pad, Buffer.from('0100040066757a7a00000000', 'hex')]));
  });
  const spb = block(3, Buffer.concat([Buffer.from([frames[0]!.length, 0, 0, 0]), frames[0]!]));
  const pcapng = Buffer.concat([shb, idb, ...epbs, spb]);
  return [pcap, pcapng];
}

/**
 * The fuzz seeds: every capture under ../shared/corpus/ and fixtures/ of the
 * repository at `root` (files up to 4 MB), sorted, so a run seed names the
 * same inputs everywhere.
 */
export function seedFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let es;
    try {
      es = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of es) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(pcap|pcapng|cap|dmp)$/i.test(e.name) && statSync(p).size <= 4 << 20) out.push(p);
    }
  };
  walk(join(root, '..', 'shared', 'corpus'));
  walk(join(root, 'fixtures'));
  return out.sort();
}
