#!/usr/bin/env bash
# Speed against `cargo test` and `cargo nextest run` on generated suites (bench/speed.py):
# many small binaries, big binaries, a first run with clustered slow tests, -n auto on
# sleeping tests; written into the speed section of docs/benchmarks.md.
#
#   bash bench/speed.sh                          # RUNS=5, HUGE=10000,50000 (COMPARED_RUNS, ROUNDS: bench/speed.py)
#   HUGE=10000,50000,100000 bash bench/speed.sh  # also a binary of 100,000 tests
#   REAL=/src/tokio:/src/clap bash bench/speed.sh  # also these checkouts
#   REAL="/src/time=-p time --all-features" ...    # with cargo args for all three
#   XDIST_BIN=path bash bench/speed.sh           # time this cargo-xdist, do not build
#
# Builds cargo-xdist (release; honours CARGO_TARGET_DIR) unless XDIST_BIN is
# given, copies it to bench/work/bin/ (so a concurrent rebuild cannot swap it
# mid-measurement) and runs bench/speed.py with it. Needs hyperfine and
# cargo-nextest. Run it on a quiet machine: the tiny suites measure CPU.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
WORK="$BENCH/work"

die() { printf 'bench/speed.sh: error: %s\n' "$*" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || die "python3 is required"
command -v hyperfine >/dev/null 2>&1 || die "hyperfine is required (apt-get install hyperfine)"
cargo nextest --version >/dev/null 2>&1 || die "cargo-nextest is required"
[[ "${RUNS:-5}" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '${RUNS}'"

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
bench_xdist bench/speed.sh

python3 "$BENCH/speed.py"
