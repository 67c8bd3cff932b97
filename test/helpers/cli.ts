import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

class Sink extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

/** Runs the CLI in-process with fake streams, as a user would from a shell. */
export async function runCli(
  argv: string[],
  opts: { env?: Record<string, string>; tty?: boolean; signal?: AbortSignal } = {},
): Promise<CliRun> {
  const stdout = new Sink(opts.tty);
  const stderr = new Sink(opts.tty);
  const code = await main({ argv, stdout, stderr, env: opts.env ?? {}, signal: opts.signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export async function runCliJson<T = Record<string, any>>(argv: string[]): Promise<{ code: number; json: T; stderr: string }> {
  const r = await runCli([...argv, '--json']);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)} stderr: ${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}
