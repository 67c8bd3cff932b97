import fc from 'fast-check';
import dns2 from 'dns2';
import { describe, expect, test } from 'vitest';
import { answersQuestion, readName, skipName, walkMessage, wellFormed } from '../../src/probes/dns-wire.js';

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
