/** UDP header (RFC 768). Checksums are not validated. */

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  /** Payload offset and end of the captured payload. */
  off: number;
  end: number;
}

export type UdpResult = UdpDatagram | { anomaly: string };

export function decodeUdp(buf: Buffer, off: number, end: number): UdpResult {
  if (off + 8 > end) return { anomaly: 'truncated_udp_header' };
  const len = buf.readUInt16BE(off + 4);
  if (len !== 0 && len < 8) return { anomaly: 'bad_udp_length' };
  return {
    srcPort: buf.readUInt16BE(off),
    dstPort: buf.readUInt16BE(off + 2),
    off: off + 8,
    end: len === 0 ? end : Math.min(end, off + len),
  };
}
