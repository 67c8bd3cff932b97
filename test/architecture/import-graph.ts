import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The floors of src/, bottom first, and what each may import. A module's
 * floor is its first folder under src/ (src/parse.ts and src/errors.ts are
 * core-level helpers of their own floor, `base`).
 */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: [],
  base: ['core'],
  probes: ['core', 'base'],
  capture: ['core', 'base'],
  engine: ['core', 'base', 'probes'],
  report: ['core', 'base'],
  lab: ['core', 'base', 'probes'],
  // diagnose/demo.ts runs the diagnosis against the lab's endpoints.
  diagnose: ['core', 'base', 'probes', 'engine', 'capture', 'report', 'lab'],
  checks: ['core', 'base', 'probes', 'engine', 'report'],
  // The fuzz harness feeds the capture decoders and the probes' parsers; nothing imports it.
  fuzz: ['core', 'base', 'probes', 'capture'],
  cli: ['core', 'base', 'probes', 'engine', 'capture', 'report', 'lab', 'diagnose', 'checks'],
};
/** Floors whose imports of other floors must be `import type` only. */
export const TYPE_ONLY: Readonly<Record<string, readonly string[]>> = { report: ['probes', 'engine', 'capture', 'diagnose', 'checks'] };

export interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

export function floorOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : 'base';
}

const SPEC = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Relative import edges of every .ts file under `root`/src, as paths relative to `root` (`src/x/y.ts`). */
export function readGraph(root: string): Edge[] {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) files.push(p);
    }
  };
  walk(join(root, 'src'));
  const edges: Edge[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(SPEC)) {
      const spec = m[3]!;
      const target = resolve(dirname(f), spec).replace(/\.js$/, '.ts');
      edges.push({ from: relative(root, f), to: relative(root, target), typeOnly: Boolean(m[2]) || /^\s*import\s+type\b/.test(m[0]) });
    }
    for (const m of text.matchAll(/import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
      edges.push({ from: relative(root, f), to: relative(root, resolve(dirname(f), m[1]!).replace(/\.js$/, '.ts')), typeOnly: false });
    }
  }
  return edges;
}

/** Every broken rule of the graph, in words: floor climbs, value imports where types only are allowed, and circles. */
export function violations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const a = floorOf(e.from);
    const b = floorOf(e.to);
    if (a === b) continue;
    const allowed = ALLOWED[a];
    if (!allowed) {
      out.push(`${e.from}: floor "${a}" is not in the list of floors`);
      continue;
    }
    if (allowed.includes(b)) continue;
    if (e.typeOnly && TYPE_ONLY[a]?.includes(b)) continue;
    out.push(`${e.from} imports ${e.to}: ${a} may not import ${b}${TYPE_ONLY[a]?.includes(b) ? ' (types only)' : ''}`);
  }
  // Circles between modules (type-only edges included: they are the same knot).
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string) => {
    state.set(n, 1);
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 1) {
        const cycle = [...stack.slice(stack.indexOf(m)), m].join(' -> ');
        if (!seen.has(cycle)) {
          seen.add(cycle);
          out.push(`circle: ${cycle}`);
        }
      } else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of next.keys()) if (!state.has(n)) visit(n);
  return out;
}
