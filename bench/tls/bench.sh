#!/usr/bin/env bash
# conndx tls against curl and h2load, same servers, same run. Loopback only.
#   bench/tls/bench.sh [N_CURL=200] [N_LOAD=5000] [CONCURRENCY=500] [all|compare|load]
# Servers: the lab's tls-ok endpoint (Node https, in its own process) and
# nginx (Debian package) with the same lab certificate.
# Handshake time: conndx latencyMs (ClientHello written → handshake complete)
# against curl's time_appconnect − time_connect, one warm curl process with
# fresh connections (--no-sessionid, Connection: close), as conndx is warm.
# curl creates its SSL_CTX and loads --cacert per connection inside that
# window (conndx builds its context once per run), so curl is measured both
# with --cacert and with -k. bench/tls/raw-node.mjs is the floor: bare
# tls.connect handshakes with no conndx around them.
set -euo pipefail
cd "$(dirname "$0")/../.."
N_CURL=${1:-200}
N_LOAD=${2:-5000}
C=${3:-500}
MODE=${4:-all}   # all | compare | load
DIR=$(mktemp -d /tmp/conndx-tls-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
  sleep 0.2; rm -rf "$DIR"
}
trap cleanup EXIT

npm run -s build >/dev/null || echo "(build reported type errors; running what it emitted)"

# start_lab <dir>: the lab's tls-ok endpoint in its own process; sets LAB_PORT
start_lab() {
  local dir=$1
  mkdir -p "$dir"
  node bench/tls/serve.mjs "$dir" tls-ok > "$dir/ports" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$dir/ports" ] && break; sleep 0.1; done
  LAB_PORT=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))["tls-ok"])' "$dir/ports")
}

# curl_hs <port> <dir> <tls flags> <n>: p50 of (appconnect − connect) over n fresh connections, ms
curl_hs() {
  local port=$1 dir=$2 flags=$3 n=$4
  local urls=()
  for _ in $(seq "$n"); do urls+=("https://lab.conndx.test:$port/"); done
  # shellcheck disable=SC2086
  curl -s --http1.1 --no-sessionid -H 'Connection: close' $flags --resolve "lab.conndx.test:$port:127.0.0.1" \
      -w 'T %{time_connect} %{time_appconnect}\n' "${urls[@]}" \
    | awk '/^T / { print ($3 - $2) * 1000 }' | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f\n", a[int((NR + 1) / 2)] }'
}

# conndx_hs <port> <dir> <n>: conndx's p50 handshake (latencyMs.p50, ClientHello sent → done) at
# concurrency 1, and the p50 of clientHelloMs (the tls.connect call that builds and writes it), ms
conndx_hs() {
  local port=$1 dir=$2 n=$3
  node bin/conndx tls "127.0.0.1:$port" --sni lab.conndx.test --ca "$dir/ca.pem" --count "$n" --json 2>/dev/null \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.succeeded===r.attempts?`${r.latencyMs.p50.toFixed(3)} ${r.clientHelloMs.p50.toFixed(3)}`:"failed -")})'
}

# ROUNDS short alternating blocks, so that the machine's other load falls on all three alike;
# prints each round's p50s and the median over rounds.
compare() {
  local port=$1 dir=$2 rounds=10
  local per=$(( (N_CURL + rounds - 1) / rounds ))
  local a=() h=() b=() k=()
  echo "handshake p50 at concurrency 1: $rounds rounds of $per handshakes each, alternating (ms)"
  echo "  round  conndx  (+hello)  curl--cacert  curl-k"
  for r in $(seq "$rounds"); do
    read -r x y <<< "$(conndx_hs "$port" "$dir" "$per")"
    a+=("$x"); h+=("$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.3f", x + y }')")
    b+=("$(curl_hs "$port" "$dir" "--cacert $dir/ca.pem" "$per")")
    k+=("$(curl_hs "$port" "$dir" "-k" "$per")")
    printf '  %5d  %6s  %8s  %12s  %6s\n' "$r" "${a[-1]}" "${h[-1]}" "${b[-1]}" "${k[-1]}"
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
  local ma mh mb mk
  ma=$(median "${a[@]}"); mh=$(median "${h[@]}"); mb=$(median "${b[@]}"); mk=$(median "${k[@]}")
  awk -v a="$ma" -v h="$mh" -v b="$mb" -v k="$mk" 'BEGIN {
    printf "  median conndx %.3f (with ClientHello building %.3f); curl --cacert %.3f: conndx %+.1f%% (%+.1f%%); curl -k %.3f: conndx %+.1f%% (%+.1f%%)\n",
      a, h, b, (a / b - 1) * 100, (h / b - 1) * 100, k, (a / k - 1) * 100, (h / k - 1) * 100 }'
}

load() {
  local port=$1 dir=$2
  /usr/bin/time -f '%U %S' -o "$dir/cpu" node bin/conndx tls "127.0.0.1:$port" --sni lab.conndx.test --ca "$dir/ca.pem" --count "$N_LOAD" --concurrency "$C" --json 2>/dev/null > "$dir/load.json" || true
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const [u, s] = require("fs").readFileSync(process.argv[2], "utf8").trim().split(" ").map(Number);
    const sum = Object.values(r.outcomes).reduce((a, b) => a + b, 0);
    console.log(`conndx --count ${r.attempts} --concurrency '"$C"': outcomes ${JSON.stringify(r.outcomes)} (sum ${sum}), ${(r.attempts / r.elapsedMs * 1000).toFixed(0)} handshakes/s over ${(r.elapsedMs / 1000).toFixed(2)} s, cpu ${u}s user ${s}s sys (${((u + s) * 1000 / r.attempts).toFixed(2)} ms/handshake)`);
  ' "$dir/load.json" "$dir/cpu"
}

h2() {
  local port=$1 n=$2
  h2load -c "$n" -n "$n" --connect-to="127.0.0.1:$port" "https://lab.conndx.test:$port/" 2>&1 \
    | awk '/^finished in/ { print "h2load -c '"$n"' -n '"$n"': " $0 } /^requests:/ { print "  " $0 }'
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_lab "$DIR/node"
NODE_PORT=$LAB_PORT
NGINX_PORT=$(( 20000 + RANDOM % 20000 ))
if command -v nginx >/dev/null; then
  mkdir -p "$DIR/nginx"
  cp "$DIR/node/ca.pem" "$DIR/node/server.pem" "$DIR/node/server.key" "$DIR/nginx/"
  cat > "$DIR/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx; proxy_temp_path $DIR/nginx; fastcgi_temp_path $DIR/nginx;
  uwsgi_temp_path $DIR/nginx; scgi_temp_path $DIR/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2 backlog=8192;
    ssl_certificate $DIR/nginx/server.pem; ssl_certificate_key $DIR/nginx/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "conndx bench\n"; }
  }
}
CONF
  nginx -c "$DIR/nginx.conf" -p "$DIR/nginx" || true
  sleep 0.3
fi

for target in "node:$NODE_PORT:$DIR/node" "nginx:$NGINX_PORT:$DIR/nginx"; do
  IFS=: read -r name port dir <<< "$target"
  if [ "$name" = nginx ] && [ ! -f "$DIR/nginx.pid" ]; then echo "nginx: not started, skipped"; continue; fi
  echo "== $name server on 127.0.0.1:$port =="
  [ "$MODE" != load ] && compare "$port" "$dir"
  [ "$MODE" = compare ] && continue
  echo "load: $N_LOAD handshakes at concurrency $C"
  load "$port" "$dir"
  h2 "$port" "$C"
  h2 "$port" "$N_LOAD"
  load "$port" "$dir"
  node bench/tls/raw-node.mjs "$port" "$dir/ca.pem" "$N_LOAD" "$C"
done

