//! Subscribers of the run events: what the user sees ([`terminal`]), what CI reads
//! ([`junit`], [`json`], [`github`]) and what the next run learns ([`durations`],
//! [`outcomes`]). The live display ([`progress`]) draws under the terminal's lines;
//! [`style`] decides colors.

pub mod durations;
pub mod github;
pub mod json;
pub mod junit;
mod junit_scripts;
pub mod libtest_json;
pub mod outcomes;
pub mod progress;
pub mod spinner;
pub mod style;
pub mod terminal;
pub mod timeline;

#[cfg(test)]
mod junit_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
