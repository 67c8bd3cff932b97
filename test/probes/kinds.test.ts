import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseChecks } from '../../src/checks/config.js';
import { buildCheckPlan } from '../../src/checks/plans.js';
import { runCheck } from '../../src/checks/run.js';
import { PHASES } from '../../src/core/types.js';
import { PROBERS } from '../../src/probes/registry.js';
import { resolveTargets } from '../../src/probes/resolve.js';
import { tlsAttemptAllowanceMs } from '../../src/probes/tls.js';
import { runCliJson } from '../helpers/cli.js';

// Every way into a probe (the command, a check, diagnose) builds its plan
// through the kind's module: these tests fail when one of them builds its own.

const literal = async (key: string) => (await resolveTargets([{ raw: key, host: '127.0.0.1', port: 1, family: 4 }], 0)).targets;

describe('the registry', () => {
  test('every kind names itself, its phase, and a phase for each of its outcomes', () => {
    for (const [name, kind] of Object.entries(PROBERS)) {
      expect(kind.name).toBe(name);
      expect(PHASES).toContain(kind.phase);
      expect(kind.phaseOfOutcome('ok')).toBe(kind.phase);
      for (const o of kind.outcomes) expect(PHASES, `${name} ${o}`).toContain(kind.phaseOfOutcome(o));
    }
  });
  test('phases after the handshake: tcp reset and closed are app, tls tcp:* is tcp, http tls:* is tls', () => {
    expect(PROBERS.tcp.phaseOfOutcome('reset')).toBe('app');
    expect(PROBERS.tcp.phaseOfOutcome('closed')).toBe('app');
    expect(PROBERS.tcp.phaseOfOutcome('refused')).toBe('tcp');
    expect(PROBERS.tls.phaseOfOutcome('tcp:refused')).toBe('tcp');
    expect(PROBERS.tls.phaseOfOutcome('alert:handshake_failure')).toBe('tls');
    expect(PROBERS.http.phaseOfOutcome('tls:cert-expired')).toBe('tls');
    expect(PROBERS.http.phaseOfOutcome('http-503')).toBe('app');
  });
});

describe('allowances are the kind’s', () => {
  test('tls --resume gets twice the timeout from the kind, and a tls check gets the same', async () => {
    const targets = await literal('127.0.0.1:1');
    const kind = await PROBERS.tls.plan({ probe: { timeoutMs: 1500, insecure: true, resume: true } }, targets);
    expect(kind.engineTimeoutMs).toBe(tlsAttemptAllowanceMs(1500, true));
    expect(kind.engineTimeoutMs).toBe(3000);
    const [spec] = parseChecks(
      'checks:\n  - name: t\n    tls: 127.0.0.1:1\n    resume: true\n    insecure: true\n    timeout: 1500ms\n',
      'c.yaml',
    ).checks;
    const built = await buildCheckPlan(spec!);
    expect(built.ok && built.engineTimeoutMs).toBe(3000);
  });
  test('tcp --hold: the watch is added to the connect timeout, for a check as for the kind', async () => {
    const targets = await literal('127.0.0.1:1');
    const kind = await PROBERS.tcp.plan({ timeoutMs: 700, holdMs: 300, close: 'fin' }, targets);
    expect(kind.engineTimeoutMs).toBe(1000);
    expect(kind.plan.fdsPerAttempt).toBe(2);
    const [spec] = parseChecks('checks:\n  - name: t\n    tcp: 127.0.0.1:1\n    hold: 300ms\n    timeout: 700ms\n', 'c.yaml').checks;
    const built = await buildCheckPlan(spec!);
    expect(built.ok && built.engineTimeoutMs).toBe(1000);
  });
});

describe('a tcp check and `conndx tcp` give the same facts of the same target', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    // Accepts, then resets: a failure after the handshake, phase app.
    server = createServer((s) => s.resetAndDestroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('failures by phase and the SYN schedule, from the kind’s decoration in both', async () => {
    const target = `127.0.0.1:${port}`;
    const cli = await runCliJson(['tcp', target, '--count', '3', '--hold', '300ms', '--timeout', '2s']);
    const [spec] = parseChecks(
      `checks:\n  - name: t\n    tcp: ${target}\n    count: 3\n    hold: 300ms\n    timeout: 2s\n`,
      'c.yaml',
    ).checks;
    const check = await runCheck(spec!);
    const res = check.result!;
    expect(cli.json.outcomes).toEqual({ reset: 3 });
    expect(res.outcomes).toEqual({ reset: 3 });
    expect(res.failures).toEqual({ tcp: 0, app: 3 });
    expect(res.failures).toEqual(cli.json.failures);
    expect(res.synSchedule).toEqual(cli.json.synSchedule);
    expect(res.synRetransmitSuspected).toBe(0);
  });
});
