import { describe, expect, test } from 'vitest';
import { allCommands } from '../../src/cli/commands/index.js';

const COMMANDS = await allCommands();
import { fitHelp } from '../../src/cli/help-width.js';
import { runCli } from '../helpers/cli.js';

// Every command's --help: fits 100 columns, shows examples, and lists only
// options the command takes.

/** A value an option's placeholder asks for, good enough to get past parsing to the command's own checks. */
function valueFor(placeholder: string): string {
  if (/^<n>$/.test(placeholder)) return '2';
  if (/^<d>$/.test(placeholder)) return '1s';
  if (/host/.test(placeholder)) return '127.0.0.1:1';
  if (/k\/n/.test(placeholder)) return '1/2';
  if (/file|dir/.test(placeholder)) return '/nonexistent/conndx-help-test';
  if (/protocol/.test(placeholder)) return 'smtp';
  if (/^<v>$/.test(placeholder)) return 'TLSv1.3';
  return 'x';
}

/** The first argv of a command that fails fast on its operand after every option is read (nothing is probed). */
const BAD_OPERAND: Record<string, string[]> = {
  dns: ['bad name!'],
  tcp: ['bad target!'],
  tls: ['bad target!'],
  http: ['ftp://bad'],
  pcap: ['/nonexistent/conndx-help-test.pcap'],
  diagnose: ['ftp://bad'],
  check: [],
  serve: [],
  lab: ['no-such-endpoint'],
  demo: ['extra-argument'],
  merge: ['/nonexistent/conndx-help-test.json'],
};

/** How a command would say it does not take an option it listed. */
const REFUSAL = /not (available|accepted|supported|taken)|has no effect|is ignored|does not (take|accept|support)/i;

const width = (l: string) => [...l].length;

describe('help tells the truth', () => {
  test('the top-level help fits 100 columns and names every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const l of r.stdout.split('\n')) expect(width(l), l).toBeLessThanOrEqual(100);
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.name} `);
  });

  for (const { name } of COMMANDS) {
    describe(name, () => {
      let help = '';
      test('fits 100 columns and has an Examples section', async () => {
        const r = await runCli([name, '--help']);
        expect(r.code).toBe(0);
        help = r.stdout;
        expect(help).toMatch(/^Examples:\n {2}(sudo )?conndx /m);
        for (const l of help.split('\n')) expect(width(l), l).toBeLessThanOrEqual(100);
        // Every example is one line that a shell runs: no example broken over two lines.
        const examples = help
          .split(/^Examples:\n/m)[1]!
          .split('\n\n')[0]!
          .split('\n');
        for (const l of examples) expect(l, l).toMatch(/^ {2}(sudo |curl |tcpdump |conndx )|^ {6}# /);
      });

      test('lists only options it takes', async () => {
        if (!help) help = (await runCli([name, '--help'])).stdout;
        const options = [...help.matchAll(/^ {2}(?:-\w, )?(--?[\w.-]+)(?: (<[^>]+>|\[[^\]]+\]))?/gm)]
          .map((m) => ({ flag: m[1]!, placeholder: m[2] }))
          .filter((o) => o.flag !== '--help' && o.flag !== '-h');
        expect(options.length).toBeGreaterThan(0);
        for (const o of options) {
          const argv = [name, ...BAD_OPERAND[name]!, o.flag, ...(o.placeholder?.startsWith('<') ? [valueFor(o.placeholder)] : [])];
          // check and serve need their --config: the file that is not there is what stops them.
          if ((name === 'check' || name === 'serve') && o.flag !== '--config') argv.push('--config', '/nonexistent/conndx-help.yaml');
          const r = await runCli(argv);
          expect(r.stderr, argv.join(' ')).not.toMatch(/unknown option/);
          expect(r.stderr, argv.join(' ')).not.toMatch(REFUSAL);
        }
      }, 30_000);

      test('a mistyped option gets a "did you mean"', async () => {
        const long = [...help.matchAll(/^ {2}(?:-\w, )?--([a-z][\w-]{3,})/gm)].map((m) => m[1]!).find((f) => f !== 'help');
        expect(long).toBeDefined();
        // Two letters swapped, as fingers do.
        const typo = `--${long!.slice(0, 1)}${long!.slice(2, 3)}${long!.slice(1, 2)}${long!.slice(3)}`;
        const r = await runCli([name, typo, ...BAD_OPERAND[name]!]);
        expect(r.code).toBe(3);
        expect(r.stderr).toMatch(new RegExp(`unknown option '${typo}'; did you mean --${long}\\?`));
      });
    });
  }

  test('a mistyped command gets a "did you mean" for every command', async () => {
    for (const { name } of COMMANDS) {
      const swapped = `${name.slice(0, 1)}${name.slice(2, 3)}${name.slice(1, 2)}${name.slice(3)}`;
      // "http" swapped is "http" again: a letter too many then.
      const typo = swapped === name ? `${name}x` : swapped;
      const r = await runCli([typo]);
      expect(r.stderr, typo).toBe(`conndx: unknown command '${typo}'; did you mean ${name}?\n`);
    }
  });

  test('diagnose states its DEGRADED thresholds', async () => {
    const r = await runCli(['diagnose', '--help']);
    for (const f of ['--slow-dns', '--slow-connect', '--slow-tls', '--slow-first-byte']) expect(r.stdout).toContain(f);
    expect(r.stdout).toMatch(/DEGRADED/);
    expect(r.stdout).toMatch(/200 ms/);
  });

  test('fitHelp moves a trailing comment under its command and never breaks a command', () => {
    const cmd = `  conndx dns example.com --server 10.0.0.2 --nsid --dnssec --type AAAA --count 20 --concurrency 2 --json`;
    expect(fitHelp(cmd)).toBe(cmd);
    const ex = `  conndx dns example.com --server 10.0.0.2 --nsid   # ${'which instance answered '.repeat(3).trim()}`;
    const out = fitHelp(ex).split('\n');
    expect(out[0]).toBe('  conndx dns example.com --server 10.0.0.2 --nsid');
    expect(out[1]).toMatch(/^ {6}# which/);
    const prose = `Outcomes: ${'word '.repeat(40).trim()}`;
    for (const l of fitHelp(prose).split('\n')) expect(l.length).toBeLessThanOrEqual(100);
    expect(fitHelp(prose).split('\n')[1]).toMatch(/^ {10}word/);
  });
});
