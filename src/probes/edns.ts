import { isIP } from 'node:net';
import { EDNS_OPTION, edeName } from '../core/dns.js';
import { ConndxError } from '../errors.js';
import { skipName } from './dns-wire.js';

/**
 * EDNS(0) on the wire (RFC 6891): the OPT pseudo-record conndx adds to every
 * query, and what it reads back from a reply's OPT: the extended rcode, the
 * DO bit, NSID (RFC 5001), client subnet (RFC 7871), cookies (RFC 7873) and
 * Extended DNS Errors (RFC 8914). Written by hand: dns2 drops options it
 * has no decoder for (NSID, cookies, EDE).
 */

/** RFC 6891 §6.2.5 and the DNS flag day 2020 value. */
export const DEFAULT_EDNS_SIZE = 1232;

export interface ClientSubnet {
  family: 1 | 2;
  sourcePrefix: number;
  /** The address truncated to sourcePrefix bits, in ceil(prefix/8) bytes (RFC 7871 §6). */
  address: Buffer;
  /** As the user wrote it, normalised: 192.0.2.0/24. */
  text: string;
}

export interface EdnsOptions {
  udpSize: number;
  /** DNSSEC OK (RFC 3225). */
  dnssec: boolean;
  nsid: boolean;
  ecs?: ClientSubnet;
  /** The 8-byte client cookie; absent sends no cookie. */
  clientCookie?: Buffer;
}

/** `192.0.2.0/24` or `2001:db8::/56`; bad input is a ConndxError. */
export function parseEcs(text: string): ClientSubnet {
  const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(String(text).trim());
  const fam = m ? isIP(m[1]!) : 0;
  if (!m || fam === 0) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --ecs "${text}": use an address and prefix, e.g. 192.0.2.0/24 or 2001:db8::/56`);
  }
  const max = fam === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? (fam === 4 ? 24 : 56) : Number(m[2]);
  if (prefix > max) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --ecs "${text}": an IPv${fam} prefix is at most /${max}`);
  const full = fam === 4 ? Buffer.from(m[1]!.split('.').map(Number)) : ipv6Bytes(m[1]!);
  const bytes = Math.ceil(prefix / 8);
  const address = Buffer.from(full.subarray(0, bytes));
  if (prefix % 8 && bytes > 0) address[bytes - 1]! &= (0xff << (8 - (prefix % 8))) & 0xff;
  const shown = fam === 4 ? [...Buffer.concat([address, Buffer.alloc(4 - bytes)])].join('.') : m[1]!.toLowerCase();
  return { family: fam === 4 ? 1 : 2, sourcePrefix: prefix, address, text: `${shown}/${prefix}` };
}

function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}

function option(code: number, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + data.length);
  b.writeUInt16BE(code, 0);
  b.writeUInt16BE(data.length, 2);
  data.copy(b, 4);
  return b;
}

/** The OPT record of a query (RFC 6891 §6.1.2), with the server cookie of an earlier reply when there is one. */
export function encodeOpt(o: EdnsOptions, serverCookie?: Buffer): Buffer {
  const opts: Buffer[] = [];
  if (o.nsid) opts.push(option(EDNS_OPTION.NSID, Buffer.alloc(0)));
  if (o.ecs) {
    const d = Buffer.alloc(4 + o.ecs.address.length);
    d.writeUInt16BE(o.ecs.family, 0);
    d[2] = o.ecs.sourcePrefix;
    d[3] = 0; // scope: 0 in queries
    o.ecs.address.copy(d, 4);
    opts.push(option(EDNS_OPTION.ECS, d));
  }
  if (o.clientCookie) opts.push(option(EDNS_OPTION.COOKIE, serverCookie ? Buffer.concat([o.clientCookie, serverCookie]) : o.clientCookie));
  const rdata = Buffer.concat(opts);
  const rr = Buffer.alloc(11 + rdata.length);
  rr[0] = 0; // root name
  rr.writeUInt16BE(41, 1);
  rr.writeUInt16BE(o.udpSize, 3);
  // TTL: extended rcode 0, version 0, DO in the top bit of the flags.
  rr.writeUInt32BE(o.dnssec ? 0x8000 : 0, 5);
  rr.writeUInt16BE(rdata.length, 9);
  rdata.copy(rr, 11);
  return rr;
}

/** Header and question of a query (RD set), in wire form; the id is 0 until sent. */
export function encodeQuestion(name: string, type: number): Buffer {
  const labels = name === '.' || name === '' ? [] : name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [Buffer.from([0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0, type >> 8, type & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

/** A whole query: header, question and, unless `opt` is absent, the OPT record (ARCOUNT 1). */
export function encodeQuery(question: Buffer, opt?: Buffer): Buffer {
  if (!opt) return Buffer.from(question);
  const q = Buffer.concat([question, opt]);
  q.writeUInt16BE(1, 10);
  return q;
}

export interface EdnsReply {
  udpSize: number;
  version: number;
  /** The 8 high bits of the 12-bit rcode. */
  extRcode: number;
  dnssecOk: boolean;
  /** NSID as text when printable, else hex. */
  nsid?: string;
  /** Client subnet scope prefix the server answered for. */
  ecsScope?: number;
  /** The client subnet option as carried (family, source and scope prefix, address bytes). */
  ecs?: Buffer;
  cookie?: { client: Buffer; server?: Buffer };
  ede: { code: number; name: string; text?: string }[];
}

/** What one reply says beyond its header: its OPT record, answers of the asked type and RRSIGs among them. */
export interface ReplyScan {
  /** Answer records of the asked type (ANY: every answer). */
  ofType: number;
  /** RRSIG records in the answer section. */
  rrsig: number;
  edns: EdnsReply | null;
  /** The OPT record cannot be read (a malformed option). */
  badOpt: boolean;
}

function nsidText(b: Buffer): string {
  for (const c of b) if (c < 0x20 || c > 0x7e) return b.toString('hex');
  return b.toString('latin1');
}

/** Reads the OPT rdata at `off` (length `len`). Null when an option runs past it. */
export function readOptRdata(b: Uint8Array, off: number, len: number, cls: number, ttl: number): EdnsReply | null {
  const r: EdnsReply = { udpSize: cls, version: (ttl >>> 16) & 0xff, extRcode: ttl >>> 24, dnssecOk: (ttl & 0x8000) !== 0, ede: [] };
  const end = off + len;
  let p = off;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  while (p < end) {
    if (p + 4 > end) return null;
    const code = buf.readUInt16BE(p);
    const olen = buf.readUInt16BE(p + 2);
    const d = p + 4;
    if (d + olen > end) return null;
    const data = buf.subarray(d, d + olen);
    switch (code) {
      case EDNS_OPTION.NSID:
        r.nsid = nsidText(data);
        break;
      case EDNS_OPTION.ECS:
        if (olen >= 4) {
          r.ecsScope = data[3]!;
          r.ecs = Buffer.from(data);
        }
        break;
      case EDNS_OPTION.COOKIE:
        if (olen >= 8)
          r.cookie = { client: Buffer.from(data.subarray(0, 8)), ...(olen > 8 ? { server: Buffer.from(data.subarray(8)) } : {}) };
        break;
      case EDNS_OPTION.EDE: {
        if (olen < 2) return null;
        const c = data.readUInt16BE(0);
        // RFC 8914 §2: EXTRA-TEXT is UTF-8, "SHOULD NOT be NUL terminated" (some are).
        const text = data.subarray(2).toString('utf8').replace(/\0+$/, '');
        r.ede.push({ code: c, name: edeName(c), ...(text ? { text } : {}) });
        break;
      }
    }
    p = d + olen;
  }
  return r;
}

/**
 * One pass over a well-formed reply: the answers of type `qtype`, RRSIGs,
 * and the OPT record of the additional section. Call it only on a message
 * `wellFormed` accepted.
 */
export function scanReply(b: Uint8Array, qtype: number): ReplyScan {
  const qd = (b[4]! << 8) | b[5]!;
  const an = (b[6]! << 8) | b[7]!;
  const ns = (b[8]! << 8) | b[9]!;
  const ar = (b[10]! << 8) | b[11]!;
  const out: ReplyScan = { ofType: 0, rrsig: 0, edns: null, badOpt: false };
  let off = 12;
  for (let i = 0; i < qd; i++) off = skipName(b, off) + 4;
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    const n = skipName(b, off);
    const type = (b[n]! << 8) | b[n + 1]!;
    const rdLen = (b[n + 8]! << 8) | b[n + 9]!;
    if (i < an) {
      if (type === qtype || qtype === 255) out.ofType++;
      if (type === 46) out.rrsig++;
    } else if (i >= an + ns && type === 41 && !out.edns) {
      const cls = (b[n + 2]! << 8) | b[n + 3]!;
      const ttl = ((b[n + 4]! << 24) | (b[n + 5]! << 16) | (b[n + 6]! << 8) | b[n + 7]!) >>> 0;
      out.edns = readOptRdata(b, n + 10, rdLen, cls, ttl);
      if (!out.edns) out.badOpt = true;
    }
    off = n + 10 + rdLen;
  }
  return out;
}

/**
 * The full rcode of a reply: the header's 4 bits, and with an OPT record
 * the 8 bits more it carries (RFC 6891 §6.1.3; BADCOOKIE is 23).
 */
export function fullRcode(b: Uint8Array, edns: EdnsReply | null): number {
  return ((edns?.extRcode ?? 0) << 4) | (b[3]! & 0xf);
}

/** The AD bit of a reply's header (RFC 4035 §3.2.3). */
export function adFlag(b: Uint8Array): boolean {
  return (b[3]! & 0x20) !== 0;
}

/** RFC 7873 §5.3: a server cookie is 8 to 32 bytes. */
export function serverCookieOk(c: Buffer | undefined): boolean {
  return c !== undefined && c.length >= 8 && c.length <= 32;
}
