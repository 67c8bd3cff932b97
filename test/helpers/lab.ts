import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { LAB } from '../../src/lab/registry.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { formatHostPort } from '../../src/parse.js';

export const BIN = fileURLToPath(new URL('../../bin/conndx', import.meta.url));

/** Starts one lab endpoint in this process; the caller closes it. */
export async function lab(name: string, opts?: { host?: string }): Promise<LabEndpoint & { addr: string }> {
  const f = LAB[name];
  if (!f) throw new Error(`no lab endpoint ${name}`);
  const ep = await f(opts);
  return Object.assign(ep, { addr: formatHostPort(ep.host, ep.port) });
}

/**
 * Starts lab endpoints in a child process (`conndx lab --json`), so that
 * timing tests do not share an event loop with the server they measure.
 * Needs `npm run build` first (the test command does it).
 */
export async function labProcess(names: string[]): Promise<{
  endpoints: Record<string, { host: string; port: number; addr: string }>;
  info: Record<string, Record<string, unknown>>;
  child: ChildProcess;
  stop(): Promise<void>;
}> {
  const child = spawn(process.execPath, [BIN, 'lab', ...names, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const deadline = Date.now() + 15_000;
  while (!/\]\s*$/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`lab did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const list = JSON.parse(out) as { name: string; host: string; port: number; info?: Record<string, unknown> }[];
  const endpoints = Object.fromEntries(list.map((e) => [e.name, { host: e.host, port: e.port, addr: formatHostPort(e.host, e.port) }]));
  return {
    endpoints,
    child,
    info: Object.fromEntries(list.map((e) => [e.name, e.info ?? {}])),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGINT');
      await once(child, 'exit');
    },
  };
}
