import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { parseHostPort } from '../parse.js';
import { PROBERS } from '../probes/registry.js';
import type { ProbeKind } from '../probes/kinds/kind.js';
import type { LookupFn } from '../probes/resolve.js';
import { conndxVersion } from '../core/meta.js';
import type { CheckSpec, ChecksConfig } from './config.js';
import { exposition, newCheckState, recordRun, registerCheckMetrics, type CheckState } from './metrics.js';
import { withTarget } from './plans.js';
import { createLimiter, runCheck, type CheckRun } from './run.js';
import { localFault } from '../probes/local-errors.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Reads and validates the config again (SIGHUP); throws ConfigError when it cannot be used. */
  load: () => ChecksConfig;
  /** Let /probe run any target, not only those in the config. */
  allowAnyTarget: boolean;
  /** Check runs (scheduled and /probe) in flight at once. */
  maxConcurrent: number;
  /** One line of operational log (stderr). */
  log: (line: string) => void;
  argv?: readonly string[];
  lookup?: LookupFn;
  resolvConf?: string;
  /** First runs are spread over this long (default: up to 1s, never past the interval). */
  firstRunSpreadMs?: number;
  /** A /probe request waits this long for a free slot before 503 (default: the scrape timeout Prometheus sends, else 10s). */
  probeWaitMs?: number;
  /** /probe requests that may wait for a slot; beyond, 429 at once (default: 2 × maxConcurrent, at least 16). */
  maxQueued?: number;
}

export interface CheckServer {
  url: string;
  port: number;
  /** Reloads the config: checks whose settings did not change keep running untouched. */
  reload(): { ok: true; checks: number } | { ok: false; error: string };
  /** Stops scheduling, lets the runs in flight finish, answers the requests in flight, closes. */
  close(): Promise<void>;
  /** The state the exporter serves, by check name. */
  states(): ReadonlyMap<string, CheckState>;
}

interface Slot {
  state: CheckState;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  /** JSON of the spec: a reload keeps a check whose settings are the same. */
  sig: string;
}

/** The longest a /probe request waits for a slot, whatever the scrape timeout header says. */
const MAX_PROBE_WAIT_MS = 300_000;

const sigOf = (s: CheckSpec) => JSON.stringify({ ...s, line: 0 });

/** Runs each check on its interval (with jitter) and serves /metrics, /probe and /-/healthy. */
export async function startCheckServer(initial: ChecksConfig, o: ServeOptions): Promise<CheckServer> {
  const limiter = createLimiter(o.maxConcurrent);
  const maxQueued = o.maxQueued ?? Math.max(16, 2 * o.maxConcurrent);
  const stopper = new AbortController();
  let slots = new Map<string, Slot>();
  let config = initial;
  let closing = false;
  const inFlight = new Set<Promise<unknown>>();

  // The exporter's own series.
  const registry = new Registry();
  registerCheckMetrics(registry, () => [...slots.values()].map((s) => s.state), { checkLabel: true });
  new Gauge({
    name: 'conndx_build_info',
    help: 'conndx version',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.set({ version: conndxVersion() }, 1);
    },
  });
  const reloadOk = new Gauge({
    name: 'conndx_config_last_reload_successful',
    help: 'Whether the last config reload worked (1) or kept the previous config (0)',
    registers: [registry],
  });
  const reloadAt = new Gauge({
    name: 'conndx_config_last_reload_success_timestamp_seconds',
    help: 'When the config was last loaded successfully (Unix time)',
    registers: [registry],
  });
  new Gauge({
    name: 'conndx_checks_configured',
    help: 'Checks in the config',
    registers: [registry],
    collect() {
      this.set(slots.size);
    },
  });
  new Gauge({
    name: 'conndx_check_runs_in_flight',
    help: 'Check runs (scheduled and /probe) in flight now',
    registers: [registry],
    collect() {
      this.set(limiter.active);
    },
  });
  new Gauge({
    name: 'conndx_check_runs_waiting',
    help: 'Check runs waiting for a free slot (--max-concurrent)',
    registers: [registry],
    collect() {
      this.set(limiter.waiting);
    },
  });
  const probeRequests = new Counter({
    name: 'conndx_probe_requests_total',
    help: '/probe requests by how they were answered',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const r of ['ok', 'refused', 'bad-request', 'busy']) probeRequests.inc({ result: r }, 0);
  reloadOk.set(1);
  reloadAt.set(Date.now() / 1000);

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };

  const runSlot = (slot: Slot) => {
    if (closing || slots.get(slot.state.spec.name) !== slot) return;
    // One run of a check at a time: a slow check skips its own turn, never another check's.
    if (slot.running) {
      slot.state.skipped++;
      return;
    }
    slot.running = track(
      (async () => {
        let release: (() => void) | undefined;
        try {
          release = await limiter.acquire(stopper.signal);
          const run = await runCheck(slot.state.spec, { signal: stopper.signal, argv: o.argv, lookup: o.lookup, resolvConf: o.resolvConf });
          const before = slot.state.last?.verdict.state;
          recordRun(slot.state, run);
          if (before !== run.verdict.state) {
            o.log(
              `check ${run.name}: ${before ?? 'start'} -> ${run.verdict.state}${run.verdict.reasons.length ? ` (${run.verdict.reasons.join('; ')})` : ''}`,
            );
          }
        } catch {
          // aborted while waiting for a slot: shutting down
        } finally {
          release?.();
          slot.running = undefined;
        }
      })(),
    );
  };

  const schedule = (slot: Slot, delayMs: number) => {
    slot.timer = setTimeout(() => {
      if (closing || slots.get(slot.state.spec.name) !== slot) return;
      // The next turn is set from now, with ±10% jitter so checks of the same interval drift apart.
      schedule(slot, slot.state.spec.intervalMs * (0.9 + 0.2 * Math.random()));
      runSlot(slot);
    }, delayMs);
  };

  const firstDelay = (spec: CheckSpec) => Math.random() * Math.min(spec.intervalMs, o.firstRunSpreadMs ?? 1000);

  const apply = (cfg: ChecksConfig) => {
    const next = new Map<string, Slot>();
    for (const spec of cfg.checks) {
      const sig = sigOf(spec);
      const old = slots.get(spec.name);
      if (old && old.sig === sig) {
        next.set(spec.name, old);
        continue;
      }
      const slot: Slot = { state: newCheckState(spec), sig };
      next.set(spec.name, slot);
    }
    for (const [name, old] of slots) if (next.get(name) !== old) clearTimeout(old.timer);
    const prev = slots;
    slots = next;
    config = cfg;
    for (const [name, slot] of next) if (prev.get(name) !== slot) schedule(slot, firstDelay(slot.state.spec));
  };

  const allowed = (kind: CheckSpec['probe'], target: string): boolean => {
    for (const c of config.checks) {
      if (c.probe !== kind) continue;
      if (kind === 'dns' ? c.dns!.servers.includes(target) : c.target === target) return true;
    }
    return false;
  };

  const send = (res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8') => {
    // nosniff: error bodies echo module and target; a browser must never read them as HTML.
    res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(body);
  };

  const handleProbe = async (url: URL, req: IncomingMessage, res: ServerResponse) => {
    const moduleName = url.searchParams.get('module');
    const target = url.searchParams.get('target');
    const bad = (code: number, msg: string, result: string) => {
      probeRequests.inc({ result });
      send(res, code, `${msg}\n`);
    };
    if (!target) return bad(400, 'target parameter is missing', 'bad-request');
    if (!moduleName)
      return bad(400, `module parameter is missing: name a check (${config.checks.map((c) => c.name).join(', ')})`, 'bad-request');
    const spec = config.checks.find((c) => c.name === moduleName);
    if (!spec)
      return bad(
        400,
        `unknown module "${moduleName}": modules are the names of checks (${config.checks.map((c) => c.name).join(', ')})`,
        'bad-request',
      );
    try {
      const kind = PROBERS[spec.probe] as ProbeKind;
      // A kind that reads its own targets (http's URLs) reads a /probe target the same way.
      if (kind.generic) kind.generic.parseTarget(target);
      else parseHostPort(target, kind.defaultPort);
    } catch (e) {
      return bad(400, `bad target: ${(e as Error).message}`, 'bad-request');
    }
    // A check's send: payload goes only to that check's own target, whatever --allow-any-target says.
    if (spec.probe === 'tcp' && spec.tcp?.send !== undefined && target !== spec.target) {
      return bad(403, `module "${moduleName}" sends a payload (send:): it probes only its own target ${spec.target}`, 'refused');
    }
    if (url.searchParams.get('debug') === 'true' && !config.serve?.debug) {
      return bad(403, 'debug output is off: set "serve: { debug: true }" in the config to allow /probe?debug=true', 'refused');
    }
    if (!o.allowAnyTarget && !allowed(spec.probe, target)) {
      return bad(
        403,
        `target "${target}" is not in the config${spec.probe === 'dns' ? ' (as a server of a dns check)' : ''}: conndx serve probes only configured targets unless started with --allow-any-target`,
        'refused',
      );
    }
    // The header is the client's word: 1e12, Infinity, NaN or a negative value must not reach a timer.
    const scrapeTimeout = Number(req.headers['x-prometheus-scrape-timeout-seconds']);
    const waitMs =
      o.probeWaitMs ??
      (Number.isFinite(scrapeTimeout) && scrapeTimeout > 0 ? Math.min(Math.max(scrapeTimeout * 1000, 100), MAX_PROBE_WAIT_MS) : 10_000);
    if (limiter.active >= o.maxConcurrent && limiter.waiting >= maxQueued) {
      res.setHeader('retry-after', '1');
      return bad(
        429,
        `too many /probe requests: ${limiter.active} check runs in flight and ${limiter.waiting} waiting (--max-concurrent ${o.maxConcurrent})`,
        'busy',
      );
    }
    const wait = AbortSignal.any([stopper.signal, AbortSignal.timeout(waitMs)]);
    let release: () => void;
    try {
      release = await limiter.acquire(wait);
    } catch {
      return bad(
        503,
        `busy: ${limiter.active} check runs in flight (--max-concurrent ${o.maxConcurrent}); no slot within ${waitMs} ms`,
        'busy',
      );
    }
    let run: CheckRun;
    const probeSpec = withTarget(spec, target);
    try {
      run = await runCheck(probeSpec, { signal: stopper.signal, argv: o.argv, lookup: o.lookup, resolvConf: o.resolvConf });
    } finally {
      release();
    }
    probeRequests.inc({ result: 'ok' });
    if (url.searchParams.get('debug') === 'true') {
      return send(
        res,
        200,
        `${JSON.stringify({ module: moduleName, target, state: run.verdict.state, reasons: run.verdict.reasons, measures: run.verdict.measures, unresolved: run.unresolved, error: run.error, result: run.result }, null, 2)}\n`,
      );
    }
    const { text, contentType } = await exposition([{ spec: probeSpec, run }], { checkLabel: false });
    send(res, 200, text, contentType);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://conndx');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n');
    }
    const p = (async () => {
      switch (url.pathname) {
        case '/metrics': {
          const text = await registry.metrics();
          return send(res, 200, text, registry.contentType);
        }
        case '/probe':
          return handleProbe(url, req, res);
        case '/-/healthy':
          return send(res, 200, 'conndx is healthy.\n');
        case '/':
          return send(
            res,
            200,
            `conndx ${conndxVersion()} serve: ${slots.size} checks (${[...slots.keys()].join(', ')})\n/metrics  /probe?module=CHECK&target=HOST:PORT  /-/healthy\n`,
          );
        default:
          return send(res, 404, 'not found: /metrics, /probe, /-/healthy\n');
      }
    })().catch((e: unknown) => {
      // One line: a fault of this machine (EMFILE…) is named as such, without the path Node adds.
      const fault = localFault(e);
      if (!res.headersSent)
        send(
          res,
          500,
          fault ? `this machine ran out of resources: ${fault}\n` : `internal error: ${e instanceof Error ? e.message : String(e)}\n`,
        );
      else res.destroy();
    });
    track(p);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 300_000;
  server.maxConnections = 256;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostText = o.host.includes(':') ? `[${o.host}]` : o.host;
  apply(initial);

  return {
    url: `http://${hostText}:${port}`,
    port,
    reload() {
      let cfg: ChecksConfig;
      try {
        cfg = o.load();
      } catch (e) {
        reloadOk.set(0);
        return { ok: false, error: e instanceof Error ? e.message : String(e) };
      }
      apply(cfg);
      reloadOk.set(1);
      reloadAt.set(Date.now() / 1000);
      return { ok: true, checks: cfg.checks.length };
    },
    async close() {
      closing = true;
      for (const s of slots.values()) clearTimeout(s.timer);
      // Runs in flight stop starting attempts; those started finish within their timeout.
      stopper.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.allSettled([...inFlight]);
      server.closeAllConnections();
      await closed;
    },
    states: () => new Map([...slots].map(([k, v]) => [k, v.state])),
  };
}
