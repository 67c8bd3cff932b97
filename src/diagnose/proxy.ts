import { now } from '../core/clock.js';
import { tlsOutcomePhase, type Attempt, type Phase, type ProbePlan, type ProbeResult } from '../core/types.js';
import { executeProbe, type ExecOptions } from '../engine/execute.js';
import { authorityOf, connectViaProxy, type ProxyConfig } from '../probes/proxy.js';
import { shq } from '../shell.js';
import type { AddressInfo, DiagnosePlan } from './types.js';
import { judgeConn, type Finding, type Judged, type Thresholds } from './verdict.js';

/**
 * `diagnose --proxy http://host:port`: the target is reached through an HTTP
 * CONNECT proxy, so the proxy's TCP connect (phase `proxy`) and its answer to
 * CONNECT (phase `tunnel`) are phases of their own, run `count` times before
 * the TLS and HTTP phases (which then go through tunnels of their own). The
 * proxy resolves the target's name, as it will for every client behind it:
 * the run does not look it up (CONNECT names it as written).
 */

/** The one "address" of a proxied run: the target as CONNECT names it. */
export function proxiedAddress(host: string, port: number, family: 0 | 4 | 6): AddressInfo {
  return { address: host, family: family === 6 ? 6 : 4, key: authorityOf(host, port), from: ['proxy'] };
}

/** One attempt: connect to the proxy, CONNECT host:port, then close the tunnel. Timings proxyConnectMs and tunnelMs. */
function proxyProbe(proxy: ProxyConfig, timeoutMs: number) {
  return async (t: { host: string; port: number }, signal: AbortSignal): Promise<Attempt> => {
    const t0 = now();
    const p = await connectViaProxy(proxy, t, { deadline: t0 + timeoutMs, signal });
    p.socket?.destroy();
    const timings: Record<string, number> = {};
    if (p.proxyConnectMs !== null) timings.proxyConnectMs = p.proxyConnectMs;
    if (p.tunnelMs !== null) timings.tunnelMs = p.tunnelMs;
    return {
      outcome: p.outcome,
      phase: p.outcome === 'ok' ? 'tunnel' : p.phase,
      ms: p.outcome === 'ok' ? (p.proxyConnectMs ?? 0) + (p.tunnelMs ?? 0) : null,
      timings,
      ...(p.cause ? { cause: p.cause } : {}),
      ...(p.local ? { local: true } : {}),
      ...(p.status !== undefined ? { tallies: { proxyStatuses: String(p.status) } } : {}),
    };
  };
}

/** The proxy's phases for every address (one: the target as written), keyed by it like the other phases. */
export async function runProxyPhase(r: {
  proxy: ProxyConfig;
  addresses: AddressInfo[];
  port: number;
  timeoutMs: number;
  exec: ExecOptions;
  label: string;
}): Promise<ProbeResult> {
  const plan: ProbePlan<{ host: string; port: number }> = {
    probe: 'proxy',
    label: r.label,
    targets: r.addresses.map((a) => ({ key: a.key, target: { host: a.address, port: r.port } })),
    fn: proxyProbe(r.proxy, r.timeoutMs),
    fdsPerAttempt: 1,
    decorate: (res) => {
      res.proxy = r.proxy.url;
    },
  };
  const { result } = await executeProbe(plan, r.exec);
  delete result.meta;
  if (!result.byTarget && r.addresses.length === 1) {
    const { histograms: _h, ...one } = result;
    result.byTarget = { [r.addresses[0]!.key]: { ...one, target: r.addresses[0]!.key } };
  }
  return result;
}

/** ` --proxy URL` for a suggested conndx command (the URL without credentials, as the run shows it). */
export function proxyArg(plan: DiagnosePlan): string {
  return plan.proxy ? ` --proxy ${shq(plan.proxy)}` : '';
}

/** The proxy's findings: a failure is the proxy's (phase proxy or tunnel, as `conndx tls --proxy` names it), never the target's. */
export function proxyFindings(j: Judged, th: Thresholds): Finding[] {
  const res = j.proxy;
  if (!res || !j.plan.proxy) return [];
  const worst = Object.entries(res.outcomes)
    .filter(([k]) => k !== 'ok')
    .sort((a, b) => b[1] - a[1])[0]?.[0];
  const phase: Phase = worst ? tlsOutcomePhase(worst) : 'tunnel';
  const proxy = j.plan.proxy;
  const label = phase === 'proxy' ? `TCP connect to the proxy ${proxy}` : `CONNECT through the proxy ${proxy}`;
  const scheme = j.plan.tls ? 'https' : 'http';
  const next = (k: string) => [
    `conndx tls ${shq(k)}${proxyArg(j.plan)}${j.plan.sni ? ` --sni ${shq(j.plan.sni)}` : ''}${(j.plan.reproduceTls ?? []).map((f) => ` ${shq(f)}`).join('')} --count 10`,
    `curl -sv --proxy ${shq(proxy)} ${shq(`${scheme}://${k}${j.plan.path ?? '/'}`)} -o /dev/null`,
  ];
  const detail = (_k: string, r: ProbeResult): string[] => {
    const st = r.proxyStatuses as Record<string, number> | undefined;
    return st
      ? [
          `  the proxy answered CONNECT with ${Object.entries(st)
            .map(([s, n]) => `${s} ×${n}`)
            .join(', ')}`,
        ]
      : [];
  };
  const found = judgeConn(phase, label, res, j, th.connectMs, next, detail);
  for (const f of found) if (f.kind === 'fails') f.summary += " The target itself was not reached: this is the proxy's answer.";
  return found;
}
