import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { mergeResults } from '../../engine/merge.js';
import type { ProbeResult } from '../../engine/summary.js';
import { ConndxError } from '../../errors.js';
import { makeMeta } from '../../core/meta.js';
import { renderProbeSummary } from '../../report/probe-terminal.js';
import type { CliContext } from '../context.js';
import { probeExitCode } from '../run-probe.js';

export function registerMerge(program: Command, ctx: CliContext): Command {
  return program
    .command('merge')
    .description('combine the --json results of runs on several machines (or shards) exactly')
    .argument('<result.json...>', 'results of the same probe, from `--json`')
    .option('--json', 'print the merged result as JSON')
    .addHelpText('after', `
Examples:
  conndx tcp @targets.txt --shard 1/2 --json > a.json    # on host A
  conndx tcp @targets.txt --shard 2/2 --json > b.json    # on host B
  conndx merge a.json b.json

Percentiles come from the merged histograms: the same as one run over all the attempts.`)
    .action(async (files: string[], o: { json?: boolean }) => {
      const results: ProbeResult[] = [];
      for (const f of files) {
        let text: string;
        try { text = await readFile(f, 'utf8'); } catch (e) {
          throw new ConndxError('CONNDX_IO', `cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
        let r: ProbeResult;
        try { r = JSON.parse(text) as ProbeResult; } catch {
          throw new ConndxError('CONNDX_BAD_ARGUMENT', `${f} is not a conndx JSON result`);
        }
        if (typeof r !== 'object' || r === null || typeof r.probe !== 'string' || typeof r.attempts !== 'number') {
          throw new ConndxError('CONNDX_BAD_ARGUMENT', `${f} is not a conndx probe result (no "probe" and "attempts")`);
        }
        results.push(r);
      }
      const merged = mergeResults(results);
      merged.meta = makeMeta(ctx.argv);
      if (o.json) ctx.stdout.write(JSON.stringify(merged, null, 2) + '\n');
      else {
        ctx.stdout.write(ctx.c.bold(`CONNDX MERGE ${results.length} ${merged.probe} results`) + '\n');
        ctx.stdout.write(renderProbeSummary(ctx.c, merged, { phaseLabel: merged.probe }));
      }
      ctx.exitCode = probeExitCode(merged);
    });
}
