import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { BIN } from '../helpers/lab.js';

const run = promisify(execFile);

// Smoke tests of the real executable (the test command builds dist/ first).
describe('bin/conndx', () => {
  test('--help lists every command; --version prints the version', async () => {
    const help = await run(process.execPath, [BIN, '--help']);
    for (const c of ['dns', 'tcp', 'tls', 'pcap', 'diagnose', 'check', 'serve', 'lab', 'demo', 'merge']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
    const v = await run(process.execPath, [BIN, '--version']);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test.each([[['frobnicate']], [['tcp', '--frob']], [['dns', 'x.test', '--timeout', 'soon']]])('%j: one line, exit 3', async (argv) => {
    const r = await run(process.execPath, [BIN, ...argv]).catch((e) => e);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^conndx: /);
  });

  test('a reader that leaves early (| head) gets no stack trace', async () => {
    const child = spawn('bash', ['-c', `"${process.execPath}" "${BIN}" tcp --help | head -1`]);
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(err).toBe('');
  });
});
