/**
 * One direction of a TCP byte stream, delivered in order to a consumer.
 * Retransmitted bytes are trimmed, out-of-order segments wait (bounded),
 * so a retransmission or reordering never corrupts what the consumer sees.
 * A gap that never fills (lost or snaplen-cut bytes) ends the stream: the
 * consumer is told, instead of being fed bytes from the wrong place.
 */

export interface ByteStream {
  next: number | null;
  pending: { seq: number; data: Buffer }[];
  pendingBytes: number;
  /** Set once a gap made the stream unusable. */
  broken: boolean;
}

const MAX_PENDING_BYTES = 256 * 1024;
const MAX_PENDING_SEGMENTS = 64;

export function createByteStream(next: number | null = null): ByteStream {
  return { next, pending: [], pendingBytes: 0, broken: false };
}

/** Signed 32-bit distance from b to a (RFC 9293 §3.4 sequence arithmetic). */
export function seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Feed a segment's payload (captured bytes `data`, `wireLen` on the wire).
 * `consume` receives in-order bytes and returns false to stop the stream.
 */
export function feedStream(s: ByteStream, seq: number, data: Buffer, wireLen: number, consume: (b: Buffer) => boolean): void {
  if (s.broken) return;
  if (s.next === null) s.next = seq;
  if (data.length < wireLen) {
    // Snaplen cut this segment: bytes are missing from here on.
    const rel = seqDelta(seq, s.next);
    if (rel <= 0 && -rel < data.length) consume(data.subarray(-rel));
    s.broken = true;
    return;
  }
  let rel = seqDelta(seq, s.next);
  if (rel > 0) {
    if (s.pending.length >= MAX_PENDING_SEGMENTS || s.pendingBytes + data.length > MAX_PENDING_BYTES) {
      s.broken = true;
      return;
    }
    // Out of order: keep a copy, the frame buffer is reused.
    s.pending.push({ seq, data: Buffer.from(data) });
    s.pendingBytes += data.length;
    return;
  }
  if (-rel >= data.length) return; // entirely retransmitted
  // In order (the usual case): the segment itself, no view made.
  let chunk = rel === 0 ? data : data.subarray(-rel);
  for (;;) {
    s.next = (s.next + chunk.length) >>> 0;
    if (!consume(chunk)) {
      s.broken = true;
      return;
    }
    if (s.pending.length === 0) return;
    let found = -1;
    for (let i = 0; i < s.pending.length; i++) {
      rel = seqDelta(s.pending[i]!.seq, s.next);
      if (rel <= 0) {
        found = i;
        break;
      }
    }
    if (found < 0) return;
    const seg = s.pending.splice(found, 1)[0]!;
    s.pendingBytes -= seg.data.length;
    rel = seqDelta(seg.seq, s.next);
    if (-rel >= seg.data.length) {
      chunk = Buffer.alloc(0);
      continue;
    }
    chunk = seg.data.subarray(-rel);
  }
}
