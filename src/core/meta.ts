import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { scrubArgv } from './secrets.js';

export interface Meta {
  conndxVersion: string;
  /** UTC ISO 8601. */
  startedAt: string;
  host: string;
  command: string;
}

let cachedVersion: string | undefined;

export function conndxVersion(): string {
  if (cachedVersion === undefined) {
    try {
      // src/core/meta.ts and dist/core/meta.js both sit two levels below the package root.
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
      cachedVersion = pkg.version ?? '0.0.0';
    } catch {
      cachedVersion = '0.0.0';
    }
  }
  return cachedVersion;
}

/** Quote argv the way a shell would need it, so the command in a ticket can be re-run. */
export function shellQuote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function makeMeta(argv: readonly string[], startedAt: string = new Date().toISOString()): Meta {
  return { conndxVersion: conndxVersion(), startedAt, host: hostname(), command: shellQuote(['conndx', ...scrubArgv(argv)]) };
}
