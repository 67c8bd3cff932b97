import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';
import type { LabEndpoint } from '../../src/lab/types.js';

describe('conndx tls --raw / --groups / --large-hello', () => {
  let hybrid: LabEndpoint & { addr: string };
  let drop: LabEndpoint & { addr: string };
  beforeAll(async () => {
    hybrid = await lab('tls-raw-hybrid');
    drop = await lab('tls-raw-large-drop');
  });
  afterAll(async () => {
    await hybrid.close();
    await drop.close();
  });

  test('--raw --groups --json: the attempt, the matrix and the outcomes; exit 0', async () => {
    const { code, json } = await runCliJson(['tls', hybrid.addr, '--raw', '--groups', '--sni', 'lab.conndx.test', '--timeout', '1s']);
    expect(code).toBe(0);
    expect(json.mode).toBe('raw');
    expect(json.serverName).toBe('lab.conndx.test');
    expect(json.attempts).toHaveLength(1);
    expect(json.attempts[0]).toMatchObject({ outcome: 'ok', serverHello: { group: 'X25519MLKEM768', keyShareLength: 1120 } });
    expect(json.attempts[0].serverHelloMs).toBeGreaterThan(0);
    expect(json.groups.X25519MLKEM768).toBe('ok');
    expect(json.groups.x25519).toBe('ok');
    expect(json.groups.secp256r1).toBe('alert:handshake_failure');
    expect(json.outcomes.ok).toBe(3);
    expect(json.meta.command).toContain('--raw');
  });

  test('--large-hello against the dropping endpoint: large-hello-dropped, exit 2 (nothing else answered)', async () => {
    const { code, json } = await runCliJson(['tls', drop.addr, '--large-hello', '--hello-size', '1600', '--timeout', '500ms']);
    expect(json.outcomes).toEqual({ 'large-hello-dropped': 1 });
    expect(json.helloSizes.large.helloBytes).toBe(1600);
    expect(json.helloSizes.small.outcome).toBe('ok');
    expect(code).toBe(2);
  });

  test('--raw --large-hello with a small attempt answered: exit 1 (partly failing)', async () => {
    const r = await runCli(['tls', drop.addr, '--raw', '--key-shares', 'x25519', '--large-hello', '--timeout', '500ms']);
    expect(r.stdout).toContain('large-hello-dropped');
    expect(r.code).toBe(1);
  });

  test('two targets: byTarget holds each, outcomes are summed', async () => {
    const { code, json } = await runCliJson(['tls', hybrid.addr, drop.addr, '--raw', '--offer-groups', 'x25519', '--timeout', '1s']);
    expect(code).toBe(0);
    expect(Object.keys(json.byTarget)).toEqual([hybrid.addr, drop.addr]);
    expect(json.byTarget[hybrid.addr].attempts[0].serverHello.group).toBe('x25519');
    expect(json.outcomes).toEqual({ ok: 2 });
  });

  test('--hello-size pads the --raw ClientHello', async () => {
    const { json } = await runCliJson(['tls', hybrid.addr, '--raw', '--hello-size', '3000', '--timeout', '1s']);
    expect(json.attempts[0].helloBytes).toBe(3000);
    expect(json.offer.helloSize).toBe(3000);
  });

  test.each([
    [['--raw', '--offer-groups', 'nope'], /bad --offer-groups group "nope"/],
    [['--raw', '--offer-groups', 'x25519', '--key-shares', 'secp256r1'], /not in the offered groups/],
    [['--raw', '--hello-size', '20000'], /--hello-size/],
    [['--large-hello', '--hello-size', '1000'], /needs 1500 bytes or more/],
    [['--raw', '--resume'], /--resume does not go with --raw/],
    [['--groups', '--rate', '5'], /--rate does not go with/],
    [['--raw', '--ndjson'], /--ndjson does not go with/],
  ])('bad input %j: one line, exit 3', async (flags, message) => {
    const r = await runCli(['tls', hybrid.addr, ...flags]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
