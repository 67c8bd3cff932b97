// conndx reads its own traffic as it reported it: the probes' runs captured by tcpdump on lo
// and read back by the capture reader must give the same counts and phases (needs root and
// tcpdump). Before, a capture of healthy tls probes showed their own close (FIN, then a RST
// for a late session ticket) as app failures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { analyzeCapture } from '../../src/capture/index.js';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { runCliJson } from '../helpers/cli.js';
import { requireTool, startTcpdump } from '../helpers/capture-env.js';
import { lab } from '../helpers/lab.js';

const need = requireTool('tcpdump', true);

test.skipIf(!need.ok)(
  `tls and tcp runs read back from a capture with the same counts and phases${need.ok ? '' : ` (skipped: ${need.reason})`}`,
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conndx-self-'));
    const ok = await lab('tls-ok');
    const refuse = await lab('tcp-refuse');
    const rst = await lab('tcp-rst-accept');
    const file = join(dir, 'self.pcap');
    const filter = `tcp and (port ${ok.port} or port ${refuse.port} or port ${rst.port})`;
    const caFile = join(dir, 'ca.pem');
    (await import('node:fs')).writeFileSync(caFile, ok.info!.ca as string);
    let tls: Record<string, any>, tcpRefused: Record<string, any>, tcpReset: Record<string, any>;
    const dump = await startTcpdump(['-i', 'lo', '--immediate-mode', '-U', '-B', '16384', '-Z', 'root', '-w', file, filter]);
    try {
      tls = (await runCliJson(['tls', `127.0.0.1:${ok.port}`, '--sni', LAB_SERVER_NAME, '--ca', caFile, '--count', '20'])).json;
      tcpRefused = (await runCliJson(['tcp', `127.0.0.1:${refuse.port}`, '--count', '5'])).json;
      tcpReset = (await runCliJson(['tcp', `127.0.0.1:${rst.port}`, '--count', '5', '--hold', '300ms'])).json;
      // Read the growing file until every connection has ended (or 5 s).
      for (let waited = 0; waited < 5000; waited += 200) {
        const r = await analyzeCapture(file, { flows: true });
        if (r.ok && r.result.tcp.connections >= 30 && r.result.connections!.every((c) => c.zeekState !== 'S1')) break;
        await new Promise((res) => setTimeout(res, 200));
      }
    } finally {
      const exited = new Promise((r) => dump.once('exit', r));
      dump.kill('SIGINT');
      await exited;
      await ok.close();
      await refuse.close();
      await rst.close();
    }
    const res = await analyzeCapture(file, { flows: true });
    rmSync(dir, { recursive: true, force: true });
    if (!res.ok) throw new Error(res.reason);
    const byPort = (p: number) => res.result.connections!.filter((c) => c.server.endsWith(`:${p}`));
    const count = (p: number, phase: string, outcome: string) => byPort(p).filter((c) => c.phase === phase && c.outcome === outcome).length;

    expect(tls!.outcomes).toEqual({ ok: 20 });
    const odd = byPort(ok.port)
      .filter((c) => c.phase !== 'ok')
      .map((c) => `${c.zeekState} ${c.history} ${c.phase} ${c.outcome}`);
    expect(byPort(ok.port), 'tls connections in the capture').toHaveLength(20);
    expect(count(ok.port, 'ok', 'ok'), `tls connections read as ok; the others: ${odd.join('; ')}`).toBe(20);
    expect(res.result.tls.handshakes).toBe(20);

    expect(tcpRefused!.outcomes).toEqual({ refused: 5 });
    expect(count(refuse.port, 'tcp', 'refused')).toBe(5);

    expect(tcpReset!.outcomes).toEqual({ reset: 5 });
    expect(tcpReset!.failures).toEqual({ tcp: 0, app: 5 });
    // The capture names the same five resets (by the server).
    expect(byPort(rst.port).filter((c) => c.outcome === 'reset' && c.resetBy === 'server')).toHaveLength(5);
  },
  30_000,
);
