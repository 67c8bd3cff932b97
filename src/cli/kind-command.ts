import { Option, type Command } from 'commander';
import type { KindOption, ProbeKind } from '../probes/kinds/kind.js';
import { optionsFromFlags } from '../probes/kinds/kind.js';
import { resolveTargets } from '../probes/resolve.js';
import type { CliContext } from './context.js';
import { addProbeOptions, describePacing, parseProbeOptions } from './probe-options.js';
import { kindSummaryParts, lookupLines, runProbeCommand, targetsLabel } from './run-probe.js';
import { parseTargetList } from './targets.js';
import { reportUnresolved } from './unresolved.js';

/** The commander option of one row of a kind's option table. */
export function commanderOption(o: KindOption): Option {
  const opt = new Option(o.flag!, o.help ?? '');
  if (o.choices) opt.choices(o.choices);
  if (o.shownDefault !== undefined) opt.default(o.shownDefault);
  if (o.repeatable) opt.argParser((v: string, prev: string[] = []) => [...prev, v]);
  if (o.hidden) opt.hideHelp();
  return opt;
}

/** Adds every flag of a kind's option table, in the table's order. */
export function addKindOptions(cmd: Command, kind: Pick<ProbeKind, 'options'>): Command {
  for (const o of kind.options) if (o.flag) cmd.addOption(commanderOption(o));
  return cmd;
}

export type KindAction = (args: string[] | string, o: Record<string, unknown>) => Promise<void>;

/**
 * `conndx <kind>`: its description, argument, flags (the kind's table, then
 * the shared probe options) and help text all from the kind module; the run
 * is the generic one (targets → resolve → the kind's plan → the engine)
 * unless the kind has its own action (dns asks servers, tls has proxies and
 * the raw prober).
 */
export function registerKindCommand(program: Command, ctx: CliContext, kind: ProbeKind, action?: KindAction): Command {
  const cmd = program
    .command(kind.name)
    .description(kind.command.description)
    .argument(...kind.command.argument);
  addKindOptions(cmd, kind);
  addProbeOptions(cmd);
  cmd.addHelpText('after', kind.command.helpAfter());
  cmd.action(action ?? ((args: string[], o: Record<string, unknown>) => runGenericKind(ctx, kind, args, o)));
  return cmd;
}

async function runGenericKind(ctx: CliContext, kind: ProbeKind, args: string[], o: Record<string, unknown>): Promise<void> {
  const g = kind.generic;
  if (!g) throw new Error(`the ${kind.name} kind has no generic command`);
  const opts = parseProbeOptions(o);
  const values = optionsFromFlags(kind.options, o);
  const { raw, hps } = await parseTargetList(args, { family: opts.family, stdin: ctx.stdin, parse: g.parseTarget });
  const settings = g.settings(values, { timeoutMs: opts.timeoutMs, family: opts.family }, hps);
  // Resolve each name once, before the run; the lookup time is reported apart.
  const { resolved, targets } = await resolveTargets(hps, opts.family);
  // A name that does not resolve is a finding about that target: the others are still probed.
  const keys = hps.map((hp) => hp.raw);
  const { unresolved, done } = await reportUnresolved(ctx, kind.name, keys, resolved, raw.join(' '), opts.json);
  if (done) return;
  const built = await kind.plan(settings, targets, { signal: ctx.stop });
  try {
    await runProbeCommand(ctx, {
      ...built.plan,
      label: raw.join(' '),
      leftOut: unresolved,
      opts,
      engineTimeoutMs: built.engineTimeoutMs,
      header: [
        `CONNDX ${kind.name.toUpperCase()} ${targetsLabel(raw)} (${g.describe(settings, describePacing(opts))})`,
        ...lookupLines(targets),
      ].join('\n'),
      ...kindSummaryParts(kind.summary(settings), ctx),
    });
  } finally {
    built.close();
  }
}
