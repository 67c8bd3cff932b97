import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ALLOWED, readGraph, violations } from './import-graph.js';

// The floors of docs/architecture.md, checked over the real import graph.

describe('the import direction of src/', () => {
  test('no module imports above its floor and there are no circles', () => {
    const edges = readGraph(process.cwd());
    expect(edges.length).toBeGreaterThan(100); // the walk found the tree
    expect(violations(edges)).toEqual([]);
  });
  test('core imports nothing else of conndx', () => {
    expect(ALLOWED.core).toEqual([]);
    const out = readGraph(process.cwd()).filter((e) => e.from.startsWith('src/core/') && !e.to.startsWith('src/core/'));
    expect(out).toEqual([]);
  });
});

describe('the checker fails when the rules are broken', () => {
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'conndx-graph-'));
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), text);
    }
    return root;
  }
  test('a probe that imports engine code is named', () => {
    const root = tree({
      'src/core/types.ts': 'export type X = 1;\n',
      'src/engine/run.ts': "import type { X } from '../core/types.js';\nexport const run = (x: X) => x;\n",
      'src/probes/tcp.ts': "import { run } from '../engine/run.js';\nexport const p = run;\n",
    });
    try {
      expect(violations(readGraph(root))).toEqual(['src/probes/tcp.ts imports src/engine/run.ts: probes may not import engine']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  test('core importing a probe, report importing engine values, and a circle are named', () => {
    const root = tree({
      'src/core/a.ts': "import { t } from '../probes/t.js';\nexport const a = t;\n",
      'src/probes/t.ts': 'export const t = 1;\n',
      'src/engine/summary.ts': 'export interface R { n: number }\nexport const make = () => 1;\n',
      'src/report/ok.ts': "import type { R } from '../engine/summary.js';\nexport type S = R;\n",
      'src/report/bad.ts': "import { make } from '../engine/summary.js';\nexport const b = make;\n",
      'src/diagnose/x.ts': "import { y } from './y.js';\nexport const x = 1 + y;\n",
      'src/diagnose/y.ts': "import { x } from './x.js';\nexport const y = 1 + x;\n",
    });
    try {
      const v = violations(readGraph(root));
      expect(v).toContain('src/core/a.ts imports src/probes/t.ts: core may not import probes');
      expect(v).toContain('src/report/bad.ts imports src/engine/summary.ts: report may not import engine (types only)');
      expect(v.some((l) => l.startsWith('src/report/ok.ts'))).toBe(false);
      expect(v).toContain('circle: src/diagnose/x.ts -> src/diagnose/y.ts -> src/diagnose/x.ts');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
