//! The build step: `cargo test --no-run` with cargo's options and `cargo metadata`, giving
//! every test binary with its nextest binary id and what its environment needs (build
//! script out dirs, linked paths). Archives will be written and read here too.

pub mod cargo;
