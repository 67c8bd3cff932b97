import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN } from '../helpers/lab.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  maxRssKb?: number;
}

/** The real executable in a child, killed (and failed) past `limitMs`; with `time`, its peak RSS from /usr/bin/time -v. */
function runBin(argv: string[], opts: { limitMs?: number; time?: boolean; stdoutFile?: string; stdin?: string } = {}): Promise<Run> {
  // Catches a hang, not a slow start: node's start-up alone takes seconds on a loaded machine.
  const limitMs = opts.limitMs ?? 60_000;
  const useTime = opts.time && existsSync('/usr/bin/time');
  const cmd = useTime ? '/usr/bin/time' : process.execPath;
  const args = useTime ? ['-v', process.execPath, BIN, ...argv] : [BIN, ...argv];
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const out = opts.stdoutFile ? require_openSync(opts.stdoutFile) : 'pipe';
    const child = spawn(cmd, args, { stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', out, 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    if (opts.stdin !== undefined) {
      child.stdin!.on('error', () => {
        /* conndx stopped reading */
      });
      child.stdin!.end(opts.stdin);
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`conndx ${argv.join(' ')} still running after ${limitMs} ms`));
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      let maxRssKb: number | undefined;
      if (useTime) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
        maxRssKb = m ? Number(m[1]) : undefined;
        stderr = stderr.split(/\n\s*Command being timed:/)[0]!.replace(/Command exited with non-zero status \d+\n?/, '');
      }
      resolve({ code, stdout, stderr, ms: Date.now() - t0, maxRssKb });
    });
  });
}

import { openSync } from 'node:fs';
function require_openSync(path: string): number {
  return openSync(path, 'w');
}

let dir: string;
let server: Server;
let port: number;
let connections = 0;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conndx-harden-'));
  server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  server.close();
});

const oneLine = (r: Run) => {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  return lines[0]!;
};

describe('bounded input files (issue 19, item 1)', () => {
  test.each([
    ['tcp --send @/dev/zero', () => ['tcp', `127.0.0.1:${port}`, '--send', '@/dev/zero', '--count', '1']],
    ['tcp @/dev/urandom', () => ['tcp', '@/dev/urandom']],
    ['tls --ca /dev/zero', () => ['tls', `127.0.0.1:${port}`, '--ca', '/dev/zero', '--count', '1']],
    ['dns --resolv-conf /dev/zero', () => ['dns', 'x.test', '--resolv-conf', '/dev/zero', '--count', '1']],
    ['diagnose --hosts /dev/zero', () => ['diagnose', `127.0.0.1:${port}`, '--hosts', '/dev/zero']],
    ['diagnose --resolv-conf /dev/zero', () => ['diagnose', `127.0.0.1:${port}`, '--resolv-conf', '/dev/zero']],
    ['check --config /dev/zero', () => ['check', '--config', '/dev/zero']],
    ['check --config <a directory>', () => ['check', '--config', dir]],
  ])('%s: refused by its type before reading, exit 3, bounded RSS', async (_n, argv) => {
    const before = connections;
    const r = await runBin(argv(), { time: true, limitMs: 10_000 });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/not a regular file/);
    if (r.maxRssKb !== undefined) expect(r.maxRssKb).toBeLessThan(200 * 1024);
    expect(connections).toBe(before);
  });

  test('a FIFO nobody writes to is refused at once, not waited on', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await runBin(['tcp', `127.0.0.1:${port}`, '--send', `@${fifo}`, '--count', '1'], { limitMs: 5000 });
    expect(r.code).toBe(3);
    expect(oneLine(r)).toMatch(/FIFO/);
  });

  test("regular files over their kind's limit are refused, naming the limit", async () => {
    const big = join(dir, 'big');
    writeFileSync(big, '');
    truncateSync(big, 50 * 1024 * 1024); // sparse: 50 MB claimed, nothing on disk
    for (const [argv, limit] of [
      [['tcp', `127.0.0.1:${port}`, '--send', `@${big}`, '--count', '1'], '1 MiB'],
      [['tcp', `@${big}`], '10 MiB'],
      [['tls', `127.0.0.1:${port}`, '--ca', big, '--count', '1'], '4 MiB'],
      [['check', '--config', big], '1 MiB'],
    ] as const) {
      const r = await runBin([...argv], { time: true });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`over the ${limit} limit`);
      if (r.maxRssKb !== undefined) expect(r.maxRssKb).toBeLessThan(200 * 1024);
    }
  });

  test('100,000 distinct targets are refused by the 10,000 cap in bounded memory, before any connection', async () => {
    const list = join(dir, 'targets.txt');
    writeFileSync(
      list,
      Array.from({ length: 100_000 }, (_, i) => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${port}`).join('\n'),
    );
    const before = connections;
    const r = await runBin(['tcp', `@${list}`, '--count', '1'], { time: true });
    expect(r.code).toBe(3);
    expect(oneLine(r)).toMatch(/too many targets: at most 10,000/);
    if (r.maxRssKb !== undefined) expect(r.maxRssKb).toBeLessThan(300 * 1024);
    expect(connections).toBe(before);
  });

  test('@- from stdin past 10 MiB is refused', async () => {
    const r = await runBin(['tcp', '@-'], { stdin: 'x'.repeat(11 * 1024 * 1024) });
    expect(r.code).toBe(3);
    expect(oneLine(r)).toMatch(/over the 10 MiB limit/);
  });

  test('a YAML alias bomb is a named config error, not an internal error', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const p = String.fromCharCode(96 + i);
      const n = String.fromCharCode(97 + i);
      bomb.push(`${n}: &${n} [${Array(9).fill(`*${p}`).join(',')}]`);
    }
    bomb.push('checks: *i');
    const f = join(dir, 'bomb.yaml');
    writeFileSync(f, bomb.join('\n') + '\n');
    const r = await runBin(['check', '--config', f], { time: true });
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/alias/);
    expect(r.stdout + r.stderr).not.toMatch(/internal error/);
  });

  test("--help says each file kind's limit", async () => {
    const tcp = (await runBin(['tcp', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(tcp).toContain('at most 10 MiB and 10,000 targets');
    expect(tcp).toContain('(at most 1 MiB)');
    expect((await runBin(['tls', '--help'])).stdout.replace(/\s+/g, ' ')).toContain('(at most 4 MiB)');
    expect((await runBin(['check', '--help'])).stdout.replace(/\s+/g, ' ')).toContain('at most 1 MiB');
    const diag = (await runBin(['diagnose', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(diag).toContain('(at most 4 MiB)');
    expect(diag).toContain('at most 1 MiB');
  });
});

describe('write errors (issue 19, item 2)', () => {
  test.each([
    [['lab', '--list']],
    [['tcp', '--help']],
    [['tcp', '127.0.0.1:1', '--count', '1', '--timeout', '200ms']],
    [['merge', '--help']],
  ])('%j > /dev/full: one stderr line, exit 3', async (argv) => {
    const r = await runBin(argv, { stdoutFile: '/dev/full' });
    expect(r.code).toBe(3);
    expect(oneLine(r)).toBe('conndx: cannot write to standard output: ENOSPC (no space left on the device)');
  });

  test('check > /dev/full is UNKNOWN (3), not WARNING', async () => {
    const f = join(dir, 'one.yaml');
    writeFileSync(f, `checks:\n  - name: one\n    probe: tcp\n    target: 127.0.0.1:${port}\n    count: 1\n`);
    const r = await runBin(['check', '--config', f], { stdoutFile: '/dev/full' });
    expect(r.code).toBe(3);
    expect(oneLine(r)).toMatch(/cannot write to standard output: ENOSPC/);
  });

  test('diagnose --report /dev/full: one line, exit 3, and /dev/full is still a device', async () => {
    const link = join(dir, 'full.md');
    execFileSync('ln', ['-sf', '/dev/full', link]);
    const r = await runBin(['diagnose', `127.0.0.1:${port}`, '--report', link], { limitMs: 20_000 });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot write --report ".*full.md": ENOSPC/);
    expect(execFileSync('stat', ['-c', '%F', '/dev/full']).toString().trim()).toBe('character special file');
  });

  test('diagnose --report on a full disk leaves the previous report whole, and no temporary file', async () => {
    const mnt = join(dir, 'small');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      if (process.env.CONNDX_REQUIRE_ROOT_TESTS === '1') throw new Error('CONNDX_REQUIRE_ROOT_TESTS=1 but cannot mount a tmpfs');
      console.warn('skipped: cannot mount a tmpfs (needs root)');
      return;
    }
    try {
      const report = join(mnt, 'r.md');
      writeFileSync(report, 'previous report\n');
      const r = await runBin(['diagnose', `127.0.0.1:${port}`, '--report', report], { limitMs: 20_000 });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cannot write --report .*ENOSPC/);
      expect(readFileSync(report, 'utf8')).toBe('previous report\n');
      expect(readdirSync(mnt)).toEqual(['r.md']);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('durations in range (issue 19, item 4)', () => {
  test.each([
    [['tcp', '127.0.0.1:1', '--timeout', '597h'], /bad --timeout "597h": at most 10m/],
    [['tcp', '127.0.0.1:1', '--timeout', '11m'], /at most 10m/],
    [['tcp', '127.0.0.1:1', '--duration', '0'], /bad --duration "0": must be more than 0/],
    [['tcp', '127.0.0.1:1', '--duration', '25h'], /at most 24h/],
    [['tcp', '127.0.0.1:1', '--hold', '2h'], /at most 1h/],
    [['dns', 'x.test', '--server', '127.0.0.1:1', '--timeout', '100000000000s'], /at most 10m/],
    [['diagnose', '127.0.0.1:1', '--slow-dns', '1000h'], /at most 10m/],
  ])('%j: exit 3 before any attempt', async (argv, re) => {
    const before = connections;
    const r = await runBin(argv.map((a) => a.replace('127.0.0.1:1', `127.0.0.1:${port}`)));
    expect(r.code).toBe(3);
    expect(oneLine(r)).toMatch(re);
    expect(connections).toBe(before);
  });

  test('the maximum itself is accepted, and a refusing port is "refused", not a 1 ms "timeout"', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = await runBin(['tcp', `127.0.0.1:${closedPort}`, '--count', '1', '--timeout', '10m', '--json']);
    expect(r.code, r.stderr).toBe(2);
    expect(JSON.stringify(JSON.parse(r.stdout).outcomes ?? JSON.parse(r.stdout))).toMatch(/refused/);
    expect(JSON.stringify(JSON.parse(r.stdout))).not.toMatch(/"timeout":\s*[1-9]/);
  });
});

describe('shell-safe suggestions, no raw control characters (issue 19, item 5)', () => {
  /** Runs each suggested line in bash with curl/conndx/openssl/getent stubbed to print their argv, and `id` booby-trapped. */
  function pasteEach(lines: string[]): string[] {
    return lines.map((l) =>
      execFileSync(
        'bash',
        [
          '-c',
          `curl() { printf '<%s>' "$@"; }; conndx() { printf '<%s>' "$@"; }; sudo() { "$@"; }; openssl() { printf '<%s>' "$@"; }; getent() { printf '<%s>' "$@"; }; id() { echo INJECTED; }; ${l}`,
        ],
        { input: '' },
      ).toString(),
    );
  }

  test('a URL with ";id" and "$(id)" gives suggestions that, pasted, run no id (terminal and Markdown)', async () => {
    const url = `http://127.0.0.1:${port}/x;id?a=$(id)&b=\`id\``;
    const md = join(dir, 'inject.md');
    // --show-query: without it the query is ?… in the next checks too (it may hold a token).
    const r = await runBin(['diagnose', url, '--count', '1', '--show-query', '--report', md], { limitMs: 20_000 });
    expect([1, 2], r.stderr).toContain(r.code);
    const term = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('  $ '))
      .map((l) => l.slice(4));
    expect(term.some((l) => l.startsWith('curl'))).toBe(true);
    const mdLines = readFileSync(md, 'utf8')
      .split('\n')
      .filter((l) => /^- `+ ?(curl|conndx|sudo|openssl)/.test(l))
      .map((l) => l.replace(/^- (`+) ?/, '').replace(/ ?`+$/, ''));
    expect(mdLines.some((l) => l.startsWith('curl'))).toBe(true);
    for (const out of pasteEach([...term, ...mdLines])) {
      expect(out).not.toContain('INJECTED');
    }
    const curl = pasteEach(term.filter((l) => l.startsWith('curl')))[0]!;
    expect(curl).toContain(`<http://127.0.0.1:${port}/x;id?a=$(id)&b=\`id\`>`);
  });

  test.each([
    ['--http with CRLF', () => ['diagnose', `127.0.0.1:${port}`, '--http', '/a\r\nX-Injected: 1']],
    ['--http with LF and a second request', () => ['diagnose', `127.0.0.1:${port}`, '--http', '/\n\nGET /second HTTP/1.1']],
    ['a URL with CR/LF', () => ['diagnose', `http://127.0.0.1:${port}/a\r\nX-Injected: 1`]],
    ['a target with an escape sequence', () => ['diagnose', `http://127.0.0.1:${port}/\x1b[2J`]],
    ['--sni with CRLF', () => ['diagnose', `127.0.0.1:${port}`, '--sni', 'a\r\nb']],
  ])('%s: refused as bad input, nothing sent, no raw control character on stderr', async (_n, argv) => {
    const before = connections;
    const r = await runBin(argv(), { limitMs: 10_000 });
    expect(r.code).toBe(3);
    expect(oneLine(r)).toMatch(/control character|not a host name/);

    expect(r.stderr.replace(/\n$/, '')).not.toMatch(/[\x00-\x1f\x7f]/);
    expect(connections).toBe(before);
  });
});

describe('names for what broke (issue 19, item 7)', () => {
  async function tcpResult(): Promise<Record<string, any>> {
    const r = await runBin(['tcp', `127.0.0.1:${port}`, '--count', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }

  test('merge: "constructor" and "__proto__" keys are data; corrupt and missing histograms are named, exit 3', async () => {
    const a = await tcpResult();
    const fa = join(dir, 'a.json');
    writeFileSync(fa, JSON.stringify(a));
    const b = JSON.parse(JSON.stringify(a));
    b.outcomes.constructor = 2;
    const fb = join(dir, 'b.json');
    writeFileSync(fb, JSON.stringify(b).replace('"outcomes":{', '"outcomes":{"__proto__":5,'));
    const m = await runBin(['merge', fa, fb, '--json']);
    expect(m.code, m.stderr).toBe(0);
    const merged = JSON.parse(m.stdout);
    expect(Object.getOwnPropertyDescriptor(merged.outcomes, 'constructor')?.value).toBe(2);
    expect(Object.getOwnPropertyDescriptor(merged.outcomes, '__proto__')?.value).toBe(5);
    expect(merged.outcomes.ok).toBe(6);
    const text = await runBin(['merge', fa, fb]);
    expect(text.stdout).not.toMatch(/function|\[object/);

    const corrupt = JSON.parse(JSON.stringify(a));
    corrupt.histograms.latency.hdr = corrupt.histograms.latency.hdr.slice(0, 12) + '!!!';
    const fc = join(dir, 'c.json');
    writeFileSync(fc, JSON.stringify(corrupt));
    const c = await runBin(['merge', fa, fc]);
    expect(c.code).toBe(3);
    expect(oneLine(c)).toMatch(/"latency" histogram .* is corrupt/);
    expect(c.stderr).not.toMatch(/internal error/);

    const missing = JSON.parse(JSON.stringify(a));
    delete missing.histograms;
    delete missing.target;
    const fm = join(dir, 'm.json');
    writeFileSync(fm, JSON.stringify(missing));
    const mm = await runBin(['merge', fa, fm]);
    expect(mm.code).toBe(3);
    expect(oneLine(mm)).toMatch(/carries no histograms/);
    expect(mm.stderr).not.toMatch(/undefined/);
  });

  test('check caps its problem lines: 2,000 duplicate names give 20 lines and "… and N more"', async () => {
    const f = join(dir, 'dups.yaml');
    writeFileSync(
      f,
      'checks:\n' + Array.from({ length: 2000 }, () => `  - { name: same, probe: tcp, target: "127.0.0.1:${port}" }`).join('\n') + '\n',
    );
    const r = await runBin(['check', '--config', f]);
    expect(r.code).toBe(3);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[20]).toMatch(/^conndx: … and \d{4} more problems$/);
    expect(r.stdout.trim().split('\n').length).toBeLessThanOrEqual(21);
  });

  test('diagnose refuses port 0 and --tls with --no-tls, before any connection', async () => {
    const before = connections;
    for (const argv of [
      ['diagnose', 'http://127.0.0.1:0/'],
      ['diagnose', '127.0.0.1:0'],
      ['diagnose', `127.0.0.1:${port}`, '--tls', '--no-tls'],
    ]) {
      const r = await runBin(argv);
      expect(r.code).toBe(3);
      expect(oneLine(r)).toMatch(/port must be 1-65535|--tls and --no-tls/);
    }
    expect(connections).toBe(before);
  });

  test('a pcapng block claiming 4 GB is skipped with a warning', async () => {
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    const shb = Buffer.concat([u32(0x0a0d0d0a), u32(28), u32(0x1a2b3c4d), Buffer.from([1, 0, 0, 0]), Buffer.alloc(8, 0xff), u32(28)]);
    const idb = Buffer.concat([u32(1), u32(20), Buffer.from([1, 0, 0, 0]), u32(65535), u32(20)]);
    const big = Buffer.concat([u32(6), u32(0xfffffffc), Buffer.alloc(24)]);
    const f = join(dir, 'big.pcapng');
    writeFileSync(f, Buffer.concat([shb, idb, big]));
    const r = await runBin(['pcap', f], { time: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: block of type 0x6 has impossible length 4294967292/);
    if (r.maxRssKb !== undefined) expect(r.maxRssKb).toBeLessThan(200 * 1024);
  });
});

describe('protocol violations have their own outcome (issue 19, item 7)', () => {
  test('a server answering a TLS ClientHello with plain text is not-tls (named), not error', async () => {
    const garbage = createServer((s) => {
      s.on('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    try {
      const gp = (garbage.address() as { port: number }).port;
      const r = await runBin(['tls', `127.0.0.1:${gp}`, '--count', '2', '--json']);
      expect(r.code, r.stderr).toBe(2);
      const json = JSON.parse(r.stdout);
      expect(json.outcomes).toEqual({ 'not-tls': 2 });
      expect(json.answeredWith).toBe('HTTP ("HTTP/1.1 400 Bad Request")');
      expect(json.localErrors ?? 0).toBe(0);
    } finally {
      garbage.close();
    }
  });
});
