import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { checkKeys, SHARED_CHECK_KEYS } from '../../src/checks/config.js';
import { allCommands } from '../../src/cli/commands/index.js';

const COMMANDS = await allCommands();
import type { CliContext } from '../../src/cli/context.js';
import { addProbeOptions } from '../../src/cli/probe-options.js';
import { flagAttribute } from '../../src/probes/kinds/kind.js';
import { PROBERS } from '../../src/probes/registry.js';

// A kind's options live in its module (src/probes/kinds/<kind>.ts), once: these
// tests fail when a command file or the checks config declares one of its own.

const KINDS = Object.values(PROBERS);

describe('every flag of a kind command comes from its kind table or the shared probe options', () => {
  const shared = new Set(addProbeOptions(new Command('x')).options.map((o) => o.attributeName()));
  for (const kind of KINDS) {
    test(`conndx ${kind.name}`, async () => {
      const entry = COMMANDS.find((c) => c.name === kind.name);
      expect(entry, `conndx ${kind.name} is listed`).toBeDefined();
      const program = new Command();
      const cmd = (await entry!.load())(program, {} as CliContext);
      const table = new Set(kind.options.filter((o) => o.flag).map((o) => flagAttribute(o.flag!)));
      const stray = cmd.options.map((o) => o.attributeName()).filter((a) => !table.has(a) && !shared.has(a));
      expect(stray).toEqual([]);
      // And the table's flags are all there, with the table's help lines.
      for (const o of kind.options.filter((x) => x.flag)) {
        const got = cmd.options.find((c) => c.flags === o.flag);
        expect(got?.description, o.flag).toBe(o.help);
      }
    });
  }
  test('the command files and the generic registration declare no option of their own', () => {
    for (const f of [
      'src/cli/commands/dns.ts',
      'src/cli/commands/tcp.ts',
      'src/cli/commands/tls.ts',
      'src/cli/kind-command.ts',
      'src/cli/dns-options.ts',
    ]) {
      const text = readFileSync(f, 'utf8');
      expect(text.match(/\.option\(|\.addOption\(new Option/g) ?? [], f).toEqual([]);
    }
  });
});

describe('every key of a check comes from a kind table, a kind name or the shared keys', () => {
  test('the config schema', () => {
    const fromTables = new Set(KINDS.flatMap((k) => k.options.flatMap((o) => (o.yaml ? [o.yaml] : []))));
    const names = new Set(Object.keys(PROBERS));
    const stray = checkKeys().filter((k) => !fromTables.has(k) && !names.has(k) && !SHARED_CHECK_KEYS.includes(k));
    expect(stray).toEqual([]);
    for (const k of fromTables) expect(checkKeys(), k).toContain(k);
  });
  test('src/checks/config.ts names no kind option key in its shape', () => {
    const text = readFileSync('src/checks/config.ts', 'utf8');
    const shape = text.slice(text.indexOf('const checkShape'), text.indexOf('const fileShape'));
    const keys = new Set(KINDS.flatMap((k) => k.options.flatMap((o) => (o.yaml ? [o.yaml] : []))));
    const declared = [...shape.matchAll(/^\s+([A-Za-z0-9]+): /gm)].map((m) => m[1]!).filter((k) => keys.has(k));
    expect(declared).toEqual([]);
  });
});

describe("check --dry-run names a check's settings through its kind (planWords), not a branch per kind", () => {
  test("src/report/check.ts reads no kind's settings field", () => {
    const src = readFileSync(new URL('../../src/report/check.ts', import.meta.url), 'utf8');
    for (const k of Object.keys(PROBERS)) expect(src, `s.${k}`).not.toMatch(new RegExp(`\\bs\\.${k}\\b`));
  });
  test('every kind with checks says what --dry-run names of them', () => {
    for (const kind of KINDS) if (kind.check || kind.name === 'dns') expect(kind.planWords, kind.name).toBeTypeOf('function');
  });
});
