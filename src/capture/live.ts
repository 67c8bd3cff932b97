/**
 * A capture read from a stream as it is written (`tcpdump -w - | conndx pcap -`):
 * chunks go through the same reader and analysis as a file. Reading ends at the
 * end of input or when `signal` aborts (Ctrl-C); the analysis of what was read
 * is then finished as for a file cut short. `onProgress` is called every
 * `everyMs` with the figures so far (`--follow`).
 */
import type { Readable } from 'node:stream';
import { createAnalyzer, type AnalyzeOptions, type AnalyzeOutcome, type AnalyzerProgress } from './analyze.js';
import { createChunkReader } from './reader.js';

export interface StreamOptions extends Omit<AnalyzeOptions, 'onProgress' | 'chunkSize'> {
  follow?: { everyMs: number; onProgress: (p: AnalyzerProgress) => void };
}

export async function analyzeStream(input: Readable, name: string, opts: StreamOptions = {}): Promise<AnalyzeOutcome> {
  const an = createAnalyzer(opts);
  const reader = createChunkReader(an.packet);
  let failure: Error | null = null;
  await new Promise<void>((resolve) => {
    const timer = opts.follow ? setInterval(() => opts.follow!.onProgress(an.progress()), opts.follow.everyMs) : null;
    const done = () => {
      if (timer) clearInterval(timer);
      input.off('data', onData);
      input.off('end', done);
      input.off('error', onError);
      opts.signal?.removeEventListener('abort', done);
      // Stop reading: a pipe left flowing would keep the process alive after the summary.
      input.pause();
      resolve();
    };
    const onData = (chunk: Buffer | string) => reader.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    const onError = (e: Error) => {
      failure = e;
      done();
    };
    if (opts.signal?.aborted) return done();
    input.on('data', onData);
    input.once('end', done);
    input.once('error', onError);
    opts.signal?.addEventListener('abort', done, { once: true });
  });
  if (failure) throw failure;
  const r = reader.end();
  if (!r.ok) return r;
  const result = an.finish(name, r.stats!);
  if (opts.signal?.aborted) result.warnings.push('reading stopped by an interrupt: the figures cover what was read until then');
  return { ok: true, result };
}
