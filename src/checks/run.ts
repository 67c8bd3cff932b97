import { executeProbe } from '../engine/execute.js';
import type { ProbeResult } from '../engine/summary.js';
import type { LookupFn } from '../probes/resolve.js';
import type { CheckSpec } from './config.js';
import { buildCheckPlan, type BuiltPlan, type Unresolved } from './plans.js';
import { judgeCheck, type Verdict } from './verdict.js';
import { localFault } from '../probes/local-errors.js';

/** Why a check could not run, in one line: a fault of this machine is named without the path Node adds. */
const couldNotRun = (e: unknown) => `the check could not run: ${localFault(e) ?? (e instanceof Error ? e.message : String(e))}`;

/** One run of one check: what was probed, the contract's result, and the verdict. */
export interface CheckRun {
  name: string;
  probe: CheckSpec['probe'];
  target: string;
  /** UTC ISO 8601. */
  startedAt: string;
  /** Whole run, name resolution included (ms). */
  durationMs: number;
  result: ProbeResult | null;
  unresolved?: Unresolved[];
  error?: string;
  verdict: Verdict;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** argv for each result's meta.command. */
  argv?: readonly string[];
  lookup?: LookupFn;
  resolvConf?: string;
}

/** A check ready to run: names resolved, sockets and TLS contexts made. */
export interface PreparedCheck {
  spec: CheckSpec;
  startedAt: string;
  /** Time spent preparing (name resolution included), ms. */
  prepareMs: number;
  built?: BuiltPlan & { ok: true };
  unresolved?: Unresolved[];
  error?: string;
}

/**
 * Resolves names and builds the probe plan. Building is CPU work (a TLS
 * context parses its CA bundle): `runChecks` prepares every check before
 * any starts probing, so that one check's set-up does not land inside
 * another's measured latency on the shared event loop.
 */
export async function prepareCheck(spec: CheckSpec, o: RunOptions = {}): Promise<PreparedCheck> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const p: PreparedCheck = { spec, startedAt, prepareMs: 0 };
  try {
    const built = await buildCheckPlan(spec, { lookup: o.lookup, resolvConf: o.resolvConf, signal: o.signal });
    if (built.ok) p.built = built;
    else p.unresolved = built.unresolved;
  } catch (e) {
    p.error = couldNotRun(e);
  }
  p.prepareMs = performance.now() - t0;
  return p;
}

/** Runs a prepared check; never throws: a run that cannot be made is UNKNOWN with the reason. */
export async function executeCheck(p: PreparedCheck, o: RunOptions = {}): Promise<CheckRun> {
  const { spec } = p;
  const t0 = performance.now();
  let result: ProbeResult | null = null;
  let error = p.error;
  if (p.built) {
    try {
      ({ result } = await executeProbe(p.built.plan, {
        count: spec.count,
        concurrency: spec.concurrency,
        timeoutMs: p.built.engineTimeoutMs,
        retries: spec.retries,
        breaker: spec.breaker,
        signal: o.signal,
        argv: o.argv,
      }));
    } catch (e) {
      error = couldNotRun(e);
    } finally {
      p.built.close();
    }
  }
  const verdict = judgeCheck(spec, { result, unresolved: p.unresolved, error });
  const durationMs = Math.round((p.prepareMs + performance.now() - t0) * 1000) / 1000;
  return {
    name: spec.name,
    probe: spec.probe,
    target: spec.target,
    startedAt: p.startedAt,
    durationMs,
    result,
    unresolved: p.unresolved,
    error,
    verdict,
  };
}

/** Prepares and runs one check. */
export async function runCheck(spec: CheckSpec, o: RunOptions = {}): Promise<CheckRun> {
  return executeCheck(await prepareCheck(spec, o), o);
}

/** A counting semaphore: at most `n` holders at once, the rest wait in order. */
export interface Limiter {
  acquire(signal?: AbortSignal): Promise<() => void>;
  readonly active: number;
  readonly waiting: number;
}

export function createLimiter(n: number): Limiter {
  let active = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    active--;
    const next = queue.shift();
    if (next) next();
  };
  return {
    acquire(signal) {
      return new Promise((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener('abort', onAbort);
          active++;
          let done = false;
          resolve(() => {
            if (!done) {
              done = true;
              release();
            }
          });
        };
        const onAbort = () => {
          const i = queue.indexOf(grant);
          if (i >= 0) queue.splice(i, 1);
          reject(signal!.reason ?? new Error('aborted'));
        };
        if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
        if (active < n) return grant();
        queue.push(grant);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
  };
}

/** Runs every check at once, at most `maxConcurrent` at a time; results in config order. */
export async function runChecks(specs: CheckSpec[], o: RunOptions & { maxConcurrent: number }): Promise<CheckRun[]> {
  const limiter = createLimiter(o.maxConcurrent);
  // Everything is set up first; only then does any check start its clock.
  // Name lookups overlap; the CPU work of each build runs before any probe starts.
  const prepared = await Promise.all(specs.map((spec) => prepareCheck(spec, o)));
  return Promise.all(
    prepared.map(async (p) => {
      const release = await limiter.acquire();
      try {
        return await executeCheck(p, o);
      } finally {
        release();
      }
    }),
  );
}
