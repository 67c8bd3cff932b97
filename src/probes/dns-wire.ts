/**
 * The few DNS wire-format facts the probe checks itself (RFC 1035 §4.1):
 * header fields, the question, and a bounds-checked walk over every
 * resource record so a reply that cannot be read is `malformed` rather than
 * a crash or a wrong answer. dns2 stays the codec for building queries and
 * decoding answers for display.
 */

export { QTYPE_NAMES, QTYPES, RCODE_NAMES, rcodeName } from '../core/dns.js';

export interface DnsHeader {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export function readHeader(b: Uint8Array): DnsHeader | null {
  if (b.length < 12) return null;
  const f = (b[2]! << 8) | b[3]!;
  return {
    id: (b[0]! << 8) | b[1]!,
    qr: (f & 0x8000) !== 0,
    opcode: (f >> 11) & 0xf,
    aa: (f & 0x0400) !== 0,
    tc: (f & 0x0200) !== 0,
    rd: (f & 0x0100) !== 0,
    ra: (f & 0x0080) !== 0,
    rcode: f & 0xf,
    qdcount: (b[4]! << 8) | b[5]!,
    ancount: (b[6]! << 8) | b[7]!,
    nscount: (b[8]! << 8) | b[9]!,
    arcount: (b[10]! << 8) | b[11]!,
  };
}

const MAX_POINTER_HOPS = 32;

/**
 * Reads a possibly compressed name at `off`. Returns the name (lower case,
 * no trailing dot) and the offset after it, or null when it runs past the
 * message, loops, or points forward (RFC 1035 §4.1.4: pointers refer to a
 * prior occurrence).
 */
export function readName(b: Uint8Array, off: number): { name: string; next: number } | null {
  const labels: string[] = [];
  let next = -1;
  let pos = off;
  let hops = 0;
  let total = 0;
  for (;;) {
    if (pos >= b.length) return null;
    const len = b[pos]!;
    if (len === 0) {
      pos += 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) return null;
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (next < 0) next = pos + 2;
      if (target >= pos || ++hops > MAX_POINTER_HOPS) return null;
      pos = target;
      continue;
    }
    if (kind !== 0) return null; // 0x40/0x80 label types are obsolete or unassigned
    if (pos + 1 + len > b.length) return null;
    total += len + 1;
    if (total > 255) return null;
    let s = '';
    for (let i = pos + 1; i <= pos + len; i++) s += String.fromCharCode(b[i]!);
    labels.push(s.toLowerCase());
    pos += 1 + len;
  }
  return { name: labels.join('.'), next: next < 0 ? pos : next };
}

export interface Question {
  name: string;
  type: number;
  cls: number;
}

export interface WalkedMessage {
  header: DnsHeader;
  questions: Question[];
  /** Answer-section records, type and rdata offsets only. */
  answers: { type: number; rdOff: number; rdLen: number }[];
}

/** Walks the whole message; null when any part of it cannot be read. */
export function walkMessage(b: Uint8Array): WalkedMessage | null {
  const header = readHeader(b);
  if (!header) return null;
  let off = 12;
  const questions: Question[] = [];
  for (let i = 0; i < header.qdcount; i++) {
    const n = readName(b, off);
    if (!n || n.next + 4 > b.length) return null;
    questions.push({ name: n.name, type: (b[n.next]! << 8) | b[n.next + 1]!, cls: (b[n.next + 2]! << 8) | b[n.next + 3]! });
    off = n.next + 4;
  }
  const answers: WalkedMessage['answers'] = [];
  const rrs = header.ancount + header.nscount + header.arcount;
  for (let i = 0; i < rrs; i++) {
    const n = readName(b, off);
    if (!n || n.next + 10 > b.length) return null;
    const type = (b[n.next]! << 8) | b[n.next + 1]!;
    const rdLen = (b[n.next + 8]! << 8) | b[n.next + 9]!;
    const rdOff = n.next + 10;
    if (rdOff + rdLen > b.length) return null;
    if (i < header.ancount) answers.push({ type, rdOff, rdLen });
    off = rdOff + rdLen;
  }
  return { header, questions, answers };
}

/**
 * The offset after the (possibly compressed) name at `off`, or -1 under the
 * same rules as readName. Allocates nothing: it runs on every reply.
 */
export function skipName(b: Uint8Array, off: number): number {
  let next = -1;
  let pos = off;
  let hops = 0;
  let total = 0;
  for (;;) {
    if (pos >= b.length) return -1;
    const len = b[pos]!;
    if (len === 0) {
      pos += 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) return -1;
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (next < 0) next = pos + 2;
      if (target >= pos || ++hops > MAX_POINTER_HOPS) return -1;
      pos = target;
      continue;
    }
    if (kind !== 0) return -1;
    if (pos + 1 + len > b.length) return -1;
    total += len + 1;
    if (total > 255) return -1;
    pos += 1 + len;
  }
  return next < 0 ? pos : next;
}

/** True when every section of the message can be read (what walkMessage checks), without building anything. */
export function wellFormed(b: Uint8Array): boolean {
  if (b.length < 12) return false;
  const qd = (b[4]! << 8) | b[5]!;
  const rrs = ((b[6]! << 8) | b[7]!) + ((b[8]! << 8) | b[9]!) + ((b[10]! << 8) | b[11]!);
  let off = 12;
  for (let i = 0; i < qd; i++) {
    const n = skipName(b, off);
    if (n < 0 || n + 4 > b.length) return false;
    off = n + 4;
  }
  for (let i = 0; i < rrs; i++) {
    const n = skipName(b, off);
    if (n < 0 || n + 10 > b.length) return false;
    const rdOff = n + 10;
    const rdLen = (b[n + 8]! << 8) | b[n + 9]!;
    if (rdOff + rdLen > b.length) return false;
    off = rdOff + rdLen;
  }
  return true;
}

const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/**
 * Does a well-formed reply answer the question we sent? `asked` is the
 * question section as sent (name, type, class). Names compare without
 * regard to ASCII case (servers may echo 0x20-randomised case), type and
 * class exactly (RFC 5452 §9.1). FORMERR/NOTIMP-style replies without a
 * question match when their rcode is not NOERROR.
 */
export function answersQuestion(b: Uint8Array, asked: Uint8Array): boolean {
  const qd = (b[4]! << 8) | b[5]!;
  if (qd === 0) return (b[3]! & 0xf) !== 0;
  const end = skipName(b, 12);
  if (end - 12 !== asked.length - 4 || b[12]! >= 0xc0) {
    // A compressed or differently long name: compare decoded (rare).
    const got = readName(b, 12);
    const want = readName(asked, 0);
    if (!got || !want || got.name !== want.name) return false;
  } else {
    for (let i = 0; i < asked.length - 4; i++) if (lower(b[12 + i]!) !== lower(asked[i]!)) return false;
  }
  for (let i = 0; i < 4; i++) if (b[end + i] !== asked[asked.length - 4 + i]) return false;
  return true;
}

/**
 * The message cut after its first `max` answer records (header counts set to
 * match, authority and additional sections dropped), for decoding what is shown
 * of a huge reply: a 64 KB reply holds 4,000 records, and decoding them all costs
 * more than the query. Compression pointers point backwards, so the cut is a valid
 * message. Returns `b` itself when it has no more than `max` answers, null when it
 * cannot be read.
 */
export function firstAnswers(b: Uint8Array, max: number): Uint8Array | null {
  if (b.length < 12) return null;
  const an = (b[6]! << 8) | b[7]!;
  if (an <= max) return b;
  const qd = (b[4]! << 8) | b[5]!;
  let off = 12;
  for (let i = 0; i < qd; i++) {
    const n = skipName(b, off);
    if (n < 0 || n + 4 > b.length) return null;
    off = n + 4;
  }
  for (let i = 0; i < max; i++) {
    const n = skipName(b, off);
    if (n < 0 || n + 10 > b.length) return null;
    const end = n + 10 + ((b[n + 8]! << 8) | b[n + 9]!);
    if (end > b.length) return null;
    off = end;
  }
  const cut = Uint8Array.prototype.slice.call(b, 0, off);
  cut[6] = max >> 8;
  cut[7] = max & 255;
  cut.fill(0, 8, 12);
  return cut;
}
