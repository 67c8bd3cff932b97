/**
 * IPv4 and IPv6 headers. Offsets point into the frame; nothing is copied.
 * `end` is where the IP datagram ends by its own length field, clipped to
 * the captured bytes; `wireLen` is the transport length the header claims.
 */

export interface IpPacket {
  version: 4 | 6;
  proto: number;
  /** Offset of the source address (4 or 16 bytes), then the destination. */
  srcOff: number;
  dstOff: number;
  /** Transport header offset. */
  off: number;
  /** End of the captured transport bytes. */
  end: number;
  /** Transport length on the wire (from the IP header). */
  wireLen: number;
  /** A fragment (any piece of a fragmented datagram): counted, not reassembled. */
  fragment: boolean;
}

export type IpResult = IpPacket | { anomaly: string };

/** `out`, when given, is filled and returned instead of a new object (the hot path reuses one). */
export function decodeIpv4(buf: Buffer, off: number, cap = buf.length, out?: IpPacket): IpResult {
  if (off + 20 > cap) return { anomaly: 'truncated_ip_header' };
  const vihl = buf[off]!;
  if (vihl >> 4 !== 4) return { anomaly: 'bad_ip_version' };
  const hl = (vihl & 0x0f) * 4;
  if (hl < 20) return { anomaly: 'bad_ip_header_length' };
  if (off + hl > cap) return { anomaly: 'truncated_ip_header' };
  let total = buf.readUInt16BE(off + 2);
  // A zero total length comes from TSO on the capturing host: use what was captured.
  if (total === 0) total = cap - off;
  if (total < hl) return { anomaly: 'bad_ip_total_length' };
  const frag = buf.readUInt16BE(off + 6);
  const fragment = (frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0;
  const r = out ?? ({} as IpPacket);
  r.version = 4;
  r.proto = buf[off + 9]!;
  r.srcOff = off + 12;
  r.dstOff = off + 16;
  r.off = off + hl;
  r.end = Math.min(cap, off + total);
  r.wireLen = total - hl;
  r.fragment = fragment;
  return r;
}

/** Extension headers with the generic (len + 1) * 8 layout (RFC 8200 §4). */
const IPV6_EXT = new Set([0, 43, 60, 135, 139, 140]);
const MAX_EXT_HEADERS = 16;

export function decodeIpv6(buf: Buffer, off: number, cap = buf.length, out?: IpPacket): IpResult {
  if (off + 40 > cap) return { anomaly: 'truncated_ip_header' };
  if (buf[off]! >> 4 !== 6) return { anomaly: 'bad_ip_version' };
  const plen = buf.readUInt16BE(off + 4);
  let next = buf[off + 6]!;
  // Payload length 0 is a jumbogram or TSO: use what was captured.
  const end = plen === 0 ? cap : Math.min(cap, off + 40 + plen);
  const wireEnd = plen === 0 ? cap : off + 40 + plen;
  let o = off + 40;
  let fragment = false;
  for (let i = 0; i < MAX_EXT_HEADERS; i++) {
    if (IPV6_EXT.has(next)) {
      if (o + 2 > end) return { anomaly: 'truncated_ipv6_extension' };
      const len = (buf[o + 1]! + 1) * 8;
      next = buf[o]!;
      o += len;
    } else if (next === 44) {
      // Fragment header, 8 bytes
      if (o + 8 > end) return { anomaly: 'truncated_ipv6_extension' };
      const fo = buf.readUInt16BE(o + 2);
      if ((fo & 0xfff8) !== 0 || (fo & 1) !== 0) fragment = true;
      next = buf[o]!;
      o += 8;
    } else if (next === 51) {
      // AH: (len + 2) * 4 (RFC 4302 §2.2)
      if (o + 2 > end) return { anomaly: 'truncated_ipv6_extension' };
      const len = (buf[o + 1]! + 2) * 4;
      next = buf[o]!;
      o += len;
    } else {
      break;
    }
    if (o > end) return { anomaly: 'truncated_ipv6_extension' };
  }
  const r = out ?? ({} as IpPacket);
  r.version = 6;
  r.proto = next;
  r.srcOff = off + 8;
  r.dstOff = off + 24;
  r.off = o;
  r.end = end;
  r.wireLen = Math.max(0, wireEnd - o);
  r.fragment = fragment;
  return r;
}

export function formatIpv4(buf: Buffer, o: number): string {
  return `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
}

/** RFC 5952 text form: lowercase, longest run of zero groups (length ≥ 2) as '::'. */
export function formatIpv6(buf: Buffer, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(o + i * 2));
  let bestStart = -1,
    bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 §5).
  if (bestStart === 0 && bestLen === 5 && g[5] === 0xffff) return `::ffff:${formatIpv4(buf, o + 12)}`;
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatAddr(buf: Buffer, ip: IpPacket, which: 'src' | 'dst'): string {
  const o = which === 'src' ? ip.srcOff : ip.dstOff;
  return ip.version === 4 ? formatIpv4(buf, o) : formatIpv6(buf, o);
}
