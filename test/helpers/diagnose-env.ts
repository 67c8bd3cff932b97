import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabEndpoint } from '../../src/lab/types.js';
import { lab } from './lab.js';

/** CI runs as root with the Debian tools installed and sets this: then a missing tool fails instead of skipping. */
export const REQUIRED = process.env.CONNDX_REQUIRE_ROOT_TESTS === '1';

function which(tool: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** A reason to skip, or null; throws when CONNDX_REQUIRE_ROOT_TESTS=1 demands the tool. */
export function need(tool: string, o: { root?: boolean; paths?: string[] } = {}): string | null {
  let reason: string | null = null;
  const found = which(tool) ?? (o.paths ?? []).find((p) => existsSync(p)) ?? null;
  if (!found) reason = `${tool} is not installed (Debian package: ${tool})`;
  else if (o.root && process.getuid?.() !== 0) reason = `${tool} needs root`;
  if (reason && REQUIRED) throw new Error(`CONNDX_REQUIRE_ROOT_TESTS=1 but ${reason}`);
  return reason;
}

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * A diagnose test bench: the lab resolver answering *.lab.test with
 * loopback, files for --resolv-conf / --hosts / --ca, and the endpoints a
 * test starts. `close()` stops them all.
 */
export async function bench() {
  const dir = mkdtempSync(join(tmpdir(), 'conndx-diagnose-'));
  const open: LabEndpoint[] = [];
  const start = async (name: string) => {
    const ep = await lab(name);
    open.push(ep);
    return ep;
  };
  const dns = await start('dns-loopback');
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const resolvConf = file('resolv.conf', `nameserver 127.0.0.1:${dns.port}\noptions ndots:1\n`);
  const hosts = file('hosts', '127.0.0.1 localhost\n');
  let caFile: string | null = null;
  return {
    dir,
    dns,
    resolvConf,
    hosts,
    start,
    file,
    /** --resolv-conf, --hosts and (when a TLS endpoint ran) --ca and --sni. */
    async ca(): Promise<string> {
      if (!caFile) {
        const t = open.find((e) => e.info?.ca) ?? (await start('tls-ok'));
        caFile = file('ca.pem', t.info!.ca as string);
      }
      return caFile;
    },
    args(extra: string[] = []): string[] {
      return ['--resolv-conf', resolvConf, '--hosts', hosts, ...extra];
    },
    async close() {
      await Promise.allSettled(open.map((e) => e.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
