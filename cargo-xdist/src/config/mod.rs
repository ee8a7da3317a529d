//! Settings resolved from the command line and the files cargo and cargo-xdist read: the
//! worker count and test filter ([`options`]), cargo's `[env]` ([`cargo_env`]) and the
//! `loadgroup` groups ([`groups`]).

pub mod cargo_env;
pub mod groups;
pub mod options;
pub mod target_runner;
