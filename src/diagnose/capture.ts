import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { analyzeCapture, type ConnectionRecord, type PcapResult } from '../capture/index.js';
import type { AddressInfo, CaptureHooks, CaptureReport } from './chain.js';

/** Where tcpdump is, or null. */
export function findTcpdump(pathEnv: string): string | null {
  const dirs = [...pathEnv.split(delimiter).filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin'];
  for (const d of dirs) {
    const p = join(d, 'tcpdump');
    if (existsSync(p)) return p;
  }
  return null;
}

/** Whether a capture can be taken here, and if not why, in one line. */
export function captureSupport(pathEnv: string): { ok: true; tcpdump: string } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'captures are taken with tcpdump on Linux only' };
  const tcpdump = findTcpdump(pathEnv);
  if (!tcpdump) return { ok: false, reason: 'tcpdump is not installed (Debian: apt-get install tcpdump)' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'capturing packets needs root (run with sudo)' };
  return { ok: true, tcpdump };
}

const isLoopback = (a: string) => a === '::1' || a.startsWith('127.');

/** The BPF filter for the diagnosis's own connections: the target port on each resolved address. */
export function bpfFilter(addresses: AddressInfo[], port: number): string {
  const hosts = addresses.map((a) => `host ${a.address}`).join(' or ');
  return `tcp port ${port}${hosts ? ` and (${hosts})` : ''}`;
}

/** Starts tcpdump and resolves once it says it is listening (or rejects with its own words). */
function startTcpdump(bin: string, iface: string, file: string, filter: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // --immediate-mode: without it packets wait in the capture ring for a block timeout and a quick
    // SIGINT loses them. -Z root: tcpdump otherwise drops to its own user, which cannot write into our private temp dir.
    const child = spawn(bin, ['-i', iface, '--immediate-mode', '-w', file, '-U', '-n', '-Z', 'root', filter], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpdump did not start listening within 5 s: ${err.trim().split('\n').pop() ?? ''}`));
    }, 5000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited (${code}): ${err.trim().split('\n').pop() ?? ''}`));
    });
  });
}

async function stopTcpdump(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGINT');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

/** What the packets say about each address: the evidence a probe cannot see from its socket. */
export function packetEvidence(res: PcapResult, addresses: AddressInfo[]): { lines: string[]; byAddress: Record<string, unknown> } {
  const lines: string[] = [];
  const byAddress: Record<string, unknown> = {};
  const conns = res.connections ?? [];
  for (const a of addresses) {
    const mine = conns.filter((c) => c.server === a.key);
    if (!mine.length) continue;
    const states: Record<string, number> = {};
    const outcomes: Record<string, number> = {};
    const alerts: Record<string, number> = {};
    let synRetransmits = 0;
    const resetBy = { client: 0, server: 0 };
    for (const c of mine) {
      states[c.zeekState] = (states[c.zeekState] ?? 0) + 1;
      outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
      synRetransmits += c.synRetransmits;
      if (c.resetBy) resetBy[c.resetBy]++;
      if (c.alert) alerts[c.alert] = (alerts[c.alert] ?? 0) + 1;
    }
    byAddress[a.key] = { connections: mine.length, states, outcomes, synRetransmits, resetBy, alerts };
    lines.push(...linesFor(a.key, mine, { states, synRetransmits, resetBy, alerts }));
  }
  return { lines, byAddress };
}

function linesFor(
  key: string,
  mine: ConnectionRecord[],
  f: {
    states: Record<string, number>;
    synRetransmits: number;
    resetBy: { client: number; server: number };
    alerts: Record<string, number>;
  },
): string[] {
  const out: string[] = [];
  const n = mine.length;
  const st = Object.entries(f.states)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const unanswered = mine.filter((c) => c.zeekState === 'S0').length;
  if (unanswered) {
    out.push(
      `${key}: ${unanswered} of ${n} connections sent only SYNs and got no answer at all (${f.synRetransmits} SYN retransmissions on the wire); nothing answered them (Zeek S0): a filter dropping them on the way, or a listener whose accept queue is full, look the same on the wire.`,
    );
  } else if (f.synRetransmits) {
    out.push(`${key}: ${f.synRetransmits} SYN retransmissions on the wire before the handshake completed.`);
  }
  const rej = mine.filter((c) => c.zeekState === 'REJ').length;
  if (rej) out.push(`${key}: the server answered ${rej} of ${n} SYNs with a RST (Zeek REJ): the port is closed or a firewall rejects.`);
  const tlsResets = mine.filter((c) => c.phase === 'tls' && c.outcome === 'reset');
  if (tlsResets.length) {
    const byServer = tlsResets.filter((c) => c.resetBy === 'server').length;
    out.push(
      `${key}: ${byServer === tlsResets.length ? 'the server' : byServer ? `the server (${byServer}) and the client (${tlsResets.length - byServer})` : 'the client'} sent the RST during the TLS handshake, right after the ClientHello, in ${tlsResets.length} of ${n} connections${tlsResets[0]?.sni ? ` (SNI ${tlsResets[0].sni})` : ''}.`,
    );
  } else if (f.resetBy.server) {
    out.push(`${key}: the server sent a RST in ${f.resetBy.server} of ${n} connections.`);
  }
  for (const [alert, k] of Object.entries(f.alerts))
    out.push(`${key}: TLS alert on the wire: ${alert} (${k} connection${k === 1 ? '' : 's'}).`);
  if (!out.length) out.push(`${key}: ${n} connection${n === 1 ? '' : 's'} on the wire (${st}).`);
  return out;
}

/**
 * Capture hooks for the chain: tcpdump on loopback (or every interface when
 * an address is not local), filtered to the target port and addresses,
 * stopped with SIGINT after the last phase, then analysed with the `pcap`
 * analysis. Failures become a one-line reason, never an error.
 */
export function tcpdumpCapture(o: { pathEnv: string; keep?: string }): CaptureHooks {
  const support = captureSupport(o.pathEnv);
  let child: ChildProcess | null = null;
  let reason: string | null = support.ok ? null : support.reason;
  const dir = mkdtempSync(join(tmpdir(), 'conndx-capture-'));
  const file = o.keep ?? join(dir, 'diagnose.pcap');
  return {
    async start(addresses, port) {
      if (!support.ok) return;
      const iface = addresses.every((a) => isLoopback(a.address)) ? 'lo' : 'any';
      try {
        child = await startTcpdump(support.tcpdump, iface, file, bpfFilter(addresses, port));
      } catch (e) {
        reason = `tcpdump could not start: ${(e as Error).message}`;
      }
    },
    async stop(addresses): Promise<CaptureReport> {
      try {
        if (!child) return { ok: false, reason: reason ?? 'no capture was started', lines: [] };
        // Let the last FINs and RSTs reach the capture before stopping it.
        await new Promise((r) => setTimeout(r, 150));
        await stopTcpdump(child);
        const a = await analyzeCapture(file, { flows: true });
        if (!a.ok) return { ok: false, reason: `the capture could not be read: ${a.reason}`, lines: [] };
        const ev = packetEvidence(a.result, addresses);
        const r = a.result;
        return {
          ok: true,
          lines: ev.lines,
          byAddress: ev.byAddress,
          ...(o.keep ? { file: o.keep } : {}),
          summary: { packets: r.packets, tcp: r.tcp, tls: r.tls, failures: r.failures, verdict: r.verdict },
        };
      } finally {
        if (!o.keep) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
