#!/usr/bin/env node
// conndx fuzz run, by hand: `npm run build && nice node bench/fuzz/fuzz.mjs [inputs] [runSeed]`
// Seeds: every capture under ../shared/corpus and fixtures/, plus generated captures
// (dist/fuzz/harness.js). Inputs run in a worker thread; the main thread is a
// watchdog: an input still running after HANG_MS is a hang (the worker is
// terminated and restarted after it). Crashes, hangs and slow inputs are saved
// to test/fuzz/repro/ and summarised on stdout as JSON.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HANG_MS = Number(process.env.FUZZ_HANG_MS ?? 10_000);
const SLOW_MS = Number(process.env.FUZZ_SLOW_MS ?? 1000);

if (isMainThread) {
  const total = Number(process.argv[2] ?? 100_000);
  const runSeed = Number(process.argv[3] ?? 1);
  const h = await import(join(ROOT, 'dist', 'fuzz', 'harness.js'));
  const files = h.seedFiles(ROOT);
  const shared = new Int32Array(new SharedArrayBuffer(8)); // [0] index now running, [1] inputs done
  const seeds = [...h.generatedSeeds(), ...files.map((f) => readFileSync(f))];
  const crashes = [],
    hangs = [],
    slow = [];
  let maxMs = 0,
    packets = 0,
    peakRss = 0;
  const t0 = Date.now();
  const save = (kind, i, extra) => {
    mkdirSync(join(ROOT, 'test', 'fuzz', 'repro'), { recursive: true });
    const m = h.mutate(seeds, runSeed, i);
    const name = `${kind}-s${runSeed}-i${i}.bin`;
    writeFileSync(join(ROOT, 'test', 'fuzz', 'repro', name), m.bytes);
    return { index: i, file: name, seed: m.seed < 2 ? `generated#${m.seed}` : files[m.seed - 2], ops: m.ops, ...extra };
  };
  let start = 0;
  while (start < total) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { files, runSeed, start, total, shared } });
    const done = await new Promise((resolve) => {
      let last = -1,
        since = Date.now();
      const timer = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        const cur = Atomics.load(shared, 0);
        if (cur !== last) {
          last = cur;
          since = Date.now();
          return;
        }
        if (Date.now() - since > HANG_MS) {
          clearInterval(timer);
          w.terminate();
          resolve({ hang: cur });
        }
      }, 250);
      w.on('message', (m) => {
        if (m.crash) crashes.push(save('crash', m.crash.index, { error: m.crash.error }));
        else if (m.slow) slow.push(save('slow', m.slow.index, { ms: m.slow.ms }));
        else if (m.progress) {
          maxMs = Math.max(maxMs, m.progress.maxMs);
          packets += m.progress.packets;
          process.stderr.write(`${m.progress.done} inputs, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
        }
      });
      w.on('exit', () => {
        clearInterval(timer);
        resolve({ end: true });
      });
      w.on('error', (e) => {
        crashes.push({ index: Atomics.load(shared, 0), error: `worker: ${e.stack ?? e}` });
      });
    });
    if (done.hang !== undefined) {
      hangs.push(save('hang', done.hang, {}));
      start = done.hang + 1;
    } else start = Math.max(start + 1, Atomics.load(shared, 1));
  }
  const summary = {
    inputs: total,
    runSeed,
    seedFiles: files.length,
    generatedSeeds: 2,
    crashes: crashes.length,
    hangs: hangs.length,
    slowOver: SLOW_MS,
    slow: slow.length,
    maxInputMs: Math.round(maxMs),
    packetsDecoded: packets,
    peakRssMB: Math.round(peakRss / 1048576),
    wallS: Math.round((Date.now() - t0) / 1000),
    crashList: crashes.slice(0, 50),
    hangList: hangs,
    slowList: slow.slice(0, 50),
  };
  console.log(JSON.stringify(summary, null, 2));
} else {
  const { files, runSeed, start, total, shared } = workerData;
  const h = await import(join(ROOT, 'dist', 'fuzz', 'harness.js'));
  const seeds = [...h.generatedSeeds(), ...files.map((f) => readFileSync(f))];
  let maxMs = 0,
    packets = 0;
  for (let i = start; i < total; i++) {
    Atomics.store(shared, 0, i);
    const { bytes } = h.mutate(seeds, runSeed, i);
    const t = performance.now();
    try {
      packets += h.runInput(bytes, runSeed, i).packets;
    } catch (e) {
      parentPort.postMessage({
        crash: {
          index: i,
          error: String(e?.stack ?? e)
            .split('\n')
            .slice(0, 6)
            .join('\n'),
        },
      });
    }
    const ms = performance.now() - t;
    if (ms > maxMs) maxMs = ms;
    if (ms > SLOW_MS) parentPort.postMessage({ slow: { index: i, ms: Math.round(ms) } });
    Atomics.store(shared, 1, i + 1);
    if ((i + 1) % 50_000 === 0 || i + 1 === total) {
      parentPort.postMessage({ progress: { done: i + 1, maxMs, packets } });
      packets = 0;
    }
  }
}
