import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

/** CI runs as root with the tools installed and sets this: missing tools then fail instead of skipping. */
export const ROOT_TESTS_REQUIRED = process.env.CONNDX_REQUIRE_ROOT_TESTS === '1';

function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether this machine can run the network-namespace tests: root, the tools,
 * and a namespace that can actually be created. `reason` says why not.
 */
export function netnsEnv(tools: string[]): { ok: boolean; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'needs Linux network namespaces' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (ip netns, nft)' };
  const missing = ['ip', ...tools].filter((t) => !hasTool(t));
  if (missing.length) return { ok: false, reason: `missing tools: ${missing.join(', ')} (Debian: iproute2 nftables tcpdump)` };
  const probe = `conndx-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
  } catch (e) {
    return { ok: false, reason: `cannot create a network namespace: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}` };
  }
  return { ok: true, reason: '' };
}

let seq = 0;

export interface Netns {
  name: string;
  /** Runs a command inside the namespace and returns its stdout. */
  run(cmd: string[], input?: string): string;
  /** Starts a long-running command inside the namespace. */
  spawn(cmd: string[]): ChildProcess;
  /** Files laid over /etc inside `ip netns exec` (ip-netns(8): /etc/netns/NAME/). */
  etc(file: string, text: string): void;
  destroy(): void;
}

/** A fresh namespace of our own: only its loopback, up unless `loUp` is false. */
export function createNetns(opts: { loUp?: boolean } = {}): Netns {
  const name = `conndx-tcp-${process.pid}-${seq++}`;
  execFileSync('ip', ['netns', 'add', name]);
  const children: ChildProcess[] = [];
  const ns: Netns = {
    name,
    run: (cmd, input) => execFileSync('ip', ['netns', 'exec', name, ...cmd], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] }),
    spawn: (cmd) => {
      const c = spawn('ip', ['netns', 'exec', name, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      return c;
    },
    etc: (file, text) => {
      mkdirSync(`/etc/netns/${name}`, { recursive: true });
      writeFileSync(`/etc/netns/${name}/${file}`, text);
    },
    destroy: () => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    },
  };
  if (opts.loUp !== false) ns.run(['ip', 'link', 'set', 'lo', 'up']);
  return ns;
}
