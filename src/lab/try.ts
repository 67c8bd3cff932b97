import { formatHostPort } from '../parse.js';
import type { LabEndpoint } from './types.js';

/**
 * The flags an endpoint needs, beyond the defaults, for a probe to report
 * its `expect`: a port that accepts and then closes looks healthy to a bare
 * connect, and only shows its FIN or RST when conndx watches the connection.
 */
const EXTRA: Record<string, string[]> = {
  'tcp-rst-accept': ['--hold', '500ms'],
  'tcp-fin-accept': ['--hold', '500ms'],
  'tcp-rst-after-data': ['--send', 'ping'],
  'tls-alpn-h2-only': ['--alpn', 'http/1.1'],
  'tls-raw-hrr': ['--raw'],
  'tls-raw-hybrid': ['--raw'],
  'tls-raw-large-drop': ['--large-hello'],
  'tls-raw-large-reset': ['--large-hello'],
  'smtp-starttls': ['--starttls', 'smtp'],
  'smtp-no-starttls': ['--starttls', 'smtp'],
  'smtp-starttls-refused': ['--starttls', 'smtp'],
  'postgres-ssl': ['--starttls', 'postgres'],
  'postgres-no-ssl': ['--starttls', 'postgres'],
};

/** The extra flags of an endpoint, for the `expect` column ("" when the defaults do). */
export function expectFlags(name: string): string {
  return (EXTRA[name] ?? []).join(' ');
}

/**
 * The command (argv after `conndx`) that shows an endpoint's `expect`: the one
 * `conndx lab --try` prints and the lab's own test runs, so every expectation
 * the lab prints is one a user gets by typing it. Counts and timeouts are
 * small, so a run over the whole lab takes seconds.
 */
export function tryArgs(ep: Pick<LabEndpoint, 'name' | 'kind' | 'host' | 'port' | 'info'>, caFile?: string): string[] {
  const addr = formatHostPort(ep.host, ep.port);
  const extra = EXTRA[ep.name] ?? [];
  switch (ep.kind) {
    case 'dns':
      // DoT and DoH endpoints give their tls:// or https:// URL and need the lab CA.
      return [
        'dns',
        String(ep.info?.name ?? 'lab.test'),
        '--server',
        typeof ep.info?.url === 'string' ? ep.info.url : addr,
        ...(typeof ep.info?.url === 'string' && caFile ? ['--ca', caFile] : []),
        '-c',
        '3',
        '--timeout',
        '1s',
        ...extra,
      ];
    case 'tcp':
      return ['tcp', addr, '-c', '3', '--timeout', '1s', ...extra];
    case 'tls':
      return [
        'tls',
        // A proxy endpoint is asked for the TLS server behind it.
        ...(typeof ep.info?.proxyTarget === 'string' ? [ep.info.proxyTarget, '--proxy', `http://${addr}`] : [addr]),
        '--sni',
        String(ep.info?.sni ?? 'lab.conndx.test'),
        ...(caFile ? ['--ca', caFile] : []),
        '-c',
        '3',
        '--timeout',
        '1s',
        ...extra,
      ];
    case 'http':
      return ['diagnose', `http://${addr}/`, ...extra];
  }
}
