#!/usr/bin/env bash
# The probe engine against its anchors, same servers, same run (issue: the
# concurrent probe engine). Loopback only. Run as root from the repo root:
#   bench/engine/run.sh [TOTAL_TLS=5000] [TOTAL_TCP=50000] [C=1000]
# 1. TLS 1.3 full handshakes/s at concurrency C against nginx (Debian),
#    conndx tls (1 and 2 worker threads) beside `h2load -c C -n TOTAL`.
# 2. TCP connects/s with RST close at concurrency C against nginx's plain
#    port, conndx tcp --close rst beside a minimal Node net.connect loop.
set -euo pipefail
cd "$(dirname "$0")/../.."
TLS_N=${1:-5000}
TCP_N=${2:-50000}
C=${3:-1000}
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

summ='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(`  ${r.attempts} attempts, ok ${r.succeeded}, ${(r.attempts/(r.elapsedMs/1000)).toFixed(0)}/s, p50 ${r.latencyMs?.p50} ms, p99 ${r.latencyMs?.p99} ms, loop lag p99 ${r.timing?.loopLagMs?.p99} ms, workers ${r.timing?.workers??1}, outcomes ${JSON.stringify(r.outcomes)}`)})'
{
  echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores, node $(node --version), nginx $(nginx -v 2>&1 | sed 's/.*\///')"
  for round in 1 2; do
    echo "## round $round: TLS handshakes, concurrency $C, $TLS_N handshakes"
    echo "h2load --h1 -c $C -n $C (one request per connection: $C full handshakes)"
    h2load --h1 -c "$C" -n "$C" "https://127.0.0.1:18443/" 2>&1 | grep -E '^finished|requests:' | sed 's/^/  /'
    for w in 1 2; do
      for n in "$C" "$TLS_N"; do
        echo "conndx tls --concurrency $C -c $n --workers $w"
        node bin/conndx tls 127.0.0.1:18443 --sni lab.conndx.test --ca "$DIR/ca.pem" -c "$n" --concurrency "$C" --workers "$w" --timeout 20s --json 2>/dev/null | node -e "$summ"
      done
    done
    echo "## round $round: TCP connects with RST close, concurrency $C, $TCP_N connects"
    echo "minimal Node net.connect loop"
    node bench/engine/node-connect-loop.mjs 127.0.0.1 18080 "$C" "$TCP_N" | sed 's/^/  /'
    echo "conndx tcp --close rst"
    node bin/conndx tcp 127.0.0.1:18080 -c "$TCP_N" --concurrency "$C" --close rst --timeout 5s --json 2>/dev/null | node -e "$summ"
  done
} | tee bench/engine/result.txt
