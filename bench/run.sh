#!/usr/bin/env bash
# run.sh — what `make bench` runs: the side-by-side comparison with the other frameworks, in its
# quick form (10 timed runs per row). Arguments go to bench/compare and override (e.g.
# `bash bench/run.sh --runs 50 --json out/bench.json` for the full numbers).
set -euo pipefail
exec "$(dirname "$0")/compare" --quick "$@"
