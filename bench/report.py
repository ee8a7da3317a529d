#!/usr/bin/env python3
"""Turn the hyperfine exports of bench/run.sh into docs/benchmarks.md.

Reads bench/work/results-{tiny,sleepy,fixture}.json (hyperfine --export-json),
bench/work/{sleepy,fixture}.json (written by gen.py), bench/work/loadavg-*.txt and
bench/work/xdist-origin.txt (written by run.sh),
and collects the machine's details itself.  Standard library only.

The commands are shown exactly as hyperfine ran them (`cargo xdist run ...`, with
bench/work/bin first on PATH, so cargo runs bench/work/bin/cargo-xdist).

Environment: RUNS (runs per command, only if the exports lack them), XDIST (path of the
cargo-xdist binary that `cargo xdist` ran, default bench/work/bin/cargo-xdist; only
used for its --version).
"""

import datetime
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
OUT = os.path.join(ROOT, "docs", "benchmarks.md")

# Targets for the `tiny` workspace.
TARGET_VS_CARGO_TEST = 1.2   # cargo-xdist median <= 1.2 x `cargo test -q`
TARGET_VS_NEXTEST = 20.0     # nextest median / cargo-xdist median >= 20

# Target for `sleepy`: on 4 workers, with history, median <= 1.05 x max(longest, total / 4).
SLEEPY_TARGET_WORKERS = 4
SLEEPY_TARGET_VS_BOUND = 1.05
SLEEPY_TARGET_COMMANDS = ("cargo xdist run -n 4", "cargo xdist run -n 4 --dist worksteal")

# Target for `fixture`: loadscope "no slower than cargo test", i.e. ratio <= 1.0 within
# noise; met when the ratio of the medians is <= 1.05.
FIXTURE_XDIST = "cargo xdist run -n 2 --dist loadscope"
FIXTURE_BASE = "cargo test -q"
FIXTURE_TARGET_VS_CARGO_TEST = 1.05


# --- helpers ------------------------------------------------------------------

def sh(*args, cwd=None):
    """stdout of a command, stripped, or None if it cannot run."""
    try:
        r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def load_json(path):
    text = read(path)
    if text is None:
        sys.exit(f"report.py: missing {os.path.relpath(path, ROOT)}; run bench/run.sh first")
    return json.loads(text)


def secs(x):
    return f"{x:.3f} s"


def ratio(x):
    return f"{x:.2f}x"


def xdist_path():
    """The cargo-xdist binary that `cargo xdist` ran."""
    return os.environ.get("XDIST") or os.path.join(WORK, "bin", "cargo-xdist")


def nproc():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


# --- machine ------------------------------------------------------------------

def machine():
    cpuinfo = read("/proc/cpuinfo") or ""
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    cpu = m.group(1).strip() if m else platform.processor() or "unknown"
    meminfo = read("/proc/meminfo") or ""
    m = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    mem = f"{int(m.group(1)) / 1024 / 1024:.1f} GiB" if m else "unknown"
    nextest = sh("cargo", "nextest", "--version")
    xdist = xdist_path()
    origin = (read(os.path.join(WORK, "xdist-origin.txt")) or "").strip()
    results = os.path.join(WORK, "results-tiny.json")
    when = datetime.datetime.fromtimestamp(os.path.getmtime(results), datetime.timezone.utc) \
        if os.path.exists(results) else datetime.datetime.now(datetime.timezone.utc)
    return {
        "Date (UTC)": when.strftime("%Y-%m-%d %H:%M"),
        "CPUs (nproc)": f"{nproc()} (logical CPUs on the machine: {os.cpu_count()})",
        "CPU model": cpu,
        "Memory": mem,
        "OS": f"{platform.system()} {platform.release()}",
        "rustc": sh("rustc", "--version") or "unknown",
        "cargo": sh("cargo", "--version") or "unknown",
        "cargo-nextest": nextest.splitlines()[0] if nextest else "unknown",
        "cargo-xdist": (sh(xdist, "--version") or "unknown")
        + (f"; binary {origin}" if origin else ""),
        "hyperfine": sh("hyperfine", "--version") or "unknown",
    }


# --- commands -------------------------------------------------------------------

def tool(cmd):
    if cmd.startswith("cargo test"):
        return "cargo test"
    if cmd.startswith("cargo nextest"):
        return "cargo nextest"
    if cmd.startswith("cargo xdist"):
        return "cargo xdist"
    return "?"


def workers(cmd):
    """Parallelism a command asks for; None means the tool's default (nproc)."""
    for pat in (r"--test-threads[= ](\d+)", r"(?:^|\s)-j\s*(\d+)", r"(?:^|\s)-n\s*(\d+)"):
        m = re.search(pat, cmd)
        if m:
            return int(m.group(1))
    return None


def dist(cmd):
    """cargo-xdist's --dist mode (default `load`); None for the other tools."""
    if tool(cmd) != "cargo xdist":
        return None
    m = re.search(r"--dist[= ](\S+)", cmd)
    return m.group(1) if m else "load"


def results(ws):
    data = load_json(os.path.join(WORK, f"results-{ws}.json"))
    rows = []
    for r in data["results"]:
        cmd = r["command"]
        rows.append({
            "cmd": cmd,
            "label": cmd,  # exactly as run
            "tool": tool(cmd),
            "workers": workers(cmd) or nproc(),
            "dist": dist(cmd),
            "history": tool(cmd) == "cargo xdist" and "--no-history" not in cmd,
            "median": r["median"],
            "mean": r["mean"],
            "stddev": r.get("stddev") or 0.0,
            "min": r["min"],
            "max": r["max"],
            "runs": len(r.get("times", [])),
        })
    return rows


def loadavg(ws):
    text = read(os.path.join(WORK, f"loadavg-{ws}.txt"))
    if not text:
        return None
    lines = [l.split()[:3] for l in text.splitlines() if l.strip()]
    if len(lines) < 2:
        return None
    return f"1/5/15-minute load average {' / '.join(lines[0])} before, {' / '.join(lines[-1])} after"


def find(rows, toolname=None, n=None, exact=None):
    for r in rows:
        if exact is not None:
            if r["label"] == exact:
                return r
        elif r["tool"] == toolname and r["workers"] == n:
            return r
    return None


def need(rows, ws, label):
    r = find(rows, exact=label)
    if r is None:
        sys.exit(f"report.py: bench/work/results-{ws}.json has no `{label}`; rerun bench/run.sh")
    return r


def timing_cells(r):
    return (f"**{secs(r['median'])}** | {secs(r['min'])} | {secs(r['max'])} | "
            f"{secs(r['mean'])} ± {r['stddev'] * 1000:.0f} ms")


def yes_no(met):
    return "yes" if met else "**no**"


def lpt_makespan(durations, n):
    """Makespan of the longest-processing-time-first list schedule on n workers."""
    loads = [0.0] * n
    for d in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += d
    return max(loads)


# --- sections -------------------------------------------------------------------

def tiny_section(out):
    rows = results("tiny")
    base = need(rows, "tiny", "cargo test -q")
    lib = find(rows, exact="cargo test -q --lib")
    nextest = next(r for r in rows if r["tool"] == "cargo nextest")
    xdist = next(r for r in rows if r["tool"] == "cargo xdist")

    out.append("## `tiny`: 2,000 trivial tests")
    out.append("")
    out.append("One package, 2,000 passing `#[test]` fns in 20 modules `m00`..`m19`, "
               "each a single `assert_eq!`. This measures per-test overhead: libtest "
               "runs them all in one process, nextest starts one process per test, "
               "cargo-xdist batches many tests per libtest process over 2 workers.")
    out.append("")
    out.append("| Command | Median | Min | Max | Mean ± σ | ÷ `cargo test -q` |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append(f"| `{r['label']}` | {timing_cells(r)} | {ratio(r['median'] / base['median'])} |")
    out.append("")
    nx = nextest["median"] / xdist["median"]
    out.append(f"- **nextest / xdist = {nx:.1f}x** (median `{nextest['label']}` ÷ median `{xdist['label']}`)")
    out.append(f"- xdist / `cargo test -q` = {ratio(xdist['median'] / base['median'])}")
    if lib:
        out.append(f"- xdist / `cargo test -q --lib` = {ratio(xdist['median'] / lib['median'])} "
                   "(`cargo test -q` also runs the doc-test phase, a rustdoc call even with "
                   "0 doc-tests; `--lib`, nextest and cargo-xdist skip it. Shown for reference only.)")
    out.append(f"- `cargo test -q` and `cargo nextest run` use their default parallelism, "
               f"one thread/process per CPU ({nproc()} here); cargo-xdist uses `-n 2`.")
    out.append("")
    targets = [
        (f"`tiny`: `{xdist['label']}` within {TARGET_VS_CARGO_TEST}x of `cargo test -q`",
         f"xdist / cargo test = {ratio(xdist['median'] / base['median'])} "
         f"({secs(xdist['median'])} vs {secs(base['median'])})",
         xdist["median"] / base["median"] <= TARGET_VS_CARGO_TEST),
        (f"`tiny`: `{xdist['label']}` at least {TARGET_VS_NEXTEST:.0f}x faster than "
         f"`{nextest['label']}`",
         f"nextest / xdist = {nx:.1f}x ({secs(nextest['median'])} vs {secs(xdist['median'])})",
         nx >= TARGET_VS_NEXTEST),
    ]
    return rows, targets


def sleepy_section(out):
    rows = results("sleepy")
    meta = load_json(os.path.join(WORK, "sleepy.json"))
    bounds = {int(k): v for k, v in meta["lower_bound_s"].items()}
    durations = [t["ms"] / 1000 for t in meta["tests"]]

    out.append("## `sleepy`: 36 sleeping tests, the longest one last")
    out.append("")
    out.append(f"One package, {meta['count']} tests that only `std::thread::sleep`: "
               f"`zz_longest` sleeps {meta['longest_s']:.1f} s and sorts last by name; the other "
               f"{meta['count'] - 1} (`s00`..`s{meta['count'] - 2:02}`) sleep between 0.05 s and 0.9 s "
               "(evenly spaced, shuffled over the names). "
               f"Total sleep: **{meta['total_s']:.3f} s**. This measures scheduling: "
               "no tool can beat max(longest test, total / workers).")
    out.append("")
    out.append("cargo-xdist records every test's duration in `<target-dir>/xdist/durations.json`; "
               "with that history `--dist load` (the default) and `--dist worksteal` start the "
               "longest tests first. `bench/run.sh` deletes the history, then records it with one "
               "untimed `cargo xdist run -n 4` and one `cargo xdist run -n 2` before timing (each "
               "hyperfine warmup and timed run adds to it), so all cargo-xdist runs here have "
               "history except `--no-history`, which neither reads nor writes it.")
    out.append("")
    out.append("| Workers | Lower bound = max(longest, total / workers) | "
               "Longest-first schedule of the exact sleeps (no overhead) |")
    out.append("|---:|---:|---:|")
    for n in sorted(bounds):
        lpt = lpt_makespan(durations, n)
        out.append(f"| {n} | max({meta['longest_s']:.3f}, {meta['total_s']:.3f} / {n}) = "
                   f"**{secs(bounds[n])}** | {secs(lpt)} ({ratio(lpt / bounds[n])}) |")
    out.append("")
    limit = SLEEPY_TARGET_VS_BOUND
    out.append(f"| Workers | Command | History | Median | Min | Max | Mean ± σ | "
               f"÷ `cargo test` (same workers) | ÷ lower bound | Target ≤ {limit}x bound? |")
    out.append("|---:|---|:---:|---:|---:|---:|---:|---:|---:|:---:|")
    summary = []
    targets = []
    for n in sorted({r["workers"] for r in rows}):
        group = [r for r in rows if r["workers"] == n]
        base = find(rows, "cargo test", n)
        bound = bounds.get(n)
        for r in group:
            vs_base = ratio(r["median"] / base["median"]) if base else "n/a"
            vs_bound = ratio(r["median"] / bound) if bound else "n/a"
            hist = ("yes" if r["history"] else "no") if r["tool"] == "cargo xdist" else "—"
            target = "—"
            if r["label"] in SLEEPY_TARGET_COMMANDS and bound:
                met = r["median"] / bound <= limit
                target = yes_no(met)
                targets.append((
                    f"`sleepy`: `{r['label']}` (with history) within {limit}x of the lower bound",
                    f"{secs(r['median'])} / {secs(bound)} = {ratio(r['median'] / bound)}",
                    met))
            out.append(f"| {n} | `{r['label']}` | {hist} | {timing_cells(r)} | {vs_base} | "
                       f"**{vs_bound}** | {target} |")
        nextest = find(rows, "cargo nextest", n)
        for x in (r for r in group if r["tool"] == "cargo xdist"):
            parts = []
            if nextest:
                parts.append(f"nextest / xdist = {nextest['median'] / x['median']:.2f}x")
            if base:
                parts.append(f"cargo test / xdist = {base['median'] / x['median']:.2f}x")
            if bound:
                parts.append(f"{x['median'] - bound:+.3f} s vs the lower bound")
            summary.append(f"- `{x['label']}`: " + ", ".join(parts))
    out.append("")
    out.append(f"The {limit}x target applies to the {SLEEPY_TARGET_WORKERS}-worker cargo-xdist "
               "runs with history (`load` and `worksteal`); the other rows are for comparison.")
    out.append("")
    out.extend(summary)
    with_h = find(rows, exact="cargo xdist run -n 4")
    without = find(rows, exact="cargo xdist run -n 4 --no-history")
    if with_h and without:
        out.append(f"- What history buys on 4 workers: `--no-history` {secs(without['median'])} "
                   f"→ with history {secs(with_h['median'])} "
                   f"({without['median'] - with_h['median']:+.3f} s saved, "
                   f"{without['median'] / with_h['median']:.2f}x)")
    out.append("")
    return rows, targets


def fixture_section(out):
    rows = results("fixture")
    meta = load_json(os.path.join(WORK, "fixture.json"))
    base = need(rows, "fixture", FIXTURE_BASE)
    xdist = need(rows, "fixture", FIXTURE_XDIST)
    n, init = meta["count"], meta["init_s"]

    out.append(f"## `fixture`: {n} tests sharing a {init * 1000:.0f} ms `OnceLock` fixture")
    out.append("")
    out.append(f"One package, {n} tests `{meta['module']}::t00`..`{meta['module']}::t{n - 1:02}` in "
               f"one module. Each calls a function returning `&'static` data from a "
               f"`static FIXTURE: std::sync::OnceLock<Vec<u64>>` whose initialiser sleeps "
               f"{init:.1f} s, then does trivial work, so the cost is {init:.1f} s per process that "
               f"runs any of them. `cargo test` runs them all in one process (fixture built once); "
               f"nextest starts one process per test ({n} x {init:.1f} s = {n * init:.1f} s of "
               f"fixture spread over its {nproc()} default threads); `--dist loadscope` sends the "
               "whole module to one worker, which runs it in one process (one unit, so one "
               "worker); `--dist load` (the default, for contrast) splits the module into "
               "chunks, and every chunk's process builds the fixture again.")
    out.append("")
    out.append("`load`'s time here depends on cargo-xdist's duration history, which every run "
               "updates: a process's fixture time is charged to the first test it runs. After a "
               "`loadscope` run only one test looks slow and `load` uses few processes; each "
               "`load` run makes more tests look slow (0.1 s and more), so the next `load` run "
               "keeps more of its fine-grained top-ups and starts more processes, each building "
               "the fixture again, until about one process per two tests. `bench/run.sh` "
               "deletes the history before the untimed check runs (`loadscope`, then `load`), so "
               "the `load` row starts from the same state each time; a wide min–max range "
               "in that row is this effect, not noise.")
    out.append("")
    out.append(f"| Command | Median | Min | Max | Mean ± σ | ÷ `{FIXTURE_BASE}` |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append(f"| `{r['label']}` | {timing_cells(r)} | {ratio(r['median'] / base['median'])} |")
    out.append("")
    q = xdist["median"] / base["median"]
    out.append(f"- **`{FIXTURE_XDIST}` / `{FIXTURE_BASE}` = {ratio(q)}** "
               f"({secs(xdist['median'])} vs {secs(base['median'])}). The target, \"no slower than "
               f"cargo test\", means a ratio of 1.0 or less within noise; it counts as met at "
               f"≤ {FIXTURE_TARGET_VS_CARGO_TEST}x.")
    out.append(f"- `{FIXTURE_BASE}` and `cargo nextest run` use their default parallelism "
               f"({nproc()} here); `{FIXTURE_BASE}` also runs the (empty) doc-test phase, "
               "which cargo-xdist and nextest skip.")
    out.append("")
    met = q <= FIXTURE_TARGET_VS_CARGO_TEST
    targets = [(f"`fixture`: `{FIXTURE_XDIST}` no slower than `{FIXTURE_BASE}` "
                f"(ratio ≤ {FIXTURE_TARGET_VS_CARGO_TEST}x)",
                f"xdist / cargo test = {ratio(q)} ({secs(xdist['median'])} vs {secs(base['median'])})",
                met)]
    return rows, targets


def commands_section(out, workspaces):
    counts = sorted({r["runs"] for _, rows in workspaces for r in rows if r["runs"]})
    runs = "/".join(map(str, counts)) or os.environ.get("RUNS", "?")
    out.append("## Commands")
    out.append("")
    out.append("Each workspace is timed by one `hyperfine` invocation with all its commands "
               f"side by side (`hyperfine -N --warmup 1 --runs {runs} "
               "--export-json ...`), run in the workspace's directory with "
               "`CARGO_TARGET_DIR=<workspace>/target`, the same target dir for all three tools. "
               "The tests are prebuilt first (`cargo test --no-run`, `cargo nextest run --no-run`, "
               "`cargo xdist list`), so every command measures the run phase plus cargo's "
               "no-op \"is it up to date\" build check, which all three tools do. Before timing, "
               "each workspace's cargo-xdist duration history is deleted and an untimed "
               "`cargo xdist run` per workspace checks that every test passes "
               "(`sleepy`: one on 4 and one on 2 workers, which record the duration history; "
               "`fixture`: one with `--dist loadscope` and one with `load`). hyperfine fails "
               "on any nonzero exit status, so every timed run passed.")
    out.append("")
    out.append(f"The commands are shown exactly as run. `cargo xdist` runs "
               f"`{os.path.relpath(xdist_path(), ROOT)}`: `bench/run.sh` puts `bench/work/bin` "
               "first on `PATH`, where cargo finds the `cargo-xdist` subcommand and starts it "
               "with `CARGO` set, as it does for users. That file is a copy made by "
               "`bench/run.sh` of `target/release/cargo-xdist` right after "
               "`cargo build --release -p cargo-xdist` (or of `XDIST_BIN`; see Machine), so that "
               "concurrent rebuilds cannot change the binary during the measurement.")
    for ws, rows in workspaces:
        out.append("")
        out.append(f"`bench/work/{ws}`:")
        out.append("")
        out.append("```sh")
        for r in rows:
            out.append(r["label"])
        out.append("```")
        la = loadavg(ws)
        if la:
            out.append("")
            out.append(f"While timing `{ws}`: {la}.")
    out.append("")


def main():
    info = machine()
    out = ["# Benchmarks", ""]
    out.append("cargo-xdist against `cargo test` and `cargo nextest run` on three generated "
               "workspaces (`tiny`, `sleepy`, `fixture`). Generated by `bench/report.py` from the "
               "`hyperfine` exports of `bench/run.sh`; do not edit by hand. Times are wall-clock; "
               "the table values are hyperfine's median, min and max over the timed runs.")
    out.append("")
    out.append("## Machine")
    out.append("")
    out.append("| | |")
    out.append("|---|---|")
    for k, v in info.items():
        out.append(f"| {k} | {v} |")
    out.append("")
    out.append("Other processes (e.g. compilers) may have been running at the same time; "
               "see the load averages under [Commands](#commands).")
    out.append("")

    body = []
    tiny_rows, tiny_targets = tiny_section(body)
    sleepy_rows, sleepy_targets = sleepy_section(body)
    fixture_rows, fixture_targets = fixture_section(body)
    targets = tiny_targets + sleepy_targets + fixture_targets

    out.append("## Targets")
    out.append("")
    out.append("| Target | Measured (medians) | Met? |")
    out.append("|---|---:|:---:|")
    for what, measured, met in targets:
        out.append(f"| {what} | {measured} | {yes_no(met)} |")
    out.append("")
    out.extend(body)
    commands_section(out, [("tiny", tiny_rows), ("sleepy", sleepy_rows),
                           ("fixture", fixture_rows)])

    out.append("## How to reproduce")
    out.append("")
    out.append("```sh")
    out.append("bash bench/run.sh            # 10 timed runs per command (after 1 warmup)")
    out.append("RUNS=5 bash bench/run.sh     # fewer runs")
    out.append("XDIST_BIN=/path/to/cargo-xdist bash bench/run.sh   # time a prebuilt binary")
    out.append("python3 bench/report.py      # only rewrite this file from bench/work/results-*.json")
    out.append("```")
    out.append("")
    out.append("`bench/run.sh` needs `cargo`, `cargo-nextest`, `python3` and `hyperfine` "
               "(installed with `apt-get install -y hyperfine` when missing). It builds "
               "cargo-xdist in release mode and copies it to `bench/work/bin/cargo-xdist` "
               "(or copies `XDIST_BIN=<path>` there instead of building), puts `bench/work/bin` "
               "first on `PATH` so that `cargo xdist` runs that copy, generates the workspaces "
               "`tiny`, `sleepy` and `fixture` into `bench/work/` (git-ignored) with "
               "`bench/gen.py`, prebuilds their tests, checks that `cargo xdist run` passes all "
               "of them (recording `sleepy`'s duration history on the way), times everything "
               "with hyperfine and writes this file. The raw hyperfine exports stay in "
               "`bench/work/results-*.json`. To run a timed command by hand, do the same: "
               "`cd bench/work/sleepy && PATH=\"$PWD/../bin:$PATH\" "
               "CARGO_TARGET_DIR=\"$PWD/target\" cargo xdist run -n 4`.")
    out.append("")

    # bench/shards.py's `--partition` section: kept as it is, at the end.
    shards = "<!-- shards:begin"
    try:
        with open(OUT, encoding="utf-8") as f:
            old = f.read()
        if shards in old:
            out.append(shards + old.split(shards, 1)[1].rstrip("\n"))
            out.append("")
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"wrote {os.path.relpath(OUT, ROOT)}")
    for what, measured, met in targets:
        print(f"{'met    ' if met else 'NOT met'}  {what.replace('`', '')}: {measured}")


if __name__ == "__main__":
    main()
