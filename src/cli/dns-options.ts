import { randomBytes } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Command } from 'commander';
import { ConndxError } from '../errors.js';
import { readInputTextSync } from '../input.js';
import { isValidHostName } from '../parse.js';
import { DEFAULT_EDNS_SIZE, parseEcs, type EdnsOptions } from '../probes/edns.js';
import { RANDOM_LABEL_LENGTH, type DnsExchange, type DnsServer } from '../probes/dns.js';
import { openDot } from '../probes/dns-dot.js';
import { openDoh } from '../probes/dns-doh.js';

/** How `conndx dns` carries its queries. */
export const DNS_TRANSPORTS = ['udp', 'tcp', 'dot', 'doh'] as const;
export type DnsTransport = (typeof DNS_TRANSPORTS)[number];

/** The EDNS, cache-miss and transport options of `conndx dns` (and the same keys in checks config). */
export function addDnsEdnsOptions(cmd: Command): Command {
  return cmd
    .option('--transport <t>', `udp, tcp, dot (DNS over TLS, RFC 7858) or doh (DNS over HTTPS, RFC 8484); default udp`)
    .option('--edns-size <n>', `EDNS UDP payload size advertised in the OPT record (512-65535, default ${DEFAULT_EDNS_SIZE})`)
    .option('--no-edns', 'send no OPT record (plain RFC 1035 queries)')
    .option('--dnssec', 'set the DO bit: report the AD flag and RRSIG records of every reply')
    .option('--nsid', 'ask for the server identifier (RFC 5001): which anycast instance answered, counted per server')
    .option('--ecs <prefix>', 'send an EDNS client subnet (RFC 7871), e.g. 192.0.2.0/24')
    .option('--no-cookie', 'send no DNS cookie (RFC 7873; by default a client cookie is sent and the server cookie checked)')
    .option(
      '--random-label',
      `a fresh ${RANDOM_LABEL_LENGTH}-character label in front of the name on every query: each one misses the cache`,
    );
}

export interface DnsEdnsChoice {
  edns: EdnsOptions | null;
  randomLabel: boolean;
}

/** Reads the options added by addDnsEdnsOptions; bad input is a ConndxError (exit 3). */
export function parseDnsEdnsOptions(o: Record<string, unknown>, name: string): DnsEdnsChoice {
  const randomLabel = Boolean(o.randomLabel);
  if (randomLabel && name.replace(/\.$/, '').length > 253 - RANDOM_LABEL_LENGTH - 1) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `--random-label: "${name}" leaves no room for a ${RANDOM_LABEL_LENGTH}-character label`);
  }
  const ednsWanted = o.edns !== false;
  const given = ['ednsSize', 'dnssec', 'nsid', 'ecs'].filter((k) => o[k] !== undefined && o[k] !== false);
  if (!ednsWanted) {
    if (given.length) {
      const flag = given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `--no-edns cannot be combined with --${flag}: it needs the OPT record`);
    }
    return { edns: null, randomLabel };
  }
  let udpSize = DEFAULT_EDNS_SIZE;
  if (o.ednsSize !== undefined) {
    const t = String(o.ednsSize);
    udpSize = /^\d{1,5}$/.test(t) ? Number(t) : NaN;
    if (!(udpSize >= 512 && udpSize <= 65535)) {
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --edns-size "${t}": a whole number from 512 to 65535 (RFC 6891 §6.2.5)`);
    }
  }
  return {
    edns: {
      udpSize,
      dnssec: Boolean(o.dnssec),
      nsid: Boolean(o.nsid),
      ...(o.ecs !== undefined ? { ecs: parseEcs(String(o.ecs)) } : {}),
      ...(o.cookie !== false ? { clientCookie: randomBytes(8) } : {}),
    },
    randomLabel,
  };
}

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
export function parseDnsServers(o: Record<string, unknown>, raw: string[]): { transport: DnsTransport; specs: ServerSpec[] } {
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

/** The DoT/DoH options of `conndx dns`. */
export function addDnsSecureOptions(cmd: Command): Command {
  return cmd
    .option('--no-reuse', 'DoT/DoH: a new connection for every query, so every TCP and TLS handshake is timed')
    .option('--method <m>', 'DoH: GET or POST (RFC 8484 §4.1; default POST)')
    .option('--http1', 'DoH: offer only HTTP/1.1 (default: HTTP/2, falling back to HTTP/1.1 when the server offers no h2)')
    .option('--sni <name>', 'DoT/DoH: the TLS server name and the name the certificate must hold (default: the server host)')
    .option('--ca <file>', 'DoT/DoH: trust exactly the CA certificates in this PEM file instead of the default roots')
    .option('--insecure', 'DoT/DoH: report certificate problems but do not fail on them');
}

export interface DnsSecureChoice {
  reuse: boolean;
  method: 'GET' | 'POST';
  http1: boolean;
  serverName?: string;
  ca?: string;
  insecure: boolean;
}

export function parseDnsSecureOptions(o: Record<string, unknown>, transport: DnsTransport): DnsSecureChoice {
  const secure = transport === 'dot' || transport === 'doh';
  const given = ['method', 'http1', 'sni', 'ca', 'insecure'].filter((k) => o[k] !== undefined && o[k] !== false);
  if (o.reuse === false) given.push('no-reuse');
  if (!secure && given.length) throw new ConndxError('CONNDX_BAD_ARGUMENT', `--${given[0]} applies to --transport dot or doh only`);
  if (transport !== 'doh' && (o.method !== undefined || o.http1))
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `--${o.method !== undefined ? 'method' : 'http1'} applies to DoH only`);
  const method = o.method === undefined ? 'POST' : String(o.method).toUpperCase();
  if (method !== 'GET' && method !== 'POST')
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --method "${String(o.method)}": use GET or POST`);
  let ca: string | undefined;
  if (o.ca !== undefined) {
    ca = readInputTextSync(String(o.ca), 'ca', '--ca');
    if (!/-----BEGIN CERTIFICATE-----/.test(ca))
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --ca "${String(o.ca)}": no PEM certificate in it`);
    try {
      createSecureContext({ ca });
    } catch (e) {
      throw new ConndxError(
        'CONNDX_BAD_ARGUMENT',
        `unusable --ca: ${(e as { reason?: string }).reason ?? (e as Error).message.split('\n')[0]}`,
      );
    }
  }
  if (o.sni !== undefined && !isValidHostName(String(o.sni)))
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --sni "${String(o.sni)}": not a host name`);
  return {
    reuse: o.reuse !== false,
    method,
    http1: Boolean(o.http1),
    ...(o.sni !== undefined ? { serverName: String(o.sni) } : {}),
    ...(ca ? { ca } : {}),
    insecure: Boolean(o.insecure),
  };
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
