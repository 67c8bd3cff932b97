import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';

// One host:port parser for every command: an IPv6 address with a port is
// written in brackets; an unbracketed literal whose last group could be a
// port is refused (exit 3, one line naming the bracketed form), and nothing
// is sent anywhere.

interface Listener {
  host: string;
  port: number;
  connections: number;
  close: () => Promise<void>;
}

async function tcpListener(host: string): Promise<Listener> {
  const l: Listener = { host, port: 0, connections: 0, close: async () => {} };
  const srv: Server = createServer((s) => {
    l.connections++;
    s.destroy();
  });
  await new Promise<void>((res, rej) => {
    srv.once('error', rej);
    srv.listen(0, host, () => res());
  });
  l.port = (srv.address() as { port: number }).port;
  l.close = () => new Promise((res) => srv.close(() => res()));
  return l;
}

async function udpListener(host: string): Promise<Listener & { sock: UdpSocket }> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const l = { host, port: 0, connections: 0, sock, close: async () => {} };
  sock.on('message', () => {
    l.connections++;
  });
  await new Promise<void>((res) => sock.bind(0, host, () => res()));
  l.port = sock.address().port;
  l.close = () => new Promise<void>((res) => sock.close(() => res()));
  return l;
}

let v4: Listener;
let v6: Listener;
let u6: Listener;
let dir: string;
beforeAll(async () => {
  v4 = await tcpListener('127.0.0.1');
  v6 = await tcpListener('::1');
  u6 = await udpListener('::1');
  dir = mkdtempSync(join(tmpdir(), 'conndx-address-'));
});
afterAll(async () => {
  await Promise.all([v4.close(), v6.close(), u6.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The forms that must be refused, with the bracketed form the refusal names. */
const refused = () => [
  { text: `::1:${v6.port}`, suggest: `[::1]:${v6.port}`, l: v6 },
  { text: `::ffff:127.0.0.1:${v4.port}`, suggest: `[::ffff:127.0.0.1]:${v4.port}`, l: v4 },
];

function expectRefused(r: { code: number; stderr: string }, suggest: string) {
  expect(r.code, r.stderr).toBe(3);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(`did you mean ${suggest}?`);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('unbracketed IPv6 with a port is refused by every command, before any traffic', () => {
  const opts = ['--count', '1', '--timeout', '300ms'];
  test('tcp', async () => {
    for (const f of refused()) {
      const before = f.l.connections;
      expectRefused(await runCli(['tcp', f.text, ...opts]), f.suggest);
      expect(f.l.connections).toBe(before);
    }
  });
  test('tls', async () => {
    for (const f of refused()) {
      const before = f.l.connections;
      expectRefused(await runCli(['tls', f.text, '--insecure', ...opts]), f.suggest);
      expect(f.l.connections).toBe(before);
    }
  });
  test('dns --server', async () => {
    const before = u6.connections;
    expectRefused(await runCli(['dns', 'a.lab.test', '--server', `::1:${u6.port}`, ...opts]), `[::1]:${u6.port}`);
    expect(u6.connections).toBe(before);
  });
  test('diagnose', async () => {
    for (const f of refused()) {
      const before = f.l.connections;
      expectRefused(await runCli(['diagnose', f.text, ...opts]), f.suggest);
      expect(f.l.connections).toBe(before);
    }
  });
  test('check config', async () => {
    for (const f of refused()) {
      const file = join(dir, `c-${f.l.port}.yaml`);
      writeFileSync(file, `checks:\n  - name: db\n    tcp: "${f.text}"\n    count: 1\n`);
      const before = f.l.connections;
      const r = await runCli(['check', '--config', file]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`did you mean ${f.suggest}?`);
      expect(f.l.connections).toBe(before);
    }
  });
  test('the bracketed form is accepted and reaches the listener', async () => {
    const before = v6.connections;
    const r = await runCli(['tcp', `[::1]:${v6.port}`, '--count', '1', '--timeout', '1s']);
    expect(r.code, r.stderr).toBe(0);
    expect(v6.connections).toBe(before + 1);
  });
});

describe('tls reads its targets as tcp does', () => {
  test('tls 127.0.0.1:1 -6 exits 3 like tcp', async () => {
    for (const cmd of ['tcp', 'tls']) {
      const r = await runCli([cmd, '127.0.0.1:1', '-6', '--count', '1']);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain('is an IPv4 address but -6 was given');
    }
  });
  test('@file target lists work for tls', async () => {
    const file = join(dir, 'targets.txt');
    writeFileSync(file, `# the v4 listener\n127.0.0.1:${v4.port}\n\n[::1]:${v6.port}\n`);
    const b4 = v4.connections;
    const b6 = v6.connections;
    const r = await runCli(['tls', `@${file}`, '--insecure', '--count', '1', '--timeout', '500ms', '--json']);
    expect(r.stderr).not.toContain('@');
    const json = JSON.parse(r.stdout) as { byTarget: Record<string, unknown> };
    expect(Object.keys(json.byTarget).sort()).toEqual([`127.0.0.1:${v4.port}`, `[::1]:${v6.port}`].sort());
    expect(v4.connections).toBe(b4 + 1);
    expect(v6.connections).toBe(b6 + 1);
  });
});
