//! `xdist-worker`: the worker as a standalone binary. `cargo xdist` runs the same code from
//! its own executable, so installing cargo-xdist alone is enough.

fn main() -> std::process::ExitCode {
    xdist_worker::main()
}
