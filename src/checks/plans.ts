import { readInputSync, readInputTextSync } from '../input.js';
import { parseResolvConf } from '../probes/resolv-conf.js';
import type { ProbePlan } from '../engine/execute.js';
import type { ProbeResult } from '../engine/summary.js';
import { parseHostPort, unescapeText } from '../parse.js';
import { PROBERS } from '../probes/registry.js';
import { planDns, type DnsServer } from '../probes/dns.js';
import { resolveHost, type LookupFn, type Resolved } from '../probes/resolve.js';
import { parseProxyUrl, type ProxyConfig } from '../probes/proxy.js';
import { machineSynSchedule, makeTcpProbe, type TcpTarget } from '../probes/tcp.js';
import {
  createTlsProbe,
  probeTlsVersions,
  tlsAttemptAllowanceMs,
  type TlsProbeOptions,
  type TlsTarget,
  type TlsVersion,
} from '../probes/tls.js';
import type { TargetRef } from '../core/types.js';
import type { CheckSpec } from './config.js';

/** A target (or DNS server) whose name did not resolve: the check is CRITICAL, naming the DNS outcome. */
export interface Unresolved {
  key: string;
  outcome: string;
  cause: string;
  lookupMs: number;
}

export type BuiltPlan =
  | {
      ok: true;
      plan: ProbePlan<unknown>;
      /** Per-attempt deadline for the engine (the probe's timeout plus any watch after the handshake). */
      engineTimeoutMs: number;
      close(): void;
    }
  | { ok: false; unresolved: Unresolved[] };

export interface PlanOptions {
  /** Name resolution for targets and servers given by name (default: the system resolver). */
  lookup?: LookupFn;
  /** Where the default resolvers of a dns check without `server` come from. */
  resolvConf?: string;
  signal?: AbortSignal;
}

/** Name servers of a resolv.conf text, as a check's `server` would list them. */
export function resolvConfServers(text: string): string[] {
  return parseResolvConf(text).nameservers.map((n) => n.key);
}

/** The same check against another target (`/probe?target=`): for dns the target is the server to ask. */
export function withTarget(spec: CheckSpec, target: string): CheckSpec {
  if (spec.probe === 'dns') return { ...spec, dns: { ...spec.dns!, servers: [target] } };
  return { ...spec, target };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

function tlsOptions(spec: CheckSpec): TlsProbeOptions {
  const t = spec.tls!;
  const o: TlsProbeOptions = { timeoutMs: spec.timeoutMs, insecure: t.insecure, resume: t.resume };
  if (spec.family) o.family = spec.family;
  if (t.alpn) o.alpn = t.alpn;
  if (t.ca) o.ca = t.ca;
  if (t.cert) {
    o.cert = t.cert;
    o.key = t.key;
  }
  if (t.minVersion) o.minVersion = t.minVersion;
  if (t.maxVersion) o.maxVersion = t.maxVersion;
  if (t.starttls) o.starttls = t.starttls;
  return o;
}

/**
 * Builds the probe plan of a check, as `conndx dns|tcp|tls` builds it from
 * flags: names are resolved once, before the run, and a name that does not
 * resolve is a finding, not an error.
 */
export async function buildCheckPlan(spec: CheckSpec, o: PlanOptions = {}): Promise<BuiltPlan> {
  if (spec.probe === 'dns') {
    const d = spec.dns!;
    let raws = d.servers;
    if (raws.length === 0) {
      let text = '';
      try {
        text = readInputTextSync(o.resolvConf ?? '/etc/resolv.conf', 'resolvConf', 'resolv.conf');
      } catch {
        /* below */
      }
      raws = resolvConfServers(text);
      if (raws.length === 0) throw new Error(`no server given and ${o.resolvConf ?? '/etc/resolv.conf'} lists no nameserver`);
    }
    const resolved = await Promise.all(
      raws.map(async (raw) => {
        const hp = parseHostPort(raw, PROBERS.dns?.defaultPort);
        const r = await resolveHost(hp.host, spec.family, o.lookup);
        return { raw, hp, r };
      }),
    );
    const unresolved = resolved.flatMap(({ raw, r }) =>
      r.ok ? [] : [{ key: raw, outcome: r.outcome, cause: r.cause, lookupMs: round(r.lookupMs) }],
    );
    if (unresolved.length) return { ok: false, unresolved };
    const servers: DnsServer[] = resolved.map(({ raw, hp, r }) => ({ key: raw, address: r.ok ? r.address : hp.host, port: hp.port }));
    const { plan, close } = await planDns({
      name: spec.target,
      type: d.qtype,
      servers,
      tcp: d.tcp,
      noFallback: d.noFallback,
      timeoutMs: spec.timeoutMs,
      decodeAnswers: false,
    });
    return { ok: true, plan: plan as ProbePlan<unknown>, engineTimeoutMs: spec.timeoutMs, close };
  }

  const hp = parseHostPort(spec.target, PROBERS[spec.probe]?.defaultPort);
  // Through a proxy, the proxy's name is resolved here and the target's is the proxy's to resolve.
  let proxy: ProxyConfig | undefined;
  const via = spec.probe === 'tls' ? spec.tls!.proxy : undefined;
  if (via) {
    const u = parseProxyUrl(via);
    if ('error' in u) throw new Error(`proxy: ${u.error}`);
    const pr = await resolveHost(u.host, spec.family, o.lookup);
    if (!pr.ok)
      return {
        ok: false,
        unresolved: [{ key: u.url, outcome: pr.outcome, cause: `the proxy: ${pr.cause}`, lookupMs: round(pr.lookupMs) }],
      };
    proxy = { url: u.url, host: pr.address, port: u.port, ...(u.auth ? { auth: u.auth } : {}) };
  }
  const r: Resolved = proxy
    ? { ok: true, address: hp.host, family: hp.family === 6 ? 6 : 4, lookupMs: null, addresses: [hp.host] }
    : await resolveHost(hp.host, spec.family, o.lookup);
  if (!r.ok) return { ok: false, unresolved: [{ key: spec.target, outcome: r.outcome, cause: r.cause, lookupMs: round(r.lookupMs) }] };
  const lookupMs = r.lookupMs;
  const putLookup = (res: ProbeResult) => {
    if (lookupMs !== null) res.lookupMs = round(lookupMs);
  };

  if (spec.probe === 'tcp') {
    const t = spec.tcp!;
    const send =
      t.send === undefined
        ? undefined
        : t.send.startsWith('@')
          ? readInputSync(t.send.slice(1), 'send', 'send file')
          : unescapeText(t.send);
    const target: TargetRef<TcpTarget> = { key: spec.target, target: { address: r.address, port: hp.port, family: r.family } };
    const watchMs = t.holdMs > 0 ? t.holdMs : send ? spec.timeoutMs : 0;
    const plan: ProbePlan<TcpTarget> = {
      probe: 'tcp',
      targets: [target],
      fn: makeTcpProbe({ timeoutMs: spec.timeoutMs, send, holdMs: t.holdMs, close: t.close, synSchedule: machineSynSchedule() }),
      zeroCounters: ['synRetransmitSuspected'],
      decorate: putLookup,
    };
    return { ok: true, plan: plan as ProbePlan<unknown>, engineTimeoutMs: spec.timeoutMs + watchMs, close: () => {} };
  }

  const popts = tlsOptions(spec);
  const serverName = spec.tls!.sni ?? (hp.family === 0 ? hp.host : undefined);
  const target: TargetRef<TlsTarget> = {
    key: spec.target,
    target: { key: spec.target, host: r.address, port: hp.port, serverName, ...(proxy ? { proxy } : {}) },
  };
  let versions: Record<TlsVersion, string> | undefined;
  const plan: ProbePlan<TlsTarget> = {
    probe: 'tls',
    targets: [target],
    fn: createTlsProbe(popts),
    decorate: async (res) => {
      putLookup(res);
      if (spec.tls!.versions) {
        versions = await probeTlsVersions(target.target, popts, o.signal ?? new AbortController().signal);
        res.versions = versions;
      }
    },
  };
  return {
    ok: true,
    plan: plan as ProbePlan<unknown>,
    engineTimeoutMs: tlsAttemptAllowanceMs(spec.timeoutMs, spec.tls?.resume),
    close: () => {},
  };
}
