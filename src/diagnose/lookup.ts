import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { now } from '../core/clock.js';
import { makeDnsProbe, openUdpChannel, type DnsServer } from '../probes/dns.js';
import { classifyLookupError, type LookupFn } from '../probes/resolve.js';
import { searchCandidates, type ResolvConf } from '../probes/resolv-conf.js';

/** How an application on this machine resolves the name (getaddrinfo, or the stub resolver emulated from given files). */
export interface SystemLookup {
  /** getaddrinfo: the real system resolver; emulated: hosts file, then search list and ndots against the nameservers. */
  source: 'getaddrinfo' | 'emulated';
  outcome: string;
  cause?: string;
  lookupMs: number;
  addresses: string[];
  /** Where the answer came from (emulated only): the hosts file or DNS. */
  via?: 'hosts' | 'dns';
  /** The name that gave the answer, after the search list (emulated: known; getaddrinfo: from the emulated search). */
  answeredAs?: string | null;
  /** Names tried in order and what each got (emulated). */
  tried?: { name: string; outcome: string }[];
}

export interface OneQuery {
  outcome: string;
  cause?: string;
  ms: number;
  addresses: string[];
}

/** One query to one server, UDP with the TCP fallback, as `conndx dns` makes it. */
export async function queryOnce(
  server: DnsServer,
  name: string,
  type: 'A' | 'AAAA',
  timeoutMs: number,
  signal: AbortSignal,
): Promise<OneQuery> {
  const t0 = now();
  let ch;
  try {
    ch = await openUdpChannel(server);
  } catch (e) {
    return { outcome: 'error', cause: (e as NodeJS.ErrnoException).code ?? String(e), ms: now() - t0, addresses: [] };
  }
  try {
    const probe = makeDnsProbe({
      name,
      type: type === 'A' ? 1 : 28,
      tcp: false,
      noFallback: false,
      timeoutMs,
      decodeAnswers: true,
      nodata: 'ok',
    });
    const a = await probe({ server, udp: ch }, signal);
    return { outcome: a.outcome, cause: a.cause, ms: a.ms ?? now() - t0, addresses: addressesOf(a.facts?.answers) };
  } finally {
    ch.close();
  }
}

/** Addresses in the `answers` strings of a DNS result ("name ttl A 127.0.0.1"). */
export function addressesOf(answers: unknown): string[] {
  if (!Array.isArray(answers)) return [];
  const out: string[] = [];
  for (const a of answers) {
    const [, , type, value] = String(a).split(' ');
    if ((type === 'A' || type === 'AAAA') && value && isIP(value) && !out.includes(value)) out.push(value);
  }
  return out;
}

const typesFor = (family: 0 | 4 | 6): ('A' | 'AAAA')[] => (family === 4 ? ['A'] : family === 6 ? ['AAAA'] : ['A', 'AAAA']);

/**
 * The stub resolver, emulated: the hosts file first, then each name of the
 * search list in order (resolv.conf(5) ndots rule), asking A and AAAA of the
 * first nameserver and the next one only when it does not answer. NXDOMAIN
 * or no data moves on to the next name; a server failure stops the search
 * (glibc reports it as a temporary failure).
 */
export async function emulateStub(
  name: string,
  conf: ResolvConf,
  hosts: Map<string, string[]>,
  family: 0 | 4 | 6,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<SystemLookup> {
  const t0 = now();
  const fam = (a: string) => family === 0 || isIP(a) === family;
  const fromHosts = (hosts.get(name.toLowerCase().replace(/\.$/, '')) ?? []).filter(fam);
  if (fromHosts.length) {
    return {
      source: 'emulated',
      outcome: 'ok',
      lookupMs: now() - t0,
      addresses: fromHosts,
      via: 'hosts',
      answeredAs: name,
      tried: [{ name, outcome: 'hosts' }],
    };
  }
  if (conf.nameservers.length === 0) {
    return { source: 'emulated', outcome: 'error', cause: 'no nameserver configured', lookupMs: now() - t0, addresses: [], tried: [] };
  }
  const tried: { name: string; outcome: string }[] = [];
  let last: { outcome: string; cause?: string } = { outcome: 'nxdomain', cause: 'NXDOMAIN' };
  for (const candidate of searchCandidates(name, conf)) {
    let got: OneQuery[] = [];
    for (const ns of conf.nameservers) {
      got = await Promise.all(
        typesFor(family).map((t) => queryOnce({ key: ns.key, address: ns.address, port: ns.port }, candidate, t, timeoutMs, signal)),
      );
      // The next nameserver only when this one did not answer at all (RES_DFLRETRY behaviour).
      if (!got.every((q) => q.outcome === 'timeout' || q.outcome === 'network-error')) break;
    }
    const addresses = [...new Set(got.flatMap((q) => q.addresses))];
    const outcome = addresses.length
      ? 'ok'
      : (got.find((q) => q.outcome !== 'ok' && q.outcome !== 'nxdomain')?.outcome ??
        (got.some((q) => q.outcome === 'ok') ? 'nodata' : 'nxdomain'));
    tried.push({ name: candidate, outcome });
    if (addresses.length) {
      return { source: 'emulated', outcome: 'ok', lookupMs: now() - t0, addresses, via: 'dns', answeredAs: candidate, tried };
    }
    const bad = got.find((q) => q.outcome !== 'ok' && q.outcome !== 'nxdomain');
    last = bad
      ? { outcome: bad.outcome, cause: bad.cause }
      : { outcome: 'nxdomain', cause: outcome === 'nodata' ? 'no address records' : 'NXDOMAIN' };
    if (bad) break;
  }
  return { source: 'emulated', outcome: last.outcome, cause: last.cause, lookupMs: now() - t0, addresses: [], answeredAs: null, tried };
}

/** getaddrinfo, every address (the way applications resolve). */
export async function systemLookup(
  name: string,
  family: 0 | 4 | 6,
  lookup: LookupFn = dnsLookup as unknown as LookupFn,
): Promise<SystemLookup> {
  const t0 = now();
  try {
    const all = await lookup(name, { family, all: true });
    const addresses = [...new Set(all.map((a) => a.address))];
    return { source: 'getaddrinfo', outcome: addresses.length ? 'ok' : 'nxdomain', lookupMs: now() - t0, addresses };
  } catch (e) {
    const c = classifyLookupError(e);
    return { source: 'getaddrinfo', outcome: c.outcome, cause: c.cause, lookupMs: now() - t0, addresses: [] };
  }
}
