/**
 * Writes a large synthetic capture to bench/data/ (git-ignored): many TCP
 * connections (handshake, TLS 1.2 handshake, 1400-byte TLS records, FIN), some
 * refused and unanswered, and DNS queries, streamed to disk in 4 MB pieces.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import {
  alert,
  appData,
  ccs,
  clientHello,
  conversation,
  dnsQuery,
  dnsResponse,
  serverHello,
  udpDatagram,
  writePcap,
} from '../../fixtures/pcap/build.js';

export function makeBenchCapture(path: string, targetBytes: number): { bytes: number; packets: number } {
  mkdirSync(new URL('../data/', import.meta.url), { recursive: true });
  const fd = openSync(path, 'w');
  let bytes = 0,
    packets = 0,
    n = 0,
    ts = 1700000000;
  const header = writePcap([]);
  writeSync(fd, header);
  bytes += header.length;
  // Bulk data as TLS application records of 1400 bytes on the wire.
  const data = appData(1395);
  while (bytes < targetBytes) {
    const batch: { ts: number; ip: Buffer }[] = [];
    for (let k = 0; k < 200; k++, n++) {
      const client = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      const port = 1024 + (n % 60000);
      const c = conversation(client, '10.200.0.1', port, 443, n * 7919, n * 104729);
      const kind = n % 20;
      c.syn(ts);
      if (kind === 0) c.rstFromServer(ts + 0.001, false);
      else if (kind === 1) c.syn(ts + 1);
      else {
        c.synAck(ts + 0.002)
          .ack(ts + 0.003)
          .clientData(ts + 0.004, clientHello('bench.example.com'));
        if (kind === 2) c.serverData(ts + 0.006, alert(40));
        else {
          c.serverData(ts + 0.006, Buffer.concat([serverHello(0x0303), ccs(), appData(40)]));
          c.clientData(ts + 0.0065, Buffer.concat([ccs(), appData(40)]));
          for (let i = 0; i < 40; i++) c.serverData(ts + 0.007 + i * 0.0001, data);
        }
        c.clientFin(ts + 0.02).serverFin(ts + 0.021);
      }
      batch.push(...c.pkts);
      if (n % 10 === 0) {
        const q = { src: '10.1.1.1', dst: '10.200.0.53', sport: 20000 + (n % 40000), dport: 53 };
        batch.push({ ts, ip: udpDatagram(q, dnsQuery(n & 0xffff, 'bench.example.com')) });
        batch.push({
          ts: ts + 0.002,
          ip: udpDatagram({ src: q.dst, dst: q.src, sport: 53, dport: q.sport }, dnsResponse(n & 0xffff, 'bench.example.com', 0)),
        });
      }
      ts += 0.01;
    }
    batch.sort((a, b) => a.ts - b.ts);
    const buf = writePcap(batch).subarray(24);
    writeSync(fd, buf);
    bytes += buf.length;
    packets += batch.length;
  }
  closeSync(fd);
  return { bytes, packets };
}
