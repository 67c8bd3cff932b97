/** TCP header (RFC 9293 §3.1). Checksums are not validated. */

export const FIN = 0x01,
  SYN = 0x02,
  RST = 0x04,
  PSH = 0x08,
  ACK = 0x10,
  URG = 0x20;

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Payload offset and end of the captured payload. */
  off: number;
  end: number;
  /** Payload length on the wire (may exceed the captured bytes). */
  len: number;
}

export type TcpResult = TcpSegment | { anomaly: string };

/** `out`, when given, is filled and returned instead of a new object (the hot path reuses one). */
export function decodeTcp(buf: Buffer, off: number, end: number, wireLen: number, out?: TcpSegment): TcpResult {
  if (off + 20 > end) return { anomaly: 'truncated_tcp_header' };
  const hl = (buf[off + 12]! >> 4) * 4;
  if (hl < 20) return { anomaly: 'bad_tcp_header_length' };
  if (off + hl > end) return { anomaly: 'truncated_tcp_header' };
  const r = out ?? ({} as TcpSegment);
  r.srcPort = (buf[off]! << 8) | buf[off + 1]!;
  r.dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
  r.seq = buf.readUInt32BE(off + 4);
  r.ack = buf.readUInt32BE(off + 8);
  r.flags = buf[off + 13]!;
  r.window = (buf[off + 14]! << 8) | buf[off + 15]!;
  r.off = off + hl;
  r.end = end;
  r.len = Math.max(wireLen - hl, end - off - hl);
  return r;
}

export function flagString(flags: number): string {
  let s = '';
  if (flags & SYN) s += 'S';
  if (flags & ACK) s += '.';
  if (flags & FIN) s += 'F';
  if (flags & RST) s += 'R';
  if (flags & PSH) s += 'P';
  return s;
}
