// Starts TLS lab endpoints in their own process (so the server's CPU is not
// the probe's), writes the lab PKI to a directory for curl, h2load and nginx,
// prints one JSON line { name: port, ... } and runs until SIGTERM.
// Usage: node bench/tls/serve.mjs <dir> [endpoint...]   (after npm run build)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const { TLS_LAB } = await import('../../dist/lab/tls.js');
const { labPki } = await import('../../dist/lab/certs.js');

const [dir, ...names] = process.argv.slice(2);
if (!dir) {
  console.error('usage: serve.mjs <dir> [endpoint...]');
  process.exit(3);
}
const pki = await labPki();
writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
writeFileSync(join(dir, 'server.pem'), pki.valid.cert + pki.intermediate.cert);
writeFileSync(join(dir, 'server.key'), pki.valid.key);
const eps = [];
for (const n of names.length ? names : ['tls-ok']) eps.push(await TLS_LAB[n]());
console.log(JSON.stringify(Object.fromEntries(eps.map((e) => [e.name, e.port]))));
const stop = async () => {
  await Promise.all(eps.map((e) => e.close()));
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
