#!/usr/bin/env bash
# Benchmark cargo-xdist against `cargo test` and `cargo nextest run`.
#
#   bash bench/run.sh            # 10 timed runs per command
#   RUNS=5 bash bench/run.sh     # fewer runs
#   XDIST_BIN=path bash bench/run.sh   # time this cargo-xdist, do not build
#
# Builds cargo-xdist (release), copies it to bench/work/bin/cargo-xdist,
# generates the throwaway workspaces in bench/work/ (bench/gen.py:
# tiny, sleepy, fixture), prebuilds their tests for every tool, times the run
# phase with hyperfine (one invocation per workspace, all tools side by side)
# and writes docs/benchmarks.md (bench/report.py).
#
# cargo-xdist is invoked as users do, `cargo xdist run ...`, with
# bench/work/bin first on PATH: cargo finds `cargo-xdist` there and runs it
# with `CARGO` set to itself.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
WORK="$BENCH/work"
RUNS="${RUNS:-10}"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: error: %s\n' "$*" >&2; exit 1; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"

# --- tools -----------------------------------------------------------------
if ! command -v hyperfine >/dev/null 2>&1; then
    log "hyperfine not found; installing it with apt-get"
    if ! apt-get install -y hyperfine; then
        die "could not install hyperfine with 'apt-get install -y hyperfine'.
Install it yourself (e.g. 'sudo apt-get install hyperfine' or 'cargo install hyperfine') and rerun."
    fi
fi
command -v hyperfine >/dev/null 2>&1 || die "hyperfine is still not on PATH"
cargo nextest --version >/dev/null 2>&1 \
    || die "cargo-nextest is not installed ('cargo nextest --version' failed)"
command -v python3 >/dev/null 2>&1 || die "python3 is required"

# --- cargo-xdist -------------------------------------------------------------
# Benchmark a private copy, so a concurrent rebuild of target/release cannot
# swap the binary in the middle of a measurement.  XDIST_BIN=<path> skips the
# build and times that binary instead.
mkdir -p "$WORK/bin"
if [[ -n "${XDIST_BIN:-}" ]]; then
    [[ -x "$XDIST_BIN" ]] || die "XDIST_BIN=$XDIST_BIN is not an executable file"
    log "using XDIST_BIN=$XDIST_BIN (not building cargo-xdist)"
    [[ "$XDIST_BIN" -ef "$WORK/bin/cargo-xdist" ]] || cp -p "$XDIST_BIN" "$WORK/bin/cargo-xdist"
    XDIST_ORIGIN="given as XDIST_BIN=$XDIST_BIN (built $(date -u -r "$XDIST_BIN" '+%Y-%m-%d %H:%M UTC'), not built by bench/run.sh)"
else
    log "building cargo-xdist (release)"
    (cd "$ROOT" && env -u CARGO_TARGET_DIR cargo build --release -p cargo-xdist) \
        || die "'cargo build --release -p cargo-xdist' failed in $ROOT.
To time an already built binary instead: XDIST_BIN=/path/to/cargo-xdist bash bench/run.sh"
    cp -p "$ROOT/target/release/cargo-xdist" "$WORK/bin/cargo-xdist"
    commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    dirty=""
    [[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' ':!docs' 2>/dev/null)" ]] \
        || dirty=" + uncommitted changes"
    XDIST_ORIGIN="built by bench/run.sh at $(date -u '+%Y-%m-%d %H:%M UTC') from the working tree, commit $commit$dirty"
fi
# report.py reads this (so it can be rerun alone).
printf '%s\n' "$XDIST_ORIGIN" >"$WORK/xdist-origin.txt"
XDIST="$WORK/bin/cargo-xdist"

# `cargo xdist` must find this copy, not another cargo-xdist.  cargo looks in
# PATH, in order, but puts $CARGO_HOME/bin first when PATH lacks it.
export PATH="$WORK/bin:$PATH"
[[ "$(command -v cargo-xdist)" == "$XDIST" ]] \
    || die "cargo-xdist on PATH is $(command -v cargo-xdist), not $XDIST"
cargo_home_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if [[ -e "$cargo_home_bin/cargo-xdist" && ":$PATH:" != *":$cargo_home_bin:"* ]]; then
    die "$cargo_home_bin/cargo-xdist would shadow $XDIST for 'cargo xdist' ($cargo_home_bin is not on PATH)"
fi
cargo xdist --version >&2

# --- workspaces ----------------------------------------------------------------
log "generating workspaces"
python3 "$BENCH/gen.py"

rm -rf "$WORK/logs"
mkdir -p "$WORK/logs"

# prebuild <ws>: build the tests once for every tool, into the workspace's
# own target dir (the same one all three tools use afterwards).
prebuild() {
    local ws="$1"
    log "$ws: prebuilding tests (cargo test --no-run, cargo nextest run --no-run, cargo xdist list)"
    cargo test --no-run
    cargo nextest run --no-run
    cargo xdist list >"$WORK/logs/$ws-xdist-list.txt"
}

# reset_history: delete cargo-xdist's duration history of the current
# CARGO_TARGET_DIR, so every bench/run.sh starts from the same state; the
# sanity runs below then record a fresh one.
reset_history() {
    HISTORY="$CARGO_TARGET_DIR/xdist/durations.json"
    rm -f "$HISTORY"
}

# sanity <ws> <expected> <args...>: run `cargo xdist run <args>` once (untimed)
# and check that it ran every test, so that the timings below measure a real
# run.  Each run also records the tests' durations (the history).
sanity() {
    local ws="$1" expected="$2"; shift 2
    local tag="$*" out last
    tag="${tag// /}"
    out="$WORK/logs/$ws-xdist-sanity$tag.txt"
    log "$ws: sanity run (untimed): cargo xdist run $*"
    if ! cargo xdist run "$@" >"$out" 2>&1; then
        tail -n 20 "$out" >&2
        die "cargo-xdist failed on $ws (full output in $out)"
    fi
    last="$(tail -n 1 "$out")"
    printf '%s\n' "$last" >&2
    [[ "$last" == "xdist: $expected passed, 0 failed, 0 skipped" ]] \
        || die "unexpected cargo-xdist summary on $ws: '$last' (want $expected passed; see $out)"
}

# bench <ws> <command>...: one hyperfine invocation, all commands side by side.
bench() {
    local ws="$1"; shift
    log "$ws: hyperfine, $RUNS runs per command"
    # Load average before and after, for judging noise (report.py shows it).
    cat /proc/loadavg >"$WORK/loadavg-$ws.txt"
    # -N: no intermediate shell (all commands are plain argument lists).
    # hyperfine aborts on a nonzero exit status, which is what we want.
    hyperfine -N --style basic --warmup 1 --runs "$RUNS" \
        --export-json "$WORK/results-$ws.json" \
        --export-markdown "$WORK/results-$ws.md" \
        "$@"
    cat /proc/loadavg >>"$WORK/loadavg-$ws.txt"
}

# --- tiny: 2,000 trivial tests -----------------------------------------------
(
    cd "$WORK/tiny"
    export CARGO_TARGET_DIR="$WORK/tiny/target"
    prebuild tiny
    reset_history
    sanity tiny 2000 -n 2
    bench tiny \
        "cargo test -q" \
        "cargo test -q --lib" \
        "cargo nextest run" \
        "cargo xdist run -n 2"
)

# --- sleepy: 36 sleeping tests, the 2.4 s one sorts last ---------------------
(
    cd "$WORK/sleepy"
    export CARGO_TARGET_DIR="$WORK/sleepy/target"
    prebuild sleepy
    # Start from no history, then record one (untimed) run on 4 and one on 2
    # workers, so the timed runs (and their hyperfine warmups) have history:
    # `--dist load` and `--dist worksteal` then start the longest tests first.
    reset_history
    sanity sleepy 36 -n 4
    sanity sleepy 36 -n 2
    [[ -s "$HISTORY" ]] \
        || die "cargo xdist run did not record a duration history in $HISTORY"
    # All runs spell out their parallelism (the defaults follow nproc).
    bench sleepy \
        "cargo test -q -- --test-threads=2" \
        "cargo nextest run -j 2" \
        "cargo xdist run -n 2" \
        "cargo test -q -- --test-threads=4" \
        "cargo nextest run -j 4" \
        "cargo xdist run -n 4" \
        "cargo xdist run -n 4 --dist worksteal" \
        "cargo xdist run -n 4 --no-history"
)

# --- fixture: 20 tests of one module sharing a 300 ms OnceLock fixture -------
(
    cd "$WORK/fixture"
    export CARGO_TARGET_DIR="$WORK/fixture/target"
    prebuild fixture
    # The history matters to `load` here: it charges the fixture's 0.3 s to the
    # first test of each process, so its time depends on the runs before it.
    # Start from none; the runs below (in this order) then build it up.
    reset_history
    sanity fixture 20 -n 2 --dist loadscope
    sanity fixture 20 -n 2
    # cargo test and nextest at their default parallelism (nproc).
    bench fixture \
        "cargo test -q" \
        "cargo nextest run" \
        "cargo xdist run -n 2 --dist loadscope" \
        "cargo xdist run -n 2"
)

# --- report ----------------------------------------------------------------
log "writing docs/benchmarks.md"
RUNS="$RUNS" python3 "$BENCH/report.py"
log "done: $ROOT/docs/benchmarks.md"
