#!/usr/bin/env bash
# conndx tls against curl and h2load, same servers, same run. Loopback only.
#   bench/tls/bench.sh [N_CURL=200] [N_LOAD=5000] [CONCURRENCY=500]
# Servers: the lab's tls-ok endpoint (Node https, in its own process) and
# nginx (Debian package) with the same lab certificate.
set -euo pipefail
cd "$(dirname "$0")/../.."
N_CURL=${1:-200}
N_LOAD=${2:-5000}
C=${3:-500}
DIR=$(mktemp -d /tmp/conndx-tls-bench.XXXXXX)
cleanup() {
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null || true
  [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
  sleep 0.2; rm -rf "$DIR"
}
trap cleanup EXIT

npm run -s build
node bench/tls/serve.mjs "$DIR" tls-ok > "$DIR/ports" &
SERVE_PID=$!
for _ in $(seq 50); do [ -s "$DIR/ports" ] && break; sleep 0.1; done
NODE_PORT=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))["tls-ok"])' "$DIR/ports")

NGINX_PORT=$(( 20000 + RANDOM % 20000 ))
if command -v nginx >/dev/null; then
  mkdir -p "$DIR/nginx"
  cat > "$DIR/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx; proxy_temp_path $DIR/nginx; fastcgi_temp_path $DIR/nginx;
  uwsgi_temp_path $DIR/nginx; scgi_temp_path $DIR/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2 backlog=4096;
    ssl_certificate $DIR/server.pem; ssl_certificate_key $DIR/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "conndx bench\n"; }
  }
}
CONF
  nginx -c "$DIR/nginx.conf" -p "$DIR/nginx" || true
  sleep 0.3
fi

# p50/mean of (appconnect - connect) over N curl runs, in ms
curl_hs() {
  local port=$1
  for _ in $(seq "$N_CURL"); do
    curl -s -o /dev/null --cacert "$DIR/ca.pem" --resolve "lab.conndx.test:$port:127.0.0.1" \
      -w '%{time_connect} %{time_appconnect}\n' "https://lab.conndx.test:$port/"
  done | awk '{ d = ($2 - $1) * 1000; print d }' | sort -n | awk '{ a[NR] = $1; s += $1 } END { printf "p50 %.3f ms  mean %.3f ms  (n=%d)\n", a[int((NR + 1) / 2)], s / NR, NR }'
}

conndx_hs() {
  local port=$1
  node bin/conndx tls "127.0.0.1:$port" --sni lab.conndx.test --ca "$DIR/ca.pem" --count "$N_CURL" --json \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(`p50 ${r.latencyMs.p50} ms  mean ${r.latencyMs.mean} ms  (ok ${r.succeeded}/${r.attempts}; tcp connect p50 ${r.tcpConnectMs.p50} ms)`)})'
}

load() {
  local port=$1
  node bin/conndx tls "127.0.0.1:$port" --sni lab.conndx.test --ca "$DIR/ca.pem" --count "$N_LOAD" --concurrency "$C" --json \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const sum=Object.values(r.outcomes).reduce((a,b)=>a+b,0);console.log(`conndx: ${r.attempts} attempts, outcomes ${JSON.stringify(r.outcomes)} (sum ${sum}), ${(r.attempts/r.elapsedMs*1000).toFixed(0)} handshakes/s over ${(r.elapsedMs/1000).toFixed(2)} s, handshake p50 ${r.latencyMs?.p50} p99 ${r.latencyMs?.p99} ms`)})'
}

h2() {
  local port=$1 n=$2
  h2load -c "$n" -n "$n" --connect-to="127.0.0.1:$port" "https://lab.conndx.test:$port/" 2>&1 \
    | awk '/^finished in/ { print "h2load -c '"$n"' -n '"$n"': " $0 } /^requests:/ { print "  " $0 } /^time for connect/ { print "  " $0 }'
}

for target in "node:$NODE_PORT" "nginx:$NGINX_PORT"; do
  name=${target%%:*}; port=${target##*:}
  if [ "$name" = nginx ] && [ ! -f "$DIR/nginx.pid" ]; then echo "nginx: not started, skipped"; continue; fi
  echo "== $name server on 127.0.0.1:$port =="
  echo "handshake at concurrency 1, $N_CURL each (alternating):"
  echo "  conndx  $(conndx_hs "$port")"
  echo "  curl    $(curl_hs "$port")"
  echo "  conndx  $(conndx_hs "$port")"
  echo "  curl    $(curl_hs "$port")"
  echo "load: $N_LOAD handshakes at concurrency $C"
  load "$port"
  h2 "$port" "$C"
  h2 "$port" "$N_LOAD"
  load "$port"
done
