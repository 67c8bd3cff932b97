#!/usr/bin/env bash
# Start-up time of `conndx --help` against a bare `node -e 0` (target: at most 1.5x).
# Needs hyperfine (Debian package). Run from the repo root after `npm run build`.
set -euo pipefail
command -v hyperfine >/dev/null || { echo "install hyperfine (apt-get install hyperfine)"; exit 1; }
hyperfine --warmup 5 --runs 40 -N 'node -e 0' 'node bin/conndx --help' 'node bin/conndx --version' --export-markdown bench/startup/result.md
