import { randomBytes } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ConndxError } from '../errors.js';
import { readInputTextSync } from '../input.js';
import { isValidHostName } from '../parse.js';
import { DEFAULT_EDNS_SIZE, parseEcs, type EdnsOptions } from '../probes/edns.js';
import { RANDOM_LABEL_LENGTH } from '../probes/dns.js';
import type { DnsSecureChoice, DnsTransport } from '../probes/dns-servers.js';

export {
  DNS_TRANSPORTS,
  exchangeOpener,
  parseDnsServers,
  type DnsSecureChoice,
  type DnsTransport,
  type ServerSpec,
} from '../probes/dns-servers.js';

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
