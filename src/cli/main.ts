import { Command, CommanderError } from 'commander';
import type { Readable, Writable } from 'node:stream';
import { isConndxError, isUserError } from '../errors.js';
import type { ChalkInstance } from 'chalk';
import { conndxVersion } from '../core/meta.js';
import { escapeControl } from '../shell.js';
import { guardStdout, isWriteError, stdoutWriteErrorLine } from '../output.js';
import { commandsFor, type CommandEntry } from './commands/index.js';
import { fitHelp, HELP_WIDTH } from './help-width.js';
import { localFault, readOpenFilesLimit } from '../probes/local-errors.js';
import { setMaxListeners } from 'node:events';
import type { CliContext } from './context.js';

export interface MainArgs {
  argv: readonly string[];
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  stdin?: Readable;
  /** Abort to stop the run as the first Ctrl-C does (tests); the bin wires SIGINT to it. */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM/SIGHUP handlers (only the real process). */
  handleSignals?: boolean;
  /** Dispatch 'reload' here as SIGHUP does (tests); the bin wires SIGHUP to it. */
  reload?: EventTarget;
  /** Every attempt record of a probe run, as it finishes (tests: a summary against its attempts). */
  onAttempt?: CliContext['onAttempt'];
}

/**
 * The program with every subcommand listed; only the one named in argv is
 * loaded and registered in full (its options, its help), so start-up does
 * not pay for the modules of the others.
 */
export async function buildProgram(ctx: CliContext, argv: readonly string[], commands?: CommandEntry[]): Promise<Command> {
  const program = new Command('conndx')
    .description('Connection diagnostics: which phase fails (DNS, TCP, TLS or the application), and how')
    .version(conndxVersion(), '-V, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    // Subcommands inherit both: help wraps at 100 columns whatever the terminal says.
    .configureHelp({ helpWidth: HELP_WIDTH })
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(fitHelp(s)),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: () => {
        /* main() prints the one line */
      },
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 all attempts succeeded, 1 some failed, 2 all failed, 3 bad input.
Start with:  conndx demo        (misbehaving endpoints on loopback, and what each looks like)`,
    );
  const wanted = argv[0] === 'help' ? argv[1] : argv[0];
  for (const entry of commands ?? (await commandsFor(wanted))) {
    let cmd: Command;
    if (entry.name === wanted) {
      cmd = (await entry.load())(program, ctx);
    } else {
      // A listing for `conndx --help`; never run (the real one is loaded when named).
      cmd = program.command(entry.name).description(entry.description).allowUnknownOption().allowExcessArguments();
      if (entry.usage) cmd.usage(`[options] ${entry.usage}`);
    }
    cmd.exitOverride().configureOutput({
      writeOut: (s) => ctx.stdout.write(fitHelp(s)),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: () => {},
    });
  }
  return program;
}

/** `check`'s status line when the run itself could not happen (Nagios reads stdout's first line). */
function writeCheckUnknown(args: MainArgs, text: string): void {
  const summary = `CONNDX UNKNOWN - ${escapeControl(text)}`;
  try {
    if (args.argv.includes('--json')) {
      args.stdout.write(JSON.stringify({ status: 'UNKNOWN', exitCode: 3, summary, checks: [] }, null, 2) + '\n');
    } else args.stdout.write(`${summary}\n`);
  } catch {
    /* stdout gone: the exit code still says UNKNOWN */
  }
}

/** Colourless stand-in for chalk where no command runs (top-level help, version): chalk costs ~30 ms to load. */
const plain: ChalkInstance = new Proxy(function () {} as unknown as ChalkInstance, {
  get: (_t, prop) => (prop === 'level' ? 0 : plain),
  apply: (_t, _this, args: unknown[]) => args.join(' '),
});

/** The CLI: argv in, exit code out. Nothing below this touches argv, env, signals or exit. */
export async function main(args: MainArgs): Promise<number> {
  const stopper = new AbortController();
  // Every check, attempt and phase listens for the one stop: dozens at once are expected, not a leak.
  setMaxListeners(0, stopper.signal);
  if (args.signal) args.signal.addEventListener('abort', () => stopper.abort(), { once: true });
  const ctx: CliContext = {
    argv: args.argv,
    stdout: args.stdout,
    stderr: args.stderr,
    env: args.env,
    stdin: args.stdin,
    c: plain,
    ce: plain,
    stop: stopper.signal,
    reload: args.reload ?? new EventTarget(),
    exitCode: 0,
    ...(args.onAttempt ? { onAttempt: args.onAttempt } : {}),
  };
  let interrupts = 0;
  // Which signal stopped the run: the command still prints what was done, then
  // the exit code says "interrupted" (130 for SIGINT, 143 for SIGTERM, as shells do).
  let stoppedBy: 'SIGINT' | 'SIGTERM' | null = null;
  const onSigint = () => {
    interrupts++;
    stoppedBy ??= 'SIGINT';
    if (interrupts === 1) {
      if (!ctx.untilStopped)
        args.stderr.write(`\n(interrupted: ${ctx.onInterrupt ?? 'finishing attempts in flight'}; Ctrl-C again to quit now)\n`);
      stopper.abort();
    } else {
      process.exit(130);
    }
  };
  const onSigterm = () => {
    // A second SIGTERM (or one after Ctrl-C) ends the process now.
    if (stoppedBy) process.exit(stoppedBy === 'SIGINT' ? 130 : 143);
    stoppedBy = 'SIGTERM';
    stopper.abort();
  };
  const onSighup = () => ctx.reload.dispatchEvent(new Event('reload'));
  // `conndx … | head` (EPIPE) ends quietly; a full disk or /dev/full ends with one line and exit 3.
  if (args.handleSignals) {
    guardStdout(args.stdout, args.stderr);
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    process.on('SIGHUP', onSighup);
  }
  try {
    // Read while a file can still be opened: a run that ends in EMFILE names the limit.
    readOpenFilesLimit();
    const wanted = args.argv[0] === 'help' ? args.argv[1] : args.argv[0];
    const commands = await commandsFor(wanted);
    if (commands.some((e) => e.name === wanted)) {
      const { makeChalk } = await import('../report/format.js');
      ctx.c = makeChalk(Boolean(args.stdout.isTTY), args.env);
      ctx.ce = makeChalk(Boolean(args.stderr.isTTY), args.env);
    }
    const program = await buildProgram(ctx, args.argv, commands);
    if (args.argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync([...args.argv], { from: 'user' });
    // `serve` and `lab` run until stopped: a signal is how they end (serve drains first), not an interruption.
    const daemon = args.argv[0] === 'serve' || args.argv[0] === 'lab';
    if (stoppedBy === 'SIGINT' && !daemon && !ctx.untilStopped) return 130;
    if (stoppedBy === 'SIGTERM' && !daemon) return 143;
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      // One line, with commander's suggestion kept ("(Did you mean tcp?)" comes on a line of its own).
      const [first, ...rest] = e.message.replace(/^error: /, '').split('\n');
      const near = rest.map((l) => /Did you mean (.+?)\?/i.exec(l)?.[1]).find(Boolean);
      args.stderr.write(`conndx: ${escapeControl(first ?? '')}${near ? `; did you mean ${escapeControl(near)}?` : ''}\n`);
      return 3;
    }
    if (isWriteError(e)) {
      args.stderr.write(stdoutWriteErrorLine(e));
      return 3;
    }
    if (isUserError(e) && isConndxError(e)) {
      // Values echoed in messages (a target, a path) never reach the terminal raw.
      args.stderr.write(`conndx: ${escapeControl(e.message)}${e.hint ? ` (${escapeControl(e.hint)})` : ''}\n`);
      return 3;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    // Out of file descriptors (even while loading conndx's own modules) is this machine's fault: said
    // without the path Node names; `check` still prints its one status line (UNKNOWN) for Nagios.
    const fault = localFault(e);
    const line = fault ? `this machine ran out of resources: ${fault}` : `internal error: ${err.message}`;
    if (args.argv[0] === 'check') writeCheckUnknown(args, `could not run: ${line}`);
    args.stderr.write(`conndx: ${escapeControl(line)}\n`);
    if (args.env.CONNDX_DEBUG) args.stderr.write(`${err.stack}\n`);
    return 3;
  } finally {
    if (args.handleSignals) {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      process.off('SIGHUP', onSighup);
    }
  }
}
