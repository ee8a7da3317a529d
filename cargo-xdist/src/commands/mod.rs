//! The subcommands, each a short spine of named calls into the steps: `run`, `list`, and
//! the hidden `simulate`.

pub mod list;
pub mod run;
pub mod simulate;
