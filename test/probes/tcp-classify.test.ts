import { describe, expect, test } from 'vitest';
import { classifyTcpError } from '../../src/probes/classify.js';
import { classifyLookupError, resolveHost, type LookupFn } from '../../src/probes/resolve.js';

/** An error shaped as Node's net module makes them (code, errno, syscall). */
function sysErr(code: string, syscall = 'connect'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code} 127.0.0.1:1`), { code, syscall, errno: -1 });
}

describe('classifyTcpError: one test per row', () => {
  test.each([
    ['EMFILE', 'handshake', 'error', true, /^EMFILE: too many open files/],
    ['ENFILE', 'handshake', 'error', true, /^ENFILE/],
    ['EADDRNOTAVAIL', 'syscall', 'error', true, /no free local port/],
    ['EADDRINUSE', 'syscall', 'error', true, /bind/],
    ['ENOBUFS', 'handshake', 'error', true, /buffer space/],
    ['ENOMEM', 'handshake', 'error', true, /memory/],
    ['EPERM', 'syscall', 'error', true, /not permitted/],
    ['EACCES', 'syscall', 'error', true, /not permitted/],
    ['ENETUNREACH', 'syscall', 'error', true, /no route .* configured on this machine/],
    ['ECONNREFUSED', 'handshake', 'refused', false, /^ECONNREFUSED$/],
    ['ETIMEDOUT', 'handshake', 'timeout', false, /gave up/],
    ['EHOSTUNREACH', 'handshake', 'unreachable', false, /host unreachable/],
    ['EHOSTDOWN', 'handshake', 'unreachable', false, /host unreachable/],
    ['ENETUNREACH', 'handshake', 'unreachable', false, /network unreachable/],
    ['ENETDOWN', 'handshake', 'unreachable', false, /network unreachable/],
    ['ECONNRESET', 'handshake', 'reset', false, /right after the handshake/],
    ['ECONNRESET', 'established', 'reset', false, /^ECONNRESET$/],
    ['EPIPE', 'established', 'reset', false, /^EPIPE$/],
    ['EPROTO', 'handshake', 'protocol-error', false, /^EPROTO$/],
    ['EAFNOSUPPORT', 'syscall', 'error', true, /family/],
    ['EWHATEVER', 'handshake', 'error', false, /^EWHATEVER: connect EWHATEVER/],
  ] as const)('%s at %s → %s (local %s)', (code, stage, outcome, local, cause) => {
    const c = classifyTcpError(sysErr(code), stage);
    expect(c.outcome).toBe(outcome);
    expect(c.local).toBe(local);
    expect(c.cause).toMatch(cause);
  });

  test('an error without a code is an error with its message', () => {
    expect(classifyTcpError(new Error('boom'))).toEqual({ outcome: 'error', local: false, cause: 'boom' });
  });

  test('AggregateError (autoSelectFamily): looks inside, keeps every cause', () => {
    const e = new AggregateError([sysErr('ETIMEDOUT'), sysErr('ECONNREFUSED')], 'all failed');
    const c = classifyTcpError(e);
    expect(c.outcome).toBe('refused');
    expect(c.cause).toContain('ECONNREFUSED');
    expect(c.cause).toContain('ETIMEDOUT');
  });

  test('AggregateError with a local limit inside is local: never blame the target', () => {
    const c = classifyTcpError(new AggregateError([sysErr('ECONNREFUSED'), sysErr('EMFILE')]));
    expect(c).toMatchObject({ outcome: 'error', local: true });
  });
});

describe('resolveHost', () => {
  // These stand in for getaddrinfo: tests must not use the system resolver.
  const answering: LookupFn = async (_h, o) =>
    o.family === 6
      ? [{ address: '::1', family: 6 }]
      : [
          { address: '127.0.0.1', family: 4 },
          { address: '127.0.0.2', family: 4 },
        ];
  const failing =
    (code: string): LookupFn =>
    async () => {
      throw Object.assign(new Error(`getaddrinfo ${code} x`), { code });
    };

  test('an address literal is not looked up', async () => {
    const r = await resolveHost('127.0.0.1', 0, failing('ENOTFOUND'));
    expect(r).toEqual({ ok: true, address: '127.0.0.1', family: 4, lookupMs: null, addresses: ['127.0.0.1'] });
  });
  test('a name: the first address, every address, and the lookup time', async () => {
    const r = await resolveHost('db.internal', 4, answering);
    expect(r).toMatchObject({ ok: true, address: '127.0.0.1', family: 4, addresses: ['127.0.0.1', '127.0.0.2'] });
    expect(r.ok && r.lookupMs).toBeGreaterThanOrEqual(0);
  });
  test('the family is passed to the lookup', async () => {
    const r = await resolveHost('db.internal', 6, answering);
    expect(r).toMatchObject({ ok: true, address: '::1', family: 6 });
  });
  test('literal of the wrong family', async () => {
    expect(await resolveHost('::1', 4)).toMatchObject({ ok: false, outcome: 'error' });
  });
  test.each([
    ['ENOTFOUND', 'nxdomain'],
    ['ENODATA', 'nxdomain'],
    ['ESERVFAIL', 'servfail'],
    ['EREFUSED', 'refused'],
    ['ECONNREFUSED', 'network-error'],
    ['EBADNAME', 'error'],
  ])('lookup error %s → DNS outcome %s', async (code, outcome) => {
    const r = await resolveHost('db.internal', 0, failing(code));
    expect(r).toMatchObject({ ok: false, outcome });
    expect(classifyLookupError({ code }).outcome).toBe(outcome);
  });
  test('EAI_AGAIN: a timeout when it took the resolver timeout, unreachable when it came back at once', async () => {
    const slow: LookupFn = () =>
      new Promise((_r, reject) => setTimeout(() => reject(Object.assign(new Error('x'), { code: 'EAI_AGAIN' })), 1050));
    expect(await resolveHost('db.internal', 0, slow)).toMatchObject({ ok: false, outcome: 'timeout' });
    expect(await resolveHost('db.internal', 0, failing('EAI_AGAIN'))).toMatchObject({ ok: false, outcome: 'network-error' });
  });
});
