import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { ProbeKind } from '../../probes/kinds/kind.js';

export type RegisterCommand = (program: Command, ctx: CliContext) => Command;

export interface CommandEntry {
  name: string;
  /** Arguments as `--help` shows them. */
  usage: string;
  description: string;
  /** Loads the command's module only when that command runs: `conndx --help` stays fast. */
  load: () => Promise<RegisterCommand>;
}

/** Kinds whose command has an action of its own (their flags and help are still the kind's). */
const OWN_ACTIONS: Record<string, () => Promise<RegisterCommand>> = {
  dns: async () => (await import('./dns.js')).registerDns,
  tcp: async () => (await import('./tcp.js')).registerTcp,
  tls: async () => (await import('./tls.js')).registerTls,
};

/** `conndx <kind>` for every kind of the registry: a new kind's command comes with its module. */
function kindCommands(kinds: readonly ProbeKind[]): CommandEntry[] {
  return kinds.map((k: ProbeKind) => ({
    name: k.name,
    usage: k.command.usage ?? k.command.argument[0],
    description: k.command.summary ?? k.command.description,
    load:
      OWN_ACTIONS[k.name] ??
      (async () => {
        const { registerKindCommand } = await import('../kind-command.js');
        return (program: Command, ctx: CliContext) => registerKindCommand(program, ctx, k);
      }),
  }));
}

/**
 * zod's index loads its ~50 locale modules in one go; loaded alone before the
 * rest of a command's module graph, fewer files are open at once, so `check`
 * and `serve` start even under `ulimit -n 100` (and then say UNKNOWN for the
 * checks this machine cannot run, instead of failing to load).
 */
const loadZodFirst = async (): Promise<void> => {
  await import('zod');
};

/**
 * The commands that are not a probe kind's. Named alone (`conndx pcap F`), the
 * program lists only these: the kind registry, and the probe modules it brings
 * (tls, http2, dns2), are not loaded, which halves the start-up of `pcap`.
 */
export const TOOL_COMMANDS: CommandEntry[] = [
  {
    name: 'pcap',
    usage: '<file>',
    description: 'read a capture (pcap, pcapng) and say in which phase connections failed',
    load: async () => (await import('./pcap.js')).registerPcap,
  },
  {
    name: 'diagnose',
    usage: '<url|host[:port]>',
    description: 'the whole chain against one endpoint: a phase waterfall, a verdict, a report for the ticket',
    load: async () => (await import('./diagnose.js')).registerDiagnose,
  },
  {
    name: 'check',
    usage: '--config FILE',
    description: 'run synthetic checks once (Nagios/Icinga plugin exit codes and perfdata)',
    load: async () => (await loadZodFirst(), (await import('./check.js')).registerCheck),
  },
  {
    name: 'serve',
    usage: '--config FILE',
    description: 'run the checks periodically; Prometheus /metrics, /probe and /-/healthy',
    load: async () => (await loadZodFirst(), (await import('./check.js')).registerServe),
  },
  {
    name: 'lab',
    usage: '[endpoint...]',
    description: 'misbehaving endpoints on loopback, until Ctrl-C',
    load: async () => (await import('./lab.js')).registerLab,
  },
  {
    name: 'demo',
    usage: '',
    description: 'start the lab, diagnose a healthy endpoint and several broken ones, exit',
    load: async () => (await import('./demo.js')).registerDemo,
  },
  {
    name: 'merge',
    usage: '<result.json|DIR...>',
    description: 'combine --json results of runs on several machines or shards, exactly',
    load: async () => (await import('./merge.js')).registerMerge,
  },
];

/** Every subcommand, in the order `--help` lists them: the kinds' (from the registry) first. */
export async function allCommands(): Promise<CommandEntry[]> {
  const { PROBERS } = await import('../../probes/registry.js');
  return [...kindCommands(Object.values(PROBERS) as ProbeKind[]), ...TOOL_COMMANDS];
}

/** The commands a run of `wanted` registers: the tool commands alone when it is one of them. */
export async function commandsFor(wanted: string | undefined): Promise<CommandEntry[]> {
  return TOOL_COMMANDS.some((e) => e.name === wanted) ? TOOL_COMMANDS : allCommands();
}
