import type { ChalkInstance } from 'chalk';
import type { Readable, Writable } from 'node:stream';
import { fitLine } from '../report/fit.js';

/** What a command may touch: its streams, env and a stop signal. Only main.ts builds one. */
export interface CliContext {
  argv: readonly string[];
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Standard input, for `@-` target lists. */
  stdin?: Readable;
  /** Colour for stdout. */
  c: ChalkInstance;
  /** Colour for stderr. */
  ce: ChalkInstance;
  /** Aborted by the first Ctrl-C: stop starting work, print what there is. */
  stop: AbortSignal;
  /** Dispatches a 'reload' event on SIGHUP (`conndx serve` reloads its config). */
  reload: EventTarget;
  /** Set by the command's action: 0..3. */
  exitCode: number;
  /** Set by a command that runs until stopped (--watch): Ctrl-C is its normal end, not an interruption (no exit 130). */
  untilStopped?: boolean;
  /** What the first Ctrl-C does, said on stderr (default: the probes' "finishing attempts in flight"). */
  onInterrupt?: string;
  /** Sees every attempt record of a probe run as it finishes, whatever the output (tests of a run's summary against its attempts). */
  onAttempt?: (r: import('../core/types.js').AttemptRecord) => void;
}

/** Write and wait for 'drain' when the stream asks for it. */
export function write(stream: Writable, text: string): Promise<void> | void {
  if (!stream.write(text)) return new Promise((resolve) => stream.once('drain', () => resolve()));
}

/** A warning on stderr, wrapped at 100 columns as all prose is. */
export function warn(ctx: CliContext, message: string): void {
  const [first, ...rest] = message.split('\n').flatMap((l, i) => (i === 0 ? fitLine(`warning: ${l}`) : fitLine(l)));
  ctx.stderr.write(`${ctx.ce.yellow('warning:')}${first!.slice('warning:'.length)}\n${rest.map((l) => `${l}\n`).join('')}`);
}
