#!/usr/bin/env bash
# Makespan of N `--partition` shards: `duration` against `slice` and `hash`, on
# a generated suite with skewed durations (bench/shards.py), written into the
# `--partition` section of docs/benchmarks.md.
#
#   bash bench/shards.sh                         # 4 shards, one run each
#   SHARDS=3 REPEAT=3 bash bench/shards.sh       # 3 shards, median of 3 runs
#   XDIST_BIN=path bash bench/shards.sh          # time this cargo-xdist, do not build
#
# Builds cargo-xdist (release; honours CARGO_TARGET_DIR) unless XDIST_BIN is
# given, copies it to bench/work/bin/ (so a concurrent rebuild cannot swap it
# mid-measurement) and runs bench/shards.py with it. Sleeping tests need no
# CPU, so the numbers hold on a busy machine, up to cargo-xdist's own start.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
WORK="$BENCH/work"

die() { printf 'bench/shards.sh: error: %s\n' "$*" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || die "python3 is required"
[[ "${SHARDS:-4}" =~ ^[1-9][0-9]*$ ]] || die "SHARDS must be a positive integer, got '${SHARDS}'"
[[ "${REPEAT:-1}" =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer, got '${REPEAT}'"

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
bench_xdist bench/shards.sh

python3 "$BENCH/shards.py"
