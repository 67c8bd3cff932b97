import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { conndxVersion } from '../../core/meta.js';
import { ENGINE_OUTCOMES, type ProbePlan, type ProbeResult, type TargetRef } from '../../core/types.js';
import { ConndxError } from '../../errors.js';
import { isValidHostName, parseStatusRanges, type HostPort } from '../../parse.js';
import { createHttpProbe, type HttpProbeOptions, type HttpProtocolChoice, type HttpTarget, type StatusRanges } from '../http.js';
import { checkPem, checkTrust, readPemFlag, TLS_TRUST_HELP } from './tls.js';
import type { KindOption, KindSummary, ProbeKind, ResolvedTarget } from './kind.js';

/** What an http plan is built from: `conndx http` flags, an http check, diagnose's request phase (after tcp and tls). */
export interface HttpKindSettings extends HttpProbeOptions {
  /** TLS and path of a target that is no URL (diagnose's targets are addresses; a URL target names its own). */
  tls: boolean;
  /** SNI for every target (default: the target's name; none for an address). */
  sni?: string;
  /** Path and query of the GET. */
  path: string;
}

/** The port of an http:// or https:// URL without one. */
export const URL_DEFAULT_PORTS = { http: 80, https: 443 } as const;

/** The Host header of a target: the name (IPv6 literals bracketed), with the port unless it is the scheme's own. */
export function hostHeaderOf(t: Pick<ResolvedTarget, 'host' | 'hostFamily' | 'port'>, tls: boolean): string {
  const defaultPort = URL_DEFAULT_PORTS[tls ? 'https' : 'http'];
  return (t.hostFamily === 6 ? `[${t.host}]` : t.host) + (t.port === defaultPort ? '' : `:${t.port}`);
}

/** An http:// or https:// URL of `conndx http` or an http check: host, port, TLS, path. */
export interface HttpUrl extends HostPort {
  tls: boolean;
  path: string;
}

/** "https://api.example.com/healthz?x=1", "http://[::1]:8080/" → its parts; anything else is a bad target (exit 3). */
export function parseHttpUrl(raw: string): HttpUrl {
  const text = String(raw).trim();
  const bad = (why: string) => new ConndxError('CONNDX_BAD_TARGET', `bad target "${text}": ${why}`);
  // The URL parser drops tabs and newlines silently: a URL holding one (or a space) is refused, not changed.
  if (/[\s\x00-\x1f\x7f]/.test(text)) throw bad('a URL holds no spaces or control characters (percent-encode them)');
  const m = /^(https?):\/\//i.exec(text);
  if (!m) throw bad('give an http:// or https:// URL, e.g. https://api.example.com/healthz');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('not a URL');
  }
  if (u.username || u.password) throw bad('credentials in the URL are not sent; leave them out');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(host) as 0 | 4 | 6;
  if (!family && !isValidHostName(host)) throw bad(`"${host}" is not a host name or address`);
  const tls = m[1]!.toLowerCase() === 'https';
  const port = u.port ? Number(u.port) : URL_DEFAULT_PORTS[tls ? 'https' : 'http'];
  return { raw: text, host, family, port, tls, path: `${u.pathname || '/'}${u.search}` };
}

/** A URL target's own TLS and path; a target that is no URL takes the settings'. */
function requestOf(key: string, s: Pick<HttpKindSettings, 'tls' | 'path'>): { tls: boolean; path: string } {
  if (/^https?:\/\//i.test(key)) {
    const u = parseHttpUrl(key);
    return { tls: u.tls, path: u.path };
  }
  return { tls: s.tls, path: s.path };
}

const userAgent = () => `conndx/${conndxVersion()}`;

const borrowed = (field: 'sni' | 'ca' | 'cert' | 'key' | 'insecure', flag: string): KindOption => ({
  field,
  flag,
  help: TLS_TRUST_HELP[field],
  yaml: field,
  type: field === 'insecure' ? 'boolean' : 'string',
  borrowed: true,
});

/** `--expect-status` / `expectStatus:`: "200-299,301", "2xx", 404, [200, 404]. */
function statusRanges(v: unknown, name: string, source: 'cli' | 'yaml'): StatusRanges {
  const text = Array.isArray(v) ? v.map(String).join(',') : String(v);
  if (source === 'cli') return parseStatusRanges(text, name);
  try {
    return parseStatusRanges(text, name);
  } catch (e) {
    throw new Error((e as Error).message);
  }
}

/** The options of `conndx http` and of an http check. */
export const HTTP_OPTIONS: readonly KindOption[] = [
  {
    field: 'expectStatus',
    flag: '--expect-status <list>',
    help: 'HTTP statuses that count as healthy, e.g. 200-299,301 or 2xx (default: below 400; in checks 4xx WARNING, 5xx CRITICAL)',
    yaml: 'expectStatus',
    type: 'statuses',
    parse: statusRanges,
  },
  {
    field: 'http1',
    flag: '--http1.1',
    help: 'speak HTTP/1.1 only (ALPN http/1.1)',
    yaml: 'http1',
    type: 'boolean',
  },
  {
    field: 'http2',
    flag: '--http2',
    help: 'speak HTTP/2 only (ALPN h2; over plain TCP, HTTP/2 with prior knowledge)',
    yaml: 'http2',
    type: 'boolean',
  },
  borrowed('sni', '--sni <name>'),
  borrowed('ca', '--ca <file>'),
  borrowed('cert', '--cert <file>'),
  borrowed('key', '--key <file>'),
  borrowed('insecure', '--insecure'),
];

/** An http check's settings (CheckSpec.http): PEM contents read when the config is loaded. */
export interface HttpCheckSettings {
  expectStatus?: StatusRanges;
  protocol: HttpProtocolChoice;
  sni?: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure: boolean;
}

function protocolOf(v: Record<string, unknown>, both: string): HttpProtocolChoice {
  if (v.http1 === true && v.http2 === true) throw new ConndxError('CONNDX_BAD_ARGUMENT', both);
  return v.http2 === true ? 'h2' : v.http1 === true ? 'http1.1' : 'auto';
}

const PROTOCOL_WORDS: Record<HttpProtocolChoice, string> = {
  auto: 'https: HTTP/2 or HTTP/1.1 by ALPN; http: HTTP/1.1',
  h2: 'HTTP/2 only',
  'http1.1': 'HTTP/1.1 only',
};

const summary: KindSummary = {
  phaseLabel: 'first byte',
  timingRows: [
    ['tcpConnectMs', 'tcp connect'],
    ['tlsHandshakeMs', 'tls handshake'],
  ],
  attemptDetail: (r) => {
    const d = r.detail ?? {};
    return [d.status !== undefined ? `status ${String(d.status)}` : '', d.protocol ? String(d.protocol) : ''].filter(Boolean).join(' ');
  },
  extra: (r: ProbeResult) => {
    const tally = (x: unknown) =>
      Object.entries((x ?? {}) as Record<string, number>)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
    const out: string[] = [];
    if (r.statuses) out.push(`status: ${tally(r.statuses)}`);
    if (r.protocols) out.push(`protocol: ${tally(r.protocols)}`);
    return out;
  },
};

const HTTP_HELP = `
Examples:
  conndx http https://api.example.com/healthz --count 20
  conndx http https://10.0.0.5/ --sni api.example.com --ca internal-ca.pem --http2
  conndx http http://127.0.0.1:8080/status --expect-status 200-299,404

Each attempt is one GET over its own connection: TCP connect, TLS handshake (https), the
request, and the time to the first byte of the answer. The certificate is judged as
conndx tls judges it (--ca, --insecure).
Outcomes: ok (an expected status: below 400 unless --expect-status says), http-<status>, timeout,
          reset, closed, malformed, no-h2 (--http2 and the server's ALPN chose otherwise),
          tcp:<tcp outcome>, tls:<tls outcome> (the connection failed before the request).`;

/**
 * The http kind: `conndx http URL`, `http: URL` checks, and diagnose's
 * request phase (app-level, after tcp and tls). `http-<status>`,
 * `tcp:<outcome>` and `tls:<outcome>` are open-ended.
 */
export const httpKind: ProbeKind<HttpKindSettings> = {
  name: 'http',
  planWords: (c) => {
    const h = c as HttpCheckSettings;
    const w: string[] = [];
    if (h.protocol !== 'auto') w.push(h.protocol === 'h2' ? 'HTTP/2 only' : 'HTTP/1.1 only');
    if (h.expectStatus) w.push(`expect status ${h.expectStatus.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}`);
    if (h.sni) w.push(`sni ${h.sni}`);
    if (h.ca) w.push('own CA');
    if (h.cert) w.push('client certificate');
    if (h.insecure) w.push('insecure');
    return w;
  },
  phase: 'app',
  defaultPort: URL_DEFAULT_PORTS.https,
  outcomes: ['ok', 'timeout', 'reset', 'closed', 'malformed', 'no-h2', ...ENGINE_OUTCOMES],
  phaseOfOutcome: (o) => (o.startsWith('tcp:') ? 'tcp' : o.startsWith('tls:') ? 'tls' : 'app'),
  summary: () => summary,
  options: HTTP_OPTIONS,
  command: {
    description: 'HTTP GETs: status, protocol (HTTP/2 or HTTP/1.1), time to the first byte, TCP and TLS times apart',
    argument: ['<url...>', 'http:// or https:// URLs; @FILE reads one per line, @- from stdin'],
    helpAfter: () => HTTP_HELP,
  },
  timingPhases: [
    ['tcp', 'tcpConnectMs'],
    ['tls', 'tlsHandshakeMs'],
  ],
  generic: {
    parseTarget: parseHttpUrl,
    settings: (v, shared, targets) => {
      if (v.sni !== undefined && !isValidHostName(String(v.sni)))
        throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --sni "${String(v.sni)}": not a host name`);
      if ((v.cert === undefined) !== (v.key === undefined))
        throw new ConndxError('CONNDX_BAD_ARGUMENT', '--cert and --key go together: give both for a client certificate');
      const trust = {
        ca: v.ca === undefined ? undefined : readPemFlag(String(v.ca), '--ca'),
        cert: v.cert === undefined ? undefined : readPemFlag(String(v.cert), '--cert'),
        key: v.key === undefined ? undefined : readPemFlag(String(v.key), '--key'),
      };
      try {
        createSecureContext(trust);
      } catch (e) {
        const reason = (e as { reason?: string }).reason ?? (e as Error).message.split('\n')[0];
        throw new ConndxError('CONNDX_BAD_ARGUMENT', `unusable --ca/--cert/--key: ${reason}`);
      }
      const first = targets[0] as HttpUrl | undefined;
      return {
        tls: first?.tls ?? true,
        path: first?.path ?? '/',
        timeoutMs: shared.timeoutMs,
        userAgent: userAgent(),
        protocol: protocolOf(v, '--http1.1 and --http2 cannot be used together'),
        verify: v.insecure !== true,
        ...(v.sni !== undefined ? { sni: String(v.sni) } : {}),
        ...(v.expectStatus ? { expectStatus: v.expectStatus as StatusRanges } : {}),
        ...(trust.ca ? { ca: trust.ca } : {}),
        ...(trust.cert ? { cert: trust.cert, key: trust.key } : {}),
      };
    },
    describe: (s, pacing) => [PROTOCOL_WORDS[s.protocol ?? 'auto'], ...(s.sni ? [`sni ${s.sni}`] : []), pacing].join(', '),
  },
  check: {
    settings: (v, err, ctx): HttpCheckSettings => {
      let protocol: HttpProtocolChoice = 'auto';
      try {
        protocol = protocolOf(v, 'http1 and http2 cannot be used together: give one');
      } catch (e) {
        err(['http2'], (e as Error).message);
      }
      const out: HttpCheckSettings = { protocol, insecure: v.insecure === true };
      if (v.sni !== undefined) {
        if (isValidHostName(String(v.sni))) out.sni = String(v.sni);
        else err(['sni'], `bad sni "${String(v.sni)}": not a host name`);
      }
      if (v.expectStatus) out.expectStatus = v.expectStatus as StatusRanges;
      const raw = v;
      out.ca = checkPem(raw, 'ca', err, ctx.baseDir);
      out.cert = checkPem(raw, 'cert', err, ctx.baseDir);
      out.key = checkPem(raw, 'key', err, ctx.baseDir);
      checkTrust(raw, out, err);
      return out;
    },
    planSettings: (c, shared) => {
      const h = c as HttpCheckSettings;
      return {
        tls: true,
        path: '/',
        timeoutMs: shared.timeoutMs,
        userAgent: userAgent(),
        protocol: h.protocol,
        verify: !h.insecure,
        ...(h.sni ? { sni: h.sni } : {}),
        ...(h.expectStatus ? { expectStatus: h.expectStatus } : {}),
        ...(h.ca ? { ca: h.ca } : {}),
        ...(h.cert ? { cert: h.cert, key: h.key } : {}),
      };
    },
    // A client error (4xx) says the server works and the URL or the request is wrong: degraded, as diagnose says it.
    degradedOutcome: (o) => /^http-4\d\d$/.test(o),
    overTls: (_c, target) => /^https:/i.test(target),
    gauges: [
      {
        name: 'probe_http_status_code',
        help: 'The HTTP status most answers of the latest run had (0: no answer)',
        value: (r) => {
          const st = Object.entries((r.statuses ?? {}) as Record<string, number>).sort((a, b) => b[1] - a[1])[0];
          return st ? Number(st[0]) : 0;
        },
      },
      {
        name: 'probe_http_version',
        help: 'The HTTP version most answers of the latest run came over: 1.1 or 2 (0: no answer)',
        value: (r) => {
          const p = Object.entries((r.protocols ?? {}) as Record<string, number>).sort((a, b) => b[1] - a[1])[0];
          return !p ? 0 : p[0] === 'h2' ? 2 : 1.1;
        },
      },
    ],
  },
  plan(s, resolved) {
    const { tls: _tls, sni, path: _path, ...probe } = s;
    const targets: TargetRef<HttpTarget>[] = resolved.map((t) => {
      const req = requestOf(t.key, s);
      return {
        key: t.key,
        target: {
          address: t.address,
          port: t.port,
          tls: req.tls,
          serverName: sni ?? (t.hostFamily === 0 ? t.host : undefined),
          hostHeader: hostHeaderOf(t, req.tls),
          path: req.path,
        },
      };
    });
    const plan: ProbePlan<HttpTarget> = { probe: 'http', targets, fn: createHttpProbe(probe), fdsPerAttempt: 1 };
    return Promise.resolve({ plan: plan as ProbePlan<unknown>, engineTimeoutMs: s.timeoutMs, close: () => {} });
  },
};
