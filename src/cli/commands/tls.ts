import type { Command } from 'commander';
import { readInputTextSync } from '../../input.js';
import { createSecureContext } from 'node:tls';
import { ConndxError } from '../../errors.js';
import { parseTlsVersion as parseVersion } from '../../core/tls.js';
import { resolveTargets } from '../../probes/resolve.js';
import { serverNameOf, tlsKind, tlsSummaryLines, tlsWarnings, type TlsKindSettings } from '../../probes/kinds/tls.js';
import { TLS_DEFAULT_PORT, type TlsProbeOptions, type TlsTarget, type TlsVersion } from '../../probes/tls.js';
import type { TargetRef } from '../../core/types.js';
import type { CliContext } from '../context.js';
import { isValidHostName } from '../../parse.js';
import { parseTargetList } from '../targets.js';
import { describePacing, parseProbeOptions, type ProbeRunOptions } from '../probe-options.js';
import { registerKindCommand } from '../kind-command.js';
import { kindSummaryParts, lookupLines, runProbeCommand, targetsLabel } from '../run-probe.js';
import { reportUnresolved } from '../unresolved.js';
import { rawTlsOptionsFrom, runRawTls, wantsRaw } from '../raw-tls.js';
import { proxyFlag, starttlsFlag } from '../tls-path.js';
import { STARTTLS_DEFAULT_PORTS } from '../../probes/starttls.js';
import type { ProxyConfig } from '../../probes/proxy.js';

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
  const starttls = starttlsFlag(o.starttls);
  if (starttls) opts.starttls = starttls;
  if (o.alpn !== undefined) opts.alpn = parseAlpn(String(o.alpn));
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

export { tlsSummaryLines, tlsWarnings };

export function registerTls(program: Command, ctx: CliContext): Command {
  // Flags, help and description are the tls kind's (src/probes/kinds/tls.ts); the run is its own (proxies, the raw prober).
  return registerKindCommand(program, ctx, tlsKind, async (args, o) => {
    const run = parseProbeOptions(o);
    const popts = tlsOptionsFrom(o, run);
    const raw = wantsRaw(o) ? rawTlsOptionsFrom(o, run, popts) : null;
    if (o.sni !== undefined && !isValidHostName(String(o.sni))) {
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --sni "${String(o.sni)}": not a host name`);
    }
    const proxy = proxyFlag(o.proxy, run.family, ctx.env);
    const { raw: rawTargets, hps: parsed } = await parseTargetList(args as string[], {
      defaultPort: popts.starttls ? STARTTLS_DEFAULT_PORTS[popts.starttls] : TLS_DEFAULT_PORT,
      family: run.family,
      stdin: ctx.stdin,
    });

    // Through a proxy the proxy resolves the name (CONNECT names it as written).
    const proxies = new Map<string, ProxyConfig>();
    for (const hp of parsed) {
      const via = await proxy?.forTarget(hp.host, hp.port);
      if (via) proxies.set(hp.raw, via);
    }
    // Resolve each name once, before the run (as `conndx tcp` does); the lookup time is reported apart.
    const { resolved, targets } = await resolveTargets(parsed, run.family, undefined, { asWritten: (hp) => proxies.has(hp.raw) });
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

    const settings: TlsKindSettings = { probe: popts, versions: Boolean(o.versions) };
    if (o.sni !== undefined) settings.sni = String(o.sni);
    if (proxies.size) settings.proxies = proxies;
    if (raw) {
      // The raw prober builds its own ClientHello: it takes the same targets and SNI, not the plan.
      const rawTargets2: TargetRef<TlsTarget>[] = targets.map((t) => ({
        key: t.key,
        target: { key: t.key, host: t.address, port: t.port, serverName: serverNameOf(t, settings.sni) },
      }));
      return runRawTls(ctx, rawTargets2, raw, rawTargets.join(' '), run.json);
    }
    const built = await tlsKind.plan(settings, targets, { signal: ctx.stop });
    const sni = serverNameOf(targets[0]!, settings.sni);
    await runProbeCommand(ctx, {
      ...built.plan,
      label: rawTargets.join(' '),
      leftOut: unresolved,
      opts: run,
      engineTimeoutMs: built.engineTimeoutMs,
      header: [
        `CONNDX TLS ${targetsLabel(rawTargets)}${sni ? ` sni=${sni}` : ''}${popts.alpn ? ` alpn=${popts.alpn.join(',')}` : ''}` +
          `${popts.starttls ? ` starttls=${popts.starttls}` : ''}${proxies.size ? ` proxy=${[...proxies.values()][0]!.url}` : ''} (${describePacing(run)})`,
        ...lookupLines(targets),
      ].join('\n'),
      ...kindSummaryParts(tlsKind.summary(settings), ctx),
    });
  });
}
