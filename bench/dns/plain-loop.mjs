// The floor for any Node client: one connected UDP socket, OUTSTANDING
// queries in flight, ids matched, nothing else. Prints queries per second.
//   node bench/dns/plain-loop.mjs PORT [SECONDS=5] [OUTSTANDING=1000]
import dgram from 'node:dgram';

const port = Number(process.argv[2]);
const secs = Number(process.argv[3] ?? 5);
const outstanding = Number(process.argv[4] ?? 1000);
// lab.test A, RD set
const tmpl = Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 108, 97, 98, 4, 116, 101, 115, 116, 0, 0, 1, 0, 1]);
const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
const pending = new Map();
let done = 0;
let stop = false;
let finished = false;
const t0 = performance.now();
const send = () => {
  let id;
  do id = (Math.random() * 65536) | 0;
  while (pending.has(id));
  const b = Buffer.from(tmpl);
  b.writeUInt16BE(id, 0);
  pending.set(id, performance.now());
  s.send(b);
};
const fin = () => {
  if (finished) return;
  finished = true;
  const el = (performance.now() - t0) / 1000;
  console.log(`  answered ${done} lost ${pending.size} in ${el.toFixed(2)} s: ${(done / el).toFixed(0)} qps`);
  s.close();
};
s.on('message', (m) => {
  if (!pending.delete(m.readUInt16BE(0))) return;
  done++;
  if (!stop) send();
  else if (pending.size === 0) fin();
});
s.connect(port, '127.0.0.1', () => {
  for (let i = 0; i < outstanding; i++) send();
  setTimeout(() => {
    stop = true;
    setTimeout(fin, 2000);
  }, secs * 1000);
});
