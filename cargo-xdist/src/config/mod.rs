//! Settings resolved from the command line, the environment and the files cargo and
//! cargo-xdist read: the worker count and test filter ([`options`]), cargo's `[env]`
//! ([`cargo_env`]), the `loadgroup` groups ([`groups`]), and the profiles of
//! `.config/xdist.toml` and the user's file ([`file`], checked against the key table in
//! [`keys`], resolved by [`settings`]).

pub mod cargo_env;
pub mod file;
pub mod filterset;
pub mod groups;
pub mod keys;
pub mod options;
pub mod settings;
pub mod target_runner;

#[cfg(test)]
mod tests;
