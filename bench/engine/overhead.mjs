// The engine's own CPU per attempt: an in-process probe that answers at once,
// N attempts at concurrency 1,000, aggregated as `conndx` does. Run after a
// build, pinned to one core for steady figures:
//   taskset -c 1 node bench/engine/overhead.mjs [N=300000]
import { executeProbe } from '../../dist/engine/execute.js';

const N = Number(process.argv[2] ?? 300_000);
const fn = async () => ({
  outcome: 'ok',
  phase: 'dns',
  ms: 0.5,
  tallies: { rcodes: 'NOERROR' },
  detail: { transport: 'udp', rcode: 'NOERROR', answers: 1 },
});
for (let round = 1; round <= 3; round++) {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const { result } = await executeProbe(
    { probe: 'dns', targets: [{ key: 'x', target: {} }], fn, breakdown: 'byServer' },
    { count: N, concurrency: 1000, timeoutMs: 2000 },
  );
  const el = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `round ${round}: ${result.attempts} attempts in ${el.toFixed(0)} ms = ${((N / el) * 1000).toFixed(0)}/s, ${((cpu.user + cpu.system) / N).toFixed(2)} µs of CPU per attempt`,
  );
}
