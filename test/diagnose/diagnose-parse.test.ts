import { describe, expect, test } from 'vitest';
import { parseHosts, parseResolvConf, searchCandidates } from '../../src/probes/resolv-conf.js';
import { parseDiagnoseTarget } from '../../src/cli/commands/diagnose.js';
import { loopbackAnswer } from '../../src/lab/names.js';
import { wrap } from '../../src/report/diagnose-terminal.js';
import { mdTable } from '../../src/report/markdown.js';

describe('targets', () => {
  test.each([
    ['https://api.example.com/healthz', { scheme: 'https', host: 'api.example.com', port: 443, path: '/healthz', family: 0 }],
    ['http://api.example.com:8080/a?b=c', { scheme: 'http', host: 'api.example.com', port: 8080, path: '/a?b=c' }],
    ['https://[::1]:8443/', { host: '::1', family: 6, port: 8443, path: '/' }],
    ['db.internal:5432', { scheme: null, host: 'db.internal', port: 5432, path: null }],
    ['api.example.com', { port: 443 }],
    ['10.0.0.1:443', { host: '10.0.0.1', family: 4 }],
  ])('%s', (raw, want) => {
    expect(parseDiagnoseTarget(raw)).toMatchObject(want);
  });
  test.each(['ftp://x/', 'https://user:pw@x/', 'host:0', 'bad_host!:80', 'http://'])('rejects %s', (raw) => {
    expect(() => parseDiagnoseTarget(raw)).toThrow(/bad target|bad address/);
  });
});

describe('resolv.conf, hosts and the search list', () => {
  test("nameservers (with conndx's port form), the last search line, ndots capped at 15", () => {
    const c = parseResolvConf(
      '# c\nnameserver 10.0.0.2\nnameserver 127.0.0.1:5353\nnameserver [::1]:53\nnameserver bogus\nsearch a.example\nsearch b.example c.example.\noptions rotate ndots:20\n',
    );
    expect(c.nameservers.map((n) => [n.address, n.port])).toEqual([
      ['10.0.0.2', 53],
      ['127.0.0.1', 5353],
      ['::1', 53],
    ]);
    expect(c.search).toEqual(['b.example', 'c.example']);
    expect(c.ndots).toBe(15);
    expect(parseResolvConf('').ndots).toBe(1);
  });
  test('hosts: every alias, case-insensitive, both families', () => {
    const h = parseHosts('127.0.0.1 localhost\n10.0.0.5 API.internal api # comment\nfe80::1%eth0 api\n# 10.9.9.9 gone\n');
    expect(h.get('api.internal')).toEqual(['10.0.0.5']);
    expect(h.get('api')).toEqual(['10.0.0.5', 'fe80::1%eth0']);
    expect(h.has('gone')).toBe(false);
  });
  test('ndots decides whether the name or the search names come first; a trailing dot skips the search', () => {
    const conf = { search: ['corp.example', 'example'], ndots: 1 };
    expect(searchCandidates('db', conf)).toEqual(['db.corp.example', 'db.example', 'db']);
    expect(searchCandidates('db.internal', conf)).toEqual(['db.internal', 'db.internal.corp.example', 'db.internal.example']);
    expect(searchCandidates('db.internal', { ...conf, ndots: 5 })).toEqual([
      'db.internal.corp.example',
      'db.internal.example',
      'db.internal',
    ]);
    expect(searchCandidates('db.internal.', conf)).toEqual(['db.internal']);
  });
});

describe('the lab resolver', () => {
  test('loopback for lab.test and conndx.test, per-family names, NXDOMAIN for nx labels and other zones', () => {
    expect(loopbackAnswer('api.lab.test')).toEqual({ A: ['127.0.0.1'], AAAA: ['::1'] });
    expect(loopbackAnswer('lab.conndx.test.')).toEqual({ A: ['127.0.0.1'], AAAA: ['::1'] });
    expect(loopbackAnswer('db.v4.lab.test')).toEqual({ A: ['127.0.0.1'], AAAA: [] });
    expect(loopbackAnswer('db.v6.lab.test')).toEqual({ A: [], AAAA: ['::1'] });
    expect(loopbackAnswer('api.nx.lab.test')).toBeNull();
    expect(loopbackAnswer('example.com')).toBeNull();
  });
});

describe('text helpers', () => {
  test('wrap keeps every line within the width and indents continuation lines', () => {
    const text = 'word '.repeat(60).trim();
    const out = wrap(text, 40, '  - ', '    ').split('\n');
    expect(out.length).toBeGreaterThan(5);
    for (const l of out) expect(l.length).toBeLessThanOrEqual(40);
    expect(out[0]!.startsWith('  - word')).toBe(true);
    expect(out[1]!.startsWith('    word')).toBe(true);
  });
  test('Markdown tables escape pipes and right-align only figure columns', () => {
    const t = mdTable(
      ['name', 'ms', 'note'],
      [
        ['a|b', '1.5', 'x'],
        ['c', '20', 'y\nz'],
      ],
    ).split('\n');
    expect(t[1]).toBe('| --- | ---: | --- |');
    expect(t[2]).toBe('| a\\|b | 1.5 | x |');
    expect(t[3]).toBe('| c | 20 | y z |');
  });
});
