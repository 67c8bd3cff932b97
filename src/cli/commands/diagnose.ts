import { Option, type Command } from 'commander';
import { URL_DEFAULT_PORTS } from '../../probes/kinds/http.js';
import { PROBERS } from '../../probes/registry.js';
import { checkWritablePath, writeFileAtomic } from '../../output.js';
import { safeUrlText } from '../../core/secrets.js';
import { diagnoseScrubber } from '../diagnose-scrub.js';
import { escapeControl, hasControl } from '../../shell.js';
import { readInputTextSync } from '../../input.js';
import { isIP } from 'node:net';
import { extname } from 'node:path';
import { ConndxError } from '../../errors.js';
import { runDiagnosis, type CaptureHooks, type DiagnoseResult } from '../../diagnose/chain.js';
import { tcpdumpCapture } from '../../diagnose/capture.js';
import { parseHosts, parseResolvConf } from '../../probes/resolv-conf.js';
import type { DiagnoseTarget } from '../../diagnose/target.js';
import type { DnsServer } from '../../probes/dns.js';
import { renderDiagnose } from '../../report/diagnose-terminal.js';
import { renderDiagnoseHtml } from '../../report/html.js';
import { renderDiagnoseMarkdown } from '../../report/markdown.js';
import { write, warn, type CliContext } from '../context.js';
import { DURATION_MAX_MS, isValidHostName, parseDuration, parseHostPort, parseStatusRanges } from '../../parse.js';
import { addProbeOptions, parseProbeOptions } from '../probe-options.js';
import { tlsOptionsFrom } from './tls.js';
import { proxyFlag } from '../tls-path.js';
import type { ProxyConfig } from '../../probes/proxy.js';
import { STARTTLS_DEFAULT_PORTS, STARTTLS_SCHEMES } from '../../probes/starttls.js';
import { DOH_PATH, parseResolverTarget, resolverQueryOf } from '../diagnose-resolver.js';

/** "https://api.example.com/healthz", "db.internal:5432", "[::1]:443", "api.example.com" (443). */
export function parseDiagnoseTarget(given: string): DiagnoseTarget {
  const text = String(given).trim();
  // What an error line may echo of the target: never its credentials, nor its query string.
  const raw = safeUrlText(text);
  // The URL parser drops tabs and newlines silently; a target holding one is refused, not quietly changed.
  if (hasControl(text)) throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${escapeControl(text)}": it holds a control character`);
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    const starttls = STARTTLS_SCHEMES[scheme];
    if (scheme === 'tls') return parseResolverTarget(text);
    if (scheme !== 'http' && scheme !== 'https' && !starttls) {
      throw new ConndxError(
        'CONNDX_BAD_TARGET',
        `bad target "${raw}": only http:// and https:// URLs, ${Object.keys(STARTTLS_SCHEMES).join(':// ')}:// (STARTTLS) URLs, tls:// (a DoT resolver), or host:port`,
      );
    }
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${raw}": not a URL`);
    }
    if (u.username || u.password)
      throw new ConndxError(
        'CONNDX_BAD_TARGET',
        `bad target "${raw}": credentials in the URL (user:password@) are not sent; leave them out`,
      );
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const family = isIP(host) as 0 | 4 | 6;
    if (!family && !isValidHostName(host))
      throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${raw}": "${host}" is not a host name or address`);
    const port = u.port ? Number(u.port) : starttls ? STARTTLS_DEFAULT_PORTS[starttls] : URL_DEFAULT_PORTS[scheme as 'http' | 'https'];
    if (port < 1 || port > 65535) throw new ConndxError('CONNDX_BAD_TARGET', `bad target "${raw}": port must be 1-65535`);
    // A database or mail URL names a server, not a document: its path (a database name) is not requested.
    if (starttls) return { raw: text, scheme: null, host, family, port, path: null, starttls };
    if (scheme === 'https' && u.pathname === DOH_PATH) return parseResolverTarget(text);
    return { raw: text, scheme: scheme as 'http' | 'https', host, family, port, path: `${u.pathname || '/'}${u.search}` };
  }
  const hp = parseHostPort(text, URL_DEFAULT_PORTS.https);
  return { raw: text, scheme: null, host: hp.host, family: hp.family, port: hp.port, path: null };
}

function readText(file: string, flag: string): string {
  return readInputTextSync(
    file,
    flag === '--hosts' ? 'hosts' : flag === '--resolv-conf' ? 'resolvConf' : flag === '--ca' ? 'ca' : 'pem',
    flag,
  );
}

function toServer(raw: string): DnsServer {
  const hp = parseHostPort(raw, PROBERS.dns.defaultPort);
  if (hp.family === 0)
    throw new ConndxError(
      'CONNDX_BAD_TARGET',
      `bad --server "${raw}": give the resolver's address (a name would need a resolver to find it)`,
    );
  return { key: raw, address: hp.host, port: hp.port };
}

/** `--proxy URL|env` for this target (NO_PROXY applied with env); refused with --capture and for resolver targets. */
async function proxyFor(
  value: unknown,
  target: DiagnoseTarget,
  family: 0 | 4 | 6,
  env: Record<string, string | undefined>,
  capture: boolean,
): Promise<ProxyConfig | undefined> {
  const choice = proxyFlag(value, family, env);
  if (!choice) return undefined;
  if (capture)
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '--capture does not go with --proxy: the packets would be the proxy connection only');
  if (target.resolver)
    throw new ConndxError(
      'CONNDX_BAD_ARGUMENT',
      `--proxy does not apply to a resolver target (${target.raw}): DoT and DoH are asked directly`,
    );
  return choice.forTarget(target.host, target.port);
}

/** The report format from the file name: .md / .markdown or .html / .htm. */
export function reportKind(file: string): 'md' | 'html' {
  const ext = extname(file).toLowerCase();
  if (ext === '.md' || ext === '.markdown') return 'md';
  if (ext === '.html' || ext === '.htm') return 'html';
  throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --report "${file}": the name must end in .md or .html`);
}

export function registerDiagnose(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('diagnose')
    .description('one command for a connection problem: DNS, TCP, TLS and HTTP for every address, a phase waterfall and a verdict')
    .argument('<target>', 'a URL (https://host/path, http://…) or host[:port] (port 443 when left out)')
    .option(
      '-s, --server <host[:port]>',
      'resolver to ask directly (repeatable; default: the nameservers of resolv.conf)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--resolv-conf <file>',
      'read nameservers, search and ndots from this file, and resolve as the stub resolver would instead of calling getaddrinfo (at most 1 MiB)',
    )
    .option('--hosts <file>', 'a hosts(5) file to consult first (implies the emulated stub resolver; at most 1 MiB)')
    .option('--tls', 'negotiate TLS whatever the port (default: https:// or a TLS port such as 443)')
    .option('--no-tls', 'never negotiate TLS')
    .option(
      '--starttls <protocol>',
      'upgrade a plaintext connection before TLS: smtp, imap, pop3, postgres, ldap or mysql (smtp:// and postgres:// URLs do)',
    )
    .option('--http [path]', 'send one HTTP GET (default for http:// and https:// URLs; path default /)')
    .option(
      '--expect-status <list>',
      'HTTP statuses that count as healthy, e.g. 200-299,301 or 2xx (default: below 400; 4xx DEGRADED, 5xx FAILING)',
    )
    .option('--http1.1', 'the HTTP phase speaks HTTP/1.1 only (ALPN http/1.1)')
    .option('--http2', 'the HTTP phase speaks HTTP/2 only (ALPN h2; over plain TCP, HTTP/2 with prior knowledge)')
    .option(
      '--proxy <url>',
      'reach the target through an HTTP CONNECT proxy, http://HOST:PORT ("env": HTTPS_PROXY unless NO_PROXY names the target); the proxy resolves the name',
    )
    .option('--name <name>', 'tls:// or https://…/dns-query resolver targets: the name to ask (default . with --type NS)')
    .option('--type <type>', 'resolver targets: the query type (default NS for the name ., else A)')
    .option('--report <file>', 'also write a report: FILE.md (Markdown for a ticket) or FILE.html (one self-contained page)')
    .option('--redact', 'replace names, addresses, URL paths and query strings by placeholders (host-1, addr-1, /path-1) everywhere')
    .option('--show-query', "show the URL's query string (default: ?…, as it may hold a token)")
    .option('--capture', "capture the diagnosis's own packets with tcpdump (needs root) and add the packet-level evidence")
    .option('--sni <name>', 'server name to send and check the certificate against (default: the target name)')
    .option('--alpn <list>', 'ALPN protocols to offer in the TLS phase, e.g. h2,http/1.1')
    .option('--ca <file>', 'trust exactly the CA certificates in this PEM file (at most 4 MiB)')
    .option('--cert <file>', 'client certificate (PEM)')
    .option('--key <file>', 'private key of --cert (PEM)')
    .option('--insecure', 'report certificate problems but do not fail on them')
    .option('--min-version <v>', 'lowest TLS version to offer (TLSv1.2 or TLSv1.3)')
    .option('--max-version <v>', 'highest TLS version to offer')
    // The DEGRADED thresholds are said where a user reads them, with their defaults.
    .addOption(new Option('--slow-dns <d>', 'DEGRADED when the DNS p99 is above this').default('200ms'))
    .addOption(new Option('--slow-connect <d>', 'DEGRADED when the TCP connect p99 is above this').default('200ms'))
    .addOption(new Option('--slow-tls <d>', 'DEGRADED when the TLS handshake p99 is above this').default('500ms'))
    .addOption(new Option('--slow-first-byte <d>', 'DEGRADED when the HTTP first byte p99 is above this').default('1s'));
  // diagnose runs a fixed count per phase: the load options of the probes are not offered (help tells what it does).
  addProbeOptions(cmd, {}, ['rate', 'duration', 'interval', 'watch', 'adaptive', 'cap', 'workers', 'shard', 'ndjson']);
  cmd.addHelpText(
    'after',
    `
Examples:
  conndx diagnose https://api.example.com/healthz
  conndx diagnose db.internal:5432 --count 10 --report incident-4711.md
  sudo conndx diagnose api.example.com:443 --capture --report out.html
  conndx diagnose 'https://api.example.com/v1/status?key=…' --redact --report for-the-vendor.html
  conndx diagnose api.example.com:443 --server 10.0.0.2 --server 10.0.0.3 --sni api.example.com
  conndx diagnose tls://10.0.0.2:853 --sni dns.example.com     # a DoT resolver: TCP, TLS, then . NS queries
  conndx diagnose https://10.0.0.2/dns-query --name example.com --type A   # a DoH resolver

The name is resolved the way applications do (getaddrinfo: /etc/hosts, nsswitch, search
domains) and by asking each resolver directly; every address it gets (IPv4 and IPv6) is
tried. The verdict names the first phase that fails (else the first that is slow), the
outcome, the evidence and the next checks.

VERDICT OK: every attempt of every phase succeeded, none slow. DEGRADED: some attempts or
addresses fail while others work (one family, one resolver), a 4xx status without
--expect-status, or a phase is slow: p99 above 200 ms for DNS and the TCP connect, 500 ms for
the TLS handshake, 1 s for the first byte (--slow-dns, --slow-connect, --slow-tls,
--slow-first-byte). FAILING: a phase fails on every attempt, or a 5xx status.
Exit codes: 0 every phase healthy, 1 something degraded or failing (a name that does not
resolve included), 3 unusable input.`,
  );
  cmd.action(async (raw: string, o: Record<string, unknown>) => {
    const run = parseProbeOptions(o);
    const target = parseDiagnoseTarget(raw);
    const resolverQuery = resolverQueryOf(target, o, ctx.argv);
    const proxy = await proxyFor(o.proxy, target, run.family, ctx.env, o.capture !== undefined);
    if (target.family && run.family && target.family !== run.family) {
      throw new ConndxError('CONNDX_BAD_TARGET', `${target.host} is an IPv${target.family} address but -${run.family} was given`);
    }
    const tlsOpts = tlsOptionsFrom(o, run);
    if (o.sni !== undefined && !isValidHostName(String(o.sni)))
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --sni "${String(o.sni)}": not a host name`);
    const reportFile = o.report === undefined ? undefined : String(o.report);
    const kind = reportFile ? reportKind(reportFile) : undefined;
    // Checked before the run: a report that cannot be written is known now, not after the diagnosis.
    if (reportFile) checkWritablePath(reportFile, '--report');
    const servers = ((o.server as string[] | undefined) ?? []).map(toServer);
    for (const s of servers) {
      const fam = s.address.includes(':') ? 6 : 4;
      if (run.family && fam !== run.family)
        throw new ConndxError('CONNDX_BAD_TARGET', `--server ${s.key} is IPv${fam} but -${run.family} was given`);
    }
    const emulate = o.resolvConf !== undefined || o.hosts !== undefined;
    const confText =
      o.resolvConf !== undefined
        ? readText(String(o.resolvConf), '--resolv-conf')
        : (() => {
            try {
              return readInputTextSync('/etc/resolv.conf', 'resolvConf', '/etc/resolv.conf');
            } catch {
              return '';
            }
          })();
    const hostsText =
      o.hosts !== undefined
        ? readText(String(o.hosts), '--hosts')
        : emulate
          ? (() => {
              try {
                return readInputTextSync('/etc/hosts', 'hosts', '/etc/hosts');
              } catch {
                return '';
              }
            })()
          : '';
    const resolvConf = parseResolvConf(confText);
    const thresholds = {
      dnsMs: parseDuration(String(o.slowDns), '--slow-dns', { max: DURATION_MAX_MS.threshold }),
      connectMs: parseDuration(String(o.slowConnect), '--slow-connect', { max: DURATION_MAX_MS.threshold }),
      tlsMs: parseDuration(String(o.slowTls), '--slow-tls', { max: DURATION_MAX_MS.threshold }),
      firstByteMs: parseDuration(String(o.slowFirstByte), '--slow-first-byte', { max: DURATION_MAX_MS.threshold }),
    };
    const httpPath = o.http === undefined ? undefined : o.http === true ? '/' : String(o.http);
    if (ctx.argv.includes('--tls') && ctx.argv.includes('--no-tls'))
      throw new ConndxError('CONNDX_BAD_ARGUMENT', '--tls and --no-tls cannot be used together');
    // CR/LF would end the request line and add headers or a second request: refused, as any control character or space.
    if (httpPath !== undefined && (hasControl(httpPath) || /\s/.test(httpPath))) {
      throw new ConndxError(
        'CONNDX_BAD_ARGUMENT',
        `bad --http "${escapeControl(httpPath)}": a path holds no spaces or control characters (percent-encode them)`,
      );
    }
    if (o.sni !== undefined && (hasControl(String(o.sni)) || /\s/.test(String(o.sni)))) {
      throw new ConndxError(
        'CONNDX_BAD_ARGUMENT',
        `bad --sni "${escapeControl(String(o.sni))}": a server name holds no spaces or control characters`,
      );
    }
    if (o['http1.1'] && o.http2) throw new ConndxError('CONNDX_BAD_ARGUMENT', '--http1.1 and --http2 cannot be used together');
    const httpProtocol = o.http2 ? 'h2' : o['http1.1'] ? 'http1.1' : 'auto';
    if (httpPath !== undefined && !httpPath.startsWith('/'))
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --http "${httpPath}": a path starts with /`);

    const scrub = diagnoseScrubber({
      target,
      httpPath,
      sni: o.sni,
      servers: servers.map((s) => s.key),
      showQuery: Boolean(o.showQuery),
      redact: Boolean(o.redact),
    });
    const progress = ctx.stderr.isTTY && !run.json ? (line: string) => ctx.stderr.write(ctx.ce.dim(`… ${scrub.text(line)}\n`)) : undefined;
    const diagnose = (capture?: CaptureHooks) =>
      runDiagnosis({
        target,
        count: run.count ?? 10,
        timeoutMs: run.timeoutMs,
        concurrency: o.concurrency === undefined ? undefined : run.concurrency,
        retries: run.retries,
        breaker: run.breaker,
        family: run.family,
        servers: servers.length ? servers : undefined,
        resolvConf,
        emulate: emulate ? { hosts: parseHosts(hostsText) } : undefined,
        tls: o.tls === undefined ? undefined : Boolean(o.tls),
        tlsOptions: {
          ca: tlsOpts.ca,
          cert: tlsOpts.cert,
          key: tlsOpts.key,
          insecure: tlsOpts.insecure,
          alpn: tlsOpts.alpn,
          minVersion: tlsOpts.minVersion,
          maxVersion: tlsOpts.maxVersion,
          ...(tlsOpts.starttls ? { starttls: tlsOpts.starttls } : {}),
        },
        sni: o.sni === undefined ? undefined : String(o.sni),
        httpPath,
        ...(o.expectStatus !== undefined ? { expectStatus: parseStatusRanges(String(o.expectStatus)) } : {}),
        // The suggested `conndx tls` trusts what this run trusted, or it would report cert-untrusted.
        reproduceTls: [
          ...(o.ca !== undefined ? ['--ca', String(o.ca)] : []),
          ...(o.cert !== undefined ? ['--cert', String(o.cert), '--key', String(o.key)] : []),
          ...(o.insecure ? ['--insecure'] : []),
        ],
        ...(o.resolvConf !== undefined ? { resolvConfFile: String(o.resolvConf) } : {}),
        ...(o.hosts !== undefined ? { hostsFile: String(o.hosts) } : {}),
        // The suggested `sudo conndx diagnose ADDR --capture` resolves, names and trusts as this run did.
        reproduceDiagnose: [
          ...(o.resolvConf !== undefined ? ['--resolv-conf', String(o.resolvConf)] : []),
          ...(o.hosts !== undefined ? ['--hosts', String(o.hosts)] : []),
          ...((o.server as string[] | undefined) ?? []).flatMap((s) => ['--server', s]),
          ...(o.sni !== undefined ? ['--sni', String(o.sni)] : []),
          ...(o.ca !== undefined ? ['--ca', String(o.ca)] : []),
          ...(o.cert !== undefined ? ['--cert', String(o.cert), '--key', String(o.key)] : []),
          ...(o.insecure ? ['--insecure'] : []),
        ],
        httpProtocol,
        ...(resolverQuery ? { resolverQuery } : {}),
        ...(proxy ? { proxy } : {}),
        thresholds,
        signal: ctx.stop,
        argv: ctx.argv,
        onProgress: progress,
        capture,
      });

    const capture = o.capture ? tcpdumpCapture({ pathEnv: ctx.env.PATH ?? '' }) : undefined;
    const found: DiagnoseResult = await diagnose(capture);
    if (o.capture && !found.capture) found.capture = { ok: false, reason: 'nothing was captured: no address to connect to', lines: [] };
    // Every output below (terminal, JSON, report) shows the same scrubbed copy: the query hidden, and with --redact placeholders.
    const result = scrub.result(found);
    if (result.capture && !result.capture.ok) warn(ctx, `--capture: ${result.capture.reason}; the diagnosis went on without packets`);
    ctx.exitCode = result.verdict.status === 'ok' ? 0 : 1;

    // The verdict goes out first: a report that fails to write never costs the verdict.
    if (run.json) await write(ctx.stdout, JSON.stringify(result, null, 2) + '\n');
    else await write(ctx.stdout, renderDiagnose(ctx.c, result, { verbose: run.verbose }));
    if (reportFile) {
      const text = kind === 'md' ? renderDiagnoseMarkdown(result) : renderDiagnoseHtml(result);
      writeFileAtomic(reportFile, text, '--report');
      if (!run.json) await write(ctx.stdout, ctx.c.dim(`report written to ${reportFile}\n`));
    }
  });
  return cmd;
}
