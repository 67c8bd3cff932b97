import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli, runCliJson } from '../helpers/cli.js';
import { BIN, lab } from '../helpers/lab.js';

const MANIFEST = fileURLToPath(new URL('../../docs/scale-out/indexed-job.yaml', import.meta.url));

interface Container {
  command: string[];
  env: { name: string; value: string }[];
}
interface JobSpec {
  completionMode: string;
  completions: number;
  parallelism: number;
  template: { spec: { containers: Container[] } };
}

async function loadJob() {
  const docs = parseAllDocuments(await readFile(MANIFEST, 'utf8')).map((d) => d.toJS() as { kind: string; spec: unknown });
  const job = docs.find((d) => d.kind === 'Job');
  if (!job) throw new Error('the manifest has no Job');
  const spec = job.spec as JobSpec;
  const c = spec.template.spec.containers[0]!;
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  return { spec, command: c.command, env };
}

/** One pod of the Job: the manifest's command, with its env, and the index Kubernetes sets. */
function runPod(command: string[], env: Record<string, string>, index: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      env: { ...env, JOB_COMPLETION_INDEX: String(index) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      if (err) process.stderr.write(err);
      resolve(code ?? -1);
    });
  });
}

describe('scale-out recipe: the Indexed Job manifest, run as the Job would, then merge DIR/', () => {
  let dir = '';
  const eps: { addr: string; close(): Promise<void> }[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conndx-shards-'));
  });
  afterAll(async () => {
    await Promise.all(eps.map((e) => e.close()));
    await rm(dir, { recursive: true, force: true });
  });

  test('the manifest is an Indexed Job whose SHARDS matches its completions', async () => {
    const { spec, command, env } = await loadJob();
    expect(spec.completionMode).toBe('Indexed');
    expect(spec.parallelism).toBe(spec.completions);
    expect(Number(env.SHARDS)).toBe(spec.completions);
    expect(command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(command[2]).toMatch(/--shard "\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)\/\$SHARDS"/);
  });

  test('N shard processes cover every target once; merge of the folder adds up to the whole', async () => {
    const { spec, command, env } = await loadJob();
    const n = spec.completions;
    // One more target than shards, so one shard takes two and the split is uneven.
    for (const name of ['tcp-open', 'tcp-open', 'tcp-refuse', 'tcp-open', 'tcp-refuse']) eps.push(await lab(name));
    const targets = eps.map((e) => e.addr);
    const config = join(dir, 'config');
    const results = join(dir, 'results');
    const bin = join(dir, 'bin');
    await Promise.all([mkdir(config), mkdir(results), mkdir(bin)]);
    await writeFile(join(config, 'targets.txt'), `# lab endpoints on loopback\n${targets.join('\n')}\n`);
    await symlink(BIN, join(bin, 'conndx'));
    // The mounts' paths are the manifest's TARGETS and RESULTS; here they are folders of the test's own.
    const podEnv = { ...env, TARGETS: join(config, 'targets.txt'), RESULTS: results, PATH: `${bin}:${process.env.PATH ?? ''}` };

    const codes = await Promise.all(Array.from({ length: n }, (_, i) => runPod(command, podEnv, i)));
    expect(codes).toEqual(Array(n).fill(0)); // refusals are findings (exit 2 of a shard), not a failed pod
    const files = (await readdir(results)).sort();
    expect(files).toEqual(Array.from({ length: n }, (_, i) => `shard-${i}.json`));

    const shards = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(results, f), 'utf8'))));
    const seen = shards.flatMap((s) => Object.keys(s.byTarget ?? { [s.target]: 1 }));
    expect(seen.sort()).toEqual([...targets].sort()); // every target exactly once across the shards

    const m = await runCliJson(['merge', results + '/']);
    expect(m.code).toBe(1); // some attempts failed: two refusing targets
    expect(m.json.attempts).toBe(shards.reduce((a, s) => a + s.attempts, 0));
    expect(m.json.attempts).toBe(20 * targets.length);
    expect(m.json.outcomes).toEqual({ ok: 60, refused: 40 });
    expect(Object.keys(m.json.byTarget).sort()).toEqual([...targets].sort());
    expect([...m.json.shards].sort()).toEqual(Array.from({ length: n }, (_, i) => `${i + 1}/${n}`));
  });

  test('merge of a folder without results is unusable input', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'conndx-empty-'));
    try {
      await writeFile(join(empty, 'shard-0.json.part'), '{');
      const r = await runCli(['merge', empty]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/holds no \*\.json result/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
