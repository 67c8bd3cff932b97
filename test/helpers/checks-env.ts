import { execFileSync } from 'node:child_process';

/** CI runs as root with the Debian tools installed and sets this: missing tools then fail instead of skipping. */
export const ROOT_TESTS_REQUIRED = process.env.CONNDX_REQUIRE_ROOT_TESTS === '1';

/** Where a tool is, or null (`command -v`). */
export function toolPath(name: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Whether the Prometheus server tests can run: the Debian `prometheus`
 * package (prometheus and promtool). `reason` says why not.
 */
export function prometheusEnv(): { ok: boolean; reason: string } {
  const missing = ['prometheus', 'promtool'].filter((t) => !toolPath(t));
  if (missing.length) return { ok: false, reason: `missing ${missing.join(', ')} (Debian package: prometheus)` };
  return { ok: true, reason: '' };
}
