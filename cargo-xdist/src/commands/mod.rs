//! The subcommands, each a short spine of named calls into the steps: `run`, `list`,
//! `archive`, `durations`, and the hidden `simulate`.

pub mod archive;
pub mod durations;
pub mod list;
pub mod run;
pub mod simulate;
