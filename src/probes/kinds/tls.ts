import { fmtMs } from '../../core/format.js';
import { TLS_DEFAULT_PORT } from '../../core/tls.js';
import {
  ENGINE_OUTCOMES,
  TCP_OUTCOMES,
  TLS_OUTCOMES,
  tlsOutcomePhase,
  type ProbePlan,
  type ProbeResult,
  type TargetRef,
} from '../../core/types.js';
import { CERT_WARN_DAYS, type CertificateFacts } from '../cert.js';
import type { ProxyConfig } from '../proxy.js';
import {
  createTlsProbe,
  probeTlsVersions,
  tlsAttemptAllowanceMs,
  TLS_VERSIONS,
  type CertProblem,
  type Negotiated,
  type TlsProbeOptions,
  type TlsTarget,
  type TlsVersion,
} from '../tls.js';
import { resolve as resolvePath } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseTlsVersion } from '../../core/tls.js';
import { ConndxError } from '../../errors.js';
import { readInputTextSync } from '../../input.js';
import { isValidHostName, parseHostPort } from '../../parse.js';
import { parseProxyUrl } from '../proxy.js';
import { parseStarttls, STARTTLS_DEFAULT_PORTS, STARTTLS_PROTOCOLS, type StarttlsProtocol } from '../starttls.js';
import {
  putLookups,
  type CheckReadContext,
  type KindOption,
  type KindSummary,
  type Paint,
  type ProbeKind,
  type ResolvedTarget,
} from './kind.js';

export { TLS_DEFAULT_PORT };

/** What a tls plan is built from: `conndx tls` flags, a tls check, diagnose's handshake phase. */
export interface TlsKindSettings {
  probe: TlsProbeOptions;
  /** The SNI for every target (default: the target's name; none for an address). */
  sni?: string;
  /** After the run, one handshake pinned to each version per target (reported as `versions`). */
  versions?: boolean;
  /** The HTTP CONNECT proxy of each target that goes through one, by target key (`--proxy`, NO_PROXY applied). */
  proxies?: ReadonlyMap<string, ProxyConfig>;
}

const yesNo = (b: unknown) => (b ? 'yes' : 'no');

/** "89 days left", in yellow under CERT_WARN_DAYS, "expired 3 days ago" in red. */
function daysWords(days: number, c: Paint): string {
  if (days < 0) return c.red(`expired ${-days} days ago`);
  return days < CERT_WARN_DAYS ? c.yellow(`${days} days left`) : `${days} days left`;
}

/** The summary lines of the TLS facts in a result (negotiated, certificate, versions). */
export function tlsSummaryLines(r: ProbeResult, c: Paint): string[] {
  const out: string[] = [];
  const n = r.negotiated as Negotiated | undefined;
  if (n) {
    out.push(
      `negotiated: ${n.version ?? '-'} ${n.cipher ?? '-'}, group ${n.group ?? '-'}, alpn ${n.alpn ?? '-'}, resumed ${yesNo(n.resumed)}`,
    );
  }
  const res = r.resumption as Record<string, number> | undefined;
  if (res)
    out.push(
      `resumption: ${Object.entries(res)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  const cert = r.certificate as CertificateFacts | undefined;
  if (cert) {
    const days = daysWords(cert.daysLeft, c);
    out.push(`certificate: ${cert.subject}`);
    out.push(`  issuer ${cert.issuer}`);
    out.push(`  valid ${cert.notBefore} to ${cert.notAfter} (${days})`);
    if (cert.sans.length) out.push(`  sans ${cert.sans.join(', ')}`);
    out.push(
      `  chain ${cert.chainLength} certificate${cert.chainLength === 1 ? '' : 's'}, self-signed ${yesNo(cert.selfSigned)}, OCSP staple ${yesNo(cert.ocspStapled)}`,
    );
    if (cert.key) out.push(`  key ${cert.key}`);
    if (cert.fingerprint256) out.push(`  sha256 ${cert.fingerprint256}`);
    if (cert.chain?.length) {
      out.push('  chain, leaf first:');
      cert.chain.forEach((x, i) => {
        const left = daysWords(x.daysLeft, c);
        out.push(`    ${i} ${x.subject}  (${x.source === 'sent' ? 'sent' : 'from the trust store'})`);
        out.push(`      issuer ${x.issuer}, ${left}, key ${x.key ?? '-'}`);
        out.push(`      sha256 ${x.fingerprint256}`);
      });
    }
  }
  if (typeof r.answeredWith === 'string') out.push(c.red(`not TLS: the server answered in plaintext: ${r.answeredWith}`));
  const problem = r.certProblem as CertProblem | undefined;
  if (problem && r.succeeded > 0) out.push(c.yellow(`certificate problem (not failed: --insecure): ${problem.outcome} (${problem.cause})`));
  const differ = r.differByTarget as string[] | undefined;
  if (differ?.length) out.push(c.yellow(`${differ.join(', ')}: differ by target (each target's block above shows its own)`));
  const versions = r.versions as Record<string, string> | undefined;
  if (versions) {
    out.push('versions:');
    for (const v of TLS_VERSIONS) out.push(`  ${v}  ${versions[v] === 'ok' ? c.green('ok') : c.red(versions[v] ?? '-')}`);
  }
  return out;
}

/** Warnings from a result: a certificate close to or past its end, a problem --insecure let through. */
export function tlsWarnings(r: ProbeResult): string[] {
  const w: string[] = [];
  const each = (res: ProbeResult, label: string) => {
    const cert = res.certificate as CertificateFacts | undefined;
    if (cert && cert.daysLeft >= 0 && cert.daysLeft < CERT_WARN_DAYS) {
      w.push(`${label}certificate ${cert.subject} expires in ${cert.daysLeft} day${cert.daysLeft === 1 ? '' : 's'} (${cert.notAfter})`);
    }
    const problem = res.certProblem as CertProblem | undefined;
    if (problem && res.succeeded > 0) w.push(`${label}${problem.outcome} ignored because of --insecure: ${problem.cause}`);
  };
  const by = r.byTarget as Record<string, ProbeResult> | undefined;
  if (by && Object.keys(by).length > 1) for (const [k, res] of Object.entries(by)) each(res, `${k}: `);
  else each(r, '');
  return w;
}

const summary: KindSummary = {
  phaseLabel: 'tls handshake',
  timingRows: [
    ['proxyConnectMs', 'proxy connect'],
    ['tunnelMs', 'proxy CONNECT'],
    ['tcpConnectMs', 'tcp connect'],
    ['starttlsMs', 'starttls'],
    ['resumeHandshakeMs', 'tls resumed'],
    ['tlsServerMs', 'tls server part'],
    ['tlsClientMs', 'tls client part'],
  ],
  extra: tlsSummaryLines,
  warnings: tlsWarnings,
  attemptDetail: (r) => {
    const d = r.detail ?? {};
    const parts: string[] = [];
    if (d.version) parts.push(String(d.version), String(d.cipher ?? ''));
    if (d.alpn) parts.push(`alpn=${String(d.alpn)}`);
    if (d.resumed !== undefined) parts.push(`resumed=${yesNo(d.resumed)}`);
    if (d.certProblem && r.outcome === 'ok') parts.push(`(${String(d.certProblem)} ignored)`);
    const tcp = r.timings?.tcpConnectMs;
    if (tcp !== undefined) parts.push(`tcp ${fmtMs(tcp)} ms`);
    const px = r.timings?.proxyConnectMs;
    if (px !== undefined) parts.push(`proxy ${fmtMs(px)} ms`);
    const tun = r.timings?.tunnelMs;
    if (tun !== undefined) parts.push(`CONNECT ${String(d.proxyStatus ?? '')} ${fmtMs(tun)} ms`);
    const st = r.timings?.starttlsMs;
    if (st !== undefined) parts.push(`starttls ${fmtMs(st)} ms`);
    return parts.join(' ');
  },
};

/** The SNI of a target: the one asked for, else the target's name (none for an address literal). */
export function serverNameOf(t: Pick<ResolvedTarget, 'host' | 'hostFamily'>, sni: string | undefined): string | undefined {
  return sni ?? (t.hostFamily === 0 ? t.host : undefined);
}

// ---------------------------------------------------------------------------
// Options: the flags of `conndx tls` and the keys of a tls check, once.

const str = 'string' as const;
const flagOnly = (field: string, flag: string, help: string): KindOption => ({ field, flag, help });
const both = (field: string, flag: string, help: string, type: KindOption['type'] = 'boolean'): KindOption => ({
  field,
  flag,
  help,
  yaml: field,
  type,
});

/** The TLS trust options (ca, insecure, sni) as the kinds that shake hands through TLS share them. */
export const TLS_TRUST_HELP = {
  sni: 'server name to send (SNI) and to check the certificate against (default: the target name; none for an address)',
  ca: 'trust exactly the CA certificates in this PEM file instead of the default roots (at most 4 MiB)',
  cert: 'client certificate (PEM, with its chain) for servers that require one',
  key: 'private key of --cert (PEM)',
  insecure: 'report certificate problems but do not fail on them',
} as const;

export const TLS_OPTIONS: readonly KindOption[] = [
  both('sni', '--sni <name>', TLS_TRUST_HELP.sni, str),
  both('alpn', '--alpn <list>', 'ALPN protocols to offer, comma-separated, e.g. h2,http/1.1', 'stringOrList'),
  both('ca', '--ca <file>', TLS_TRUST_HELP.ca, str),
  both('cert', '--cert <file>', TLS_TRUST_HELP.cert, str),
  both('key', '--key <file>', TLS_TRUST_HELP.key, str),
  both('insecure', '--insecure', TLS_TRUST_HELP.insecure),
  both('minVersion', '--min-version <v>', 'lowest version to offer: TLSv1.2 or TLSv1.3 (default TLSv1.2)', str),
  both('maxVersion', '--max-version <v>', 'highest version to offer: TLSv1.2 or TLSv1.3 (default TLSv1.3)', str),
  both('versions', '--versions', 'also try one handshake pinned to each of TLSv1.2 and TLSv1.3 and report which the server accepts'),
  both('resume', '--resume', "a second handshake per attempt resuming the first one's session (reported as negotiated.resumed)"),
  both(
    'starttls',
    '--starttls <protocol>',
    'upgrade a plaintext connection first: smtp, imap, pop3, postgres, ldap or mysql (its own phase, timed apart)',
    str,
  ),
  both(
    'proxy',
    '--proxy <url>',
    'tunnel through an HTTP CONNECT proxy, http://HOST:PORT; "env": HTTPS_PROXY unless NO_PROXY names the target',
    str,
  ),
  flagOnly(
    'raw',
    '--raw',
    'send a hand-built ClientHello (X25519MLKEM768 and x25519 key shares, GREASE) and report the ServerHello, HelloRetryRequest, alert or silence',
  ),
  flagOnly(
    'groups',
    '--groups',
    'one hand-built ClientHello per group (x25519, secp256r1, …, X25519MLKEM768): which groups the server accepts',
  ),
  flagOnly(
    'largeHello',
    '--large-hello',
    'compare a small ClientHello with one of --hello-size bytes (default 1800, two segments): large-hello-dropped when only the small one is answered',
  ),
  flagOnly(
    'helloSize',
    '--hello-size <bytes>',
    'pad the --raw ClientHello to this many bytes (5-byte record header included; at most 16389)',
  ),
  flagOnly('offerGroups', '--offer-groups <list>', 'groups the --raw ClientHello offers, in order (and the groups --groups tries)'),
  flagOnly('keyShares', '--key-shares <list>', 'groups the --raw ClientHello sends key shares for (each among the offered groups)'),
  flagOnly('grease', '--no-grease', 'no GREASE values in the hand-built ClientHello'),
];

/** A tls check's settings (CheckSpec.tls): PEM contents read when the config is loaded. */
export interface TlsCheckSettings {
  sni?: string;
  alpn?: string[];
  /** PEM contents, read when the config is loaded (paths are relative to the config file). */
  ca?: string;
  cert?: string;
  key?: string;
  insecure: boolean;
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  versions: boolean;
  resume: boolean;
  /** The plaintext upgrade before the handshake. */
  starttls?: StarttlsProtocol;
  /** An HTTP CONNECT proxy URL (http://HOST:PORT) to tunnel through. */
  proxy?: string;
}

type Err = (path: (string | number)[], message: string, key?: boolean) => void;

/** A PEM file a check names (relative to the config file), read at load time; undefined and a problem at the key when it is not one. */
export function checkPem(raw: Record<string, unknown>, key: 'ca' | 'cert' | 'key', err: Err, baseDir: string): string | undefined {
  const p = raw[key] as string | undefined;
  if (p === undefined) return undefined;
  const kind = key === 'key' ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/ : /-----BEGIN CERTIFICATE-----/;
  const what = key === 'key' ? 'private key' : 'certificate';
  const path = resolvePath(baseDir, p);
  let text: string;
  try {
    text = readInputTextSync(path, key === 'ca' ? 'ca' : 'pem', `"${p}" (${path})`).toString();
  } catch (e) {
    err([key], (e as Error).message.replace(/ "[^"]*"(?=: )/, ''));
    return undefined;
  }
  if (!kind.test(text)) {
    err([key], `"${p}" holds no PEM ${what}`);
    return undefined;
  }
  return text;
}

/** A PEM file a flag names (--ca, --cert, --key), as `conndx tls` reads it: bad input when it holds no PEM of that kind. */
export function readPemFlag(file: string, flag: '--ca' | '--cert' | '--key'): string {
  const text = readInputTextSync(file, flag === '--ca' ? 'ca' : 'pem', flag);
  const key = flag === '--key';
  const ok = key ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) : /-----BEGIN CERTIFICATE-----/.test(text);
  if (!ok) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${file}": no PEM ${key ? 'private key' : 'certificate'} in it`);
  return text;
}

/** The ca/cert/key of a check as one TLS context would take them; a problem at the key that made it unusable. */
export function checkTrust(raw: Record<string, unknown>, t: { ca?: string; cert?: string; key?: string }, err: Err): void {
  if ((raw.cert === undefined) !== (raw.key === undefined))
    err([raw.cert === undefined ? 'key' : 'cert'], 'cert and key go together: give both for a client certificate', true);
  else if (t.ca || t.cert) {
    try {
      createSecureContext({ ca: t.ca, cert: t.cert, key: t.key });
    } catch (e) {
      err([t.cert ? 'cert' : 'ca'], `unusable ca/cert/key: ${(e as { reason?: string }).reason ?? (e as Error).message.split('\n')[0]}`);
    }
  }
}

function tlsCheckSettings(raw: Record<string, unknown>, err: Err, ctx: CheckReadContext): TlsCheckSettings {
  const target = ctx.target;
  const t: TlsCheckSettings = { insecure: raw.insecure === true, versions: raw.versions === true, resume: raw.resume === true };
  const sni = raw.sni as string | undefined;
  if (sni !== undefined) {
    if (isValidHostName(sni)) t.sni = sni;
    else err(['sni'], `bad sni "${sni}": not a host name`);
  }
  const alpn = raw.alpn as string | string[] | undefined;
  if (alpn !== undefined) {
    const list = (Array.isArray(alpn) ? alpn : alpn.split(',')).map((s) => s.trim()).filter(Boolean);
    if (list.length === 0 || list.some((p) => Buffer.byteLength(p) > 255))
      err(['alpn'], 'give 1 to 255-byte protocol names, e.g. [h2, http/1.1]');
    else t.alpn = list;
  }
  const ver = (key: 'minVersion' | 'maxVersion'): TlsVersion | undefined => {
    const v = raw[key] as string | undefined;
    if (v === undefined) return undefined;
    const p = parseTlsVersion(String(v)) ?? undefined;
    if (!p) err([key], `bad ${key} "${v}": use TLSv1.2 or TLSv1.3`);
    return p;
  };
  const starttls = raw.starttls as string | undefined;
  if (starttls !== undefined) {
    const p = parseStarttls(starttls);
    if (!p) err(['starttls'], `bad starttls "${starttls}": use one of ${STARTTLS_PROTOCOLS.join(', ')}`);
    else {
      t.starttls = p;
      // The tls default port (443) is no STARTTLS port: the target names its own.
      try {
        parseHostPort(target, undefined);
      } catch {
        err(['tls'], `with starttls, give the port: e.g. ${target}:${STARTTLS_DEFAULT_PORTS[p]}`);
      }
    }
  }
  const proxy = raw.proxy as string | undefined;
  if (proxy !== undefined) {
    const u = parseProxyUrl(proxy);
    if ('error' in u) err(['proxy'], `bad proxy "${proxy.replace(/\/\/[^@/]*@/, '//…@')}": ${u.error}`);
    else t.proxy = proxy;
  }
  t.minVersion = ver('minVersion');
  t.maxVersion = ver('maxVersion');
  if (t.minVersion && t.maxVersion && t.minVersion > t.maxVersion)
    err(['minVersion'], `${t.minVersion} is above maxVersion ${t.maxVersion}`);
  t.ca = checkPem(raw, 'ca', err, ctx.baseDir);
  t.cert = checkPem(raw, 'cert', err, ctx.baseDir);
  t.key = checkPem(raw, 'key', err, ctx.baseDir);
  checkTrust(raw, t, err);
  return t;
}

const TLS_HELP = `
Examples:
  conndx tls api.example.com:443 --count 20
  conndx tls 10.0.0.5:443 --sni api.example.com --alpn h2,http/1.1 --versions
  conndx tls vip:8443 --ca internal-ca.pem --count 2000 --concurrency 500
  conndx tls mtls.internal:443 --cert client.pem --key client.key --resume
  conndx tls api.example.com:443 --raw --groups --large-hello
  conndx tls mail.example.com:587 --starttls smtp
  conndx tls db.example.com --starttls postgres --ca db-ca.pem
  conndx tls api.example.com:443 --proxy http://proxy.example.com:3128

Latency: "tls handshake" is ClientHello sent to handshake complete; "tcp connect" (SYN to established),
         "starttls" (the plaintext upgrade) and the proxy's connect and CONNECT answer are apart.
Outcomes: ok alert:<name> reset closed timeout cert-expired cert-not-yet-valid cert-hostname-mismatch
          cert-untrusted cert-chain-incomplete not-tls protocol-error error tcp:<tcp outcome>
          starttls-not-offered starttls-refused starttls-timeout starttls-closed starttls-reset starttls-protocol-error
          proxy-refused proxy-timeout proxy-unreachable proxy-error (connect to the proxy)
          proxy-denied proxy-answer-timeout proxy-closed proxy-reset proxy-protocol-error (its answer to CONNECT)`;

export const tlsKind: ProbeKind<TlsKindSettings> = {
  name: 'tls',
  options: TLS_OPTIONS,
  command: {
    summary: 'TLS handshakes: negotiated version, cipher, group, ALPN, certificate facts, and why a handshake fails',
    usage: '<host:port...>',
    description:
      'TLS handshakes: TCP connect and handshake times apart, what was negotiated, the certificate chain, and why a handshake fails',
    argument: ['<targets...>', 'host:port (port 443 when left out)'],
    helpAfter: () => TLS_HELP,
  },
  // The proxy is resolved before the plan (src/checks/plans.ts): no planSettings.
  check: { settings: (_v, err, ctx) => tlsCheckSettings(_v, err, ctx), overTls: () => true },
  timingPhases: [['tcp', 'tcpConnectMs']],
  planWords: (c) => {
    const t = c as TlsCheckSettings;
    const w: string[] = [];
    if (t.sni) w.push(`sni ${t.sni}`);
    if (t.alpn) w.push(`alpn ${t.alpn.join(',')}`);
    if (t.ca) w.push('own CA');
    if (t.cert) w.push('client certificate');
    if (t.insecure) w.push('insecure');
    if (t.minVersion) w.push(`min ${t.minVersion}`);
    if (t.maxVersion) w.push(`max ${t.maxVersion}`);
    if (t.versions) w.push('versions');
    if (t.resume) w.push('resume');
    if (t.starttls) w.push(`starttls ${t.starttls}`);
    // Without any credentials the URL carries.
    if (t.proxy) w.push(`proxy ${t.proxy.replace(/\/\/[^@/]*@/, '//')}`);
    return w;
  },
  phase: 'tls',
  defaultPort: TLS_DEFAULT_PORT,
  // TLS alerts (alert:<name>) are open-ended: they appear when first seen.
  outcomes: [...TLS_OUTCOMES, ...TCP_OUTCOMES.filter((o) => o !== 'ok').map((o) => `tcp:${o}`), ...ENGINE_OUTCOMES],
  // tcp:*, and the phases before the handshake: proxy-*, starttls-* (core/types.ts tlsOutcomePhase).
  phaseOfOutcome: tlsOutcomePhase,
  summary: () => summary,
  plan(s, resolved: ResolvedTarget[], env = {}) {
    const targets: TargetRef<TlsTarget>[] = resolved.map((t) => ({
      key: t.key,
      target: {
        key: t.key,
        host: t.address,
        port: t.port,
        serverName: serverNameOf(t, s.sni),
        ...(s.proxies?.get(t.key) ? { proxy: s.proxies.get(t.key)! } : {}),
      },
    }));
    const plan: ProbePlan<TlsTarget> = {
      probe: 'tls',
      targets,
      fn: createTlsProbe(s.probe),
      // Handshakes are CPU-bound: worker threads rebuild the same probe from these options.
      worker: { module: 'probes/tls.js', factory: 'createTlsProbe', args: s.probe },
      fdsPerAttempt: 1,
      decorate: async (res) => {
        putLookups(res, resolved);
        if (!s.versions) return;
        const by = res.byTarget as Record<string, ProbeResult> | undefined;
        for (const t of targets) {
          const v: Record<TlsVersion, string> = await probeTlsVersions(t.target, s.probe, env.signal ?? new AbortController().signal);
          if (by?.[t.key]) by[t.key]!.versions = v;
          if (targets.length === 1) res.versions = v;
        }
      },
    };
    return Promise.resolve({
      plan: plan as ProbePlan<unknown>,
      engineTimeoutMs: tlsAttemptAllowanceMs(s.probe.timeoutMs, s.probe.resume),
      close: () => {},
    });
  },
};
