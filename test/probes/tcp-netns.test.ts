// Faults that need root: nftables rules in a network namespace of our own
// (only its loopback; nothing leaves it). Skipped with the reason when root or
// the tools are missing; CONNDX_REQUIRE_ROOT_TESTS=1 (CI) turns the skip into a failure.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { createNetns, netnsEnv, ROOT_TESTS_REQUIRED, type Netns } from '../helpers/tcp-env.js';
import { unwrapProse } from '../helpers/unwrap.js';

const BIN = fileURLToPath(new URL('../../bin/conndx', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/cli/commands/tcp.js', import.meta.url));
const env = netnsEnv(['nft', 'tcpdump']);

test.runIf(!env.ok && ROOT_TESTS_REQUIRED)('root network tests can run (CONNDX_REQUIRE_ROOT_TESTS=1)', () => {
  expect.fail(env.reason);
});

const spaces: Netns[] = [];
afterEach(() => {
  for (const ns of spaces.splice(0)) ns.destroy();
});
function netns(opts?: { loUp?: boolean }): Netns {
  const ns = createNetns(opts);
  spaces.push(ns);
  return ns;
}

function conndxIn(ns: Netns, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns.name, process.execPath, BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => {
      stdout += d;
    });
    c.stderr.on('data', (d) => {
      stderr += d;
    });
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

async function echoServerIn(ns: Netns, port: number): Promise<void> {
  const c = ns.spawn([
    process.execPath,
    '-e',
    `require('node:net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${port}, '127.0.0.1', () => console.log('ready'))`,
  ]);
  await new Promise<void>((resolve, reject) => {
    c.stdout!.on('data', (d) => {
      if (String(d).includes('ready')) resolve();
    });
    c.once('exit', (code) => reject(new Error(`echo server exited ${code}`)));
  });
}

// SYNs only: flags SYN set, ACK clear (a SYN-ACK is not matched).
const SYN_ONLY = 'tcp flags & (syn|ack) == syn';

describe.skipIf(!env.ok)(`tcp in a network namespace${env.ok ? '' : ` (skipped: ${env.reason})`}`, () => {
  test('build present', () => {
    expect(existsSync(DIST), 'run `npm run build` first: these tests run bin/conndx').toBe(true);
  });

  test('nftables drop: only SYNs on the wire, timeouts, SYN retransmission suspected past 1 s', async () => {
    const ns = netns();
    await echoServerIn(ns, 7001);
    ns.run(
      ['nft', '-f', '-'],
      `table inet conndx {
      chain in { type filter hook input priority 0; tcp dport 7001 ${SYN_ONLY} drop
      }
    }`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'conndx-pcap-'));
    const pcap = join(dir, 'drop.pcap');
    try {
      const td = ns.spawn(['tcpdump', '-i', 'lo', '-nn', '-U', '-w', pcap, 'tcp port 7001']);
      await new Promise<void>((resolve) =>
        td.stderr!.on('data', (d) => {
          if (String(d).includes('listening')) resolve();
        }),
      );
      const r = await conndxIn(ns, ['tcp', '127.0.0.1:7001', '--count', '2', '--concurrency', '2', '--timeout', '2500ms', '--json']);
      td.kill('SIGINT');
      await new Promise((res) => td.once('exit', res));
      expect(r.code).toBe(2);
      const json = JSON.parse(r.stdout);
      expect(json.outcomes).toEqual({ timeout: 2 });
      expect(json.synRetransmitSuspected).toBe(2);
      const lines = ns.run(['tcpdump', '-nn', '-r', pcap]).trim().split('\n');
      // Two connections, each SYN sent at 0, ~1 s and ~2 s: six SYNs, nothing else.
      expect(lines.length).toBeGreaterThanOrEqual(4);
      for (const l of lines) expect(l).toMatch(/Flags \[S\],/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('first SYN of each connection lost: connects succeed just past 1 s and carry the signature', async () => {
    const ns = netns();
    await echoServerIn(ns, 7002);
    // A set of source ports already seen: a port's first SYN is dropped and remembered, its resend passes.
    ns.run(
      ['nft', '-f', '-'],
      `table inet conndx {
      set seen { type inet_service; flags dynamic,timeout; timeout 60s; }
      chain in { type filter hook input priority 0; tcp dport 7002 ${SYN_ONLY} tcp sport != @seen add @seen { tcp sport } drop; }
    }`,
    );
    const r = await conndxIn(ns, ['tcp', '127.0.0.1:7002', '--count', '3', '--timeout', '3s', '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.outcomes).toEqual({ ok: 3 });
    expect(json.synRetransmitSuspected).toBe(3);
    expect(json.latencyMs.min).toBeGreaterThanOrEqual(975);
    expect(json.latencyMs.max).toBeLessThan(1500);
  });

  test('ICMP host unreachable in answer to the SYN: unreachable, blamed on the path, not on this machine', async () => {
    const ns = netns();
    ns.run(
      ['nft', '-f', '-'],
      `table inet conndx {
      chain in { type filter hook input priority 0; tcp dport 7004 ${SYN_ONLY} reject with icmpx type host-unreachable
      }
    }`,
    );
    const r = await conndxIn(ns, ['tcp', '127.0.0.1:7004', '--count', '2', '--json']);
    expect(r.code).toBe(2);
    const json = JSON.parse(r.stdout);
    expect(json.outcomes).toEqual({ unreachable: 2 });
    expect(json.localErrors).toBeUndefined();
  });

  test('no route configured on this machine (loopback down): local error, never blamed on the target', async () => {
    const ns = netns({ loUp: false });
    const r = await conndxIn(ns, ['tcp', '127.0.0.1:7003', '--count', '2', '--json']);
    // Every attempt failed on this machine: nothing measured the target, exit 3 (contract), not 2.
    expect(r.code).toBe(3);
    const json = JSON.parse(r.stdout);
    expect(json.outcomes).toEqual({ error: 2 });
    expect(json.localErrors).toBe(2);
    expect(Object.keys(json.errors)[0]).toMatch(/^ENETUNREACH: no route .* configured on this machine/);
    expect(unwrapProse(r.stderr)).toMatch(/warning: .*say nothing about the target/);
  });

  test('a name that does not resolve: exit 2, one line naming the DNS outcome', async () => {
    const ns = netns();
    // The namespace's resolver is its own loopback, where nothing listens: no query leaves.
    ns.etc('resolv.conf', 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    const r = await conndxIn(ns, ['tcp', 'db.conndx.test:5432', '--count', '1']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^conndx: db\.conndx\.test:5432: the name does not resolve: DNS network-error \(EAI_AGAIN: .*\) after /);
    // --json: the result object still says what ran, where and when (meta), and which lookup failed
    const j = await conndxIn(ns, ['tcp', 'db.conndx.test:5432', '--count', '1', '--json']);
    expect(j.code).toBe(2);
    const json = JSON.parse(j.stdout);
    expect(json.attempts).toBe(0);
    expect(json.dns['db.conndx.test:5432'].outcome).toBe('network-error');
    expect(json.meta.command).toMatch(/^conndx tcp db\.conndx\.test:5432/);
  });

  test('one name of several does not resolve: the others are still probed, the run exits 1 and names it', async () => {
    const ns = netns();
    ns.etc('resolv.conf', 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    await echoServerIn(ns, 7005);
    const r = await conndxIn(ns, ['tcp', '127.0.0.1:7005', 'db.conndx.test:5432', '--count', '2', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const json = JSON.parse(r.stdout);
    expect(json.target).toBe('127.0.0.1:7005 db.conndx.test:5432');
    expect(json.outcomes).toEqual({ ok: 2 });
    expect(json.dns['db.conndx.test:5432'].outcome).toBe('network-error');
    expect(r.stderr).toMatch(/^conndx: db\.conndx\.test:5432: the name does not resolve: DNS network-error/m);
    const human = await conndxIn(ns, ['tcp', '127.0.0.1:7005', 'db.conndx.test:5432', '--count', '1']);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/db\.conndx\.test:5432: does not resolve \(DNS network-error\), not probed/);
  });

  test('tls as well: the target whose name resolves is probed, the other is named in dns', async () => {
    const ns = netns();
    ns.etc('resolv.conf', 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    // nothing listens on 7006 inside the namespace: the probed target is refused at TCP
    const r = await conndxIn(ns, ['tls', '127.0.0.1:7006', 'api.conndx.test:443', '--count', '1', '--json']);
    expect(r.code, r.stderr).toBe(2);
    const json = JSON.parse(r.stdout);
    expect(json.target).toBe('127.0.0.1:7006 api.conndx.test:443');
    expect(json.outcomes).toEqual({ 'tcp:refused': 1 });
    expect(json.dns['api.conndx.test:443'].outcome).toBe('network-error');
    expect(r.stderr).toMatch(/^conndx: api\.conndx\.test:443: the name does not resolve/m);
  });
});
