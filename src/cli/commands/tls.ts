import type { Command } from 'commander';
import { readInputTextSync } from '../../input.js';
import { createSecureContext } from 'node:tls';
import { ConndxError } from '../../errors.js';
import { parseTlsVersion as parseVersion } from '../../core/tls.js';
import type { ProbeResult } from '../../engine/summary.js';
import { fmtMs } from '../../report/format.js';
import { CERT_WARN_DAYS, type CertificateFacts } from '../../probes/cert.js';
import { resolveHost } from '../../probes/resolve.js';
import {
  createTlsProbe,
  probeTlsVersions,
  TLS_DEFAULT_PORT,
  tlsAttemptAllowanceMs,
  TLS_VERSIONS,
  type CertProblem,
  type Negotiated,
  type TlsProbeOptions,
  type TlsTarget,
  type TlsVersion,
} from '../../probes/tls.js';
import type { TargetRef } from '../../core/types.js';
import type { CliContext } from '../context.js';
import { isValidHostName } from '../../parse.js';
import { parseTargetList } from '../targets.js';
import { addProbeOptions, parseProbeOptions, type ProbeRunOptions } from '../probe-options.js';
import { runProbeCommand } from '../run-probe.js';
import { reportUnresolved } from '../unresolved.js';
import { proxyFlag, starttlsFlag } from '../tls-path.js';
import { STARTTLS_DEFAULT_PORTS } from '../../probes/starttls.js';
import type { Resolved } from '../../probes/resolve.js';
import { isIP } from 'node:net';

/** "TLSv1.3", "tlsv1.3", "1.3", "TLS1.3" → "TLSv1.3". */
export function parseTlsVersion(text: string, flag: string): TlsVersion {
  const v = parseVersion(String(text));
  if (!v) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${text}": use TLSv1.2 or TLSv1.3`);
  return v;
}

/** "h2,http/1.1" → ["h2", "http/1.1"] (RFC 7301 section 3.1: 1 to 255 bytes each). */
export function parseAlpn(text: string): string[] {
  const list = String(text)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0)
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --alpn "${text}": give protocols separated by commas, e.g. h2,http/1.1`);
  for (const p of list) {
    if (Buffer.byteLength(p) > 255)
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --alpn protocol "${p.slice(0, 20)}…": longer than 255 bytes`);
  }
  return list;
}

function readPem(file: string, flag: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  const text = readInputTextSync(file, flag === '--ca' ? 'ca' : 'pem', flag);
  const ok = kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/.test(text) : /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
  if (!ok) throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${file}": no PEM ${kind.toLowerCase()} in it`);
  return text;
}

/** Builds the probe options from flags, checking every file and value up front. */
export function tlsOptionsFrom(o: Record<string, unknown>, run: ProbeRunOptions): TlsProbeOptions {
  const opts: TlsProbeOptions = { timeoutMs: run.timeoutMs, insecure: Boolean(o.insecure), resume: Boolean(o.resume) };
  if (run.family) opts.family = run.family;
  if (o.alpn !== undefined) opts.alpn = parseAlpn(String(o.alpn));
  const starttls = starttlsFlag(o.starttls);
  if (starttls) opts.starttls = starttls;
  if (o.minVersion !== undefined) opts.minVersion = parseTlsVersion(String(o.minVersion), '--min-version');
  if (o.maxVersion !== undefined) opts.maxVersion = parseTlsVersion(String(o.maxVersion), '--max-version');
  if (opts.minVersion && opts.maxVersion && opts.minVersion > opts.maxVersion) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `--min-version ${opts.minVersion} is above --max-version ${opts.maxVersion}`);
  }
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '--cert and --key go together: give both for a client certificate');
  }
  if (o.ca !== undefined) opts.ca = readPem(String(o.ca), '--ca', 'CERTIFICATE');
  if (o.cert !== undefined) {
    opts.cert = readPem(String(o.cert), '--cert', 'CERTIFICATE');
    opts.key = readPem(String(o.key), '--key', 'PRIVATE KEY');
  }
  try {
    createSecureContext({ ca: opts.ca, cert: opts.cert, key: opts.key });
  } catch (e) {
    const reason = (e as { reason?: string }).reason ?? (e as Error).message.split('\n')[0];
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `unusable --ca/--cert/--key: ${reason}`);
  }
  return opts;
}

function describe(run: ProbeRunOptions): string {
  const parts: string[] = [];
  if (run.durationMs !== undefined) parts.push(`for ${fmtSeconds(run.durationMs)}`);
  if (run.count !== undefined) parts.push(`count ${run.count}`);
  if (run.rate !== undefined) parts.push(`rate ${run.rate}/s`);
  parts.push(`concurrency ${run.concurrency}`, `timeout ${fmtSeconds(run.timeoutMs)}`);
  return parts.join(', ');
}

const fmtSeconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : ms < 1000 ? `${ms}ms` : `${ms / 1000}s`);
const yesNo = (b: unknown) => (b ? 'yes' : 'no');

/** The summary lines of the TLS facts in a result (negotiated, certificate, versions). */
export function tlsSummaryLines(r: ProbeResult, c: CliContext['c']): string[] {
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
    const days =
      cert.daysLeft < 0
        ? c.red(`expired ${-cert.daysLeft} days ago`)
        : cert.daysLeft < CERT_WARN_DAYS
          ? c.yellow(`${cert.daysLeft} days left`)
          : `${cert.daysLeft} days left`;
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
        const left =
          x.daysLeft < 0
            ? c.red(`expired ${-x.daysLeft} days ago`)
            : x.daysLeft < CERT_WARN_DAYS
              ? c.yellow(`${x.daysLeft} days left`)
              : `${x.daysLeft} days left`;
        out.push(`    ${i} ${x.subject}  (${x.source === 'sent' ? 'sent' : 'from the trust store'})`);
        out.push(`      issuer ${x.issuer}, ${left}, key ${x.key ?? '-'}`);
        out.push(`      sha256 ${x.fingerprint256}`);
      });
    }
  }
  const problem = r.certProblem as CertProblem | undefined;
  if (problem && r.succeeded > 0) out.push(c.yellow(`certificate problem (not failed: --insecure): ${problem.outcome} (${problem.cause})`));
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

export function registerTls(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('tls')
    .description(
      'TLS handshakes: TCP connect and handshake times apart, what was negotiated, the certificate chain, and why a handshake fails',
    )
    .argument('<targets...>', 'host:port (port 443 when left out)')
    .option(
      '--sni <name>',
      'server name to send (SNI) and to check the certificate against (default: the target name; none for an address)',
    )
    .option('--alpn <list>', 'ALPN protocols to offer, comma-separated, e.g. h2,http/1.1')
    .option('--ca <file>', 'trust exactly the CA certificates in this PEM file instead of the default roots (at most 4 MiB)')
    .option('--cert <file>', 'client certificate (PEM, with its chain) for servers that require one')
    .option('--key <file>', 'private key of --cert (PEM)')
    .option('--insecure', 'report certificate problems but do not fail on them')
    .option('--min-version <v>', 'lowest version to offer: TLSv1.2 or TLSv1.3 (default TLSv1.2)')
    .option('--max-version <v>', 'highest version to offer: TLSv1.2 or TLSv1.3 (default TLSv1.3)')
    .option('--versions', 'also try one handshake pinned to each of TLSv1.2 and TLSv1.3 and report which the server accepts')
    .option('--resume', "a second handshake per attempt resuming the first one's session (reported as negotiated.resumed)")
    .option(
      '--starttls <protocol>',
      'upgrade a plaintext connection first: smtp, imap, pop3, postgres, ldap or mysql (its own phase, timed apart)',
    )
    .option('--proxy <url>', 'tunnel through an HTTP CONNECT proxy, http://HOST:PORT; "env": HTTPS_PROXY unless NO_PROXY names the target');
  addProbeOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  conndx tls api.example.com:443 --count 20
  conndx tls 10.0.0.5:443 --sni api.example.com --alpn h2,http/1.1 --versions
  conndx tls vip:8443 --ca internal-ca.pem --count 2000 --concurrency 500
  conndx tls mtls.internal:443 --cert client.pem --key client.key --resume
  conndx tls mail.example.com:587 --starttls smtp
  conndx tls db.example.com --starttls postgres --ca db-ca.pem
  conndx tls api.example.com:443 --proxy http://proxy.example.com:3128

Latency: "tls handshake" is ClientHello sent to handshake complete; "tcp connect" (SYN to established),
         "starttls" (the plaintext upgrade) and the proxy's connect and CONNECT answer are apart.
Outcomes: ok alert:<name> reset closed timeout cert-expired cert-not-yet-valid cert-hostname-mismatch
          cert-untrusted cert-chain-incomplete error tcp:<tcp outcome>
          starttls-not-offered starttls-refused starttls-timeout starttls-closed starttls-reset starttls-protocol-error
          proxy-refused proxy-timeout proxy-unreachable proxy-error (connect to the proxy)
          proxy-denied proxy-answer-timeout proxy-closed proxy-reset proxy-protocol-error (its answer to CONNECT)`,
  );
  cmd.action(async (args: string[], o: Record<string, unknown>) => {
    const run = parseProbeOptions(o);
    const popts = tlsOptionsFrom(o, run);
    if (o.sni !== undefined && !isValidHostName(String(o.sni))) {
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --sni "${String(o.sni)}": not a host name`);
    }
    const proxy = proxyFlag(o.proxy, run.family, ctx.env);
    const { raw: rawTargets, hps: parsed } = await parseTargetList(args, {
      defaultPort: popts.starttls ? STARTTLS_DEFAULT_PORTS[popts.starttls] : TLS_DEFAULT_PORT,
      family: run.family,
      stdin: ctx.stdin,
    });

    // Through a proxy the proxy resolves the name (CONNECT names it as written).
    const proxies = await Promise.all(parsed.map((hp) => proxy?.forTarget(hp.host, hp.port)));
    // Resolve each name once, before the run (as `conndx tcp` does); the lookup time is reported apart.
    const resolved = await Promise.all(
      parsed.map((hp, i): Promise<Resolved> | Resolved =>
        proxies[i]
          ? { ok: true, address: hp.host, family: isIP(hp.host) === 6 ? 6 : 4, lookupMs: null, addresses: [hp.host] }
          : resolveHost(hp.host, run.family),
      ),
    );
    // A name that does not resolve is a finding about that target: the others are still probed.
    const { unresolved, done } = await reportUnresolved(
      ctx,
      'tls',
      parsed.map((hp) => hp.raw),
      resolved,
      rawTargets.join(' '),
      run.json,
    );
    if (done) return;
    const targets: TargetRef<TlsTarget>[] = [];
    const lookupMs = new Map<string, number>();
    const headerLines: string[] = [];
    parsed.forEach((hp, i) => {
      const r = resolved[i]!;
      if (!r.ok) return;
      if (r.lookupMs !== null) {
        lookupMs.set(hp.raw, r.lookupMs);
        headerLines.push(`  ${hp.raw}: resolved to ${r.address} in ${fmtMs(r.lookupMs)} ms (not counted in the connect time)`);
      }
      const serverName = o.sni !== undefined ? String(o.sni) : hp.family === 0 ? hp.host : undefined;
      const via = proxies[i];
      targets.push({ key: hp.raw, target: { key: hp.raw, host: r.address, port: hp.port, serverName, ...(via ? { proxy: via } : {}) } });
    });

    const versions = new Map<string, Record<TlsVersion, string>>();
    if (o.versions) {
      for (const t of targets) versions.set(t.key, await probeTlsVersions(t.target, popts, ctx.stop));
    }

    const sni = targets[0]!.target.serverName;
    await runProbeCommand(ctx, {
      probe: 'tls',
      label: rawTargets.join(' '),
      leftOut: unresolved,
      targets,
      fn: createTlsProbe(popts),
      // Handshakes are CPU-bound: worker threads rebuild the same probe from these options.
      worker: { module: 'probes/tls.js', factory: 'createTlsProbe', args: popts },
      fdsPerAttempt: 1,
      opts: run,
      engineTimeoutMs: tlsAttemptAllowanceMs(run.timeoutMs, popts.resume),
      header: [
        `CONNDX TLS ${rawTargets.join(' ')}${sni ? ` sni=${sni}` : ''}${popts.alpn ? ` alpn=${popts.alpn.join(',')}` : ''}` +
          `${popts.starttls ? ` starttls=${popts.starttls}` : ''}${proxies[0] ? ` proxy=${proxies[0].url}` : ''} (${describe(run)})`,
        ...headerLines,
      ].join('\n'),
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
        if (tun !== undefined) parts.push(`CONNECT ${d.proxyStatus ?? ''} ${fmtMs(tun)} ms`);
        const st = r.timings?.starttlsMs;
        if (st !== undefined) parts.push(`starttls ${fmtMs(st)} ms`);
        return parts.join(' ');
      },
      summary: {
        phaseLabel: 'tls handshake',
        timingRows: [
          ['proxyConnectMs', 'proxy connect'],
          ['tunnelMs', 'proxy CONNECT'],
          ['tcpConnectMs', 'tcp connect'],
          ['starttlsMs', 'starttls'],
          ['resumeHandshakeMs', 'tls resumed'],
        ],
        extra: (r) => tlsSummaryLines(r, ctx.c),
      },
      decorate: (res) => {
        const by = res.byTarget as Record<string, ProbeResult> | undefined;
        const put = (r: ProbeResult, key: string) => {
          const l = lookupMs.get(key);
          if (l !== undefined) r.lookupMs = Math.round(l * 1000) / 1000;
          const v = versions.get(key);
          if (v) r.versions = v;
        };
        if (by && Object.keys(by).length > 1) for (const [k, r] of Object.entries(by)) put(r, k);
        else put(res, targets[0]!.key);
      },
      warnings: tlsWarnings,
    });
  });
  return cmd;
}
