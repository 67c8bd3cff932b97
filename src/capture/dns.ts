/**
 * DNS messages (RFC 1035 §4.1): header, first question, answer count.
 * Names follow compression pointers only backwards and at most 32 deep
 * (as Zeek's DNS.cc does), so a hostile message cannot loop.
 */

export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  /** First question, when there is one. */
  qname: string | null;
  qtype: number | null;
  qclass: number | null;
}

export type DnsResult = DnsMessage | { anomaly: string };

const MAX_POINTERS = 32;

export function decodeDnsName(buf: Buffer, off: number, end: number): { name: string; next: number } | { anomaly: string } {
  const labels: string[] = [];
  let o = off;
  let next = -1;
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (o >= end) return { anomaly: 'DNS_label_len_gt_pkt' };
    const len = buf[o]!;
    if (len === 0) {
      if (next < 0) next = o + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (o + 2 > end) return { anomaly: 'DNS_label_len_gt_pkt' };
      const ptr = ((len & 0x3f) << 8) | buf[o + 1]!;
      if (next < 0) next = o + 2;
      // Only backward pointers: a forward or self pointer could loop.
      if (ptr >= o) return { anomaly: 'DNS_label_forward_compress_offset' };
      if (++jumps > MAX_POINTERS) return { anomaly: 'DNS_label_too_many_pointers' };
      o = ptr;
      continue;
    }
    if (kind !== 0) return { anomaly: 'DNS_label_bad_type' };
    if (o + 1 + len > end) return { anomaly: 'DNS_label_len_gt_pkt' };
    total += len + 1;
    if (total > 255) return { anomaly: 'DNS_name_too_long' };
    labels.push(buf.toString('latin1', o + 1, o + 1 + len));
    o += 1 + len;
  }
  return { name: labels.length ? labels.join('.') : '.', next };
}

export function decodeDns(buf: Buffer, off = 0, end = buf.length): DnsResult {
  if (off + 12 > end) return { anomaly: 'DNS_truncated_header' };
  const flags = buf.readUInt16BE(off + 2);
  const qdcount = buf.readUInt16BE(off + 4);
  const msg: DnsMessage = {
    id: buf.readUInt16BE(off),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0x0f,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    rcode: flags & 0x0f,
    qdcount,
    ancount: buf.readUInt16BE(off + 6),
    qname: null,
    qtype: null,
    qclass: null,
  };
  if (qdcount > 0) {
    // Names are relative to the message start for compression.
    const view = buf.subarray(off, end);
    const n = decodeDnsName(view, 12, view.length);
    if ('anomaly' in n) return n;
    if (n.next + 4 > view.length) return { anomaly: 'DNS_truncated_question' };
    msg.qname = n.name;
    msg.qtype = view.readUInt16BE(n.next);
    msg.qclass = view.readUInt16BE(n.next + 2);
  }
  return msg;
}

export { RCODE_NAMES, rcodeName } from '../core/dns.js';

/** Plausibility for traffic on a port that is not a DNS port: a DNS header that decodes. */
export function looksLikeDns(m: DnsMessage): boolean {
  return m.opcode <= 6 && m.qdcount <= 4 && m.ancount <= 512;
}
