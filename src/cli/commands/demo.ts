import type { Command } from 'commander';
import { runDemo } from '../../diagnose/demo.js';
import { renderVerdict, wrap, WIDTH } from '../../report/diagnose-terminal.js';
import { fmtElapsed } from '../../report/format.js';
import { makeMeta } from '../../core/meta.js';
import { write, type CliContext } from '../context.js';

export function registerDemo(program: Command, ctx: CliContext): Command {
  return program
    .command('demo')
    .description('start the lab on loopback and diagnose a healthy endpoint and several broken ones, then exit')
    .option('--json', 'one JSON object: every case with its expected and actual verdict')
    .addHelpText(
      'after',
      `
Examples:
  conndx demo                 # every case, a few seconds
  conndx demo --json          # each case's expected and actual verdict, for a script

Needs only Node: no root, no tcpdump, nothing but loopback. The lab's own resolver
answers *.lab.test with 127.0.0.1 / ::1, so each diagnosis runs the whole chain
(lookup, connect, TLS, HTTP) as it would against a real service.

Next: conndx lab (keep the endpoints running), then conndx diagnose <url> against one.`,
    )
    .action(async (o: { json?: boolean }) => {
      const startedAt = new Date().toISOString();
      const c = ctx.c;
      if (!o.json) {
        await write(
          ctx.stdout,
          c.bold('conndx demo: the lab on loopback, one diagnosis per fault') +
            '\n' +
            c.dim(
              wrap(
                "each block below is what `conndx diagnose` says about one endpoint, run here against the lab's own resolver and CA; small counts and short timeouts keep it quick. `conndx lab --try` prints commands that run as printed.",
                WIDTH,
              ),
            ) +
            '\n\n',
        );
      }
      const { cases, elapsedMs } = await runDemo({
        signal: ctx.stop,
        argv: ctx.argv,
        onCase: async (k, i, n) => {
          if (o.json) return;
          const mark = k.matches ? c.green('as expected') : c.red(`expected ${k.expect.status} ${k.expect.phase} ${k.expect.outcome}`);
          await write(
            ctx.stdout,
            c.bold(`[${i + 1}/${n}] ${k.title}`) +
              c.dim(` (${mark})`) +
              '\n' +
              // Not a `$` command line: the diagnosis ran in this process with the lab's own resolver,
              // hosts and CA, which a pasted `conndx diagnose URL` would not have.
              c.dim(`  diagnosis of ${k.target} (the lab's resolver and CA)`) +
              '\n' +
              renderVerdict(c, k.result, { maxEvidence: 2, width: WIDTH - 2 })
                .split('\n')
                .map((l) => `  ${l}`)
                .join('\n') +
              '\n\n',
          );
        },
      });
      if (o.json) {
        await write(
          ctx.stdout,
          JSON.stringify(
            {
              cases: cases.map((k) => ({
                name: k.name,
                title: k.title,
                target: k.target,
                expect: k.expect,
                matches: k.matches,
                verdict: k.result.verdict,
                result: k.result,
              })),
              elapsedMs: Math.round(elapsedMs),
              meta: makeMeta(ctx.argv, startedAt),
            },
            null,
            2,
          ) + '\n',
        );
      } else {
        const ok = cases.filter((k) => k.matches).length;
        await write(
          ctx.stdout,
          `${ok === cases.length ? c.green(`${ok} of ${cases.length} verdicts as expected`) : c.yellow(`${ok} of ${cases.length} verdicts as expected`)}, in ${fmtElapsed(elapsedMs)}.\n` +
            c.dim(
              wrap(
                "(The demo resolves *.lab.test through the lab's own resolver and trusts the lab's CA. By hand: `conndx lab`, then `conndx diagnose URL --server <dns-loopback address> --resolv-conf /dev/null --sni lab.conndx.test --ca <lab CA>`.)",
                WIDTH,
              ),
            ) +
            '\n' +
            c.dim('Your own service:') +
            '\n  conndx diagnose https://api.example.com/healthz --report ticket.md\n',
        );
      }
      ctx.exitCode = 0;
    });
}
