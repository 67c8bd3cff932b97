import { isIP } from 'node:net';
import { ConndxError } from '../errors.js';
import { isValidHostName, parseHostPort } from '../cli/parse.js';

/** What `conndx diagnose` was asked about: a URL or host[:port]. */
export interface DiagnoseTarget {
  /** As the user wrote it. */
  raw: string;
  scheme: 'http' | 'https' | null;
  /** Host name or address literal, without brackets. */
  host: string;
  /** 4 or 6 for an address literal, 0 for a name. */
  family: 0 | 4 | 6;
  port: number;
  /** Path and query for the HTTP request (URLs only). */
  path: string | null;
}

/** Ports where a TLS handshake comes first: HTTPS, DoT, IMAPS, POP3S, SMTPS, LDAPS, AMQPS, Kubernetes API. */
export const TLS_PORTS = new Set([443, 465, 636, 853, 993, 995, 5671, 6443, 8443, 9443]);

/** "https://api.example.com/healthz", "db.internal:5432", "[::1]:443", "api.example.com" (443). */
export function parseDiagnoseTarget(raw: string): DiagnoseTarget {
  const text = String(raw).trim();
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') {
      throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${raw}": only http:// and https:// URLs, or host:port`);
    }
    let u: URL;
    try { u = new URL(text); } catch {
      throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${raw}": not a URL`);
    }
    if (u.username || u.password) throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${raw}": credentials in the URL are not sent; leave them out`);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const family = isIP(host) as 0 | 4 | 6;
    if (!family && !isValidHostName(host)) throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${raw}": "${host}" is not a host name or address`);
    const port = u.port ? Number(u.port) : scheme === 'https' ? 443 : 80;
    return { raw: text, scheme, host, family, port, path: `${u.pathname || '/'}${u.search}` };
  }
  const hp = parseHostPort(text, 443);
  return { raw: text, scheme: null, host: hp.host, family: hp.family, port: hp.port, path: null };
}
