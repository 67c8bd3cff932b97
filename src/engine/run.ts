import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Attempt, AttemptRecord, Phase, Probe, TargetRef } from '../core/types.js';
import { now, sleep, wallClock } from '../core/clock.js';
import { createHistogram, type LatencyStats } from '../core/histogram.js';

export interface RunOptions<T> {
  targets: TargetRef<T>[];
  probe: Probe<T>;
  /** Attempts per target. Ignored when durationMs is set and count is not. */
  count?: number;
  /** Keep starting attempts for this long. */
  durationMs?: number;
  /** Attempts in flight at once. */
  concurrency: number;
  /** Open loop: attempts started per second over all targets. */
  rate?: number;
  /** Per attempt; the probe enforces it, the engine adds a hard backstop. */
  timeoutMs: number;
  /** Extra tries after a failed one, with exponential backoff and full jitter. */
  retries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Circuit breaker: after this many consecutive failures of a target, skip it for breakerCooldownMs. */
  breaker?: number;
  breakerCooldownMs?: number;
  /** Stops the run from starting new attempts (first Ctrl-C); attempts in flight finish. */
  signal?: AbortSignal;
  /** Called once per finished attempt, in completion order. May apply backpressure. */
  onAttempt?: (rec: AttemptRecord) => void | Promise<void>;
  /** Most attempts started in one event-loop turn, so a burst does not delay its own timers. */
  startsPerTurn?: number;
  /** Told the run's start on the engine clock, before the first attempt (worker threads map times with it). */
  onStart?: (startMono: number) => void;
  /** Adjusts concurrency while running (adaptive mode); called once per finished attempt. */
  controller?: ConcurrencyController;
  /** The probe's own phase, given to attempts the engine ends itself (dropped, skipped, backstop timeout). Default tcp. */
  phase?: Phase;
}

/** How many and how fast: the pacing fields shared by one run, its executor and its worker threads. */
export type Pacing = Pick<RunOptions<unknown>, 'count' | 'durationMs' | 'concurrency' | 'rate' | 'timeoutMs' | 'retries' | 'breaker'>;

export interface ConcurrencyController {
  /** Current limit. */
  limit(): number;
  onAttempt(rec: AttemptRecord, inFlight: number): void;
}

export interface RunStats {
  /** Monotonic ms of the run's start (engine clock). */
  startMono: number;
  startedAt: string;
  /** From the first attempt's start to the last attempt's end. */
  elapsedMs: number;
  attempts: number;
  dropped: number;
  skipped: number;
  interrupted: boolean;
  /** How late the event loop ran its timers during the run: a floor on timing error. */
  loopLagMs: LatencyStats | null;
  /** Share of the run the event loop spent running callbacks rather than waiting (event-loop utilisation, 0-1). */
  busy: number;
  /** One row per second of the run (by completion time). */
  series: SeriesPoint[];
}

/** One second of a run: throughput, concurrency and latency at one-second resolution. */
export interface SeriesPoint {
  /** Seconds since the run's start. */
  t: number;
  /** Attempts finished in this second, and how many of them were ok. */
  completed: number;
  ok: number;
  /** Most attempts in flight at once during the second. */
  inFlightMax: number;
  /** The concurrency limit at the end of the second (changes under --adaptive). */
  limit: number;
  p50: number | null;
  p99: number | null;
}

const DEFAULT_STARTS_PER_TURN = 32;

function isFailure(outcome: string): boolean {
  return outcome !== 'ok';
}

/**
 * Runs attempts of one probe against targets: closed loop (a concurrency cap)
 * or open loop (a fixed start rate, latency counted from each attempt's
 * intended start so a stalled run shows its own queueing). Every attempt is
 * recorded exactly once with its final outcome.
 */
export async function runAttempts<T>(o: RunOptions<T>): Promise<RunStats> {
  const nTargets = o.targets.length;
  const perTarget = o.count ?? (o.durationMs !== undefined ? Infinity : 10);
  const total = perTarget * nTargets;
  const startsPerTurn = o.startsPerTurn ?? DEFAULT_STARTS_PER_TURN;
  const phase: Phase = o.phase ?? 'tcp';
  const startMono = now();
  const startedAt = wallClock(startMono);
  const elu0 = performance.eventLoopUtilization();
  o.onStart?.(startMono);
  const deadline = o.durationMs !== undefined ? startMono + o.durationMs : Infinity;

  let seq = 0;
  let inFlight = 0;
  let done = 0;
  let dropped = 0;
  let skipped = 0;
  let firstStart = Infinity;
  let lastEnd = -Infinity;
  const breakers = o.targets.map(() => ({ consecutive: 0, openUntil: 0, halfOpen: false }));

  // Event-loop lag: a 10 ms timer that measures how late it fires. Each
  // delay is weighted by the milliseconds it covers, so the percentiles are
  // shares of the run's time: a 400 ms stall weighs forty quiet ticks, as it
  // does for the replies that arrive during it (one sample per firing would
  // count it once and hide it behind the quiet ones).
  const lag = createHistogram();
  let lagExpected = now() + 10;
  const lagTimer = setInterval(() => {
    const t = now();
    const late = Math.max(0, t - lagExpected);
    lag.record(late, Math.max(1, Math.round(10 + late)));
    lagExpected = t + 10;
  }, 10);
  lagTimer.unref();

  // Per-second series: finished attempts by the second they finished in.
  const seconds: { completed: number; ok: number; inFlightMax: number; limit: number; lat: ReturnType<typeof createHistogram> }[] = [];
  const bucket = (tMs: number) => {
    const i = Math.max(0, Math.floor(tMs / 1000));
    while (seconds.length <= i) seconds.push({ completed: 0, ok: 0, inFlightMax: 0, limit: limit(), lat: createHistogram() });
    return seconds[i]!;
  };

  const stopped = () => o.signal?.aborted === true || failure !== null;
  const limit = () => (o.controller ? o.controller.limit() : o.concurrency);

  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const waitForSlot = () =>
    new Promise<void>((r) => {
      wake = r;
    });
  o.signal?.addEventListener('abort', notify, { once: true });

  // The first error thrown by onAttempt (a broken stdout, say): the run stops starting attempts and rethrows it.
  let failure: { error: unknown } | null = null;
  const fail = (error: unknown) => {
    failure ??= { error };
    notify();
  };

  /** Folds a finished attempt into the run's figures and hands it on; a promise means "wait before the next". */
  const emit = (rec: AttemptRecord): void | Promise<void> => {
    if (rec.actualAt < firstStart) firstStart = rec.actualAt;
    const end = rec.actualAt + rec.durationMs;
    if (end > lastEnd) lastEnd = end;
    const b = bucket(end);
    b.completed++;
    b.limit = limit();
    if (rec.outcome === 'ok') {
      b.ok++;
      if (rec.latencyMs !== null) b.lat.record(rec.latencyMs);
    }
    o.controller?.onAttempt(rec, inFlight);
    return o.onAttempt?.(rec);
  };

  const noNetwork = (ti: number, intendedAt: number, outcome: 'dropped' | 'skipped', cause: string): AttemptRecord => {
    const t = now() - startMono;
    return {
      seq: seq++,
      target: o.targets[ti]!.key,
      startedAt: wallClock(startMono + t),
      intendedAt,
      actualAt: t,
      outcome,
      phase,
      ms: null,
      latencyMs: null,
      tries: 0,
      firstOutcome: outcome,
      cause,
      durationMs: 0,
    };
  };

  // One signal for the whole run, aborted when the run ends: probes enforce
  // their own --timeout; this lets a straggler release its socket.
  const runEnd = new AbortController();
  setMaxListeners(0, runEnd.signal); // every attempt in flight may listen
  const hardMs = o.timeoutMs + 2000;

  // Backstop: a probe that overruns its own deadline still yields exactly one
  // outcome. Every try gets the same allowance, so deadlines come in start
  // order: one sweep over a queue replaces a timer per try (hot path).
  type Guard = { deadline: number; settle: ((a: Attempt) => void) | null };
  const guards: Guard[] = [];
  let guardHead = 0;
  const sweep = setInterval(
    () => {
      const t = now();
      while (guardHead < guards.length) {
        const g = guards[guardHead]!;
        if (g.settle && g.deadline > t) break;
        g.settle?.({ outcome: 'timeout', phase, ms: null, cause: `no result within ${hardMs} ms (engine backstop)` });
        g.settle = null;
        guardHead++;
      }
      if (guardHead > 1024 && guardHead * 2 > guards.length) {
        guards.splice(0, guardHead);
        guardHead = 0;
      }
    },
    Math.min(250, hardMs),
  );
  sweep.unref();

  // The hot path is callbacks, not async functions: at tens of thousands of
  // attempts a second every promise and closure per attempt shows (engine bench).
  const tryOnce = (ti: number, settle: (a: Attempt) => void): void => {
    const g: Guard = { deadline: now() + hardMs, settle };
    guards.push(g);
    let p: Promise<Attempt>;
    try {
      p = o.probe(o.targets[ti]!.target, runEnd.signal);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (a) => {
        const s = g.settle;
        if (s) {
          g.settle = null;
          s(a);
        }
      },
      (e: unknown) => {
        const s = g.settle;
        if (!s) return;
        g.settle = null;
        s({ outcome: 'error', phase, ms: null, cause: `internal: ${e instanceof Error ? e.message : String(e)}` });
      },
    );
  };

  const release = () => {
    inFlight--;
    done++;
    notify();
  };

  const openLoop = !!(o.rate && o.rate > 0);
  const finish = (ti: number, a: Attempt, seqNo: number, intendedAt: number, actualAt: number, tries: number, firstOutcome: string) => {
    const end = now() - startMono;
    const br = breakers[ti]!;
    if (isFailure(a.outcome) && !a.local) {
      br.consecutive++;
      if (o.breaker && (br.consecutive >= o.breaker || br.halfOpen)) {
        br.openUntil = now() + (o.breakerCooldownMs ?? 10_000);
        br.halfOpen = false;
      }
    } else if (!isFailure(a.outcome)) {
      br.consecutive = 0;
      br.halfOpen = false;
    }
    // The attempt object is ours now: extend it in place rather than copy it (hot path).
    const rec = a as AttemptRecord;
    rec.seq = seqNo;
    rec.target = o.targets[ti]!.key;
    rec.startedAt = wallClock(startMono + actualAt);
    rec.intendedAt = intendedAt;
    rec.actualAt = actualAt;
    // Open loop: from the intended start, never below the service time itself.
    // Closed loop has no schedule: the latency is the probe's own measurement, the
    // same number as the attempt's line (the engine's own µs between the loop and
    // the launch are not the target's).
    rec.latencyMs = a.ms === null ? null : openLoop ? a.ms + Math.max(0, actualAt - intendedAt) : a.ms;
    rec.tries = tries;
    rec.firstOutcome = firstOutcome;
    rec.durationMs = end - actualAt;
    let wait: void | Promise<void> = undefined;
    try {
      wait = emit(rec);
    } catch (e) {
      fail(e);
    }
    if (wait)
      wait.then(release, (e: unknown) => {
        fail(e);
        release();
      });
    else release();
  };

  const retries = o.retries ?? 0;
  const launch = (ti: number, intendedAt: number) => {
    inFlight++;
    const actualAt = now() - startMono;
    const b = bucket(actualAt);
    if (inFlight > b.inFlightMax) b.inFlightMax = inFlight;
    const seqNo = seq++;
    let tries = 1;
    let firstOutcome: string | undefined;
    const onTry = (a: Attempt): void => {
      firstOutcome ??= a.outcome;
      if (tries <= retries && isFailure(a.outcome) && !stopped()) {
        const cap = Math.min(o.retryMaxMs ?? 5000, (o.retryBaseMs ?? 100) * 2 ** (tries - 1));
        tries++;
        // full jitter (AWS architecture blog, "Exponential Backoff And Jitter")
        sleep(Math.random() * cap, o.signal).then(() => tryOnce(ti, onTry));
        return;
      }
      finish(ti, a, seqNo, intendedAt, actualAt, tries, firstOutcome);
    };
    tryOnce(ti, onTry);
  };

  const breakerSkips = (ti: number): boolean => {
    if (!o.breaker) return false;
    const br = breakers[ti]!;
    if (br.openUntil === 0) return false;
    if (now() < br.openUntil) return true;
    if (br.halfOpen) return true; // one probe is already testing the target
    br.halfOpen = true; // cool-down over: let one attempt through
    br.openUntil = 0;
    return false;
  };

  const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

  try {
    if (o.rate && o.rate > 0) {
      const interval = 1000 / o.rate;
      for (let i = 0; i < total; i++) {
        const intendedAt = i * interval;
        if (startMono + intendedAt >= deadline || stopped()) break;
        const at = startMono + intendedAt;
        const wait = at - now();
        if (wait > 1) await sleep(wait, o.signal);
        else if (i % startsPerTurn === 0) await yieldTurn();
        // Never start early: a timer may wake up to a millisecond before its time
        // (the loop's clock is cached to the ms), and an attempt started before
        // its schedule would count a latency below its own service time.
        while (now() < at && !stopped()) await yieldTurn();
        if (stopped()) break;
        const ti = i % nTargets;
        if (breakerSkips(ti)) {
          skipped++;
          await emit(noNetwork(ti, intendedAt, 'skipped', 'circuit breaker open'));
          continue;
        }
        if (inFlight >= limit()) {
          dropped++;
          await emit(noNetwork(ti, intendedAt, 'dropped', `concurrency limit ${limit()} full at the scheduled start`));
          continue;
        }
        launch(ti, intendedAt);
      }
    } else {
      let startedThisTurn = 0;
      for (let i = 0; i < total; i++) {
        while (inFlight >= limit() && !stopped()) await waitForSlot();
        if (stopped() || now() >= deadline) break;
        const ti = i % nTargets;
        if (breakerSkips(ti)) {
          skipped++;
          await emit(noNetwork(ti, now() - startMono, 'skipped', 'circuit breaker open'));
          if (++startedThisTurn >= startsPerTurn) {
            startedThisTurn = 0;
            await yieldTurn();
          }
          continue;
        }
        launch(ti, now() - startMono);
        if (++startedThisTurn >= startsPerTurn) {
          startedThisTurn = 0;
          await yieldTurn();
        }
      }
    }
    while (inFlight > 0) await waitForSlot();
  } finally {
    clearInterval(sweep);
    runEnd.abort();
    clearInterval(lagTimer);
    o.signal?.removeEventListener('abort', notify);
  }
  if (failure) throw (failure as { error: unknown }).error;

  return {
    startMono,
    startedAt,
    elapsedMs: done + dropped + skipped === 0 || firstStart === Infinity ? 0 : lastEnd - firstStart,
    attempts: seq,
    dropped,
    skipped,
    interrupted: o.signal?.aborted === true,
    loopLagMs: lag.stats(),
    busy: Math.round(performance.eventLoopUtilization(elu0).utilization * 1000) / 1000,
    series: seconds.map((b, t) => {
      const r = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
      return {
        t,
        completed: b.completed,
        ok: b.ok,
        inFlightMax: b.inFlightMax,
        limit: b.limit,
        p50: r(b.lat.percentile(50)),
        p99: r(b.lat.percentile(99)),
      };
    }),
  };
}
