// Baseline: bare tls.connect handshakes (Node's own verification, no conndx),
// N at concurrency C, to set conndx's CPU per handshake against.
// Usage: node bench/tls/raw-node.mjs <port> <ca.pem> <N> <C>
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

const [port, caFile, n = '2000', c = '200'] = process.argv.slice(2);
const N = Number(n);
const C = Number(c);
const ctx = tls.createSecureContext({ ca: readFileSync(caFile, 'utf8') });
let started = 0;
let done = 0;
let failed = 0;
const t0 = performance.now();
const c0 = process.cpuUsage();
await new Promise((resolve) => {
  const one = () => {
    if (started >= N) return;
    started++;
    const s = tls.connect({ host: '127.0.0.1', port: Number(port), servername: 'lab.conndx.test', secureContext: ctx });
    // Closed politely, as conndx closes: destroying at 'secureConnect' can drop our Finished
    // from the write queue, and the server then never completes (nor pays for) the handshake.
    const end = (ok) => {
      if (!ok) {
        failed++;
        s.destroy();
      } else {
        s.once('finish', () => s.destroy());
        s.end();
      }
      if (++done === N) resolve();
      else one();
    };
    s.once('secureConnect', () => end(true));
    s.once('error', () => end(false));
  };
  for (let i = 0; i < C; i++) one();
});
const cpu = process.cpuUsage(c0);
const el = performance.now() - t0;
console.log(
  `bare tls.connect: ${N} (${failed} failed) in ${(el / 1000).toFixed(2)} s = ${((N / el) * 1000).toFixed(0)} handshakes/s, cpu ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms/handshake`,
);
