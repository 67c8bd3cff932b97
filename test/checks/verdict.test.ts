import { describe, expect, test } from 'vitest';
import { parseChecks, type CheckSpec } from '../../src/checks/config.js';
import type { CheckRun } from '../../src/checks/run.js';
import { judgeCheck, worst } from '../../src/checks/verdict.js';
import type { ProbeResult } from '../../src/engine/summary.js';
import { renderCheckOutput, renderPerfdata } from '../../src/report/check.js';

function spec(yaml: string): CheckSpec {
  return parseChecks(`checks:\n  - name: c\n${yaml.replace(/^/gm, '    ')}\n`, 'c.yaml').checks[0]!;
}

function result(o: Partial<ProbeResult> & { outcomes: Record<string, number> }): ProbeResult {
  const attempts = Object.values(o.outcomes).reduce((a, b) => a + b, 0);
  const succeeded = o.outcomes.ok ?? 0;
  return { probe: 'tcp', target: 't', attempts, succeeded, failed: attempts - succeeded, elapsedMs: 1, latencyMs: null, ...o };
}

const lat = (p50: number, p90: number, p99: number) => ({ min: p50, mean: p50, p50, p90, p95: p99, p99, p999: p99, max: p99 });

describe('success rate', () => {
  const tcp = spec('tcp: 127.0.0.1:1');
  test('without limits: all ok is OK, some failed WARNING, all failed CRITICAL', () => {
    expect(judgeCheck(tcp, { result: result({ outcomes: { ok: 3 } }) }).state).toBe('OK');
    const some = judgeCheck(tcp, { result: result({ outcomes: { ok: 2, timeout: 1 } }) });
    expect(some.state).toBe('WARNING');
    expect(some.reasons).toEqual(['success 2/3 (timeout 1) < 100%']);
    const none = judgeCheck(tcp, { result: result({ outcomes: { refused: 3 } }) });
    expect(none.state).toBe('CRITICAL');
    expect(none.reasons).toEqual(['success 0/3 (refused 3)']);
  });
  test('expect.successRate is the CRITICAL limit; warn.successRate the WARNING one', () => {
    const s = spec('tcp: 127.0.0.1:1\nexpect: { successRate: 0.5 }\nwarn: { successRate: 0.9 }');
    const r = (ok: number, bad: number) => judgeCheck(s, { result: result({ outcomes: { ok, timeout: bad } }) }).state;
    expect([r(10, 0), r(9, 1), r(8, 2), r(5, 5), r(4, 6)]).toEqual(['OK', 'OK', 'WARNING', 'WARNING', 'CRITICAL']);
  });
  test("failures of this machine are UNKNOWN, not the target's fault", () => {
    const v = judgeCheck(tcp, { result: result({ outcomes: { error: 3 }, localErrors: 3, errors: { 'EMFILE: too many open files': 3 } }) });
    expect(v.state).toBe('UNKNOWN');
    expect(v.reasons[0]).toContain('failed on this machine (EMFILE: too many open files)');
  });
  test('local failures mixed with remote successes do not lower the success rate (issue 19)', () => {
    // 10 attempts: 8 ok, 2 failed on this machine (EMFILE). Over the 8 that reached the target, all succeeded.
    const v = judgeCheck(tcp, {
      result: result({
        attempts: 10,
        succeeded: 8,
        failed: 2,
        outcomes: { ok: 8, error: 2 },
        localErrors: 2,
        errors: { 'EMFILE: too many open files': 2 },
      }),
    });
    expect(v.state).toBe('OK');
    const m = v.measures.find((x) => x.key === 'successRate')!;
    expect(m.value).toBe(1);
    expect(m.text).toContain('success 8/8');
    expect(m.text).toContain('2 more failed on this machine, not counted');
    // One remote refusal among them still counts: 7 of the 8 measured.
    const w = judgeCheck(tcp, {
      result: result({
        attempts: 10,
        succeeded: 7,
        failed: 3,
        outcomes: { ok: 7, error: 2, refused: 1 },
        localErrors: 2,
        errors: { 'EMFILE: too many open files': 2 },
      }),
    });
    expect(w.measures.find((x) => x.key === 'successRate')!.value).toBe(7 / 8);
  });
  test('a name that does not resolve is CRITICAL and names the DNS outcome', () => {
    const v = judgeCheck(tcp, {
      result: null,
      unresolved: [{ key: 'db.internal:5432', outcome: 'nxdomain', cause: 'ENOTFOUND: the name does not exist', lookupMs: 3 }],
    });
    expect(v).toMatchObject({
      state: 'CRITICAL',
      reasons: ['db.internal:5432 does not resolve: DNS nxdomain (ENOTFOUND: the name does not exist)'],
    });
  });
  test('a run that could not be made is UNKNOWN', () => {
    expect(judgeCheck(tcp, { result: null, error: 'the check could not run: boom' }).state).toBe('UNKNOWN');
  });
});

describe('latency, TLS and DNS thresholds', () => {
  test('p99 above expect is CRITICAL, above warn WARNING', () => {
    const s = spec('tls: 127.0.0.1:443\nexpect: { p99: 300ms }\nwarn: { p99: 150ms }');
    const at = (p99: number) => judgeCheck(s, { result: result({ probe: 'tls', outcomes: { ok: 3 }, latencyMs: lat(10, 20, p99) }) });
    expect(at(100).state).toBe('OK');
    expect(at(200)).toMatchObject({ state: 'WARNING', reasons: ['p99 200ms > 150ms'] });
    expect(at(412)).toMatchObject({ state: 'CRITICAL', reasons: ['p99 412ms > 300ms'] });
  });
  test('minTlsVersion and certDaysLeft', () => {
    const s = spec('tls: 127.0.0.1:443\nexpect: { minTlsVersion: TLSv1.3, certDaysLeft: 7 }\nwarn: { certDaysLeft: 30 }');
    const at = (version: string, daysLeft: number) =>
      judgeCheck(s, {
        result: result({ probe: 'tls', outcomes: { ok: 1 }, negotiated: { version }, certificate: { daysLeft } }),
      });
    expect(at('TLSv1.3', 90).state).toBe('OK');
    expect(at('TLSv1.3', 20)).toMatchObject({ state: 'WARNING', reasons: ['certificate 20 days left < 30'] });
    expect(at('TLSv1.3', -2)).toMatchObject({ state: 'CRITICAL', reasons: ['certificate expired 2 days ago < 7'] });
    expect(at('TLSv1.2', 90)).toMatchObject({ state: 'CRITICAL', reasons: ['TLSv1.2 < TLSv1.3'] });
  });
  test('several DNS servers are judged one by one and the worst decides', () => {
    const s = spec('dns: lab.test\nserver: [127.0.0.1:5301, 127.0.0.1:5302]\nexpect: { rcode: NOERROR, p99: 50ms }');
    const good = result({ probe: 'dns', outcomes: { ok: 3 }, latencyMs: lat(1, 2, 3), rcodes: { NOERROR: 3 } });
    const slow = result({ probe: 'dns', outcomes: { ok: 3 }, latencyMs: lat(40, 60, 80), rcodes: { NOERROR: 3 } });
    const nx = result({ probe: 'dns', outcomes: { nxdomain: 3 }, rcodes: { NXDOMAIN: 3 } });
    const both = (a: ProbeResult, b: ProbeResult) =>
      judgeCheck(s, {
        result: { ...result({ probe: 'dns', outcomes: { ok: 6 } }), byServer: { '127.0.0.1:5301': a, '127.0.0.1:5302': b } },
      });
    expect(both(good, good).state).toBe('OK');
    expect(both(good, slow)).toMatchObject({ state: 'CRITICAL', reasons: ['127.0.0.1:5302 p99 80ms > 50ms'] });
    expect(both(nx, good)).toMatchObject({
      state: 'CRITICAL',
      reasons: ['127.0.0.1:5301 success 0/3 (nxdomain 3)', '127.0.0.1:5301 rcode NXDOMAIN 3/3 (expected NOERROR)'],
    });
  });
  test('rcode NXDOMAIN makes NXDOMAIN replies the successes', () => {
    const s = spec('dns: gone.lab.test\nserver: 127.0.0.1:5301\nexpect: { rcode: NXDOMAIN }');
    expect(judgeCheck(s, { result: result({ probe: 'dns', outcomes: { nxdomain: 3 }, rcodes: { NXDOMAIN: 3 } }) }).state).toBe('OK');
    expect(judgeCheck(s, { result: result({ probe: 'dns', outcomes: { ok: 3 }, rcodes: { NOERROR: 3 } }) }).state).toBe('CRITICAL');
  });
  test('CRITICAL wins over UNKNOWN, UNKNOWN over WARNING', () => {
    expect(worst(['OK', 'WARNING', 'UNKNOWN'])).toBe('UNKNOWN');
    expect(worst(['UNKNOWN', 'CRITICAL', 'WARNING'])).toBe('CRITICAL');
    expect(worst([])).toBe('OK');
  });
});

describe('Nagios output', () => {
  test('status line, perfdata with ranges, then one line per check', () => {
    const s = spec(
      'tls: 127.0.0.1:443\nexpect: { p99: 300ms, successRate: 0.99, certDaysLeft: 21 }\nwarn: { p99: 150ms, certDaysLeft: 30 }',
    );
    const v = judgeCheck(s, {
      result: result({
        probe: 'tls',
        outcomes: { ok: 3 },
        latencyMs: lat(100, 200, 412),
        certificate: { daysLeft: 89 },
        negotiated: { version: 'TLSv1.3' },
      }),
    });
    const run: CheckRun = {
      name: 'api-tls',
      probe: 'tls',
      target: '127.0.0.1:443',
      startedAt: '',
      durationMs: 500,
      result: null,
      verdict: v,
    };
    expect(renderPerfdata([run])).toBe(
      "'api-tls_success'=1;;0.99:;0;1 'api-tls_p50'=100ms;;;0; 'api-tls_p99'=412ms;150;300;0; 'api-tls_cert_days'=89;30:;21:;; 'api-tls_duration'=500ms;;;0;",
    );
    const { summary, text } = renderCheckOutput([run], 'CRITICAL');
    expect(summary.startsWith('CONNDX CRITICAL - 1 critical, 0 warning, 0 unknown, 0 ok: api-tls CRITICAL (p99 412ms > 300ms) | ')).toBe(
      true,
    );
    expect(text.split('\n')[1]).toBe(
      'api-tls CRITICAL: tls 127.0.0.1:443: p99 412ms > 300ms; success 3/3; p50 100ms; TLSv1.3; certificate 89 days left',
    );
  });
});
