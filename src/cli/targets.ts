import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ConndxError } from '../errors.js';
import { parseHostPort, type HostPort } from '../parse.js';

/**
 * Positional targets with `@file` (one target per line; blank lines and
 * `#` comments skipped) and `@-` (the same from standard input) expanded in
 * place, in order.
 */
export async function expandTargets(args: string[], stdin?: Readable): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    if (!a.startsWith('@')) { out.push(a); continue; }
    const src = a.slice(1);
    let text: string;
    if (src === '-') {
      if (!stdin) throw new ConndxError('CONNDX_BAD_ARGUMENT', '@- reads targets from standard input, which is not available here');
      const chunks: Buffer[] = [];
      for await (const c of stdin) chunks.push(Buffer.from(c as Buffer));
      text = Buffer.concat(chunks).toString('utf8');
    } else {
      try { text = await readFile(src, 'utf8'); } catch (e) {
        throw new ConndxError('CONNDX_IO', `cannot read targets from ${src}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
    }
    const lines = text.split(/\r?\n/).map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
    if (lines.length === 0) throw new ConndxError('CONNDX_BAD_ARGUMENT', `no targets in ${src === '-' ? 'standard input' : src}`);
    out.push(...lines);
  }
  return out;
}

/**
 * The one way a probe command reads its targets: `@file`/`@-` expanded,
 * each parsed as host:port (the kind's default port when it has one), an
 * address of the other family than -4/-6 refused, and a target given twice
 * refused. Every refusal is a bad-target error (exit 3) before any traffic.
 */
export async function parseTargetList(
  args: string[], o: { defaultPort?: number; family?: 0 | 4 | 6; stdin?: Readable },
): Promise<{ raw: string[]; hps: HostPort[] }> {
  const raw = await expandTargets(args, o.stdin);
  const hps = raw.map((r) => parseHostPort(r, o.defaultPort));
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
