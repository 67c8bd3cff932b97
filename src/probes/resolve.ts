import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { now } from '../core/clock.js';
import type { ResolvedTarget } from './kinds/kind.js';

/** A lookup function shaped like dns.promises.lookup (the system resolver: getaddrinfo). */
export type LookupFn = (host: string, opts: { family: 0 | 4 | 6; all: true }) => Promise<{ address: string; family: number }[]>;

export type Resolved =
  | { ok: true; address: string; family: 4 | 6; /** null for an address literal */ lookupMs: number | null; addresses: string[] }
  | { ok: false; outcome: string; cause: string; lookupMs: number };

/**
 * getaddrinfo errors → the DNS outcome names of the contract, so that "the
 * name does not resolve" reads the same as in `conndx dns`.
 */
const LOOKUP_ROWS: [codes: string[], outcome: string, says: string][] = [
  [['ENOTFOUND'], 'nxdomain', 'the name does not exist (or has no address of this family)'],
  [['ENODATA'], 'nxdomain', 'the name has no address of this family'],
  [['EAI_AGAIN', 'ETIMEOUT'], 'timeout', 'the resolver did not answer in time (temporary failure)'],
  [['ESERVFAIL', 'EAI_FAIL'], 'servfail', 'the resolver failed'],
  [['EREFUSED'], 'refused', 'the resolver refused the query'],
  [['ECONNREFUSED'], 'network-error', 'the resolver could not be reached'],
];

export function classifyLookupError(e: unknown): { outcome: string; cause: string } {
  const code = e && typeof e === 'object' && 'code' in e ? String((e as { code: unknown }).code) : undefined;
  for (const [codes, outcome, says] of LOOKUP_ROWS) {
    if (code && codes.includes(code)) return { outcome, cause: `${code}: ${says}` };
  }
  return { outcome: 'error', cause: code ? `${code}: ${e instanceof Error ? e.message : ''}`.trim() : String(e) };
}

/**
 * Resolves a target's host once, before the run, with the system resolver
 * and the requested family. The first address is used for every attempt;
 * the lookup time is reported apart from the connect time.
 */
export async function resolveHost(host: string, family: 0 | 4 | 6, lookup: LookupFn = dnsLookup as unknown as LookupFn): Promise<Resolved> {
  const literal = isIP(host);
  if (literal) {
    if (family !== 0 && family !== literal) {
      return { ok: false, outcome: 'error', cause: `${host} is an IPv${literal} address but -${family} was given`, lookupMs: 0 };
    }
    return { ok: true, address: host, family: literal as 4 | 6, lookupMs: null, addresses: [host] };
  }
  const t0 = now();
  try {
    const all = await lookup(host, { family, all: true });
    const lookupMs = now() - t0;
    const first = all[0];
    if (!first) return { ok: false, outcome: 'nxdomain', cause: 'no address returned', lookupMs };
    return { ok: true, address: first.address, family: first.family === 6 ? 6 : 4, lookupMs, addresses: all.map((a) => a.address) };
  } catch (e) {
    const lookupMs = now() - t0;
    const c = classifyLookupError(e);
    // getaddrinfo says EAI_AGAIN both when the resolver timed out and when it could not be
    // reached at all (ICMP port unreachable): faster than resolv.conf's smallest timeout (1 s) is the latter.
    if (c.outcome === 'timeout' && lookupMs < 1000) {
      return {
        ok: false,
        outcome: 'network-error',
        cause: `${c.cause.split(':')[0]}: no answer from the resolver (unreachable or refused)`,
        lookupMs,
      };
    }
    return { ok: false, ...c, lookupMs };
  }
}

/** A target that did not resolve: a finding about it, the others are still probed. */
export interface UnresolvedTarget {
  key: string;
  outcome: string;
  cause: string;
  lookupMs: number;
}

/**
 * Resolves every target once, before the run, in parallel: the one way
 * `conndx tcp|tls`, the checks and `diagnose` turn host:port into addresses.
 * `resolved[i]` answers `hps[i]`.
 */
export async function resolveTargets(
  hps: readonly { raw: string; host: string; port: number; family: 0 | 4 | 6 }[],
  family: 0 | 4 | 6,
  lookup?: LookupFn,
  o: { asWritten?: (hp: { raw: string; host: string; port: number; family: 0 | 4 | 6 }) => boolean } = {},
): Promise<{ resolved: Resolved[]; targets: ResolvedTarget[]; unresolved: UnresolvedTarget[] }> {
  // `asWritten`: targets another host resolves (a proxy's CONNECT names them as written).
  const resolved = await Promise.all(
    hps.map((hp): Promise<Resolved> | Resolved =>
      o.asWritten?.(hp)
        ? { ok: true, address: hp.host, family: isIP(hp.host) === 6 ? 6 : 4, lookupMs: null, addresses: [hp.host] }
        : resolveHost(hp.host, family, lookup),
    ),
  );
  const targets: ResolvedTarget[] = [];
  const unresolved: UnresolvedTarget[] = [];
  hps.forEach((hp, i) => {
    const r = resolved[i]!;
    if (r.ok)
      targets.push({
        key: hp.raw,
        host: hp.host,
        hostFamily: hp.family,
        address: r.address,
        family: r.family,
        port: hp.port,
        lookupMs: r.lookupMs,
      });
    else unresolved.push({ key: hp.raw, outcome: r.outcome, cause: r.cause, lookupMs: Math.round(r.lookupMs * 1000) / 1000 });
  });
  return { resolved, targets, unresolved };
}
