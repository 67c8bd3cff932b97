// Per connection, conndx reads its own traffic as it reported it: the lab (a child process) is
// probed by tcp, tls, dns and diagnose while tcpdump captures loopback; `conndx pcap --attempts
// --json` of that capture must give, for every connection and every DNS query of the run, the
// phase and outcome the probe reported (matched by the client's port; DNS by port and query id),
// none left over; and the probes' times must sit inside what the wire shows for that connection.
// Needs root and tcpdump.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { requireTool, startTcpdump } from '../helpers/capture-env.js';
import { labProcess } from '../helpers/lab.js';
import { tlsWire, wireTimes, withLag } from '../helpers/wire.js';

const need = requireTool('tcpdump', true);

type Rec = Record<string, any>;

let labp: Awaited<ReturnType<typeof labProcess>>;
const NAMES = [
  'tcp-open',
  'tcp-refuse',
  'tcp-rst-accept',
  'tls-ok',
  'tls-alert',
  'tls-plaintext-http',
  'tls-ssh-banner',
  'dns-ok',
  'dns-nxdomain',
];
beforeAll(async () => {
  if (need.ok) labp = await labProcess(NAMES);
}, 30_000);
afterAll(async () => {
  await labp?.stop();
});

async function ndjson(argv: string[]): Promise<{ lines: Rec[]; lagMs: number }> {
  const { value, lagMs } = await withLag(() => runCli([...argv, '--ndjson', '--concurrency', '1']));
  const lines = value.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Rec);
  return { lines, lagMs };
}

test.skipIf(!need.ok)(
  `every connection and query of tcp, tls, dns and diagnose runs has, in the capture, the probe's phase and outcome and times${need.ok ? '' : ` (skipped: ${need.reason})`}`,
  async () => {
    const ep = labp.endpoints as Record<string, { port: number; addr: string }>;
    const port = (n: string) => ep[n]!.port;
    const dir = mkdtempSync(join(tmpdir(), 'conndx-self-attempts-'));
    const file = join(dir, 'run.pcap');
    const ca = join(dir, 'ca.pem');
    (await import('node:fs')).writeFileSync(ca, String(labp.info['tls-ok']!.ca));
    const ports = NAMES.map(port);
    const filter = ports.map((p) => `port ${p}`).join(' or ');
    const dnsPorts = ['--dns-port', String(port('dns-ok')), String(port('dns-nxdomain'))];
    type Run = { cmd: string; lines: Rec[]; lagMs: number };
    const runs: Run[] = [];
    let diag: Rec, diagPort: number, diagLag: number;
    const dump = await startTcpdump(['-i', 'lo', '--immediate-mode', '-U', '-B', '16384', '-Z', 'root', '-w', file, filter]);
    try {
      const add = async (cmd: string, argv: string[]) => runs.push({ cmd, ...(await ndjson(argv)) });
      await add('tcp ok', ['tcp', ep['tcp-open']!.addr, '--count', '5']);
      await add('tcp refused', ['tcp', ep['tcp-refuse']!.addr, '--count', '3']);
      await add('tcp reset after accept', ['tcp', ep['tcp-rst-accept']!.addr, '--count', '3', '--hold', '300ms']);
      await add('tls ok', ['tls', ep['tls-ok']!.addr, '--sni', 'lab.conndx.test', '--ca', ca, '--count', '5']);
      await add('tls alert', ['tls', ep['tls-alert']!.addr, '--insecure', '--count', '3']);
      await add('tls not-tls http', ['tls', ep['tls-plaintext-http']!.addr, '--insecure', '--count', '2']);
      await add('tls not-tls ssh', ['tls', ep['tls-ssh-banner']!.addr, '--insecure', '--count', '2']);
      await add('dns ok', ['dns', 'ok.lab.conndx.test', '--server', ep['dns-ok']!.addr, '--count', '4']);
      await add('dns nxdomain', ['dns', 'missing.lab.conndx.test', '--server', ep['dns-nxdomain']!.addr, '--count', '3']);
      diagPort = port('tcp-rst-accept');
      const d = await withLag(() => runCliJson(['diagnose', ep['tcp-rst-accept']!.addr, '--count', '3']));
      diag = d.value.json;
      diagLag = d.lagMs;
      // Read the growing file until every connection has ended (or 5 s).
      const expected = runs.filter((r) => !r.cmd.startsWith('dns')).reduce((n, r) => n + r.lines.length, 0) + 2 + 3;
      for (let waited = 0; waited < 5000; waited += 200) {
        const r = await runCliJson(['pcap', file, '--attempts', ...dnsPorts]);
        if (r.json.attempts.attempts >= expected && r.json.tcp.states.S1 === undefined) break;
        await new Promise((res) => setTimeout(res, 200));
      }
    } finally {
      const exited = new Promise((r) => dump.once('exit', r));
      dump.kill('SIGINT');
      await exited;
    }
    const pcap = (await runCliJson(['pcap', file, '--attempts', ...dnsPorts])).json;
    const wire = wireTimes(file, new Set(ports));
    rmSync(dir, { recursive: true, force: true });

    const rows = new Map<number, Rec>();
    for (const r of pcap.attempts.rows as Rec[]) rows.set(Number(String(r.client).split(':').pop()), r);
    const queries = new Map<string, Rec>();
    for (const q of pcap.attempts.queries as Rec[]) queries.set(`${String(q.client).split(':').pop()}|${q.id}`, q);
    const used = new Set<number>();
    const usedQ = new Set<string>();
    const problems: string[] = [];
    // DNS replies by run: tcpdump on lo stamps a datagram as it is sent, and its delivery to the
    // receiving socket (the loopback backlog, a softirq) can wait on a loaded machine, unseen by
    // either side's loop; so one reply may read late. The run's median must agree.
    const gaps: Record<string, { lagMs: number; d: { ms: number; wire: number }[] }> = {};
    const near = (probe: number, onWire: number, lagMs: number) => Math.abs(probe - onWire) <= Math.max(0.1 * onWire, 0.3) + lagMs;

    for (const run of runs) {
      for (const a of run.lines) {
        const d = a.detail ?? {};
        if (run.cmd.startsWith('dns')) {
          const key = `${d.localPort}|${d.queryId}`;
          const q = queries.get(key);
          if (!q) {
            problems.push(`${run.cmd}: query ${key} not in the capture`);
            continue;
          }
          usedQ.add(key);
          const want = a.outcome === 'ok' ? 'NOERROR' : String(a.outcome).toUpperCase();
          if (q.rcode !== want) problems.push(`${run.cmd}: probe ${a.outcome}, capture ${q.rcode}`);
          const ms = a.ms ?? a.timings?.replyMs;
          // The wire's query → reply lies inside the probe's time.
          if (ms < q.lookupMs - 0.3 - run.lagMs)
            problems.push(`${run.cmd} #${a.seq}: reply ${ms} ms, shorter than the wire's ${q.lookupMs} ms`);
          (gaps[run.cmd] ??= { lagMs: run.lagMs, d: [] }).d.push({ ms, wire: q.lookupMs });
          continue;
        }
        const lp = d.localPort as number | undefined;
        const row = lp === undefined ? undefined : rows.get(lp);
        if (!row) {
          problems.push(`${run.cmd}: attempt from port ${lp} not in the capture`);
          continue;
        }
        used.add(lp!);
        if (d.sniffLocalPort !== undefined) used.add(d.sniffLocalPort);
        // The probe's words: tcp:<outcome> is phase tcp, outcome <outcome>; an ok attempt is ok/ok.
        const outcome = String(a.outcome).replace(/^tcp:/, '');
        const phase = a.outcome === 'ok' ? 'ok' : a.phase;
        if (row.phase !== phase || (row.phase === 'ok' ? 'ok' : row.outcome) !== outcome)
          problems.push(`${run.cmd} port ${lp}: probe ${phase}/${outcome}, capture ${row.phase}/${row.outcome}`);
        if (outcome === 'not-tls' && row.cause !== d.answeredWith)
          problems.push(`${run.cmd}: probe says ${d.answeredWith}, capture ${row.cause}`);
        const connect = a.timings?.tcpConnectMs ?? (run.cmd.startsWith('tcp') ? a.ms : null);
        if (typeof connect === 'number' && !near(connect, row.connectMs, run.lagMs))
          problems.push(`${run.cmd} port ${lp}: connect ${connect.toFixed(3)} ms, wire ${row.connectMs} ms (lag ${run.lagMs.toFixed(3)})`);
        const w = wire.get(lp!);
        const tw = run.cmd === 'tls ok' && w ? tlsWire(w) : null;
        if (run.cmd === 'tls ok' && !tw) problems.push(`tls ok port ${lp}: no ClientHello, server flight and Finished on the wire`);
        if (tw) {
          // ClientHello on the wire → the server's flight (its last segment before our Finished) ≤
          // the handshake time ≤ ClientHello → our Finished, give or take 0.3 ms and the run's lag
          // (both ways: this process held up between writing the ClientHello and reading the clock
          // starts the handshake late).
          if (a.ms < tw.serverMs - 0.3 - run.lagMs || a.ms > tw.untilClientMs + 0.3 + run.lagMs)
            problems.push(
              `tls ok port ${lp}: handshake ${a.ms.toFixed(3)} ms outside the wire's ${tw.serverMs.toFixed(3)}..${tw.untilClientMs.toFixed(3)} ms (lag ${run.lagMs.toFixed(3)})`,
            );
          // The server's part: the wire's ClientHello → its Finished flight.
          const sp = a.timings?.tlsServerMs;
          if (typeof sp !== 'number' || !near(sp, tw.serverMs, run.lagMs))
            problems.push(`tls ok port ${lp}: server part ${sp} ms, wire ${tw.serverMs.toFixed(3)} ms (lag ${run.lagMs.toFixed(3)})`);
        }
      }
    }
    for (const [cmd, g] of Object.entries(gaps)) {
      const diffs = g.d.map((x) => x.ms - x.wire).sort((x, y) => x - y);
      const mid = diffs[Math.floor(diffs.length / 2)]!;
      const wires = g.d.map((x) => x.wire).sort((x, y) => x - y);
      const wmid = wires[Math.floor(wires.length / 2)]!;
      if (mid > Math.max(0.1 * wmid, 0.3) + g.lagMs)
        problems.push(`${cmd}: the probe's replies read a median ${mid.toFixed(3)} ms later than the wire (lag ${g.lagMs.toFixed(3)})`);
    }
    // diagnose names no ports: every connection it made (those to its target no probe run made)
    // has its verdict's phase and outcome, one per attempt.
    const mine = [...rows.entries()].filter(([p, r]) => !used.has(p) && String(r.server).endsWith(`:${diagPort!}`));
    expect(diag!.verdict, 'diagnose verdict').toMatchObject({ phase: 'app', outcome: 'reset' });
    expect(
      mine.map(([, r]) => `${r.phase}/${r.outcome}`),
      `diagnose's connections (loop lag ${diagLag!.toFixed(1)} ms)`,
    ).toEqual(Array(diag!.tcp.attempts).fill('app/reset'));
    for (const [p] of mine) used.add(p);

    const left = [...rows.entries()].filter(([p]) => !used.has(p)).map(([p, r]) => `${p} → ${r.server} ${r.phase}/${r.outcome}`);
    const leftQ = [...queries.keys()].filter((k) => !usedQ.has(k));
    expect(problems, problems.join('\n')).toEqual([]);
    expect(left, 'connections in the capture no attempt of the run accounts for').toEqual([]);
    expect(leftQ, 'queries in the capture no attempt of the run accounts for').toEqual([]);
    // Every attempt of every run was looked at.
    const total = runs.reduce((n, r) => n + r.lines.length, 0);
    expect(total).toBe(5 + 3 + 3 + 5 + 3 + 2 + 2 + 4 + 3);
  },
  60_000,
);
