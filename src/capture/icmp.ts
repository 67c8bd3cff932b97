/**
 * ICMP and ICMPv6 error messages (RFC 792, RFC 4443): the type and code, the
 * MTU a "fragmentation needed" / "packet too big" carries, and the flow the
 * message quotes (the inner IP header and the first 8 bytes of its TCP or UDP
 * header). Nothing is copied: the inner addresses are offsets into the frame.
 */
import { icmpName, type IcmpKind } from '../core/icmp.js';
import { decodeIpv4, decodeIpv6, type IpPacket } from './ip.js';

export interface IcmpError {
  kind: IcmpKind;
  name: string;
  type: number;
  code: number;
  /** Next-hop MTU of fragmentation-needed / packet-too-big (0 when the sender gave none). */
  mtu: number;
  /** The quoted packet: what the host that got this error had sent. */
  inner: IpPacket;
  /** Ports of the quoted TCP/UDP header (0 for another protocol). */
  srcPort: number;
  dstPort: number;
  /** The quoted TCP sequence number, or -1. */
  seq: number;
}

export type IcmpResult = IcmpError | { anomaly: string } | null;

/**
 * Decode an ICMP (`v6` false) or ICMPv6 message in buf[off, end). Returns null
 * for a message that is not an error conndx reads (echo, neighbour discovery…).
 */
export function decodeIcmpError(buf: Buffer, off: number, end: number, v6: boolean): IcmpResult {
  if (off + 8 > end) return { anomaly: v6 ? 'truncated_icmpv6' : 'truncated_icmp' };
  const type = buf[off]!;
  const code = buf[off + 1]!;
  const n = icmpName(v6, type, code);
  if (!n) return null;
  let mtu = 0;
  if (n.kind === 'too-big') mtu = v6 ? buf.readUInt32BE(off + 4) : buf.readUInt16BE(off + 6);
  const innerOff = off + 8;
  const inner = v6 ? decodeIpv6(buf, innerOff, end) : decodeIpv4(buf, innerOff, end);
  if ('anomaly' in inner) return { anomaly: v6 ? 'icmpv6_bad_quoted_packet' : 'icmp_bad_quoted_packet' };
  if (inner.version !== (v6 ? 6 : 4)) return { anomaly: 'icmp_bad_quoted_packet' };
  let srcPort = 0;
  let dstPort = 0;
  let seq = -1;
  if ((inner.proto === 6 || inner.proto === 17) && !inner.fragment) {
    if (inner.off + 4 > end) return { anomaly: 'icmp_quoted_header_cut' };
    srcPort = buf.readUInt16BE(inner.off);
    dstPort = buf.readUInt16BE(inner.off + 2);
    if (inner.proto === 6 && inner.off + 8 <= end) seq = buf.readUInt32BE(inner.off + 4);
  }
  return { kind: n.kind, name: n.name, type, code, mtu, inner, srcPort, dstPort, seq };
}
