# Shared by bench/shards.sh and bench/speed.sh (sourced): the cargo-xdist to time.
#
# bench_xdist NAME: sets XDIST (a private copy in bench/work/bin/, so a concurrent rebuild
# cannot swap it mid-measurement) and XDIST_ORIGIN, from XDIST_BIN when given, else from a
# release build of this checkout (honours CARGO_TARGET_DIR).
bench_xdist() {
    local name="$1" src
    mkdir -p "$WORK/bin"
    if [[ -n "${XDIST_BIN:-}" ]]; then
        [[ -x "$XDIST_BIN" ]] || { printf '%s: error: XDIST_BIN=%s is not an executable file\n' "$name" "$XDIST_BIN" >&2; exit 1; }
        XDIST_ORIGIN="given as XDIST_BIN (built $(date -u -r "$XDIST_BIN" '+%Y-%m-%d %H:%M UTC'))"
        src="$XDIST_BIN"
    else
        (cd "$ROOT" && cargo build --release -p cargo-xdist) \
            || { printf '%s: error: cargo build --release failed\n' "$name" >&2; exit 1; }
        src="${CARGO_TARGET_DIR:-$ROOT/target}/release/cargo-xdist"
        XDIST_ORIGIN="release build of commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    fi
    [[ "$src" -ef "$WORK/bin/cargo-xdist" ]] || cp -p "$src" "$WORK/bin/cargo-xdist"
    "$WORK/bin/cargo-xdist" xdist --version >&2
    XDIST="$WORK/bin/cargo-xdist"
    export XDIST XDIST_ORIGIN
}
