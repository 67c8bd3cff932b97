import { ConndxError } from '../errors.js';
import type { DnsExchange, DnsServer } from './dns.js';
import { openDot } from './dns-dot.js';
import { openDoh } from './dns-doh.js';

/**
 * Which transport a set of resolvers is asked over, from `--transport`
 * (or `transport:` in a check) and the schemes of the servers: tls://host
 * is DoT, https://host/dns-query DoH. `conndx dns` and checks both read
 * servers here.
 */

/** How DNS queries are carried. */
export const DNS_TRANSPORTS = ['udp', 'tcp', 'dot', 'doh'] as const;
export type DnsTransport = (typeof DNS_TRANSPORTS)[number];

/** One --server as written: the transport its scheme names, where to connect, and the DoH URL. */
export interface ServerSpec {
  /** As written (the key in byServer). */
  key: string;
  transport: DnsTransport;
  /** host[:port] to resolve and connect to. */
  hostPort: string;
  defaultPort: number;
  /** DoH: the URL to ask. */
  url?: string;
}

const DEFAULT_PORTS: Record<DnsTransport, number> = { udp: 53, tcp: 53, dot: 853, doh: 443 };

/** Reads --transport, --tcp and the schemes of the --server values (tls://, https://); every server must agree. */
export function parseDnsServers(
  o: { transport?: unknown; tcp?: unknown },
  raw: string[],
): { transport: DnsTransport; specs: ServerSpec[] } {
  let flag: DnsTransport | undefined;
  if (o.transport !== undefined) {
    const t = String(o.transport).toLowerCase();
    if (!(DNS_TRANSPORTS as readonly string[]).includes(t)) {
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --transport "${String(o.transport)}": use ${DNS_TRANSPORTS.join(', ')}`);
    }
    flag = t as DnsTransport;
  }
  if (o.tcp) {
    if (flag && flag !== 'tcp') throw new ConndxError('CONNDX_BAD_ARGUMENT', `--tcp contradicts --transport ${flag}`);
    flag = 'tcp';
  }
  const specs = raw.map((key): ServerSpec => {
    const m = /^([a-z]+):\/\/(.*)$/i.exec(key);
    if (!m) {
      const transport = flag ?? 'udp';
      const spec: ServerSpec = { key, transport, hostPort: key, defaultPort: DEFAULT_PORTS[transport] };
      if (transport === 'doh') spec.url = `https://${key}/dns-query`;
      return spec;
    }
    const scheme = m[1]!.toLowerCase();
    const transport: DnsTransport | undefined = scheme === 'tls' ? 'dot' : scheme === 'https' ? 'doh' : undefined;
    if (!transport)
      throw new ConndxError('CONNDX_BAD_TARGET', `bad --server "${key}": use tls://host[:853] for DoT or https://host/dns-query for DoH`);
    if (flag && flag !== transport)
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `--server ${key} is ${transport} but --transport is ${flag}`);
    if (transport === 'dot') {
      const hostPort = m[2]!.replace(/\/$/, '');
      if (!hostPort || hostPort.includes('/'))
        throw new ConndxError('CONNDX_BAD_TARGET', `bad --server "${key}": tls:// takes host[:port] only`);
      return { key, transport, hostPort, defaultPort: DEFAULT_PORTS.dot };
    }
    let url: URL;
    try {
      url = new URL(key);
    } catch {
      throw new ConndxError('CONNDX_BAD_TARGET', `bad --server "${key}": not a URL`);
    }
    if (url.username || url.password || url.hash)
      throw new ConndxError('CONNDX_BAD_TARGET', `bad --server "${key}": no user, password or #fragment in a DoH URL`);
    const path = url.pathname === '/' ? '/dns-query' : url.pathname;
    return { key, transport, hostPort: url.host, defaultPort: DEFAULT_PORTS.doh, url: `https://${url.host}${path}${url.search}` };
  });
  const kinds = [...new Set(specs.map((s) => s.transport))];
  if (kinds.length > 1)
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `the --server values mix transports (${kinds.join(', ')}): run one command per transport`);
  return { transport: kinds[0] ?? flag ?? 'udp', specs };
}

export interface DnsSecureChoice {
  reuse: boolean;
  method: 'GET' | 'POST';
  http1: boolean;
  serverName?: string;
  ca?: string;
  insecure: boolean;
}

/** The DoT/DoH opener planDns takes, or undefined for UDP/TCP. */
export function exchangeOpener(
  transport: DnsTransport,
  specs: ServerSpec[],
  c: DnsSecureChoice,
): ((server: DnsServer) => DnsExchange) | undefined {
  if (transport !== 'dot' && transport !== 'doh') return undefined;
  const byKey = new Map(specs.map((s) => [s.key, s]));
  return (server) => {
    const spec = byKey.get(server.key)!;
    const tlsOpts = {
      reuse: c.reuse,
      insecure: c.insecure,
      ...(c.ca ? { ca: c.ca } : {}),
      ...(c.serverName ? { serverName: c.serverName } : {}),
    };
    if (transport === 'dot') return openDot(server, tlsOpts);
    return openDoh(server, { ...tlsOpts, url: spec.url!, method: c.method, http1: c.http1 });
  };
}
