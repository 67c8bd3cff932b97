// analyzeCapture() alone, from the build (what `diagnose --capture` will call): prints seconds.
import { analyzeCapture } from '../../dist/capture/index.js';

const t0 = performance.now();
const r = await analyzeCapture(process.argv[2], {});
if (!r.ok) throw new Error(r.reason);
process.stdout.write(JSON.stringify({ s: (performance.now() - t0) / 1000, packets: r.result.packets }) + '\n');
