#!/usr/bin/env bash
# The probe engine against its anchors, same servers, same run (issue: the
# concurrent probe engine). Loopback only. Run as root from the repo root:
#   bench/engine/run.sh [TOTAL_TLS=5000] [TOTAL_TCP=50000] [C=1000] [ROUNDS=5]
# 1. TLS 1.3 full handshakes/s at concurrency C against nginx (Debian),
#    conndx tls (1 and 2 worker threads) beside `h2load -c C -n C` (one
#    request per connection: C full handshakes) and a bare Node tls.connect
#    loop, each with its CPU time per handshake. One nginx worker and every
#    client share the two cores, so CPU per handshake decides the rate.
# 2. TCP connects/s with RST close at concurrency C against nginx's plain
#    port, conndx tcp --close rst beside a minimal Node net.connect loop.
# The last lines are medians over the rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
TLS_N=${1:-5000}
TCP_N=${2:-50000}
C=${3:-1000}
ROUNDS=${4:-5}
DIR=$(mktemp -d /tmp/conndx-engine-bench.XXXXXX)
cleanup() { [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null; sleep 0.2; rm -rf "$DIR"; }
trap cleanup EXIT
command -v nginx >/dev/null && command -v h2load >/dev/null || { echo "apt-get install nginx-light nghttp2-client"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# A CA and an ECDSA P-256 server certificate for lab.conndx.test, made now.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=conndx-bench-ca \
  -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=lab.conndx.test \
  -keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:lab.conndx.test\n' > "$DIR/ext.cnf"
openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -days 2 \
  -extfile "$DIR/ext.cnf" -out "$DIR/server.pem" 2>/dev/null
cat > "$DIR/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/error.log;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $DIR; proxy_temp_path $DIR; fastcgi_temp_path $DIR; uwsgi_temp_path $DIR; scgi_temp_path $DIR;
  server {
    listen 127.0.0.1:18443 ssl backlog=4096; listen 127.0.0.1:18080 backlog=4096;
    ssl_certificate $DIR/server.pem; ssl_certificate_key $DIR/server.key;
    ssl_protocols TLSv1.3; ssl_session_tickets off; ssl_session_cache off;
    location / { return 200 "ok\n"; }
  }
}
CONF
nginx -c "$DIR/nginx.conf" -p "$DIR"
sleep 0.3
npm run -s build >/dev/null

RAW="$DIR/raw.txt"
# conndx's JSON → one summary line; CPU comes from /usr/bin/time (user+sys, whole process).
summ='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const cpu=Number(process.env.CPU);console.log(`  ${r.attempts} attempts, ok ${r.succeeded}, ${(r.attempts/(r.elapsedMs/1000)).toFixed(0)}/s, cpu ${(cpu*1000/r.attempts).toFixed(2)} ms/attempt, p50 ${r.latencyMs?.p50} ms, p99 ${r.latencyMs?.p99} ms, loop lag p99 ${r.timing?.loopLagMs?.p99} ms, workers ${r.timing?.workers??1}, outcomes ${JSON.stringify(r.outcomes)}`)})'
timed() { /usr/bin/time -f '%U %S' -o "$DIR/time" "$@" || true; }  # a run with failures exits 1 or 2: still a result
cpu() { awk '{print $1+$2}' "$DIR/time"; }
conndx_tls() { # n workers
  timed node bin/conndx tls 127.0.0.1:18443 --sni lab.conndx.test --ca "$DIR/ca.pem" -c "$1" --concurrency "$C" --workers "$2" --timeout 20s --json 2>/dev/null > "$DIR/out.json"
  CPU=$(cpu) node -e "$summ" < "$DIR/out.json"
}
{
  echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores, node $(node --version), nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(h2load --version 2>&1 | head -1)"
  for round in $(seq "$ROUNDS"); do
    echo "## round $round: TLS handshakes, concurrency $C"
    echo "h2load --h1 -c $C -n $C"
    timed h2load --h1 -c "$C" -n "$C" "https://127.0.0.1:18443/" > "$DIR/h2" 2>&1
    grep -E '^finished|requests:' "$DIR/h2" | sed 's/^/  /'
    echo "  cpu $(awk -v c="$(cpu)" -v n="$C" 'BEGIN{printf "%.2f", c*1000/n}') ms/handshake"
    echo "bare Node tls.connect loop, -c $C"
    timed node bench/tls/raw-node.mjs 18443 "$DIR/ca.pem" "$C" "$C" | sed 's/^/  /'
    for w in 1 2; do
      for n in "$C" "$TLS_N"; do
        echo "conndx tls --concurrency $C -c $n --workers $w"
        conndx_tls "$n" "$w"
      done
    done
    echo "## round $round: TCP connects with RST close, concurrency $C, $TCP_N connects"
    echo "minimal Node net.connect loop"
    node bench/engine/node-connect-loop.mjs 127.0.0.1 18080 "$C" "$TCP_N" | sed 's/^/  /'
    echo "conndx tcp --close rst"
    timed node bin/conndx tcp 127.0.0.1:18080 -c "$TCP_N" --concurrency "$C" --close rst --timeout 5s --json 2>/dev/null > "$DIR/out.json"
    CPU=$(cpu) node -e "$summ" < "$DIR/out.json"
  done
} | tee "$RAW"
# Medians over the rounds, and conndx against its anchors.
node - "$RAW" "$C" "$TLS_N" <<'JS' | tee -a "$RAW"
const lines = require('fs').readFileSync(process.argv[2], 'utf8').split('\n');
const [C, N] = [process.argv[3], process.argv[4]];
const runs = {};
let who = null;
for (const l of lines) {
  if (!l.startsWith(' ')) { who = l.startsWith('#') ? null : l.trim(); continue; }
  if (!who) continue;
  const rate = l.match(/([\d.]+) req\/s/) ?? l.match(/= ([\d.]+) handshakes\/s/) ?? l.match(/, ([\d.]+)\/s/) ?? l.match(/"perSecond":(\d+)/);
  if (rate) (runs[who] ??= { rate: [], cpu: [] }).rate.push(Number(rate[1]));
  const cpu = l.match(/cpu ([\d.]+) ms\//);
  if (cpu) (runs[who] ??= { rate: [], cpu: [] }).cpu.push(Number(cpu[1]));
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN; };
console.log('## medians over the rounds');
for (const [k, v] of Object.entries(runs)) console.log(`${k.padEnd(48)} ${med(v.rate).toFixed(0).padStart(6)}/s  cpu ${v.cpu.length ? med(v.cpu).toFixed(2) + ' ms' : '-'}  (rounds: ${v.rate.join(', ')})`);
const h2 = med(runs[`h2load --h1 -c ${C} -n ${C}`].rate);
for (const w of [1, 2]) {
  const r = med(runs[`conndx tls --concurrency ${C} -c ${C} --workers ${w}`].rate);
  console.log(`conndx tls (${w} thread${w > 1 ? 's' : ''}, ${C} handshakes) / h2load: ${(r / h2).toFixed(2)}x`);
}
const loop = med(runs['minimal Node net.connect loop'].rate);
const tcp = med(runs['conndx tcp --close rst'].rate);
console.log(`conndx tcp --close rst / minimal Node loop: ${(tcp / loop).toFixed(2)}x`);
JS
cp "$RAW" bench/engine/result.txt
