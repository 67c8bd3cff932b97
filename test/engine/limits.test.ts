import { describe, expect, test } from 'vitest';
import { capConcurrency, readLocalLimits } from '../../src/engine/limits.js';
import { judgeTiming } from '../../src/engine/timing.js';

describe('local limits', () => {
  test("reads this process's open-file limit and the port range from /proc", () => {
    const l = readLocalLimits();
    expect(l.openFiles).toBeGreaterThan(0);
    expect(l.localPorts).toBeGreaterThan(1000);
    expect(l.openNow).toBeGreaterThan(2);
  });
  test.each([
    // requested, limits, fds per attempt, one destination → used, warns
    [500, { openFiles: 1024, openNow: 20, localPorts: 28232 }, 1, true, 500, false],
    [5000, { openFiles: 1024, openNow: 20, localPorts: 28232 }, 1, true, 960, true],
    [5000, { openFiles: 1024, openNow: 100, localPorts: 28232 }, 2, true, 446, true],
    [50000, { openFiles: 1_000_000, openNow: 20, localPorts: 28232 }, 1, true, 28232, true],
    [50000, { openFiles: 1_000_000, openNow: 20, localPorts: 28232 }, 1, false, 50000, false],
    [50000, { openFiles: null, openNow: null, localPorts: null }, 1, true, 50000, false],
  ] as const)('%i wanted with %j, %i fd(s), one destination %s → %i', (req, limits, fds, same, used, warns) => {
    const r = capConcurrency(req, limits, fds, same);
    expect(r.concurrency).toBe(used);
    expect(Boolean(r.warning)).toBe(warns);
  });
});

describe('timing trust', () => {
  const lag = (p99: number) => ({ min: 0, mean: 1, p50: 1, p90: p99, p95: p99, p99, p999: p99, max: p99 });
  const lat = (p50: number) => ({ min: p50, mean: p50, p50, p90: p50, p95: p50, p99: p50, p999: p50, max: p50 });
  test('a quiet loop is trusted; a busy one says by how much latencies may be inflated', () => {
    expect(judgeTiming(lag(1), 5000, lat(3)).trustworthy).toBe(true);
    expect(judgeTiming(lag(20), 5000, lat(500)).trustworthy).toBe(true); // 20 ms against 500 ms: within 10%
    const busy = judgeTiming(lag(120), 5000, lat(250));
    expect(busy.trustworthy).toBe(false);
    expect(busy.statement).toMatch(/120 ms late/);
    expect(judgeTiming(lag(120), 200, lat(250)).trustworthy).toBe(true); // too short to judge
  });
  test('a saturated loop says why: the share of the run it was busy', () => {
    const cpuBound = judgeTiming(lag(120), 5000, lat(250), 0.97);
    expect(cpuBound.trustworthy).toBe(false);
    expect(cpuBound.statement).toMatch(/CPU-bound \(busy 97% of the run\)/);
    expect(judgeTiming(lag(120), 5000, lat(250), 0.4).statement).not.toMatch(/CPU-bound/);
    // with every core already probing, more workers is no advice
    expect(judgeTiming(lag(120), 5000, lat(250), 0.97, { used: 2, cores: 2 }).statement).toMatch(
      /lower --concurrency \(all 2 cores already run probes\)$/,
    );
    expect(judgeTiming(lag(120), 5000, lat(250), 0.97, { used: 1, cores: 2 }).statement).toMatch(/or add --workers$/);
  });
  test('at --concurrency 1 the advice is not to lower it: the load comes from elsewhere', () => {
    const s = judgeTiming(lag(120), 5000, lat(250), 0.5, undefined, 1).statement;
    expect(s).not.toMatch(/lower --concurrency|add --workers/);
    expect(s).toMatch(/other processes on this machine/);
  });
});

describe('capping wording', () => {
  test('a limit below one attempt never says "--concurrency 1 capped to 1"', () => {
    const r = capConcurrency(1, { openFiles: 40, openNow: 30, localPorts: 28232 }, 1, true);
    expect(r.concurrency).toBe(1);
    expect(r.warning).toMatch(/leaves no room for even one attempt at a time/);
    expect(r.warning).not.toMatch(/capped to/);
  });
  test('the local-port cap names TIME_WAIT and --close rst', () => {
    const r = capConcurrency(50000, { openFiles: 1_000_000, openNow: 20, localPorts: 28232 }, 1, true);
    expect(r.warning).toMatch(/TIME_WAIT.*--close rst/);
    const fd = capConcurrency(5000, { openFiles: 1024, openNow: 20, localPorts: 28232 }, 1, true);
    expect(fd.warning).not.toMatch(/TIME_WAIT/);
  });
});
