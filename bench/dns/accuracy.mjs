#!/usr/bin/env node
// DNS latency accuracy against the wire: a lab resolver in its own process
// holds 90% of queries FAST ms and 10% SLOW ms; tcpdump records the run on
// lo; the truth is tshark's dns.time (reply minus query, kernel timestamps).
// Beside conndx: the server's own hold times, and a minimal Node dgram client
// (the floor for any Node client on this machine). Loopback only; run as
// root from the repo root after `npm run build`:
//   node bench/dns/accuracy.mjs [FAST=5] [SLOW=100] [CONCURRENCY=200] [COUNT=4000] [ROUNDS=3]
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [FAST = 5, SLOW = 100, C = 200, N = 4000, ROUNDS = 3] = process.argv.slice(2).map(Number);
const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'conndx-dns-acc-'));
const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
};
const f = (x) => x.toFixed(3).padStart(8);

function startServer() {
  const script = `import('${root}dist/lab/dns.js').then(async (m) => {
    const ep = await m.slowTailDns({ fastMs: ${FAST}, slowMs: ${SLOW} })();
    console.log(ep.port);
    let from = 0;
    process.stdin.on('data', () => { const h = ep.info.held.slice(from); from = ep.info.held.length; console.log(JSON.stringify(h)); });
    process.stdin.on('end', () => ep.close().then(() => process.exit(0)));
  });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  const lines = [];
  let waiter = null;
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    if (lines.length && waiter) {
      const w = waiter;
      waiter = null;
      w(lines.shift());
    }
  });
  const line = () =>
    new Promise((r) => {
      if (lines.length) r(lines.shift());
      else waiter = r;
    });
  return { child, line };
}

async function capture(port, fn) {
  const file = join(dir, `cap-${port}-${Date.now()}.pcap`);
  const td = spawn('tcpdump', ['-i', 'lo', '-n', '--immediate-mode', '-B', '65536', '-s', '256', '-w', file, `udp port ${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  td.stderr.on('data', (d) => {
    err += d;
  });
  while (!err.includes('listening on')) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  const out = await fn();
  await new Promise((r) => setTimeout(r, 300));
  td.kill('SIGINT');
  await once(td, 'exit');
  const times = execFileSync('tshark', ['-r', file, '-Y', 'dns.flags.response == 1', '-T', 'fields', '-e', 'dns.time'], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((x) => Number(x) * 1000);
  return { out, wire: times };
}

function plainClient(port) {
  return new Promise((resolve) => {
    const tmpl = Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 108, 97, 98, 4, 116, 101, 115, 116, 0, 0, 1, 0, 1]);
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    const pending = new Map();
    const lat = [];
    let sent = 0;
    const send = () => {
      if (sent >= N) return;
      let id;
      do id = (Math.random() * 65536) | 0;
      while (pending.has(id));
      const b = Buffer.from(tmpl);
      b.writeUInt16BE(id, 0);
      pending.set(id, performance.now());
      s.send(b);
      sent++;
    };
    const timer = setTimeout(() => {
      s.close();
      resolve(lat);
    }, 30_000);
    s.on('message', (m) => {
      const at = performance.now();
      const id = m.readUInt16BE(0);
      const t = pending.get(id);
      if (t === undefined) return;
      pending.delete(id);
      lat.push(at - t);
      send();
      if (lat.length === N) {
        clearTimeout(timer);
        s.close();
        resolve(lat);
      }
    });
    s.connect(port, '127.0.0.1', () => {
      for (let i = 0; i < C; i++) send();
    });
  });
}

function conndx(port) {
  const out = execFileSync(
    process.execPath,
    [
      join(root, 'bin/conndx'),
      'dns',
      'lab.test',
      '--server',
      `127.0.0.1:${port}`,
      '-c',
      String(N),
      '--concurrency',
      String(C),
      '--timeout',
      '2s',
      '--json',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return JSON.parse(out);
}

console.log(
  `# ${new Date().toISOString()} node ${process.version}: ${N} queries at concurrency ${C}, server holds 90% ${FAST} ms / 10% ${SLOW} ms`,
);
console.log('client           p50      p99   | wire p50 wire p99 | server p50 server p99 | client-wire p50   p99');
for (let r = 1; r <= ROUNDS; r++) {
  for (const who of ['conndx', 'plain node']) {
    const srv = startServer();
    const port = Number(await srv.line());
    const { out, wire } = await capture(port, async () => (who === 'conndx' ? conndx(port) : plainClient(port)));
    srv.child.stdin.write('held\n');
    const held = JSON.parse(await srv.line());
    srv.child.stdin.end();
    await once(srv.child, 'exit');
    const p50 = who === 'conndx' ? out.latencyMs.p50 : q(out, 50);
    const p99 = who === 'conndx' ? out.latencyMs.p99 : q(out, 99);
    const w50 = q(wire, 50),
      w99 = q(wire, 99);
    console.log(
      `${who.padEnd(11)} ${f(p50)} ${f(p99)} | ${f(w50)} ${f(w99)} | ${f(q(held, 50))}   ${f(q(held, 99))} | ${f(p50 - w50)}  ${f(p99 - w99)}   (wire n=${wire.length})`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });
