/**
 * The addresses a DNS response gave (RFC 1035 §4.1.3, RFC 3596): every A and
 * AAAA record of the answer section, whatever owner name it has (a CNAME chain
 * ends in the addresses the client will connect to). Bounded: at most 64
 * records are read, and a record that runs past the message stops the walk.
 */
import { decodeDnsName } from './dns.js';
import { formatIpv4, formatIpv6 } from './ip.js';

const MAX_RECORDS = 64;

/** Skip a name (labels or a pointer) without decoding it; -1 when it runs past `end`. */
function skipName(b: Buffer, o: number, end: number): number {
  for (let i = 0; i < 128; i++) {
    if (o >= end) return -1;
    const len = b[o]!;
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) return o + 2 <= end ? o + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    o += 1 + len;
  }
  return -1;
}

/** A and AAAA addresses in the answer section of the message at buf[off, end). */
export function answerAddresses(buf: Buffer, off: number, end: number): string[] {
  if (off + 12 > end) return [];
  const qd = buf.readUInt16BE(off + 4);
  const an = Math.min(buf.readUInt16BE(off + 6), MAX_RECORDS);
  if (an === 0) return [];
  const view = buf.subarray(off, end);
  let o = 12;
  for (let i = 0; i < qd && i < 4; i++) {
    const n = decodeDnsName(view, o, view.length);
    if ('anomaly' in n) return [];
    o = n.next + 4;
  }
  const out: string[] = [];
  for (let i = 0; i < an; i++) {
    o = skipName(view, o, view.length);
    if (o < 0 || o + 10 > view.length) break;
    const type = view.readUInt16BE(o);
    const rdlen = view.readUInt16BE(o + 8);
    const rd = o + 10;
    if (rd + rdlen > view.length) break;
    if (type === 1 && rdlen === 4) out.push(formatIpv4(view, rd));
    else if (type === 28 && rdlen === 16) out.push(formatIpv6(view, rd));
    o = rd + rdlen;
  }
  return out;
}
