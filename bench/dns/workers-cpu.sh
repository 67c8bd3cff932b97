#!/usr/bin/env bash
# CPU per query (GNU time: user+sys of the whole process, every thread) at 1,000
# outstanding against dnsmasq: dnsperf, conndx on one thread and on two,
# alternating. Same setup as bench/dns/workers.sh; loopback only, bounded runs.
set -euo pipefail
PORT=${PORT:-15356}
N=${N:-100000}
OUT=${OUT:-bench/dns/workers-cpu-result.txt}
old_rmem=$(sysctl -n net.core.rmem_default)
sysctl -qw net.core.rmem_default=8388608
trap 'sysctl -qw net.core.rmem_default=$old_rmem; kill $DNSMASQ 2>/dev/null || true' EXIT
dnsmasq --keep-in-foreground --no-resolv --no-hosts --port="$PORT" --listen-address=127.0.0.1 \
  --bind-interfaces --address=/bench.test/192.0.2.1 --cache-size=0 -u root &
DNSMASQ=$!
sleep 0.5
printf 'bench.test A\n%.0s' $(seq 1 100) > /tmp/conndx-bench-workers-queries.txt
{
  echo "# $(date -u +%FT%TZ) $(nproc) cores, node $(node --version); $N queries per conndx run, dnsperf 3 s"
  for round in 1 2; do
    echo "## round $round uptime: $(uptime)"
    /usr/bin/time -f "dnsperf cpu user %U sys %S wall %e" dnsperf -s 127.0.0.1 -p "$PORT" -d /tmp/conndx-bench-workers-queries.txt -c 1 -q 1000 -l 3 2>&1 | grep -E 'Queries completed|cpu user'
    for w in 1 2; do
      echo "## round $round uptime: $(uptime)"
      /usr/bin/time -f "conndx --workers $w cpu user %U sys %S wall %e" node bin/conndx dns bench.test --server 127.0.0.1:"$PORT" \
        --workers "$w" --concurrency 1000 --count "$N" --timeout 2s --json 2>&1 >/tmp/conndx-bench-workers.json | tail -1
      node -e 'const r=JSON.parse(require("fs").readFileSync("/tmp/conndx-bench-workers.json","utf8"));console.log("  outcomes "+JSON.stringify(r.outcomes))'
    done
  done
  echo "## end uptime: $(uptime)"
} | tee "$OUT"
