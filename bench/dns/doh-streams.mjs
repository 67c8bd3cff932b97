// DoH throughput at 100 streams in flight on one HTTP/2 connection: conndx
// beside a bare node http2 client (the floor for any Node DoH client), in the
// same run, against the lab's DoH endpoint running in its own process.
// Loopback only. Run from the repo root after `npm run build`:
//   node bench/dns/doh-streams.mjs [seconds=5] [streams=100]
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const SECS = Number(process.argv[2] ?? 5);
const STREAMS = Number(process.argv[3] ?? 100);
const run = promisify(execFile);

const lab = spawn(process.execPath, ['bin/conndx', 'lab', 'dns-doh', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
lab.stdout.on('data', (d) => (out += d));
while (!/\]\s*$/.test(out)) await new Promise((r) => setTimeout(r, 20));
const [ep] = JSON.parse(out);
const dir = mkdtempSync(join(tmpdir(), 'conndx-doh-bench-'));
const ca = join(dir, 'ca.pem');
writeFileSync(ca, ep.info.ca);
const url = ep.info.url;

/** The bare client: one session, STREAMS POSTs always in flight, for SECS. */
async function bare() {
  const q = Buffer.from('000001000001000000000000036c616204746573740000010001', 'hex');
  const session = http2.connect(new URL(url).origin, { ca: ep.info.ca });
  await once(session, 'connect');
  const lat = [];
  let done = 0;
  let failed = 0;
  const end = performance.now() + SECS * 1000;
  const one = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const s = session.request({
        ':method': 'POST',
        ':path': '/dns-query',
        'content-type': 'application/dns-message',
        accept: 'application/dns-message',
      });
      let status = 0;
      s.on('response', (h) => (status = h[':status']));
      s.on('data', () => {});
      s.on('end', () => {
        if (status === 200) {
          done++;
          lat.push(performance.now() - t0);
        } else failed++;
        resolve();
      });
      s.on('error', () => {
        failed++;
        resolve();
      });
      s.end(q);
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: STREAMS }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  session.close();
  lat.sort((a, b) => a - b);
  const p = (x) => lat[Math.max(0, Math.ceil(x * lat.length) - 1)].toFixed(3);
  return `  answered ${done} failed ${failed} in ${secs.toFixed(2)} s: ${(done / secs).toFixed(0)} qps, p50 ${p(0.5)} p99 ${p(0.99)} ms`;
}

async function conndx() {
  const r = await run(
    process.execPath,
    [
      'bin/conndx',
      'dns',
      'lab.test',
      '--server',
      url,
      '--ca',
      ca,
      '--concurrency',
      String(STREAMS),
      '--duration',
      `${SECS}s`,
      '--timeout',
      '3s',
      '--json',
    ],
    { maxBuffer: 1 << 26 },
  ).catch((e) => e);
  const j = JSON.parse(r.stdout);
  return `  attempts ${j.attempts} ok ${j.succeeded} elapsedMs ${j.elapsedMs} qps ${(j.succeeded / (j.elapsedMs / 1000)).toFixed(0)} p50 ${j.latencyMs?.p50} p99 ${j.latencyMs?.p99} connections ${j.connections} http ${JSON.stringify(j.http)} loopLag ${JSON.stringify(j.timing?.loopLagMs)}`;
}

console.log(
  `# ${new Date().toISOString()} node ${process.version}, DoH POST over HTTP/2, ${STREAMS} streams in flight, ${SECS} s each, lab dns-doh in its own process`,
);
for (let round = 1; round <= 2; round++) {
  console.log(`## round ${round}: bare node http2 client`);
  console.log(await bare());
  console.log(`## round ${round}: conndx dns --server ${url} --concurrency ${STREAMS} --duration ${SECS}s`);
  console.log(await conndx());
}
lab.kill('SIGINT');
await once(lab, 'exit');
rmSync(dir, { recursive: true, force: true });
