// What the stamping layer (src/probes/tls-stamp.ts) costs a TLS handshake: the same handshakes
// to the lab's tls-ok (a child process) over a plain net.Socket (tls reads it natively) and
// through StampedSocket, in alternating blocks so both see the same machine. Prints, per way,
// the handshake time (tls.connect → secureConnect) at concurrency 1 and the client CPU per
// handshake, then handshakes per second at concurrency 32. After a build:
//   node bench/tls/stamp-overhead.mjs [handshakes per way=1000]
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { StampedSocket } from '../../dist/probes/tls-stamp.js';

const N = Number(process.argv[2] ?? 1000);
const BLOCK = 50;
const lab = spawn(process.execPath, ['bin/conndx', 'lab', 'tls-ok', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
for await (const d of lab.stdout) {
  out += d;
  if (/\]\s*$/.test(out)) break;
}
const port = JSON.parse(out)[0].port;
const ctx = tls.createSecureContext({ minVersion: 'TLSv1.2' });

function handshake(stamped) {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port });
    raw.once('error', reject);
    raw.once('connect', () => {
      const t0 = performance.now();
      const s = tls.connect({ socket: stamped ? new StampedSocket(raw) : raw, secureContext: ctx, rejectUnauthorized: false });
      s.once('error', reject);
      s.once('secureConnect', () => {
        const ms = performance.now() - t0;
        s.destroy();
        raw.destroy();
        resolve(ms);
      });
    });
  });
}

const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ways = { plain: { ms: [], cpu: 0 }, stamped: { ms: [], cpu: 0 } };
for (let i = 0; i < 20; i++) await handshake(i % 2 === 1); // warm-up
for (let done = 0; done < N; done += BLOCK) {
  for (const way of ['plain', 'stamped']) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < BLOCK; i++) ways[way].ms.push(await handshake(way === 'stamped'));
    const c = process.cpuUsage(c0);
    ways[way].cpu += c.user + c.system;
  }
}
for (const [way, w] of Object.entries(ways)) {
  console.log(
    `${way.padEnd(8)} concurrency 1: ${w.ms.length} handshakes, p50 ${pct(w.ms, 50).toFixed(3)} ms, p90 ${pct(w.ms, 90).toFixed(3)} ms, client CPU ${(w.cpu / w.ms.length).toFixed(0)} µs per handshake`,
  );
}
for (const way of ['plain', 'stamped', 'plain', 'stamped']) {
  const t0 = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (n < N) {
        n++;
        await handshake(way === 'stamped');
      }
    }),
  );
  console.log(`${way.padEnd(8)} concurrency 32: ${((N / (performance.now() - t0)) * 1000).toFixed(0)} handshakes/s`);
}
lab.kill('SIGINT');
