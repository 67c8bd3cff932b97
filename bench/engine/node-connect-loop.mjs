// The anchor for conndx tcp throughput: a minimal Node loop that keeps N
// connects in flight to one host:port and closes each with RST as soon as it
// is established. Prints connects per second.
//   node bench/engine/node-connect-loop.mjs HOST PORT CONCURRENCY TOTAL
import net from 'node:net';

const [host, port, conc, total] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
let started = 0;
let done = 0;
let ok = 0;
const t0 = performance.now();
function one() {
  if (started >= total) return;
  started++;
  const s = net.connect({ host, port });
  s.on('connect', () => {
    ok++;
    s.resetAndDestroy();
  });
  s.on('error', () => {});
  s.on('close', () => {
    done++;
    if (done === total) finish();
    else one();
  });
}
function finish() {
  const secs = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ total, ok, seconds: +secs.toFixed(3), perSecond: Math.round(total / secs) }));
}
for (let i = 0; i < conc; i++) one();
