#!/usr/bin/env bash
# Compares conndx's TCP connect p50 with curl's %{time_connect} against the
# same loopback HTTP listener in the same run (both at concurrency 1).
# Usage: bash bench/tcp/connect-vs-curl.sh [N]   (needs `npm run build` and curl)
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-200}"
tmp="$(mktemp -d)"
trap 'kill "$srv" 2>/dev/null || true; rm -rf "$tmp"' EXIT

node -e "require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })" > "$tmp/port" &
srv=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
PORT="$(cat "$tmp/port")"

# Interleave the two so both see the same machine load.
: > "$tmp/curl"
for round in 1 2 3 4; do
  node bin/conndx tcp "127.0.0.1:$PORT" --count $((N / 4)) --json --close rst > "$tmp/conndx$round.json"
  for _ in $(seq $((N / 4))); do
    curl -s -o /dev/null -w '%{time_connect}\n' "http://127.0.0.1:$PORT/" >> "$tmp/curl"
  done
done

node --input-type=module -e "
import { readFileSync } from 'node:fs';
const p50 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const curl = readFileSync('$tmp/curl', 'utf8').trim().split('\n').map((x) => Number(x) * 1000);
const rounds = [1, 2, 3, 4].map((r) => JSON.parse(readFileSync('$tmp/conndx' + r + '.json', 'utf8')));
const conndxP50 = p50(rounds.map((j) => j.latencyMs.p50));
const curlP50 = p50(curl);
console.log('listener            127.0.0.1:$PORT (node http), concurrency 1');
console.log('conndx tcp p50      ' + conndxP50.toFixed(3) + ' ms  (median of 4 runs of ' + ($N / 4) + '; per run: ' + rounds.map((j) => j.latencyMs.p50.toFixed(3)).join(', ') + ')');
console.log('curl time_connect   ' + curlP50.toFixed(3) + ' ms  (p50 of ' + curl.length + ' runs)');
console.log('difference          ' + (conndxP50 - curlP50).toFixed(3) + ' ms');
"
