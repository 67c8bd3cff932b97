#!/usr/bin/env bash
# 20,000 connects at concurrency 5,000 against the lab's open endpoint (in its
# own process), then the same with `ulimit -n 1024`: every attempt must be
# accounted for in `outcomes`, and the second run must report local errors
# (EMFILE) instead of crashing.
# Usage: bash bench/tcp/big-run.sh [count] [concurrency]   (needs `npm run build`)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${1:-20000}"
CONC="${2:-5000}"
tmp="$(mktemp -d)"
trap 'kill -INT "$lab" 2>/dev/null || true; rm -rf "$tmp"' EXIT

node bin/conndx lab tcp-open --json > "$tmp/lab.json" &
lab=$!
for _ in $(seq 100); do grep -q '\]' "$tmp/lab.json" 2>/dev/null && break; sleep 0.1; done
PORT="$(node -e "console.log(JSON.parse(require('fs').readFileSync('$tmp/lab.json','utf8'))[0].port)")"

summarise() {
  node -e "
const j = JSON.parse(require('fs').readFileSync('$1', 'utf8'));
const sum = Object.values(j.outcomes).reduce((a, b) => a + b, 0);
console.log('  attempts ' + j.attempts + ', outcomes ' + JSON.stringify(j.outcomes) + ' (sum ' + sum + (sum === j.attempts ? ', all accounted for' : ', MISMATCH') + ')');
console.log('  connect ms p50 ' + j.latencyMs?.p50 + ', p99 ' + j.latencyMs?.p99 + ', max ' + j.latencyMs?.max + '; synRetransmitSuspected ' + j.synRetransmitSuspected + '; elapsed ' + Math.round(j.elapsedMs) + ' ms');
if (j.localErrors) console.log('  localErrors ' + j.localErrors + ': ' + JSON.stringify(j.errors));
"
}

echo "== $COUNT attempts, concurrency $CONC, --close rst (ulimit -n $(ulimit -n))"
set +e
/usr/bin/env time -f '  wall %es, max RSS %M KiB' node bin/conndx tcp "127.0.0.1:$PORT" --count "$COUNT" --concurrency "$CONC" --close rst --json > "$tmp/a.json" 2> "$tmp/a.err"
echo "  exit $?"; cat "$tmp/a.err"
summarise "$tmp/a.json"

echo "== same with ulimit -n 1024 and --hold 1s (connections stay open, so descriptors run out)"
bash -c "ulimit -n 1024; exec node bin/conndx tcp 127.0.0.1:$PORT --count $COUNT --concurrency $CONC --hold 1s --close rst --json" > "$tmp/b.json" 2> "$tmp/b.err"
echo "  exit $?"; sed 's/^/  stderr: /' "$tmp/b.err"
summarise "$tmp/b.json"
