//! End-to-end tests: `cargo xdist` on real fixture workspaces, compared with `cargo test`
//! and cargo-nextest. Every fixture builds once into one shared target dir.

mod archive;
mod backtraces;
mod cli;
mod demo;
mod durations;
mod filterset;
mod first_run;
mod growth;
mod harnesses;
mod hostile;
mod leak;
mod libtest_json;
mod looponfail;
mod metadata_cache;
mod module_filters;
mod override_groups;
mod partition;
mod remote;
mod reporting;
mod rerun;
mod robustness;
mod runner;
mod script_reports;
mod scripts;
mod stress;
mod success_output;
mod support;
mod targets;
mod terminal;
mod timeline;
