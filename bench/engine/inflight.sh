#!/usr/bin/env bash
# 5,000 TLS handshakes in flight against a server with a known handshake
# delay (the lab's tls-slow-handshake: 250 ms from accept), conndx on 1 and 2
# threads: is p50 within 10% of the delay, and if not, does the run say by
# how much it is inflated? Loopback only. Run from the repo root after a build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
DIR=$(mktemp -d)
node bin/conndx lab tls-slow-handshake --json > "$DIR/lab.json" &
LAB=$!
trap 'kill -INT $LAB 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do grep -q ']' "$DIR/lab.json" 2>/dev/null && break; sleep 0.1; done
PORT=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))[0].port)' "$DIR/lab.json")
node -e 'const l=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));require("fs").writeFileSync(process.argv[2],l[0].info.ca)' "$DIR/lab.json" "$DIR/ca.pem"
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, node $(node --version); server delay 250 ms"
  for w in 1 2; do
    echo "## conndx tls -c 5000 --concurrency 5000 --workers $w"
    node bin/conndx tls "127.0.0.1:$PORT" --sni lab.conndx.test --ca "$DIR/ca.pem" -c 5000 --concurrency 5000 --workers "$w" --timeout 30s --json 2>/dev/null \
      | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(`  ${JSON.stringify(r.outcomes)} p50 ${r.latencyMs?.p50} ms (truth 250: ${((r.latencyMs?.p50/250-1)*100).toFixed(1)}%), p99 ${r.latencyMs?.p99} ms, tcp connect p50 ${r.tcpConnectMs?.p50} ms\n  timing: ${JSON.stringify(r.timing)}`)})'
  done
} | tee bench/engine/inflight-result.txt
