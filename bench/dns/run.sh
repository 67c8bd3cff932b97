#!/usr/bin/env bash
# Queries per second at 1,000 outstanding against a fast local DNS server
# (dnsmasq, answering from its own config, no upstream), conndx beside
# dnsperf in the same run. Loopback only. Run as root from the repo root
# after `npm run build`; needs the Debian packages dnsmasq-base and dnsperf.
# Beside both: a plain Node dgram loop (bench/dns/plain-loop.mjs), the floor
# for any Node client. Accuracy against the wire: bench/dns/accuracy.mjs.
set -euo pipefail
PORT=${PORT:-15353}
SECS=${SECS:-10}
OUT=${OUT:-bench/dns/result.txt}
command -v dnsmasq >/dev/null && command -v dnsperf >/dev/null || { echo "apt-get install dnsmasq-base dnsperf"; exit 1; }
# Bigger socket buffers for the server as well, so that a burst of 1,000
# queries is not lost in its receive queue (the clients set their own).
old_rmem=$(sysctl -n net.core.rmem_default)
sysctl -qw net.core.rmem_default=8388608
trap 'sysctl -qw net.core.rmem_default=$old_rmem; kill $DNSMASQ 2>/dev/null || true' EXIT
dnsmasq --keep-in-foreground --no-resolv --no-hosts --port="$PORT" --listen-address=127.0.0.1 \
  --bind-interfaces --address=/lab.test/192.0.2.10 --cache-size=0 -u root &
DNSMASQ=$!
sleep 0.5
printf 'lab.test A\n%.0s' $(seq 1 100) > /tmp/conndx-bench-queries.txt
summ='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const q=r.attempts/((r.elapsedMs-0)/1000);console.log(`  attempts ${r.attempts} ok ${r.succeeded} lost ${r.attempts-r.succeeded} elapsedMs ${r.elapsedMs} qps ${q.toFixed(0)} p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} outcomes ${JSON.stringify(r.outcomes)}`)})'
# Unpinned, the tools and dnsmasq share both cores as the scheduler likes
# (noisy: dnsperf runs a sender and a receiver thread). Pinned, dnsmasq has
# core 0 and each client core 1 to itself, every client the same one core.
{
  echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores, node $(node --version), $(dnsperf -h 2>&1 | grep -m1 -o 'DNSPerf [0-9.]*' || echo dnsperf)"
  for mode in unpinned pinned; do
    if [ "$mode" = pinned ]; then C1="taskset -c 1"; taskset -pc 0 "$DNSMASQ" >/dev/null; else C1=""; taskset -pc 0-1 "$DNSMASQ" >/dev/null; fi
    for round in 1 2 3; do
      echo "## $mode round $round: dnsperf -c 1 -q 1000 -l $SECS"
      $C1 dnsperf -s 127.0.0.1 -p "$PORT" -d /tmp/conndx-bench-queries.txt -c 1 -q 1000 -l "$SECS" 2>&1 \
        | grep -E 'Queries (sent|completed|lost)|Queries per second|Average Latency'
      echo "## $mode round $round: plain Node dgram loop, 1000 outstanding"
      $C1 node bench/dns/plain-loop.mjs "$PORT" "$SECS" 1000
      echo "## $mode round $round: conndx dns --concurrency 1000 --duration ${SECS}s"
      $C1 node bin/conndx dns lab.test --server 127.0.0.1:"$PORT" --concurrency 1000 --duration "${SECS}s" --timeout 2s --json 2>/dev/null | node -e "$summ"
    done
  done
} | tee "$OUT"
