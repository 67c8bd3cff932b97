import { describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';

// A typo at 3 a.m. gets one line that says what was meant, and exit 3.
describe('did you mean: commands and flags', () => {
  const cases: [string[], RegExp][] = [
    [['tpc', '127.0.0.1:1'], /^conndx: unknown command 'tpc'; did you mean tcp\?\n$/],
    [['dignose', 'x'], /^conndx: unknown command 'dignose'; did you mean diagnose\?\n$/],
    [['tcp', '--coutn', '3', '127.0.0.1:1'], /^conndx: unknown option '--coutn'; did you mean --count\?\n$/],
    [['dns', 'lab.test', '--sever', '127.0.0.1:53'], /^conndx: unknown option '--sever'; did you mean --server\?\n$/],
    [['tls', '127.0.0.1:1', '--tiemout', '1s'], /^conndx: unknown option '--tiemout'; did you mean --timeout\?\n$/],
  ];
  for (const [argv, want] of cases) {
    test(argv.join(' '), async () => {
      const r = await runCli(argv);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(want);
      expect(r.stdout).toBe('');
    });
  }
  test('nothing near: the plain line, no guess', async () => {
    const r = await runCli(['zzzzzz']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("conndx: unknown command 'zzzzzz'\n");
  });
});

describe('diagnose --help tells the truth', () => {
  test('the load options of the probes are neither listed nor accepted', async () => {
    const help = await runCli(['diagnose', '--help']);
    for (const flag of ['--rate', '--duration', '--interval', '--watch', '--adaptive', '--workers', '--shard', '--ndjson', '--no-cap']) {
      expect(help.stdout, flag).not.toContain(flag);
      const r = await runCli([
        'diagnose',
        '127.0.0.1:1',
        flag,
        ...(['--rate', '--duration', '--interval', '--workers', '--shard'].includes(flag) ? ['2'] : []),
      ]);
      expect(r.code, flag).toBe(3);
      expect(r.stderr.trim().split('\n'), flag).toHaveLength(1);
    }
    // What it does take is there.
    for (const flag of ['--count', '--concurrency', '--timeout', '--retries', '--json', '--expect-status'])
      expect(help.stdout).toContain(flag);
  });
});
