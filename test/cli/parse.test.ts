import { describe, expect, test } from 'vitest';
import { parseDuration, parseHostPort, parseStatusRanges, unescapeText } from '../../src/parse.js';
import { statusExpected } from '../../src/probes/http.js';

describe('durations', () => {
  test.each([
    ['250ms', 250],
    ['2s', 2000],
    ['1m', 60_000],
    ['1.5s', 1500],
    ['3', 3000],
    ['1h', 3_600_000],
  ])('%s', (t, ms) => {
    expect(parseDuration(t)).toBe(ms);
  });
  test.each(['', 'abc', '5 parsecs', '-1s', '1x', 's', '1e3ms'])('rejects %j with a ConndxError', (t) => {
    expect(() => parseDuration(t)).toThrow(expect.objectContaining({ code: 'CONNDX_BAD_DURATION' }));
  });
});

describe('host:port', () => {
  test.each([
    ['db.internal:5432', undefined, { host: 'db.internal', port: 5432, family: 0 }],
    ['10.1.2.3:443', undefined, { host: '10.1.2.3', port: 443, family: 4 }],
    ['[::1]:853', undefined, { host: '::1', port: 853, family: 6 }],
    ['[2001:db8::1]', 53, { host: '2001:db8::1', port: 53, family: 6 }],
    ['2001:db8::1', 53, { host: '2001:db8::1', port: 53, family: 6 }],
    ['10.0.0.2', 53, { host: '10.0.0.2', port: 53, family: 4 }],
  ] as const)('%s', (raw, def, want) => {
    expect(parseHostPort(raw, def)).toMatchObject({ raw, ...want });
  });
  test.each(['host', 'host:0', 'host:65536', 'host:http', '[::1', '[nothex]:1', '300.1.1.1:1', '2001:db8::1:x', 'a..b:1', ':80'])(
    'rejects %j',
    (raw) => {
      expect(() => parseHostPort(raw)).toThrow(expect.objectContaining({ code: 'CONNDX_BAD_TARGET' }));
    },
  );
});

describe('--send escapes', () => {
  test('CRLF, tab, hex, backslash', () => {
    expect(unescapeText('GET / HTTP/1.0\\r\\n\\r\\n').toString()).toBe('GET / HTTP/1.0\r\n\r\n');
    expect([...unescapeText('\\x00\\xff\\t\\\\')]).toEqual([0, 255, 9, 92]);
    expect(unescapeText('plain').toString()).toBe('plain');
  });
});

describe('--expect-status', () => {
  test('ranges, single statuses and classes', () => {
    expect(parseStatusRanges('200-299,301')).toEqual([
      [200, 299],
      [301, 301],
    ]);
    expect(parseStatusRanges('2xx, 304')).toEqual([
      [200, 299],
      [304, 304],
    ]);
  });
  test.each(['', '2x9', '99', '600', '300-200', '200-', 'abc'])('%j is bad input', (t) => {
    expect(() => parseStatusRanges(t)).toThrow(/bad --expect-status/);
  });
  test('without ranges below 400 counts, as curl -f; with them, only inside', () => {
    expect(statusExpected(302)).toBe(true);
    expect(statusExpected(404)).toBe(false);
    expect(statusExpected(404, [[404, 404]])).toBe(true);
    expect(statusExpected(302, [[200, 299]])).toBe(false);
  });
});
