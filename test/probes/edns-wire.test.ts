import { describe, expect, test } from 'vitest';
import { walkMessage, wellFormed } from '../../src/probes/dns-wire.js';
import { encodeOpt, encodeQuery, encodeQuestion, fullRcode, parseEcs, readOptRdata, scanReply } from '../../src/probes/edns.js';

/** A reply to `q`: QR set, the given answer records appended, then `additional` (raw RRs). */
function reply(q: Buffer, answers: Buffer[], additional: Buffer[], rcodeLow = 0): Buffer {
  const head = Buffer.from(q.subarray(0, q.length));
  // drop the query's OPT: keep header + question
  const qEnd = 12 + (walkMessage(q)!.questions[0]!.name.length ? walkMessage(q)!.questions[0]!.name.length + 2 : 1) + 4;
  const b = Buffer.concat([head.subarray(0, qEnd), ...answers, ...additional]);
  b[2] = 0x81;
  b[3] = 0x80 | rcodeLow;
  b.writeUInt16BE(answers.length, 6);
  b.writeUInt16BE(0, 8);
  b.writeUInt16BE(additional.length, 10);
  return b;
}

function aRecord(type = 1): Buffer {
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(1, 4);
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(4, 10);
  Buffer.from([192, 0, 2, 10]).copy(rr, 12);
  return rr;
}

function optRr(extRcode: number, dnssecOk: boolean, options: [number, Buffer][]): Buffer {
  const rdata = Buffer.concat(
    options.map(([code, d]) => {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(code, 0);
      h.writeUInt16BE(d.length, 2);
      return Buffer.concat([h, d]);
    }),
  );
  const rr = Buffer.alloc(11);
  rr.writeUInt16BE(41, 1);
  rr.writeUInt16BE(4096, 3);
  rr.writeUInt32BE((extRcode << 24) | (dnssecOk ? 0x8000 : 0), 5);
  rr.writeUInt16BE(rdata.length, 9);
  return Buffer.concat([rr, rdata]);
}

describe('the OPT record of a query', () => {
  test('header, question and OPT are one well-formed message with ARCOUNT 1', () => {
    const cookie = Buffer.from('0102030405060708', 'hex');
    const q = encodeQuery(
      encodeQuestion('www.lab.test', 28),
      encodeOpt({ udpSize: 1232, dnssec: true, nsid: true, ecs: parseEcs('192.0.2.77/24'), clientCookie: cookie }),
    );
    expect(wellFormed(q)).toBe(true);
    const m = walkMessage(q)!;
    expect(m.header.rd).toBe(true);
    expect(m.header.arcount).toBe(1);
    expect(m.questions).toEqual([{ name: 'www.lab.test', type: 28, cls: 1 }]);
    const e = scanReply(q, 28).edns!;
    expect(e.udpSize).toBe(1232);
    expect(e.dnssecOk).toBe(true);
    expect(e.version).toBe(0);
    expect(e.nsid).toBe(''); // an empty NSID option asks for it
    expect(e.cookie!.client.equals(cookie)).toBe(true);
    expect(e.cookie!.server).toBeUndefined();
    // RFC 7871 §6: family 1, source /24, scope 0, three address bytes
    expect(e.ecs!.toString('hex')).toBe('0001180' + '0' + 'c00002');
  });
  test('the OPT record is byte-exact: root name, type 41, size as class, DO in the TTL', () => {
    expect(encodeOpt({ udpSize: 1232, dnssec: false, nsid: false }).toString('hex')).toBe('0000290' + '4d0' + '00000000' + '0000');
    expect(encodeOpt({ udpSize: 4096, dnssec: true, nsid: true }).toString('hex')).toBe('00002910000000800000040003' + '0000');
  });
  test('a server cookie of an earlier reply is sent after the client cookie', () => {
    const c = Buffer.alloc(8, 1);
    const s = Buffer.alloc(16, 2);
    const e = readOptRdata(encodeOpt({ udpSize: 1232, dnssec: false, nsid: false, clientCookie: c }, s).subarray(11), 0, 4 + 24, 1232, 0)!;
    expect(e.cookie!.client.equals(c)).toBe(true);
    expect(e.cookie!.server!.equals(s)).toBe(true);
  });
  test.each([
    ['192.0.2.0/24', '192.0.2.0/24', 3],
    ['192.0.2.255/25', '192.0.2.128/25', 4],
    ['10.1.2.3/0', '0.0.0.0/0', 0],
    ['2001:db8:ab::/48', '2001:db8:ab::/48', 6],
    ['192.0.2.1', '192.0.2.0/24', 3],
  ])('--ecs %s is %s in %i address bytes', (text, shown, bytes) => {
    const e = parseEcs(text);
    expect(e.text).toBe(shown);
    expect(e.address.length).toBe(bytes);
  });
  test.each(['192.0.2.0/33', 'nonsense', '2001:db8::/129', ''])('--ecs %j is bad input', (t) => {
    expect(() => parseEcs(t)).toThrow(/--ecs/);
  });
});

describe('what a reply says beyond its header', () => {
  const q = encodeQuery(encodeQuestion('lab.test', 1));
  test('NSID, EDE with text, cookies, extended rcode and DO', () => {
    const r = reply(
      q,
      [aRecord(), aRecord(46)],
      [
        optRr(1, true, [
          [3, Buffer.from('ns-7.example')],
          [15, Buffer.concat([Buffer.from([0, 22]), Buffer.from('no authority\0')])],
          [15, Buffer.from([0, 99])],
          [10, Buffer.concat([Buffer.alloc(8, 5), Buffer.alloc(8, 6)])],
        ]),
      ],
      7,
    );
    expect(wellFormed(r)).toBe(true);
    const s = scanReply(r, 1);
    expect(s.ofType).toBe(1);
    expect(s.rrsig).toBe(1);
    expect(s.edns!.nsid).toBe('ns-7.example');
    expect(s.edns!.ede).toEqual([
      { code: 22, name: 'No Reachable Authority', text: 'no authority' },
      { code: 99, name: 'EDE99' },
    ]);
    expect(s.edns!.cookie!.server!.equals(Buffer.alloc(8, 6))).toBe(true);
    expect(s.edns!.dnssecOk).toBe(true);
    expect(fullRcode(r, s.edns)).toBe(23); // BADCOOKIE: ext 1, header 7
  });
  test('a binary NSID is hex', () => {
    const r = reply(q, [aRecord()], [optRr(0, false, [[3, Buffer.from([0, 1, 0xfe])]])]);
    expect(scanReply(r, 1).edns!.nsid).toBe('0001fe');
  });
  test('no answer of the asked type is counted as none (NODATA); ANY counts every answer', () => {
    const r = reply(q, [aRecord(5)], []);
    expect(scanReply(r, 1).ofType).toBe(0);
    expect(scanReply(r, 255).ofType).toBe(1);
    expect(scanReply(r, 1).edns).toBeNull();
  });
  test('an option that runs past the OPT record is a bad OPT, not a crash', () => {
    const bad = optRr(0, false, [[3, Buffer.from('abc')]]);
    bad.writeUInt16BE(40, 13); // option length past the rdata
    const r = reply(q, [aRecord()], [bad]);
    expect(wellFormed(r)).toBe(true);
    const s = scanReply(r, 1);
    expect(s.edns).toBeNull();
    expect(s.badOpt).toBe(true);
  });
});
