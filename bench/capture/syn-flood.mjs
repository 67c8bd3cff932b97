// Writes a classic pcap of N unanswered SYNs within 1 s, each from its own
// source address and port, to one server: `node bench/capture/syn-flood.mjs OUT.pcap [N]`.
// Then: /usr/bin/time -v node bin/conndx pcap OUT.pcap  (Maximum resident set size).
import { openSync, writeSync, closeSync } from 'node:fs';

export function writeSynFlood(path, n = 1_000_000) {
  const fd = openSync(path, 'w');
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20); // EN10MB
  writeSync(fd, head);
  const REC = 16 + 54;
  const BATCH = 10_000;
  const buf = Buffer.alloc(REC * BATCH);
  for (let base = 0; base < n; base += BATCH) {
    const m = Math.min(BATCH, n - base);
    for (let j = 0; j < m; j++) {
      const i = base + j;
      const o = j * REC;
      const usec = Math.floor((i / n) * 999_999);
      buf.writeUInt32LE(1_700_000_000, o);
      buf.writeUInt32LE(usec, o + 4);
      buf.writeUInt32LE(54, o + 8);
      buf.writeUInt32LE(54, o + 12);
      const e = o + 16;
      buf.fill(0, e, e + 54);
      buf.writeUInt16BE(0x0800, e + 12);
      const ip = e + 14;
      buf[ip] = 0x45;
      buf.writeUInt16BE(40, ip + 2);
      buf[ip + 8] = 64;
      buf[ip + 9] = 6;
      // 10.x.y.z sources (one per 16 ports), server 192.0.2.1 (TEST-NET-1: a file, never sent)
      const src = i >>> 4;
      buf[ip + 12] = 10;
      buf[ip + 13] = (src >>> 16) & 255;
      buf[ip + 14] = (src >>> 8) & 255;
      buf[ip + 15] = src & 255;
      buf[ip + 16] = 192;
      buf[ip + 17] = 0;
      buf[ip + 18] = 2;
      buf[ip + 19] = 1;
      let sum = 0;
      for (let k = 0; k < 20; k += 2) sum += buf.readUInt16BE(ip + k);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      buf.writeUInt16BE(~sum & 0xffff, ip + 10);
      const t = ip + 20;
      buf.writeUInt16BE(20000 + (i & 15) * 1000 + 1, t);
      buf.writeUInt16BE(443, t + 2);
      buf.writeUInt32BE((i * 2654435761) >>> 0, t + 4);
      buf[t + 12] = 0x50;
      buf[t + 13] = 0x02;
      buf.writeUInt16BE(64240, t + 14);
    }
    writeSync(fd, buf, 0, m * REC);
  }
  closeSync(fd);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  writeSynFlood(process.argv[2] ?? 'syn-flood.pcap', Number(process.argv[3] ?? 1_000_000));
}
