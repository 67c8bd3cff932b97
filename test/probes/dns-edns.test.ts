import { describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';
import type { EdnsLabStats } from '../../src/lab/dns-edns.js';
import { answerFor, serveDns } from '../../src/lab/dns.js';
import { unwrapProse } from '../helpers/unwrap.js';

// EDNS facts, NODATA, --random-label and id mismatches, each against a real lab resolver on loopback.

const statsOf = (ep: { info?: Record<string, unknown> }) => ep.info!.stats as EdnsLabStats;

describe('EDNS on every query', () => {
  test('an OPT record goes out by default with the 1232-byte size; --edns-size and --no-edns change it', async () => {
    const ep = await lab('dns-edns');
    try {
      const a = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '3']);
      expect(a.json.outcomes).toEqual({ ok: 3 });
      expect(statsOf(ep).withOpt).toBe(3);
      expect(statsOf(ep).lastUdpSize).toBe(1232);
      expect(a.json.edns).toEqual({ opt: 3 });
      expect(a.json.query.edns).toMatchObject({ udpSize: 1232, do: false, cookie: true });
      const b = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '2', '--edns-size', '4096']);
      expect(b.json.outcomes).toEqual({ ok: 2 });
      expect(statsOf(ep).lastUdpSize).toBe(4096);
      const before = statsOf(ep).withOpt;
      const c = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '2', '--no-edns']);
      expect(c.json.outcomes).toEqual({ ok: 2 });
      expect(statsOf(ep).withOpt).toBe(before);
      expect(statsOf(ep).queries).toBe(7);
      expect(c.json.edns).toBeUndefined();
      expect(c.json.query.edns).toBe(false);
    } finally {
      await ep.close();
    }
  });

  test('a server without EDNS is counted as such, the queries still answered', async () => {
    const ep = await lab('dns-ok');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '3', '--nsid']);
      expect(json.outcomes).toEqual({ ok: 3 });
      expect(json.edns).toEqual({ 'no-opt': 3 });
      expect(json.nsid).toEqual({ '(none)': 3 });
    } finally {
      await ep.close();
    }
  });

  test('--nsid: the identifier per reply, counted per server; an anycast pair shows both instances', async () => {
    const one = await lab('dns-edns');
    const any = await lab('dns-anycast');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', one.addr, '--server', any.addr, '-c', '6', '--nsid']);
      expect(json.outcomes).toEqual({ ok: 12 });
      expect(json.byServer[one.addr].nsid).toEqual({ 'lab-ns-1': 6 });
      expect(json.byServer[any.addr].nsid).toEqual({ 'anycast-a': 3, 'anycast-b': 3 });
      expect(json.nsid).toEqual({ 'lab-ns-1': 6, 'anycast-a': 3, 'anycast-b': 3 });
      const r = await runCli(['dns', 'lab.test', '--server', any.addr, '-c', '2', '--nsid']);
      expect(r.stdout.match(/ nsid=anycast-[ab]/g)).toHaveLength(2);
      expect(r.stdout).toMatch(/^nsid: anycast-[ab] 1, anycast-[ab] 1$/m);
      const nd = await runCli(['dns', 'lab.test', '--server', any.addr, '-c', '2', '--nsid', '--ndjson']);
      const lines = nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.detail.nsid).sort()).toEqual(['anycast-a', 'anycast-b']);
    } finally {
      await one.close();
      await any.close();
    }
  });

  test('--dnssec: the DO bit goes out; AD and RRSIG are reported per reply and counted', async () => {
    const ep = await lab('dns-edns');
    const plain = await lab('dns-ok');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '--server', plain.addr, '-c', '3', '--dnssec']);
      expect(json.byServer[ep.addr]).toMatchObject({ adReplies: 3, rrsigReplies: 3 });
      expect(json.byServer[plain.addr]).toMatchObject({ adReplies: 0, rrsigReplies: 0 });
      expect(json.query.edns.do).toBe(true);
      const nd = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '1', '--dnssec', '--ndjson']);
      expect(JSON.parse(nd.stdout)).toMatchObject({ detail: { ad: true, rrsig: 1, edns: { do: true } } });
      // without DO the lab neither signs nor validates
      const off = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '1']);
      expect(off.json.adReplies).toBeUndefined();
      const nd2 = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '1', '--ndjson']);
      expect(JSON.parse(nd2.stdout).detail.ad).toBeUndefined();
    } finally {
      await ep.close();
      await plain.close();
    }
  });

  test('--ecs: the subnet goes out and the scope the server answered for is reported', async () => {
    const ep = await lab('dns-edns');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '2', '--ecs', '192.0.2.99/24']);
      expect(json.query.edns.ecs).toBe('192.0.2.0/24');
      expect(json.ecsScope).toEqual({ '/24': 2 });
    } finally {
      await ep.close();
    }
  });

  test('cookies: the client cookie goes out, the server cookie is checked and sent back on the next query', async () => {
    const ep = await lab('dns-edns');
    const bad = await lab('dns-bad-cookie');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '4']);
      expect(json.cookie).toEqual({ ok: 4 });
      // the first query has no server cookie yet; the other three carry the one the lab gave
      expect(statsOf(ep).validServerCookies).toBe(3);
      expect(statsOf(ep).badServerCookies).toBe(0);
      const b = await runCliJson(['dns', 'lab.test', '--server', bad.addr, '-c', '2']);
      expect(b.json.cookie).toEqual({ 'client-mismatch': 2 });
      const none = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '2', '--no-cookie']);
      expect(none.json.cookie).toBeUndefined();
      expect(none.json.query.edns.cookie).toBe(false);
    } finally {
      await ep.close();
      await bad.close();
    }
  });

  test('an Extended DNS Error is decoded by name: SERVFAIL with EDE 22 "No Reachable Authority"', async () => {
    const ep = await lab('dns-ede');
    try {
      const { code, json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '2']);
      expect(code).toBe(2);
      expect(json.outcomes).toEqual({ servfail: 2 });
      expect(json.ede).toEqual({ '22 No Reachable Authority': 2 });
      const nd = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '1', '--ndjson']);
      const line = JSON.parse(nd.stdout);
      expect(line.cause).toBe('SERVFAIL (EDE 22 No Reachable Authority: lab: no authority answered)');
      expect(line.detail.ede).toEqual([{ code: 22, name: 'No Reachable Authority', text: 'lab: no authority answered' }]);
      const r = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '1']);
      expect(unwrapProse(r.stdout)).toMatch(/servfail .*EDE 22 No Reachable Authority: lab: no authority answered/);
      expect(r.stdout).toContain('extended errors: 22 No Reachable Authority 1');
    } finally {
      await ep.close();
    }
  });
});

describe('NODATA, id mismatches', () => {
  test('NOERROR with no record of the asked type is `nodata`, with its reply time kept', async () => {
    const ep = await lab('dns-nodata');
    try {
      const { code, json } = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '3', '--type', 'AAAA']);
      expect(json.outcomes).toEqual({ nodata: 3 });
      expect(json.rcodes).toEqual({ NOERROR: 3 });
      expect(json.latencyMs).toBeNull();
      expect(json.replyMs.count ?? json.replyMs.max).toBeGreaterThan(0);
      expect(code).toBe(2);
    } finally {
      await ep.close();
    }
  });

  test('replies with a wrong id or question are counted and named per server', async () => {
    const spoof = await lab('dns-spoof');
    const ok = await lab('dns-ok');
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', spoof.addr, '--server', ok.addr, '-c', '3']);
      expect(json.outcomes).toEqual({ ok: 6 });
      expect(json.mismatchedReplies).toBe(6);
      expect(json.mismatchedBy).toEqual({ [spoof.addr]: { idMismatch: 3, late: 0, questionMismatch: 3 } });
      expect(json.byServer[spoof.addr]).toMatchObject({ mismatchedReplies: 6, idMismatch: 3, questionMismatch: 3 });
      expect(json.byServer[ok.addr].mismatchedReplies).toBeUndefined();
      const r = await runCli(['dns', 'lab.test', '--server', spoof.addr, '-c', '2', '-q']);
      expect(unwrapProse(r.stderr + r.stdout)).toContain(`${spoof.addr}: 2 with an id no query had, 0 late, 2 for another question`);
    } finally {
      await spoof.close();
      await ok.close();
    }
  });
});

describe('late replies', () => {
  test('a reply to a query that already timed out is counted as late, not as a foreign id', async () => {
    // Every reply after 200 ms against a 40 ms timeout: the first replies arrive while later queries run.
    const srv = await serveDns(answerFor, '127.0.0.1', { delayMs: () => 200 });
    const addr = `127.0.0.1:${srv.port}`;
    try {
      const { json } = await runCliJson(['dns', 'lab.test', '--server', addr, '-c', '12', '--timeout', '40ms']);
      expect(json.outcomes).toEqual({ timeout: 12 });
      const m = json.mismatchedBy[addr];
      expect(m.late).toBeGreaterThan(0);
      expect(m.idMismatch).toBe(0);
      expect(m.questionMismatch).toBe(0);
      expect(json.mismatchedReplies).toBe(m.late);
    } finally {
      await srv.close();
    }
  });
});

describe('--random-label: every query a cache miss', () => {
  test('the lab counts only misses with it, one miss without it; latency holds the miss time', async () => {
    const ep = await lab('dns-cache-miss');
    const counts = ep.info!.counts as { misses: number; hits: number };
    const missMs = ep.info!.missMs as number;
    try {
      const warm = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '5']);
      expect(warm.json.outcomes).toEqual({ ok: 5 });
      expect(counts).toEqual({ misses: 1, hits: 4 });
      const cold = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '5', '--random-label']);
      expect(cold.json.outcomes).toEqual({ ok: 5 });
      expect(counts).toEqual({ misses: 6, hits: 4 });
      expect(cold.json.query.randomLabel).toBe(true);
      // each reply waited the lab's miss time: no latency can be below it (less node's 1 ms timer clock)
      expect(cold.json.latencyMs.min).toBeGreaterThanOrEqual(missMs - 1);
      const nd = await runCli(['dns', 'lab.test', '--server', ep.addr, '-c', '3', '--random-label', '--ndjson']);
      const names = nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).detail.records[0].split(' ')[0]);
      expect(new Set(names).size).toBe(3);
      for (const n of names) expect(n).toMatch(/^[a-z0-9]{12}\.lab\.test$/);
    } finally {
      await ep.close();
    }
  });
});

describe('bad EDNS input: one line, exit 3', () => {
  test.each([
    [['--edns-size', '100']],
    [['--edns-size', 'big']],
    [['--no-edns', '--nsid']],
    [['--no-edns', '--dnssec']],
    [['--ecs', '192.0.2.0/40']],
    [['--ecs', 'lab.test']],
  ])('%j', async (extra) => {
    const r = await runCli(['dns', 'x.test', '--server', '127.0.0.1', ...extra]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^conndx: /);
  });
});
