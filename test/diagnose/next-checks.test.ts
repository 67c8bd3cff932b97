import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { BIN, labProcess } from '../helpers/lab.js';
import { toolPath } from '../helpers/checks-env.js';

// Every next check diagnose prints is one line that runs as printed, and
// reproduces what the run saw: it resolves, names and trusts as the run did.

function sh(line: string): Promise<{ code: number | null; out: string }> {
  // `conndx` is this checkout's; `sudo` is dropped where we are root and it is not installed.
  let cmd = line.replace(/^conndx /, `"${process.execPath}" "${BIN}" `);
  if (cmd.startsWith('sudo ') && !toolPath('sudo') && process.getuid?.() === 0) cmd = cmd.slice(5);
  cmd = cmd.replace(/^conndx /, `"${process.execPath}" "${BIN}" `);
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const nextChecks = (stdout: string) => {
  const block = stdout.split(/^next checks:\n/m)[1]?.split(/\n(?! {2})/)[0] ?? '';
  return block.split('\n').filter(Boolean);
};

describe('diagnose: the next checks run as printed', () => {
  let labp: Awaited<ReturnType<typeof labProcess>>;
  let dir = '';
  let ca = '';
  let conf = '';
  beforeAll(async () => {
    labp = await labProcess(['dns-loopback', 'tls-ok', 'tls-expired', 'tcp-refuse']);
    dir = await mkdtemp(join(tmpdir(), 'conndx-next-'));
    ca = join(dir, 'lab ca.pem'); // a space: every path must come out quoted
    conf = join(dir, 'resolv.conf');
    await writeFile(ca, String(labp.info['tls-ok']!.ca));
    await writeFile(conf, `nameserver ${labp.endpoints['dns-loopback']!.addr}\n`);
  }, 30_000);
  afterAll(async () => {
    await labp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cases: { name: string; target: () => string; outcome: string; want: Record<string, RegExp> }[] = [
    {
      name: 'a name that does not exist',
      target: () => 'https://api.nx.lab.test/',
      outcome: 'nxdomain',
      want: { 'conndx dns': /nxdomain/ },
    },
    {
      name: 'a closed port',
      target: () => `db.v4.lab.test:${labp.endpoints['tcp-refuse']!.port}`,
      outcome: 'refused',
      want: { 'conndx tcp': /refused/, 'sudo conndx diagnose': /VERDICT FAILING · tcp · refused/ },
    },
    {
      name: 'an expired certificate',
      target: () => `https://api.v4.lab.test:${labp.endpoints['tls-expired']!.port}/`,
      outcome: 'cert-expired',
      want: { 'conndx tls': /cert-expired/, 'openssl s_client': /certificate has expired/ },
    },
  ];
  for (const c of cases) {
    test(
      c.name,
      async () => {
        const r = await runCli(['diagnose', c.target(), '--resolv-conf', conf, '--ca', ca, '-c', '2', '--timeout', '1s']);
        expect(r.stdout).toMatch(new RegExp(`^VERDICT FAILING · \\w+ · ${c.outcome}`, 'm'));
        const lines = nextChecks(r.stdout);
        expect(lines.length).toBeGreaterThan(0);
        const commands = lines.filter((l) => l.startsWith('  $ ')).map((l) => l.slice(4));
        // Advice in words gets no prompt; and it names the file the run read, not /etc/resolv.conf.
        for (const l of lines.filter((x) => !x.startsWith('  $ '))) expect(l).toMatch(/^ {2}- |^ {4}/);
        if (c.outcome === 'nxdomain') {
          expect(r.stdout).toContain(conf);
          expect(r.stdout).not.toContain('/etc/resolv.conf');
        }
        for (const [prefix, re] of Object.entries(c.want)) {
          const cmd = commands.find((x) => x.startsWith(prefix));
          expect(cmd, `${prefix} in ${commands.join(' | ')}`).toBeDefined();
          const run = await sh(cmd!);
          // Runs as printed: never a usage error; and it sees what the diagnosis saw.
          expect(run.code, `${cmd}\n${run.out}`).not.toBe(3);
          expect(run.out, cmd).toMatch(re);
          expect(run.out, cmd).not.toMatch(/cert-untrusted|unable to get local issuer/);
        }
        // Every printed command runs without a usage error.
        for (const cmd of commands) {
          const run = await sh(cmd);
          expect(run.code, `${cmd}\n${run.out}`).not.toBe(3);
          expect(run.out, cmd).not.toMatch(/unknown option|bad target|internal error/);
        }
      },
      120_000,
    );
  }
});
