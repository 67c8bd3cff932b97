import type { Command } from 'commander';
import { failuresByPhase, parseSend, tcpKind } from '../../probes/kinds/tcp.js';
import type { CliContext } from '../context.js';
import { registerKindCommand } from '../kind-command.js';

/** `conndx tcp`: its flags, help and settings are the tcp kind's (src/probes/kinds/tcp.ts); the run is the generic one. */
export function registerTcp(program: Command, ctx: CliContext): Command {
  return registerKindCommand(program, ctx, tcpKind);
}

export { failuresByPhase, parseSend };
