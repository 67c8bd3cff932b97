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
