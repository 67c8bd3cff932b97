#!/usr/bin/env bash
# UDP queries/s at 1,000 outstanding against dnsmasq: dnsperf, conndx on one
# thread and conndx --workers 2, alternating in the same run, `uptime` before
# each. Loopback only; each run is SECS seconds. Run as root from the repo
# root after `npm run build`; needs the Debian packages dnsmasq-base and dnsperf.
set -euo pipefail
PORT=${PORT:-15355}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-4}
OUT=${OUT:-bench/dns/workers-result.txt}
command -v dnsmasq >/dev/null && command -v dnsperf >/dev/null || { echo "apt-get install dnsmasq-base dnsperf"; exit 1; }
# As bench/dns/run.sh: bigger default socket buffers for the server too, restored on exit.
old_rmem=$(sysctl -n net.core.rmem_default)
sysctl -qw net.core.rmem_default=8388608
trap 'sysctl -qw net.core.rmem_default=$old_rmem; kill $DNSMASQ 2>/dev/null || true' EXIT
dnsmasq --keep-in-foreground --no-resolv --no-hosts --port="$PORT" --listen-address=127.0.0.1 \
  --bind-interfaces --address=/bench.test/192.0.2.1 --cache-size=0 -u root &
DNSMASQ=$!
sleep 0.5
printf 'bench.test A\n%.0s' $(seq 1 100) > /tmp/conndx-bench-workers-queries.txt
summ='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const q=r.attempts/(r.elapsedMs/1000);console.log(`  attempts ${r.attempts} ok ${r.succeeded} lost ${r.attempts-r.succeeded} elapsedMs ${r.elapsedMs} qps ${q.toFixed(0)} p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} workers ${r.timing.workers??1} busy ${r.timing.busy} outcomes ${JSON.stringify(r.outcomes)}`)})'
conndx() {
  local round=$1 n=$2
  shift 2
  echo "## round $round uptime: $(uptime)"
  echo "## round $round: conndx dns bench.test --workers $n --concurrency 1000 --duration ${SECS}s --timeout 2s $*"
  node bin/conndx dns bench.test --server 127.0.0.1:"$PORT" --workers "$n" --concurrency 1000 --duration "${SECS}s" --timeout 2s "$@" --json 2>/dev/null | node -e "$summ"
}
{
  echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores, node $(node --version), dnsperf $(dnsperf -h 2>&1 | grep -m1 -o 'version [0-9.]*' || true), $(dnsmasq --version | head -1)"
  echo "# dnsmasq on 127.0.0.1:$PORT --no-resolv --address=/bench.test/192.0.2.1 --cache-size=0; unpinned; order rotates each round"
  for round in $(seq 1 "$ROUNDS"); do
    # dnsperf sends no OPT record unless -e; conndx sends one with a cookie by default: w2bare is conndx without.
    order=(perf w1 w2 w2bare)
    case $((round % 4)) in 2) order=(w1 w2 w2bare perf) ;; 3) order=(w2 w2bare perf w1) ;; 0) order=(w2bare perf w1 w2) ;; esac
    for what in "${order[@]}"; do
      case $what in
        perf)
          echo "## round $round uptime: $(uptime)"
          echo "## round $round: dnsperf -c 1 -q 1000 -l $SECS"
          dnsperf -s 127.0.0.1 -p "$PORT" -d /tmp/conndx-bench-workers-queries.txt -c 1 -q 1000 -l "$SECS" 2>&1 \
            | grep -E 'Queries (sent|completed|lost)|Queries per second|Average Latency'
          ;;
        w1) conndx "$round" 1 ;;
        w2) conndx "$round" 2 ;;
        w2bare) conndx "$round" 2 --no-edns ;;
      esac
    done
  done
  echo "## end uptime: $(uptime)"
} | tee "$OUT"
