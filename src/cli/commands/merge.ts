import type { Command } from 'commander';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readInput } from '../../input.js';
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
    .argument('<result.json|DIR...>', 'results of the same probe, from `--json`; a folder stands for every *.json file in it')
    .option('--json', 'print the merged result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  conndx tcp @targets.txt --shard 1/2 --json > a.json   # on host A
  conndx tcp @targets.txt --shard 2/2 --json > b.json   # on host B
  conndx merge a.json b.json
  conndx merge results/                                  # every *.json in it (a Job's volume)

Percentiles come from the merged histograms: the same as one run over all the attempts.`,
    )
    .action(async (files: string[], o: { json?: boolean }) => {
      const results: ProbeResult[] = [];
      for (const f of await expandFolders(files)) {
        const text = await readInput(f, 'result', 'result file');
        let r: ProbeResult;
        try {
          r = JSON.parse(text) as ProbeResult;
        } catch {
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

/**
 * A folder argument stands for the *.json files directly inside it, in name
 * order (shard-0.json, shard-1.json …), so a Job's results volume merges with
 * one argument. A folder with no result in it is unusable input.
 */
async function expandFolders(args: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const a of args) {
    let isDir = false;
    try {
      isDir = (await stat(a)).isDirectory();
    } catch {
      /* reported when it is read */
    }
    if (!isDir) {
      files.push(a);
      continue;
    }
    let names: string[];
    try {
      names = await readdir(a);
    } catch (e) {
      throw new ConndxError('CONNDX_IO', `cannot read the folder ${a}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const json = names.filter((n) => n.endsWith('.json')).sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
    if (json.length === 0) throw new ConndxError('CONNDX_BAD_ARGUMENT', `the folder ${a} holds no *.json result to merge`);
    files.push(...json.map((n) => join(a, n)));
  }
  return files;
}
