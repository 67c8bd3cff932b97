import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { ConndxError } from '../errors.js';

/** The textfile name for a config: checks.yaml → conndx-checks.prom, so several configs on one host do not clash. */
export function textfileName(configFile: string): string {
  const stem = basename(configFile, extname(configFile)).replace(/[^A-Za-z0-9_.-]/g, '_');
  return `conndx-${stem}.prom`;
}

/**
 * Writes node_exporter textfile-collector output atomically: a temporary
 * file in the same directory (its name does not end in .prom, so the
 * collector never reads it half-written), then a rename over the old one.
 */
export function writeTextfile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ConndxError('CONNDX_IO', `cannot write --textfile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return path;
}
