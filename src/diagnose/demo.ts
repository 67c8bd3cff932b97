import * as net from 'node:net';
import { URL_DEFAULT_PORTS } from '../probes/kinds/http.js';
import { now } from '../core/clock.js';
import { LAB } from '../lab/registry.js';
import type { LabEndpoint } from '../lab/types.js';
import { LAB_SERVER_NAME } from '../lab/certs.js';
import { runDiagnosis, type DiagnoseResult } from './chain.js';
import type { DiagnoseTarget } from './target.js';

/** One demo case: a lab fault, the target that shows it, and the verdict it should get. */
export interface DemoCase {
  name: string;
  title: string;
  target: string;
  expect: { status: string; phase: string; outcome: string };
  result: DiagnoseResult;
  matches: boolean;
}

interface Spec {
  name: string;
  title: string;
  /** Lab endpoint to diagnose (its port goes into the target). */
  endpoint?: string;
  /** Target with PORT in place of the endpoint's port. */
  target: string;
  resolver: 'dns-loopback' | 'dns-loopback-slow-tail';
  expect: DemoCase['expect'];
  count: number;
  timeoutMs: number;
  concurrency?: number;
}

const SPECS: Spec[] = [
  {
    name: 'healthy',
    title: 'a healthy HTTPS endpoint',
    endpoint: 'tls-ok',
    target: 'https://ok.lab.test:PORT/healthz',
    resolver: 'dns-loopback',
    expect: { status: 'ok', phase: 'ok', outcome: 'ok' },
    count: 3,
    timeoutMs: 2000,
  },
  {
    name: 'dns-slow-tail',
    title: 'a resolver with a slow tail',
    endpoint: 'tls-ok',
    target: 'https://api.v4.lab.test:PORT/healthz',
    resolver: 'dns-loopback-slow-tail',
    expect: { status: 'degraded', phase: 'dns', outcome: 'slow' },
    count: 4,
    timeoutMs: 2000,
  },
  {
    name: 'nxdomain',
    title: 'a name that does not exist',
    target: 'https://api.nx.lab.test/healthz',
    resolver: 'dns-loopback',
    expect: { status: 'failing', phase: 'dns', outcome: 'nxdomain' },
    count: 2,
    timeoutMs: 1000,
  },
  {
    name: 'refused',
    title: 'a closed port',
    endpoint: 'tcp-refuse',
    target: 'db.v4.lab.test:PORT',
    resolver: 'dns-loopback',
    expect: { status: 'failing', phase: 'tcp', outcome: 'refused' },
    count: 3,
    timeoutMs: 1000,
  },
  {
    name: 'dropped-syn',
    title: 'SYNs dropped (no answer at all)',
    endpoint: 'tcp-drop',
    target: 'db.v4.lab.test:PORT',
    resolver: 'dns-loopback',
    expect: { status: 'failing', phase: 'tcp', outcome: 'timeout' },
    count: 2,
    timeoutMs: 1200,
    concurrency: 2,
  },
  {
    name: 'reset-after-hello',
    title: 'a reset right after the ClientHello',
    endpoint: 'tls-rst-after-hello',
    target: 'https://api.v4.lab.test:PORT/',
    resolver: 'dns-loopback',
    expect: { status: 'failing', phase: 'tls', outcome: 'reset' },
    count: 2,
    timeoutMs: 1000,
  },
  {
    name: 'expired-certificate',
    title: 'an expired certificate',
    endpoint: 'tls-expired',
    target: 'https://api.v4.lab.test:PORT/',
    resolver: 'dns-loopback',
    expect: { status: 'failing', phase: 'tls', outcome: 'cert-expired' },
    count: 2,
    timeoutMs: 1000,
  },
];

export const DEMO_CASES = SPECS.map((s) => ({ name: s.name, title: s.title, expect: s.expect }));

/** A demo target (a lab URL or name:port, well-formed by construction). */
function labTarget(raw: string): DiagnoseTarget {
  if (/^https?:\/\//.test(raw)) {
    const u = new URL(raw);
    const scheme = u.protocol === 'https:' ? 'https' : 'http';
    return {
      raw,
      scheme,
      host: u.hostname,
      family: 0,
      port: u.port ? Number(u.port) : URL_DEFAULT_PORTS[scheme],
      path: `${u.pathname}${u.search}`,
    };
  }
  const [host, port] = raw.split(':');
  return { raw, scheme: null, host: host!, family: 0, port: Number(port), path: null };
}

/**
 * A TCP relay on [::1] at the same port as an endpoint on 127.0.0.1, so a
 * name with both A and AAAA records is healthy on both families. Null when
 * IPv6 loopback or that port is not available here.
 */
async function mirrorOnIpv6(port: number): Promise<{ close(): Promise<void> } | null> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    const up = net.connect({ host: '127.0.0.1', port });
    for (const x of [s, up]) {
      sockets.add(x);
      x.on('error', () => {
        s.destroy();
        up.destroy();
      });
      x.on('close', () => sockets.delete(x));
    }
    s.pipe(up).pipe(s);
  });
  const ok = await new Promise<boolean>((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '::1', () => resolve(true));
  });
  if (!ok) return null;
  return {
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/**
 * `conndx demo`: starts the lab in this process, diagnoses a healthy
 * endpoint and each fault with small counts and short timeouts, and returns
 * every verdict. Needs nothing but Node: no root, no tcpdump, no network
 * beyond loopback (the names resolve through the lab's own resolver).
 */
export async function runDemo(
  o: { signal?: AbortSignal; argv?: readonly string[]; onCase?: (c: DemoCase, i: number, n: number) => void | Promise<void> } = {},
): Promise<{ cases: DemoCase[]; elapsedMs: number }> {
  const t0 = now();
  const started = new Map<string, LabEndpoint>();
  const closers: (() => Promise<void>)[] = [];
  const start = async (name: string) => {
    let ep = started.get(name);
    if (!ep) {
      ep = await LAB[name]!();
      started.set(name, ep);
      closers.push(() => ep!.close());
    }
    return ep;
  };
  const cases: DemoCase[] = [];
  try {
    const names = [...new Set(SPECS.flatMap((s) => [s.resolver, ...(s.endpoint ? [s.endpoint] : [])]))];
    await Promise.all(names.map(start));
    const ca = started.get('tls-ok')!.info?.ca as string;
    const mirror = await mirrorOnIpv6(started.get('tls-ok')!.port);
    if (mirror) closers.push(() => mirror.close());
    for (const [i, s] of SPECS.entries()) {
      if (o.signal?.aborted) break;
      const ep = s.endpoint ? started.get(s.endpoint)! : undefined;
      // Without the IPv6 relay the healthy case keeps to IPv4, or ::1 would (rightly) be refused.
      const rawTarget = (s.name === 'healthy' && !mirror ? s.target.replace('ok.lab.test', 'ok.v4.lab.test') : s.target).replace(
        'PORT',
        String(ep?.port ?? 443),
      );
      const dns = started.get(s.resolver)!;
      const result = await runDiagnosis({
        target: labTarget(rawTarget),
        count: s.count,
        timeoutMs: s.timeoutMs,
        concurrency: s.concurrency,
        family: 0,
        resolvConf: { nameservers: [{ key: `${dns.host}:${dns.port}`, address: dns.host, port: dns.port }], search: [], ndots: 1 },
        emulate: { hosts: new Map() },
        sni: LAB_SERVER_NAME,
        tlsOptions: { ca },
        signal: o.signal,
        argv: o.argv,
      });
      const v = result.verdict;
      const c: DemoCase = {
        name: s.name,
        title: s.title,
        target: rawTarget,
        expect: s.expect,
        result,
        matches: v.status === s.expect.status && v.phase === s.expect.phase && v.outcome === s.expect.outcome,
      };
      cases.push(c);
      await o.onCase?.(c, i, SPECS.length);
    }
  } finally {
    await Promise.allSettled(closers.map((f) => f()));
  }
  return { cases, elapsedMs: now() - t0 };
}
