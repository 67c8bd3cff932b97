import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { writePcap } from '../../fixtures/pcap/build.js';
import { BIN } from '../helpers/lab.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'conndx-modules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The modules a run of the real executable loads, from a resolve hook that lists them on stderr. */
async function modulesOf(argv: string[]): Promise<string[]> {
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    "export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith('file:')) process.stderr.write('MODULE ' + r.url + '\\n'); return r; }\n",
  );
  const reg = join(dir, 'register.mjs');
  writeFileSync(reg, `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const r = await run(process.execPath, ['--import', pathToFileURL(reg).href, BIN, ...argv]);
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('MODULE '))
    .map((l) => l.slice(7));
}

// `conndx pcap` pays start-up on every capture it reads: it must not load the probe kinds
// (tls, http2, dns2 and the registry), which are a third of the CLI's module graph.
test('pcap loads the capture reader, not the probe kinds', async () => {
  const file = join(dir, 'empty.pcap');
  writeFileSync(file, writePcap([]));
  const mods = await modulesOf(['pcap', file, '--json']);
  expect(mods.some((m) => m.includes('/capture/analyze.js'))).toBe(true);
  const heavy = mods.filter((m) => /\/probes\/(registry|tls|http2|dns)\.js$|\/node_modules\/dns2\//.test(m));
  expect(heavy).toEqual([]);
});

test('a kind command still loads its kind (the registry) and lists every command in --help', async () => {
  const mods = await modulesOf(['tcp', '--help']);
  expect(mods.some((m) => m.endsWith('/probes/registry.js'))).toBe(true);
});
