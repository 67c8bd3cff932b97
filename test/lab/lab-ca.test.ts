import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { BIN } from '../helpers/lab.js';
import { unwrapFingerprints } from '../helpers/unwrap.js';

/** `conndx lab ARGS` in a child process, until `until` matches its stdout. */
async function startLabCli(args: string[], until: RegExp) {
  const child = spawn(process.execPath, [BIN, 'lab', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const deadline = Date.now() + 15_000;
  while (!until.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`lab did not start (exit ${child.exitCode}): ${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    out: () => out,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
      return child.exitCode;
    },
  };
}

describe('lab by hand: the CA the text view tells you to trust exists', () => {
  test('text view writes the CA to a file, prints a tls command that runs as printed, removes the file at stop', async () => {
    const l = await startLabCli(['tls-ok'], /try: conndx tls .*\n/);
    const line = /try: (conndx tls .*)\n/.exec(l.out())![1]!;
    const caFile = /--ca (\S+)/.exec(line)![1]!;
    try {
      expect(await readFile(caFile, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
      const r = await runCli([...line.split(' ').slice(1), '-c', '2', '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).outcomes).toEqual({ ok: 2 });
    } finally {
      await l.stop();
    }
    expect(existsSync(caFile)).toBe(false);
  });

  test('--ca-out FILE keeps the CA where asked, and --json names it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conndx-ca-out-'));
    const file = join(dir, 'lab-ca.pem');
    try {
      const l = await startLabCli(['tls-ok', 'tls-expired', '--ca-out', file, '--json'], /\]\s*$/);
      const eps = JSON.parse(l.out()) as { name: string; host: string; port: number; caFile?: string }[];
      await l.stop();
      expect(eps.map((e) => e.caFile)).toEqual([file, file]);
      const pem = await readFile(file, 'utf8');
      expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(existsSync(file)).toBe(true); // kept after the lab stopped
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a --ca-out that cannot be written is one line and exit 3', async () => {
    const r = await runCli(['lab', 'tls-ok', '--ca-out', join(tmpdir(), 'no-such-dir-conndx', 'ca.pem')]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot write the lab CA/);
  });
});

describe('private CA vs missing intermediate, against the lab', () => {
  test('tls-missing-intermediate (leaf with a CA Issuers URL) is cert-chain-incomplete; tls-private-ca is cert-untrusted naming its issuer', async () => {
    const { lab } = await import('../helpers/lab.js');
    const missing = await lab('tls-missing-intermediate');
    const priv = await lab('tls-private-ca');
    const dir = await mkdtemp(join(tmpdir(), 'conndx-privca-'));
    try {
      const ca = join(dir, 'ca.pem');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(ca, String(missing.info!.ca));
      const run = async (addr: string) =>
        JSON.parse((await runCli(['tls', addr, '--sni', 'lab.conndx.test', '--ca', ca, '-c', '2', '--json'])).stdout);
      const a = await run(missing.addr);
      expect(a.outcomes).toEqual({ 'cert-chain-incomplete': 2 });
      const b = await run(priv.addr);
      expect(b.outcomes).toEqual({ 'cert-untrusted': 2 });
      const cause = JSON.stringify(b);
      expect(cause).toContain('conndx lab private root CA');
      expect(cause).toMatch(/private CA this client lacks/);
    } finally {
      await Promise.all([missing.close(), priv.close()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('certificate facts: key and fingerprint', () => {
  test('tls-ok: EC P-256 and the SHA-256 fingerprint of the lab leaf, in JSON and text', async () => {
    const { lab } = await import('../helpers/lab.js');
    const { labPki } = await import('../../src/lab/certs.js');
    const { X509Certificate } = await import('node:crypto');
    const ep = await lab('tls-ok');
    const dir = await mkdtemp(join(tmpdir(), 'conndx-fp-'));
    try {
      const ca = join(dir, 'ca.pem');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(ca, String(ep.info!.ca));
      const want = new X509Certificate((await labPki()).valid.cert).fingerprint256;
      const j = JSON.parse((await runCli(['tls', ep.addr, '--sni', 'lab.conndx.test', '--ca', ca, '-c', '1', '--json'])).stdout);
      expect(j.certificate).toMatchObject({ key: 'EC P-256', fingerprint256: want });
      const text = (await runCli(['tls', ep.addr, '--sni', 'lab.conndx.test', '--ca', ca, '-c', '1'])).stdout;
      expect(text).toContain(`  key EC P-256`);
      // A fingerprint past 100 columns breaks after a colon onto an indented line: read it joined.
      expect(unwrapFingerprints(text)).toContain(`  sha256 ${want}`);
    } finally {
      await ep.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
