import fc from 'fast-check';
import { expect, test } from 'vitest';
import { createByteStream, feedStream } from '../../src/capture/stream.js';

// Retransmitted, overlapping and reordered segments must never corrupt the byte stream:
// what the consumer sees is always a prefix of what was sent.
test('any segmentation, order and duplication yields a prefix of the sent bytes', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(400)), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (bytes, cuts, isn) => {
        const data = Buffer.from(bytes);
        const segs = cuts.map(([a, n]) => {
          const s = a % data.length;
          return { off: s, data: data.subarray(s, Math.min(data.length, s + n + 1)) };
        });
        // The first segment starts the stream at offset 0 (as after a SYN).
        segs.unshift({ off: 0, data: data.subarray(0, Math.min(data.length, 10)) });
        const st = createByteStream((isn + 0) >>> 0);
        const out: Buffer[] = [];
        for (const s of segs)
          feedStream(st, (isn + s.off) >>> 0, s.data, s.data.length, (b) => {
            out.push(Buffer.from(b));
            return true;
          });
        const got = Buffer.concat(out);
        expect(got.equals(data.subarray(0, got.length))).toBe(true);
        // Everything contiguous from the start that was sent (within the pending bound) was delivered.
        let covered = 0;
        const sorted = [...segs].sort((a, b) => a.off - b.off);
        for (const s of sorted) if (s.off <= covered) covered = Math.max(covered, s.off + s.data.length);
        if (!st.broken) expect(got.length).toBe(covered);
      },
    ),
    { numRuns: 500 },
  );
});

test('sequence numbers wrap around 2^32', () => {
  const st = createByteStream(0xfffffffe);
  const out: Buffer[] = [];
  const take = (b: Buffer) => {
    out.push(Buffer.from(b));
    return true;
  };
  feedStream(st, 0x00000001, Buffer.from('cd'), 2, take); // early: waits for seq 0
  feedStream(st, 0xfffffffe, Buffer.from('ab'), 2, take);
  feedStream(st, 0xffffffff, Buffer.from('bX'), 2, take); // 'b' again, then the missing 'X'
  expect(Buffer.concat(out).toString()).toBe('abXcd');
  expect(st.next).toBe(3);
});
