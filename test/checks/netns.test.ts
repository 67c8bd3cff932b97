// A target whose name does not resolve is CRITICAL with the DNS outcome named,
// not UNKNOWN. Run in a network namespace of our own whose resolver is its own
// loopback, where nothing listens: no query leaves it. Needs root and iproute2;
// skipped with the reason otherwise, and CONNDX_REQUIRE_ROOT_TESTS=1 (CI) fails instead.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { BIN } from '../helpers/lab.js';
import { createNetns, netnsEnv, ROOT_TESTS_REQUIRED } from '../helpers/tcp-env.js';

const env = netnsEnv([]);
const dir = mkdtempSync(join(tmpdir(), 'conndx-checks-ns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.runIf(!env.ok && ROOT_TESTS_REQUIRED)('network namespace tests can run (CONNDX_REQUIRE_ROOT_TESTS=1)', () => {
  expect.fail(env.reason);
});

test.skipIf(!env.ok)(
  `a name that does not resolve: CRITICAL naming the DNS outcome${env.ok ? '' : ` (skipped: ${env.reason})`}`,
  async () => {
    const ns = createNetns();
    try {
      ns.etc('resolv.conf', 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
      const file = join(dir, 'checks.yaml');
      writeFileSync(file, 'checks:\n  - name: db\n    tcp: db.conndx.test:5432\n  - name: api\n    tls: api.conndx.test\n');
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn('ip', ['netns', 'exec', ns.name, process.execPath, BIN, 'check', '--config', file], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d) => {
          stdout += d;
        });
        c.stderr.on('data', (d) => {
          stderr += d;
        });
        const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
        c.on('close', (code) => {
          clearTimeout(t);
          resolve({ code, stdout, stderr });
        });
      });
      expect(r.code, r.stdout + r.stderr).toBe(2);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(
        /^CONNDX CRITICAL - 2 critical, 0 warning, 0 unknown, 0 ok: db CRITICAL \(db\.conndx\.test:5432 does not resolve: DNS network-error \(EAI_AGAIN: no answer from the resolver \(unreachable or refused\)\)\), api CRITICAL \(api\.conndx\.test does not resolve: DNS network-error /,
      );
      expect(lines[0]).toMatch(/ \| 'db_success'=0;;;0;1 'db_duration'=[\d.]+ms;;;0; 'api_success'=0;;;0;1 /);
      expect(lines[1]).toMatch(/^db CRITICAL: tcp db\.conndx\.test:5432: db\.conndx\.test:5432 does not resolve: DNS network-error/);
      // Only the busy-machine warning may appear (timers late on a loaded machine).
      expect(r.stderr).toMatch(
        /^(warning: this process was busy: timers ran up to \d+ ms late \(p99\), so latencies may be inflated by about that much\n)?$/,
      );
    } finally {
      ns.destroy();
    }
  },
);
