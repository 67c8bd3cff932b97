import type { Command } from 'commander';
import { PROBERS } from '../../probes/registry.js';
import { readInputTextSync } from '../../input.js';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ConndxError } from '../../errors.js';
import { QTYPES } from '../../probes/dns-wire.js';
import { parseResolvConf } from '../../probes/resolv-conf.js';
import type { DnsServer } from '../../probes/dns.js';
import type { CliContext } from '../context.js';
import { parseHostPort, isValidHostName } from '../../parse.js';
import { describePacing, parseProbeOptions } from '../probe-options.js';
import { registerKindCommand } from '../kind-command.js';
import { kindSummaryParts, runProbeCommand, targetsLabel } from '../run-probe.js';
import { dnsKind, type DnsKindSettings } from '../../probes/kinds/dns.js';
import { optionsFromFlags } from '../../probes/kinds/kind.js';
import { exchangeOpener, parseDnsEdnsOptions, parseDnsSecureOptions, parseDnsServers } from '../dns-options.js';

/** Name servers of a resolv.conf text, as `--server` would take them. */
export function resolvConfServers(text: string): string[] {
  return parseResolvConf(text).nameservers.map((n) => n.key);
}

export function parseQtype(text: string): number {
  const t = String(text).toUpperCase();
  if (QTYPES[t] !== undefined) return QTYPES[t]!;
  const m = /^TYPE(\d{1,5})$/.exec(t);
  if (m && Number(m[1]) < 65536) return Number(m[1]);
  throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --type "${text}": use ${Object.keys(QTYPES).join(', ')} or TYPEnnn`);
}

async function toServer(raw: string, hostPort = raw, defaultPort = PROBERS.dns.defaultPort): Promise<DnsServer> {
  const hp = parseHostPort(hostPort, defaultPort);
  if (hp.family !== 0) return { key: raw, address: hp.host, port: hp.port };
  try {
    const r = await lookup(hp.host);
    return { key: raw, address: r.address, port: hp.port };
  } catch {
    throw new ConndxError('CONNDX_BAD_TARGET', `bad --server "${raw}": the name does not resolve; give the resolver's address`);
  }
}

export function registerDns(program: Command, ctx: CliContext): Command {
  // Flags, help and description are the dns kind's (src/probes/kinds/dns.ts); the run asks servers, not targets.
  return registerKindCommand(program, ctx, dnsKind, async (arg, o) => {
    const name = String(arg);
    const opts = parseProbeOptions(o);
    if (!isValidHostName(name) && name !== '.') {
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad name "${name}": not a valid DNS name`);
    }
    const values = optionsFromFlags(dnsKind.options, o);
    const type = parseQtype(String(values.type));
    const ednsChoice = parseDnsEdnsOptions(o, name);
    let rawServers = (o.server as string[] | undefined) ?? [];
    if (rawServers.length === 0) {
      let text = '';
      try {
        text = readInputTextSync(String(o.resolvConf), 'resolvConf', '--resolv-conf');
      } catch (e) {
        // Missing is "lists no nameserver" below; a special or oversized file is bad input.
        if ((e as Error).message.includes('not a regular file') || (e as Error).message.includes('limit')) throw e;
      }
      rawServers = resolvConfServers(text);
      if (rawServers.length === 0) {
        throw new ConndxError('CONNDX_BAD_ARGUMENT', `no --server given and ${String(o.resolvConf)} lists no nameserver`);
      }
    }
    const { transport, specs } = parseDnsServers(o, rawServers);
    const secure = parseDnsSecureOptions(o, transport);
    const servers = await Promise.all(specs.map((sp) => toServer(sp.key, sp.hostPort, sp.defaultPort)));
    for (const s of servers) {
      const fam = isIP(s.address);
      if (opts.family && fam !== opts.family) {
        throw new ConndxError('CONNDX_BAD_TARGET', `--server ${s.key} is IPv${fam} but -${opts.family} was given`);
      }
    }
    const useTcp = transport === 'tcp';
    const expected = (opts.count ?? Infinity) * servers.length;
    const lines = !opts.json && !opts.ndjson && !opts.quiet && (opts.verbose || expected <= 100);
    const typeName = String(values.type).toUpperCase();
    const settings: DnsKindSettings = {
      name,
      type,
      tcp: useTcp,
      noFallback: o.fallback === false,
      timeoutMs: opts.timeoutMs,
      decodeAnswers: lines || opts.ndjson,
      ...ednsChoice,
      openExchange: exchangeOpener(transport, specs, secure),
    };
    const built = await dnsKind.plan(settings, servers);
    try {
      await runProbeCommand(ctx, {
        ...built.plan,
        opts,
        engineTimeoutMs: built.engineTimeoutMs,
        header: `CONNDX DNS ${name} ${typeName} via ${targetsLabel(
          servers.map((s) => s.key),
          ', ',
        )} (${transport}, ${describePacing(opts)})`,
        ...kindSummaryParts(dnsKind.summary(settings), ctx),
      });
    } finally {
      built.close();
    }
  });
}
