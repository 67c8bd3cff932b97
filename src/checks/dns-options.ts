import { readInputTextSync } from '../input.js';
import { isValidHostName, parseHostPort } from '../parse.js';
import { DEFAULT_EDNS_SIZE, parseEcs, type ClientSubnet } from '../probes/edns.js';
import { exchangeOpener, parseDnsServers, type DnsSecureChoice, type DnsTransport, type ServerSpec } from '../probes/dns-servers.js';
import type { DnsPlanOptions } from '../probes/dns.js';
import { randomBytes } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';

/**
 * The EDNS, cache-miss and DoT/DoH keys of a dns check, as `conndx dns`
 * takes them as flags: transport, ednsSize, edns (false: no OPT record),
 * dnssec, nsid, ecs, cookie (false: none), randomLabel, reuse, method, http1,
 * and sni, ca, insecure for DoT/DoH.
 */
export interface DnsCheckExtras {
  transport: DnsTransport;
  specs: ServerSpec[];
  /** null: no OPT record. The client cookie is made per run. */
  edns: { udpSize: number; dnssec: boolean; nsid: boolean; ecs?: ClientSubnet; cookie: boolean } | null;
  randomLabel: boolean;
  secure: DnsSecureChoice;
}

/** The raw keys read here (a subset of the check's mapping). */
export interface RawDnsExtras {
  server?: string | string[];
  tcp?: string | boolean;
  transport?: string;
  ednsSize?: number;
  edns?: boolean;
  dnssec?: boolean;
  nsid?: boolean;
  ecs?: string;
  cookie?: boolean;
  randomLabel?: boolean;
  reuse?: boolean;
  method?: string;
  http1?: boolean;
  sni?: string;
  ca?: string;
  insecure?: boolean;
}

type Err = (path: (string | number)[], message: string) => void;

/** Checks every key; problems go to `err` with their path, like the rest of the config. */
export function validateDnsExtras(raw: RawDnsExtras, err: Err, baseDir: string): DnsCheckExtras {
  const servers = raw.server === undefined ? [] : Array.isArray(raw.server) ? raw.server : [raw.server];
  let transport: DnsTransport = raw.tcp === true ? 'tcp' : 'udp';
  let specs: ServerSpec[] = [];
  try {
    const p = parseDnsServers({ transport: raw.transport, tcp: raw.tcp === true }, servers);
    transport = p.transport;
    specs = p.specs;
    specs.forEach((s, i) => {
      try {
        parseHostPort(s.hostPort, s.defaultPort);
      } catch (e) {
        err(Array.isArray(raw.server) ? ['server', i] : ['server'], (e as Error).message);
      }
    });
  } catch (e) {
    err([raw.transport !== undefined ? 'transport' : 'server'], (e as Error).message.replace(/--server /g, 'server ').replace(/--/g, ''));
  }
  let edns: DnsCheckExtras['edns'] = null;
  if (raw.edns === false) {
    for (const k of ['ednsSize', 'dnssec', 'nsid', 'ecs'] as const) {
      if (raw[k] !== undefined && raw[k] !== false) err([k], `${k} needs the OPT record: it cannot go with edns: false`);
    }
  } else {
    const udpSize = raw.ednsSize ?? DEFAULT_EDNS_SIZE;
    if (!Number.isInteger(udpSize) || udpSize < 512 || udpSize > 65535)
      err(['ednsSize'], `bad ednsSize ${udpSize}: a whole number from 512 to 65535`);
    let ecs: ClientSubnet | undefined;
    if (raw.ecs !== undefined) {
      try {
        ecs = parseEcs(raw.ecs);
      } catch (e) {
        err(['ecs'], (e as Error).message.replace('--ecs', 'ecs'));
      }
    }
    edns = { udpSize, dnssec: raw.dnssec === true, nsid: raw.nsid === true, cookie: raw.cookie !== false, ...(ecs ? { ecs } : {}) };
  }
  const secure = transport === 'dot' || transport === 'doh';
  for (const k of ['reuse', 'sni', 'ca', 'insecure'] as const) {
    if (!secure && raw[k] !== undefined) err([k], `${k} applies to dns checks over dot or doh only`);
  }
  for (const k of ['method', 'http1'] as const) {
    if (transport !== 'doh' && raw[k] !== undefined) err([k], `${k} applies to dns checks over doh only`);
  }
  const method = (raw.method ?? 'POST').toUpperCase();
  if (method !== 'GET' && method !== 'POST') err(['method'], `bad method "${raw.method}": use GET or POST`);
  if (raw.sni !== undefined && !isValidHostName(raw.sni)) err(['sni'], `bad sni "${raw.sni}": not a host name`);
  let ca: string | undefined;
  if (raw.ca !== undefined) {
    const path = resolvePath(baseDir, raw.ca);
    try {
      ca = readInputTextSync(path, 'ca', `"${raw.ca}" (${path})`).toString();
      if (!/-----BEGIN CERTIFICATE-----/.test(ca)) {
        err(['ca'], `"${raw.ca}" holds no PEM certificate`);
        ca = undefined;
      }
    } catch (e) {
      err(['ca'], (e as Error).message);
    }
  }
  return {
    transport,
    specs,
    edns,
    randomLabel: raw.randomLabel === true,
    secure: {
      reuse: raw.reuse !== false,
      method: method === 'GET' ? 'GET' : 'POST',
      http1: raw.http1 === true,
      insecure: raw.insecure === true,
      ...(raw.sni !== undefined ? { serverName: raw.sni } : {}),
      ...(ca ? { ca } : {}),
    },
  };
}

/**
 * What planDns takes from a dns check's settings for one run: the servers
 * read with their schemes, the OPT record (a fresh client cookie per run),
 * --random-label and the DoT/DoH opener.
 */
export function dnsCheckRun(
  d: { tcp: boolean; extras?: DnsCheckExtras },
  raws: string[],
): { specs: ServerSpec[]; query: Pick<DnsPlanOptions, 'edns' | 'randomLabel' | 'openExchange'> } {
  const x = d.extras;
  const { transport, specs } = parseDnsServers({ transport: x?.transport === 'tcp' ? undefined : x?.transport, tcp: d.tcp }, raws);
  // Without extras: the defaults of `conndx dns` (an OPT record of 1232 bytes with a cookie).
  const e = x ? x.edns : { udpSize: DEFAULT_EDNS_SIZE, dnssec: false, nsid: false, cookie: true };
  const secure: DnsSecureChoice = x?.secure ?? { reuse: true, method: 'POST', http1: false, insecure: false };
  return {
    specs,
    query: {
      edns: e
        ? {
            udpSize: e.udpSize,
            dnssec: e.dnssec,
            nsid: e.nsid,
            ...(e.ecs ? { ecs: e.ecs } : {}),
            ...(e.cookie ? { clientCookie: randomBytes(8) } : {}),
          }
        : null,
      randomLabel: x?.randomLabel ?? false,
      openExchange: exchangeOpener(transport, specs, secure),
    },
  };
}
