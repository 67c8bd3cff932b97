import { ConndxError } from '../errors.js';
import { isValidHostName, parseHostPort } from '../parse.js';
import { parseDnsServers } from '../probes/dns-servers.js';
import type { DiagnoseTarget } from '../diagnose/target.js';
import { parseQtype } from './commands/dns.js';

/** The path that makes an https:// URL a DoH resolver (RFC 8484's usual one). */
export const DOH_PATH = '/dns-query';

/** tls://host[:port] (DoT) or https://host[:port]/dns-query (DoH) as a diagnose target: read as `conndx dns --server` reads it. */
export function parseResolverTarget(text: string): DiagnoseTarget {
  let parsed: ReturnType<typeof parseDnsServers>;
  try {
    parsed = parseDnsServers({}, [text]);
  } catch (e) {
    throw new ConndxError('CONNDX_BAD_TARGET', (e as Error).message.replace(/^bad --server/, 'bad target'));
  }
  const spec = parsed.specs[0]!;
  const hp = parseHostPort(spec.hostPort, spec.defaultPort);
  if (hp.family === 0 && !isValidHostName(hp.host))
    throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${text}": "${hp.host}" is not a host name or address`);
  const transport = parsed.transport === 'doh' ? 'doh' : 'dot';
  return {
    raw: text,
    scheme: transport === 'doh' ? 'https' : null,
    host: hp.host,
    family: hp.family,
    port: hp.port,
    path: null,
    resolver: { transport, ...(spec.url ? { url: spec.url } : {}) },
  };
}

/** --name / --type of a resolver target (default `.` NS); refused for other targets, and with what a resolver run does not do. */
export function resolverQueryOf(
  target: DiagnoseTarget,
  o: Record<string, unknown>,
  argv: readonly string[],
): { name: string; type: number } | undefined {
  if (!target.resolver) {
    const given = ['name', 'type'].find((k) => o[k] !== undefined);
    if (given)
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `--${given} applies to resolver targets only (tls://host:853, https://host/dns-query)`);
    return undefined;
  }
  for (const flag of ['--http', '--no-tls', '--starttls', '--http1.1', '--http2', '--expect-status'])
    if (argv.some((a) => a === flag || a.startsWith(`${flag}=`)))
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `${flag} does not apply to a resolver target (${target.raw}): it is asked DNS queries`);
  const name = o.name === undefined ? '.' : String(o.name);
  if (name !== '.' && !isValidHostName(name)) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --name "${name}": not a valid DNS name`);
  const typeText = o.type === undefined ? (name === '.' ? 'NS' : 'A') : String(o.type);
  return { name, type: parseQtype(typeText) };
}
