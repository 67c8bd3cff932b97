import { randomBytes } from 'node:crypto';
import { QTYPE_NAMES } from '../core/dns.js';
import type { ProbeResult } from '../core/types.js';
import { executeProbe, type ExecOptions } from '../engine/execute.js';
import type { DnsServer } from '../probes/dns.js';
import { openDoh } from '../probes/dns-doh.js';
import { openDot } from '../probes/dns-dot.js';
import { DEFAULT_EDNS_SIZE } from '../probes/edns.js';
import { PROBERS } from '../probes/registry.js';
import { resolverNext } from './resolver-next.js';
import type { AddressInfo, DiagnosePlan, ResolverPlan } from './types.js';
import { DEFAULT_THRESHOLDS, judgeConn, type Finding, type Judged, type Thresholds } from './verdict.js';

/**
 * The chain for a resolver (`diagnose tls://host:853`, `diagnose
 * https://host/dns-query`): after the TCP and TLS phases, `count` DNS
 * queries to every address the handshake worked on, over DoT or DoH as
 * `conndx dns --server tls://…` sends them (the dns kind's transport: one
 * kept connection, its connect, TLS and query times apart, the rcode, NSID
 * and Extended DNS Errors of every reply). The queries are the phase `app`:
 * DNS is what this server serves.
 */

/** What resolver monitors ask by default: the root's NS set, answered from any resolver's cache (priming, RFC 8109). */
export const RESOLVER_DEFAULT_QUERY = { name: '.', type: 2 } as const;

/** ALPN of the TLS phase: what the queries will offer (RFC 7858 names "dot"; DoH prefers h2). */
export function resolverAlpn(transport: 'dot' | 'doh'): string[] {
  return transport === 'dot' ? ['dot'] : ['h2', 'http/1.1'];
}

export function resolverPlan(r: { transport: 'dot' | 'doh'; url?: string }, q: { name: string; type: number }): ResolverPlan {
  return { transport: r.transport, name: q.name, type: QTYPE_NAMES[q.type] ?? `TYPE${q.type}`, ...(r.url ? { url: r.url } : {}) };
}

export interface ResolverRun {
  plan: DiagnosePlan & { resolver: ResolverPlan };
  query: { name: string; type: number };
  /** Addresses whose TLS phase succeeded. */
  up: AddressInfo[];
  port: number;
  ca?: string | string[];
  insecure?: boolean;
  timeoutMs: number;
  exec: ExecOptions;
  label: string;
}

/** The queries' phase: one dns-kind run over every address, keyed by address:port like the TCP and TLS phases. */
export async function runResolverQueries(r: ResolverRun): Promise<ProbeResult> {
  const rp = r.plan.resolver;
  const ca = Array.isArray(r.ca) ? r.ca.join('\n') : r.ca;
  const tlsOpts = {
    reuse: true,
    insecure: Boolean(r.insecure),
    ...(ca ? { ca } : {}),
    ...(r.plan.sni ? { serverName: r.plan.sni } : {}),
  };
  const servers: DnsServer[] = r.up.map((a) => ({ key: a.key, address: a.address, port: r.port }));
  const built = await PROBERS.dns.plan(
    {
      name: r.query.name,
      type: r.query.type,
      tcp: false,
      noFallback: true,
      timeoutMs: r.timeoutMs,
      decodeAnswers: true,
      // NSID says which instance answered; the cookie and OPT size are what `conndx dns` sends by default.
      edns: { udpSize: DEFAULT_EDNS_SIZE, dnssec: false, nsid: true, clientCookie: randomBytes(8) },
      openExchange: (server) =>
        rp.transport === 'dot' ? openDot(server, tlsOpts) : openDoh(server, { ...tlsOpts, url: rp.url!, method: 'POST' }),
    },
    servers,
  );
  try {
    const { result } = await executeProbe({ ...built.plan, label: r.label }, { ...r.exec, timeoutMs: built.engineTimeoutMs });
    delete result.meta;
    // One shape with the other phases: byTarget keyed by address:port, even for one address.
    const per = result.byServer as Record<string, ProbeResult> | undefined;
    delete result.byServer;
    if (per) result.byTarget = per;
    else if (servers.length === 1) {
      const { histograms: _h, ...one } = result;
      result.byTarget = { [servers[0]!.key]: { ...one, target: servers[0]!.key } };
    }
    return result;
  } finally {
    built.close();
  }
}

const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ms = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${f1(x)} ms`);
const counts = (o: unknown) =>
  Object.entries((o ?? {}) as Record<string, number>)
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');
type Stats = { p50: number; p99: number } | undefined;

/** Facts of the queries' replies, one line each, under an address's evidence. */
function queryDetail(_k: string, r: ProbeResult): string[] {
  const out: string[] = [];
  if (r.rcodes) out.push(`  rcodes: ${counts(r.rcodes)}`);
  if (r.ede) out.push(`  extended DNS errors (RFC 8914): ${counts(r.ede)}`);
  if (r.http) out.push(`  HTTP version: ${counts(r.http)}`);
  if (r.nsid) out.push(`  nsid: ${counts(r.nsid)}`);
  const phases = [
    ['connect', r.tcpConnectMs as Stats],
    ['TLS', r.tlsHandshakeMs as Stats],
    ['query', r.queryMs as Stats],
  ].filter(([, s]) => s) as [string, NonNullable<Stats>][];
  if (phases.length) out.push(`  ${phases.map(([n, s]) => `${n} p50 ${ms(s.p50)}`).join(', ')}`);
  return out;
}

/** The findings of the queries' phase, judged as the other connection phases are (`judgeConn`). */
export function resolverFindings(j: Judged, thresholds: Partial<Thresholds> = {}): Finding[] {
  const rp = j.plan.resolver;
  if (!rp || !j.resolver) return [];
  const th = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const next = (k: string) => [resolverNext(j.plan, k), ...(rp.transport === 'doh' ? [resolverNext(j.plan, k, '--http1 --count 5')] : [])];
  const found = judgeConn(
    'app',
    `${rp.transport === 'dot' ? 'DoT' : 'DoH'} query (${rp.name} ${rp.type})`,
    j.resolver,
    j,
    th.dnsMs,
    next,
    queryDetail,
  );
  // The Extended DNS Error is the answer to "why SERVFAIL": it goes into the sentence, not only the evidence.
  const ede = Object.keys((j.resolver.ede ?? {}) as Record<string, number>);
  for (const f of found)
    if (f.kind === 'fails' && ede.length) f.summary = f.summary.replace(/\.$/, `; the replies carry Extended DNS Error ${ede.join(', ')}.`);
  return found;
}
