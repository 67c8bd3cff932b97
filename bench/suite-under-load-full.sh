#!/bin/sh
# The whole suite (npm test, root tests required) five times on a clean clone of HEAD
# while stress-ng keeps both cores busy. Run as root, by hand:
#   sh bench/suite-under-load-full.sh > bench/suite-under-load-full.txt 2>&1
# Each run's vitest output is kept in /tmp/conndx-full-load-run-N.txt.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
rev=$(git -C "$src" rev-parse --short HEAD)
work=$(mktemp -d /tmp/conndx-load-XXXXXX)
git clone -q "$src" "$work/conndx" && ln -s "$src/../shared" "$work/shared" 2>/dev/null
cd "$work/conndx" || exit 1
ln -s "$src/node_modules" node_modules
echo "commit $rev, $(nproc) cores, $(date -u +%FT%TZ)"
stress-ng --cpu 2 --timeout 7200s >/dev/null 2>&1 &
S=$!
sleep 2
pass=0; fail=0
for i in 1 2 3 4 5; do
  t0=$(date +%s)
  echo "run $i: $(uptime | sed 's/.*load/load/')"
  if CONNDX_REQUIRE_ROOT_TESTS=1 npm test > /tmp/conndx-full-load-run-$i.txt 2>&1; then r=pass; pass=$((pass+1)); else r=FAIL; fail=$((fail+1)); fi
  t1=$(date +%s)
  echo "run $i: $r in $((t1-t0)) s"
  sed 's/\x1b\[[0-9;]*m//g' /tmp/conndx-full-load-run-$i.txt | grep -E "Test Files |Tests |FAIL |×|failed once|retried" | head -40
done
kill $S
echo "passed $pass of 5, failed $fail (stress-ng --cpu 2 running throughout)"
rm -rf "$work"
