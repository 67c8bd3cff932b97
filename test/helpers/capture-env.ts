import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '..', '..');

/** The shared corpus lives beside the repo (`../shared`), in CI as on a workstation. */
export function sharedCorpus(name: 'robustness' | 'zeek'): string | null {
  const dir = join(REPO_ROOT, '..', 'shared', 'corpus', name);
  return existsSync(dir) ? dir : null;
}

/** Tests that need root or a Debian tool: a reason to skip, or a failure when CI demands them. */
export function requireTool(tool: string, needRoot = false): { ok: true } | { ok: false; reason: string } {
  let reason: string | null = null;
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    reason = `${tool} is not installed`;
  }
  if (!reason && needRoot && process.getuid?.() !== 0) reason = `${tool} needs root`;
  if (reason && process.env.CONNDX_REQUIRE_ROOT_TESTS === '1') throw new Error(`CONNDX_REQUIRE_ROOT_TESTS=1 but ${reason}`);
  return reason ? { ok: false, reason } : { ok: true };
}

/**
 * Starts tcpdump and resolves once it captures: after its "listening on" line
 * and the moment after it before the capture ring sees packets. Fails when
 * tcpdump exits or does not start within 5 s.
 */
export async function startTcpdump(
  args: string[],
  stdout: 'ignore' | 'pipe' = 'ignore',
): Promise<import('node:child_process').ChildProcess> {
  const { spawn } = await import('node:child_process');
  const dump = spawn('tcpdump', args, { stdio: ['ignore', stdout, 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    dump.stderr!.on('data', (d: Buffer) => {
      if (String(d).includes('listening on')) resolve();
    });
    dump.on('exit', (code) => reject(new Error(`tcpdump exited with ${code}`)));
    setTimeout(() => reject(new Error('tcpdump did not start')), 5000).unref();
  });
  // "listening on" comes a moment before the capture ring sees packets.
  await new Promise((r) => setTimeout(r, 1000));
  return dump;
}
