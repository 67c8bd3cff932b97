import { ConndxError } from '../errors.js';
import { parseProxyUrl, proxyFromEnv, type ProxyConfig } from '../probes/proxy.js';
import { resolveHost } from '../probes/resolve.js';
import { parseStarttls, STARTTLS_PROTOCOLS, type StarttlsProtocol } from '../probes/starttls.js';

/** `--starttls smtp` → "smtp"; anything else is bad input. */
export function starttlsFlag(value: unknown): StarttlsProtocol | undefined {
  if (value === undefined) return undefined;
  const p = parseStarttls(String(value));
  if (!p) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --starttls "${String(value)}": use one of ${STARTTLS_PROTOCOLS.join(', ')}`);
  return p;
}

/**
 * What `--proxy` asks for: a URL, or `env` (HTTPS_PROXY / NO_PROXY per
 * target). The URL is checked up front (bad input: exit 3); its host is
 * resolved once, when first needed.
 */
export interface ProxyChoice {
  forTarget(host: string, port: number): Promise<ProxyConfig | undefined>;
}

export function proxyFlag(
  value: unknown,
  family: 0 | 4 | 6,
  env: Record<string, string | undefined> = process.env,
): ProxyChoice | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const cache = new Map<string, Promise<ProxyConfig>>();
  const configOf = (url: string, from: string): Promise<ProxyConfig> => {
    let p = cache.get(url);
    if (!p) {
      const u = parseProxyUrl(url);
      if ('error' in u) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${from} "${url.replace(/\/\/[^@/]*@/, '//…@')}": ${u.error}`);
      p = resolveHost(u.host, family).then((r) => {
        if (!r.ok) throw new ConndxError('CONNDX_BAD_ARGUMENT', `${from} ${u.url}: the proxy's name does not resolve (DNS ${r.outcome})`);
        return { url: u.url, host: r.address, port: u.port, ...(u.auth ? { auth: u.auth } : {}) };
      });
      cache.set(url, p);
    }
    return p;
  };
  if (text === 'env') {
    return {
      forTarget: async (host, port) => {
        const url = proxyFromEnv(env, host, port);
        return url ? configOf(url, 'HTTPS_PROXY') : undefined;
      },
    };
  }
  // Checked now, before any target is read.
  const u = parseProxyUrl(text);
  if ('error' in u) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --proxy "${text.replace(/\/\/[^@/]*@/, '//…@')}": ${u.error}`);
  return { forTarget: () => configOf(text, '--proxy') };
}
