import { Option, type Command } from 'commander';
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
import { addProbeOptions, describePacing, parseProbeOptions } from '../probe-options.js';
import { kindSummaryParts, runProbeCommand } from '../run-probe.js';
import { dnsKind, type DnsKindSettings } from '../../probes/kinds/dns.js';
import {
  addDnsEdnsOptions,
  addDnsSecureOptions,
  exchangeOpener,
  parseDnsEdnsOptions,
  parseDnsSecureOptions,
  parseDnsServers,
} from '../dns-options.js';

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
  const cmd = program
    .command('dns')
    .description('query DNS servers: latency percentiles per resolver, rcodes, timeouts, truncation')
    .argument('<name>', 'the name to look up')
    .option(
      '-s, --server <host[:port]>',
      'resolver to ask (repeatable; default: the nameservers of /etc/resolv.conf)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('-t, --type <type>', 'record type: A AAAA CNAME MX TXT NS SOA SRV PTR CAA HTTPS … (default A)', 'A')
    .option('--tcp', 'query over TCP instead of UDP')
    .option('--no-fallback', 'report a truncated UDP reply as `truncated` instead of retrying over TCP')
    .addOption(new Option('--resolv-conf <file>', 'where to find the default resolvers').default('/etc/resolv.conf').hideHelp());
  addDnsEdnsOptions(cmd);
  addDnsSecureOptions(cmd);
  addProbeOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  conndx dns api.example.com --server 10.0.0.2 --server 10.0.0.3 --count 500 --concurrency 50
  conndx dns example.com --type AAAA --server [2001:db8::53]:53 --json
  conndx dns big.example.com --type TXT --no-fallback     # see truncation instead of the TCP retry
  conndx dns example.com --rate 1000 --duration 10s -q     # open loop: latency includes queueing
  conndx dns example.com --server 10.0.0.2 --nsid --dnssec # which instance answered, AD and RRSIG, EDE by name
  conndx dns www.example.com --server 10.0.0.2 --random-label -c 100   # every query a cache miss
  conndx dns example.com --server tls://10.0.0.2 --no-reuse            # DoT: connect, TLS and query times
  conndx dns example.com --server https://10.0.0.2/dns-query --method GET  # DoH over HTTP/2

Latency is query sent to response (a TCP retry after a truncated reply included).
Outcomes: ok nodata nxdomain servfail refused formerr notimp rcode-other timeout truncated malformed network-error error.`,
  );
  cmd.action(async (name: string, o: Record<string, unknown>) => {
    const opts = parseProbeOptions(o);
    if (!isValidHostName(name) && name !== '.') {
      throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad name "${name}": not a valid DNS name`);
    }
    const type = parseQtype(String(o.type));
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
    const typeName = String(o.type).toUpperCase();
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
        header: `CONNDX DNS ${name} ${typeName} via ${servers.map((s) => s.key).join(', ')} (${transport}, ${describePacing(opts)})`,
        ...kindSummaryParts(dnsKind.summary(settings), ctx),
      });
    } finally {
      built.close();
    }
  });
  return cmd;
}
