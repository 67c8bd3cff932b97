import type { Readable } from 'node:stream';
import { ConndxError } from '../errors.js';
import { parseHostPort, type HostPort } from '../parse.js';
import { INPUT_LIMITS, MAX_TARGETS, fmtBytes, readInput, readStreamBounded } from '../input.js';

export const TARGETS_HELP = `@FILE and @- lists: at most ${fmtBytes(INPUT_LIMITS.targets)} and ${MAX_TARGETS.toLocaleString('en')} targets; a FIFO or device is refused.`;

/**
 * Positional targets with `@file` (one target per line; blank lines and
 * `#` comments skipped) and `@-` (the same from standard input) expanded in
 * place, in order.
 */
export async function expandTargets(args: string[], stdin?: Readable): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    if (!a.startsWith('@')) {
      out.push(a);
      continue;
    }
    const src = a.slice(1);
    let text: string;
    if (src === '-') {
      if (!stdin) throw new ConndxError('CONNDX_BAD_ARGUMENT', '@- reads targets from standard input, which is not available here');
      text = await readStreamBounded(stdin, 'targets', 'targets from standard input');
    } else {
      text = await readInput(src, 'targets', 'targets from');
    }
    const lines = text
      .split(/\r?\n/)
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean);
    if (lines.length === 0) throw new ConndxError('CONNDX_BAD_ARGUMENT', `no targets in ${src === '-' ? 'standard input' : src}`);
    for (const l of lines) out.push(l);
    if (out.length > MAX_TARGETS && new Set(out).size > MAX_TARGETS) throw tooMany();
  }
  if (out.length > MAX_TARGETS && new Set(out).size > MAX_TARGETS) throw tooMany();
  return out;
}

function tooMany(): ConndxError {
  return new ConndxError(
    'CONNDX_BAD_ARGUMENT',
    `too many targets: at most ${MAX_TARGETS.toLocaleString('en')} distinct targets in one run (split the list, or use --shard)`,
  );
}

/**
 * The one way a probe command reads its targets: `@file`/`@-` expanded,
 * each parsed as host:port (the kind's default port when it has one), an
 * address of the other family than -4/-6 refused, and a target given twice
 * refused. Every refusal is a bad-target error (exit 3) before any traffic.
 */
export async function parseTargetList(
  args: string[],
  o: { defaultPort?: number; family?: 0 | 4 | 6; stdin?: Readable; parse?: (raw: string) => HostPort },
): Promise<{ raw: string[]; hps: HostPort[] }> {
  const raw = await expandTargets(args, o.stdin);
  // A kind with targets of its own form (http's URLs) reads them itself.
  const hps = raw.map((r) => (o.parse ? o.parse(r) : parseHostPort(r, o.defaultPort)));
  for (const hp of hps) {
    if (hp.family && o.family && hp.family !== o.family) {
      throw new ConndxError('CONNDX_BAD_TARGET', `${hp.raw} is an IPv${hp.family} address but -${o.family} was given`);
    }
  }
  const keys = new Set<string>();
  for (const hp of hps) {
    if (keys.has(hp.raw)) throw new ConndxError('CONNDX_BAD_TARGET', `target "${hp.raw}" is given twice`);
    keys.add(hp.raw);
  }
  return { raw, hps };
}
