import fc from 'fast-check';
import dns2 from 'dns2';
import { describe, expect, test } from 'vitest';
import { answersQuestion, firstAnswers, readName, skipName, walkMessage, wellFormed } from '../../src/probes/dns-wire.js';

const { Packet } = dns2;

/** A query's bytes as dns2 encodes them (what the probe sends). */
function query(name: string, type: number = Packet.TYPE.A): Buffer {
  const p = new Packet();
  p.header.id = 0x1234;
  p.header.rd = 1;
  p.questions.push({ name, type, class: Packet.CLASS.IN } as unknown as InstanceType<typeof Packet.Question>);
  return p.toBuffer();
}

/** A reply with one A record for the question, name compressed in the answer. */
function reply(name: string, type: number = Packet.TYPE.A, rcode = 0): Buffer {
  const req = Packet.parse(query(name, type));
  const res = Packet.createResponseFromRequest(req);
  res.header.rcode = rcode;
  if (rcode === 0)
    res.answers.push({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 60, address: '192.0.2.1' } as unknown as InstanceType<
      typeof Packet
    >['answers'][number]);
  return res.toBuffer();
}

const asked = (name: string, type: number = Packet.TYPE.A) => query(name, type).subarray(12);

describe('the allocation-free reply checks of the UDP hot path', () => {
  test('wellFormed agrees with the full walk on real replies and on every cut and corruption of them', () => {
    const base = reply('api.lab.test');
    expect(wellFormed(base)).toBe(true);
    fc.assert(
      fc.property(
        fc.nat(base.length),
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        (cut, edits) => {
          const b = Buffer.from(base.subarray(0, cut));
          for (const [at, v] of edits) if (at < b.length) b[at] = v;
          expect(wellFormed(b)).toBe(walkMessage(b) !== null);
        },
      ),
      { numRuns: 5000 },
    );
  });

  test('wellFormed agrees with the full walk on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (b) => {
        expect(wellFormed(b)).toBe(walkMessage(b) !== null);
      }),
      { numRuns: 5000 },
    );
  });

  test('skipName ends where readName ends, and fails where it fails (pointer loops, forward pointers)', () => {
    const r = reply('a.b.lab.test');
    for (let off = 0; off < r.length; off++) {
      const n = readName(r, off);
      expect(skipName(r, off)).toBe(n ? n.next : -1);
    }
    // a pointer to itself, and one pointing forward
    expect(skipName(Uint8Array.from([0xc0, 0x00]), 0)).toBe(-1);
    expect(skipName(Uint8Array.from([0, 0, 0xc0, 0x04, 0]), 2)).toBe(-1);
  });

  test('answersQuestion: same name in any ASCII case, same type and class', () => {
    expect(answersQuestion(reply('api.lab.test'), asked('api.lab.test'))).toBe(true);
    expect(answersQuestion(reply('API.Lab.TEST'), asked('api.lab.test'))).toBe(true);
    expect(answersQuestion(reply('api.lab.test'), asked('API.LAB.test'))).toBe(true);
    expect(answersQuestion(reply('apx.lab.test'), asked('api.lab.test'))).toBe(false);
    expect(answersQuestion(reply('api.lab.tes'), asked('api.lab.test'))).toBe(false);
    expect(answersQuestion(reply('api.lab.test', Packet.TYPE.AAAA), asked('api.lab.test'))).toBe(false);
    // type 65 is 0x0041, 'A' in ASCII: type bytes compare exactly, not folded
    expect(answersQuestion(reply('api.lab.test', 65), asked('api.lab.test', 97))).toBe(false);
  });

  test('answersQuestion: a reply without a question answers only when it is an error', () => {
    const r = reply('api.lab.test', Packet.TYPE.A, 1);
    const noQuestion = Buffer.from(r.subarray(0, 12));
    noQuestion.writeUInt16BE(0, 4);
    expect(answersQuestion(noQuestion, asked('api.lab.test'))).toBe(true);
    noQuestion[3] = noQuestion[3]! & 0xf0; // NOERROR
    expect(answersQuestion(noQuestion, asked('api.lab.test'))).toBe(false);
  });
});

describe('firstAnswers: what is decoded of a huge reply', () => {
  const rr = (i: number) => Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, i >> 8, i & 255]);
  const question = Buffer.from([3, 0x6c, 0x61, 0x62, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1]);
  const reply = (n: number) =>
    Buffer.concat([
      Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, n >> 8, n & 255, 0, 0, 0, 1]),
      question,
      ...Array.from({ length: n }, (_, i) => rr(i)),
      Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]), // an OPT record in the additional section
    ]);

  test('a reply of 4,000 A records is cut to its first 64, which decode to those records', () => {
    const full = reply(4000);
    expect(wellFormed(full)).toBe(true);
    const cut = firstAnswers(full, 64)!;
    expect(cut.length).toBe(12 + question.length + 64 * 16);
    expect(wellFormed(cut)).toBe(true);
    const parsed = dns2.Packet.parse(Buffer.from(cut));
    expect(parsed.answers.map((a) => (a as { address: string }).address)).toEqual(
      Array.from({ length: 64 }, (_, i) => `10.0.${i >> 8}.${i & 255}`),
    );
    expect(walkMessage(cut)!.header.arcount).toBe(0);
  });

  test('a reply within the limit is returned as it is; an unreadable one is null', () => {
    const small = reply(3);
    expect(firstAnswers(small, 64)).toBe(small);
    expect(firstAnswers(reply(100).subarray(0, 200), 64)).toBeNull();
  });
});
