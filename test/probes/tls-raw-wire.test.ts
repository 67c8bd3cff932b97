import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, describe, expect, test } from 'vitest';
import { GROUP_X25519, GROUP_X25519MLKEM768 } from '../../src/core/tls.js';
import { labPki, LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { defaultOffer, rawHelloOnce, type RawHelloOffer } from '../../src/probes/tls-raw.js';
import { requireTool } from '../helpers/capture-env.js';
import { lab } from '../helpers/lab.js';

/**
 * The raw prober's ClientHello on the wire: tcpdump records it on lo and
 * tshark dissects it. Wireshark's TLS dissector is the independent reader:
 * nothing malformed, the hello's fields where conndx put them, and the group
 * the server chose as tshark decodes it from the ServerHello.
 */

const tcpdump = requireTool('tcpdump', true);
const tshark = requireTool('tshark');
const ready = tcpdump.ok && tshark.ok;
const skip = tcpdump.ok ? (tshark.ok ? '' : tshark.reason) : tcpdump.reason;

const never = new AbortController().signal;

async function capture<T>(file: string, port: number, run: () => Promise<T>): Promise<T> {
  const dump = spawn('tcpdump', ['-i', 'lo', '-n', '--immediate-mode', '-s', '0', '-Z', 'root', '-w', file, `tcp port ${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  dump.stderr!.on('data', (d: Buffer) => {
    err += String(d);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (err.includes('listening on')) {
          clearInterval(t);
          resolve();
        }
      }, 20);
      dump.on('exit', (code) => {
        clearInterval(t);
        reject(new Error(`tcpdump exited with ${code}: ${err}`));
      });
    });
    const out = await run();
    await new Promise((r) => setTimeout(r, 200));
    return out;
  } finally {
    if (dump.exitCode === null) {
      dump.kill('SIGINT');
      await once(dump, 'exit');
    }
  }
}

interface WireHello {
  type: number;
  groups: number[];
  keyShareGroups: number[];
  selectedGroup: number | null;
  sni: string;
  recordLength: number;
}

/** Every handshake message tshark finds, with the fields this test compares, and the count of malformed packets. */
function dissect(file: string, port: number): { hellos: WireHello[]; malformed: number; expertErrors: string[] } {
  const tshark = (args: string[]) =>
    execFileSync('tshark', ['-r', file, '-d', `tcp.port==${port},tls`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const fields = [
    'tls.handshake.type',
    'tls.handshake.extensions_supported_group',
    'tls.handshake.extensions_key_share_group',
    'tls.handshake.extensions_key_share_selected_group',
    'tls.handshake.extensions_server_name',
    'tls.record.length',
  ];
  const rows = tshark([
    '-Y',
    'tls.handshake.type == 1 || tls.handshake.type == 2',
    '-T',
    'fields',
    '-E',
    'separator=|',
    ...fields.flatMap((f) => ['-e', f]),
  ])
    .trim()
    .split('\n')
    .filter(Boolean);
  const nums = (s: string | undefined) => (s ? s.split(',').filter(Boolean).map(Number) : []);
  const hellos = rows.map((line) => {
    const [type, groups, shares, selected, sni, len] = line.split('|');
    return {
      type: nums(type)[0]!,
      groups: nums(groups),
      keyShareGroups: nums(shares),
      selectedGroup: selected ? Number(selected) : null,
      sni: sni ?? '',
      recordLength: nums(len)[0]!,
    };
  });
  const malformed = tshark(['-Y', '_ws.malformed', '-T', 'fields', '-e', 'frame.number']).trim().split('\n').filter(Boolean).length;
  const expertErrors = tshark(['-Y', '_ws.expert.severity == error', '-T', 'fields', '-e', '_ws.expert.message'])
    .trim()
    .split('\n')
    .filter(Boolean);
  return { hellos, malformed, expertErrors };
}

describe.skipIf(!ready)(`the raw ClientHello in tshark (tcpdump on lo)${ready ? '' : ` (skipped: ${skip})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'conndx-raw-wire-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(name: string, port: number, offer: RawHelloOffer, serverName?: string) {
    const file = join(dir, `${name}.pcap`);
    const r = await capture(file, port, () =>
      rawHelloOnce({ host: '127.0.0.1', port, serverName }, offer, { timeoutMs: 2000, signal: never }),
    );
    return { r, wire: dissect(file, port) };
  }

  test('against a real TLS server (Node OpenSSL): parses, and the chosen group is the one tshark reads in the ServerHello', async () => {
    const pki = await labPki();
    const server = tls.createServer({ cert: pki.valid.cert + pki.intermediate.cert, key: pki.valid.key });
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const { r, wire } = await run('openssl', port, defaultOffer({ alpn: ['h2'] }), LAB_SERVER_NAME);
      expect(r.outcome, r.cause).toBe('ok');
      expect(wire.malformed, 'malformed packets').toBe(0);
      expect(wire.expertErrors).toEqual([]);
      const ch = wire.hellos.find((h) => h.type === 1)!;
      const sh = wire.hellos.find((h) => h.type === 2)!;
      expect(ch, 'tshark found the ClientHello').toBeDefined();
      expect(ch.sni).toBe(LAB_SERVER_NAME);
      expect(ch.recordLength + 5).toBe(r.helloBytes);
      // GREASE first, then the offer, in order
      expect(ch.groups.slice(1)).toEqual(defaultOffer().groups);
      expect(ch.keyShareGroups.slice(1)).toEqual([GROUP_X25519MLKEM768, GROUP_X25519]);
      expect(sh, 'tshark found the ServerHello').toBeDefined();
      expect(sh.keyShareGroups).toEqual([r.serverHello!.groupCode]);
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
    }
  }, 30_000);

  test('against the hybrid lab endpoint: tshark reads X25519MLKEM768 (0x11ec) as the chosen group, in a ClientHello padded to 2200 bytes', async () => {
    const ep = await lab('tls-raw-hybrid');
    try {
      const { r, wire } = await run('hybrid', ep.port, defaultOffer({ helloSize: 2200 }), LAB_SERVER_NAME);
      expect(r.outcome, r.cause).toBe('ok');
      expect(r.helloBytes).toBe(2200);
      expect(wire.malformed, 'malformed packets').toBe(0);
      expect(wire.expertErrors).toEqual([]);
      const ch = wire.hellos.find((h) => h.type === 1)!;
      const sh = wire.hellos.find((h) => h.type === 2)!;
      expect(ch.recordLength + 5).toBe(2200);
      expect(sh.keyShareGroups).toEqual([0x11ec]);
      expect(sh.keyShareGroups).toEqual([r.serverHello!.groupCode]);
    } finally {
      await ep.close();
    }
  }, 30_000);

  test('a HelloRetryRequest: the group it asks for is the one tshark decodes', async () => {
    const ep = await lab('tls-raw-hrr');
    try {
      const { r, wire } = await run('hrr', ep.port, defaultOffer());
      expect(r.outcome, r.cause).toBe('hello-retry');
      expect(wire.malformed, 'malformed packets').toBe(0);
      const sh = wire.hellos.find((h) => h.type === 2)!;
      expect(sh).toBeDefined();
      expect(sh.selectedGroup).toBe(r.serverHello!.groupCode);
      expect(sh.selectedGroup).toBe(0x0017);
    } finally {
      await ep.close();
    }
  }, 30_000);
});
