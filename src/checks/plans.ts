import { readInputTextSync } from '../input.js';
import { parseResolvConf } from '../probes/resolv-conf.js';
import type { ProbePlan } from '../engine/execute.js';
import { parseHostPort } from '../parse.js';
import { PROBERS } from '../probes/registry.js';
import type { DnsServer } from '../probes/dns.js';
import type { TlsKindSettings } from '../probes/kinds/tls.js';
import type { ProbeKind } from '../probes/kinds/kind.js';
import { resolveTargets, type LookupFn, type UnresolvedTarget } from '../probes/resolve.js';
import type { TlsProbeOptions } from '../probes/tls.js';
import { dnsCheckRun } from './dns-options.js';
import { parseProxyUrl, type ProxyConfig } from '../probes/proxy.js';
import type { CheckSpec } from './config.js';

/** A target (or DNS server) whose name did not resolve: the check is CRITICAL, naming the DNS outcome. */
export type Unresolved = UnresolvedTarget;

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
 * Builds the probe plan of a check through its kind (probes/registry.ts), as
 * `conndx dns|tcp|tls` builds it from flags: names are resolved once, before
 * the run, and a name that does not resolve is a finding, not an error.
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
    // tls:// and https:// servers, and the check's transport (a /probe target is read the same way).
    const x = dnsCheckRun(d, raws);
    const { targets, unresolved } = await resolveTargets(
      x.specs.map((sp) => ({ ...parseHostPort(sp.hostPort, sp.defaultPort), raw: sp.key })),
      spec.family,
      o.lookup,
    );
    if (unresolved.length) return { ok: false, unresolved };
    const servers: DnsServer[] = targets.map((t) => ({ key: t.key, address: t.address, port: t.port }));
    const built = await PROBERS.dns.plan(
      {
        name: spec.target,
        type: d.qtype,
        tcp: d.tcp,
        noFallback: d.noFallback,
        timeoutMs: spec.timeoutMs,
        decodeAnswers: false,
        ...x.query,
      },
      servers,
    );
    return { ok: true, ...built };
  }

  const kind = PROBERS[spec.probe] as ProbeKind;
  // Through a proxy, the proxy's name is resolved here and the target's is the proxy's to resolve.
  let proxy: ProxyConfig | undefined;
  const via = spec.probe === 'tls' ? spec.tls!.proxy : undefined;
  if (via) {
    const u = parseProxyUrl(via);
    if ('error' in u) throw new Error(`proxy: ${u.error}`);
    const pr = await resolveTargets([{ raw: u.url, host: u.host, port: u.port, family: 0 }], spec.family, o.lookup);
    const p = pr.targets[0];
    if (!p) return { ok: false, unresolved: pr.unresolved.map((x) => ({ ...x, cause: `the proxy: ${x.cause}` })) };
    proxy = { url: u.url, host: p.address, port: u.port, ...(u.auth ? { auth: u.auth } : {}) };
  }
  const hp = kind.generic ? kind.generic.parseTarget(spec.target) : parseHostPort(spec.target, kind.defaultPort);
  const { targets, unresolved } = await resolveTargets([hp], spec.family, o.lookup, {
    asWritten: () => proxy !== undefined,
  });
  if (unresolved.length) return { ok: false, unresolved };
  const env = o.signal ? { signal: o.signal } : {};
  // A kind that builds its check's plan settings itself (tcp, http, and every kind to come).
  const own = kind.check?.planSettings;
  if (own) {
    const settings = own((spec as unknown as Record<string, unknown>)[spec.probe], { timeoutMs: spec.timeoutMs, family: spec.family });
    return { ok: true, ...(await kind.plan(settings, targets, env)) };
  }
  const t = spec.tls!;
  const settings: TlsKindSettings = { probe: tlsOptions(spec), versions: t.versions };
  if (t.sni !== undefined) settings.sni = t.sni;
  if (proxy) settings.proxies = new Map([[spec.target, proxy]]);
  return { ok: true, ...(await PROBERS.tls.plan(settings, targets, env)) };
}
