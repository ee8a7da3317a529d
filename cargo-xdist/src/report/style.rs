//! Whether the terminal gets colors and a live display, decided from the flags, the
//! environment (`NO_COLOR`, `CARGO_TERM_COLOR`, `CI`, `TERM`) and whether the report goes to
//! a terminal; and the colors of the outcome labels.

use anstyle::{AnsiColor, Style};

use crate::cli::display::{ColorChoice, ShowProgress};

/// What the environment says about the terminal, read once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TermEnv {
    /// `NO_COLOR` is set and not empty (no-color.org).
    pub no_color: bool,
    /// `CARGO_TERM_COLOR` (`auto`, `always`, `never`), as cargo reads it.
    pub cargo_term_color: Option<String>,
    /// `CI` is set to something other than `false` or `0`.
    pub ci: bool,
    /// `TERM=dumb`: a terminal that cannot move the cursor.
    pub dumb: bool,
}

impl TermEnv {
    /// This process's environment.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok();
        Self {
            no_color: var("NO_COLOR").is_some_and(|v| !v.is_empty()),
            cargo_term_color: var("CARGO_TERM_COLOR"),
            ci: var("CI").is_some_and(|v| !matches!(v.as_str(), "" | "false" | "0")),
            dumb: var("TERM").is_some_and(|v| v == "dumb"),
        }
    }
}

/// How the run's progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The live display: a bar and a line per worker.
    Bar,
    /// A `(done/total)` counter on each line.
    Counter,
    /// Plain lines.
    None,
}

/// Whether to color: the flag, else `CARGO_TERM_COLOR`, else `NO_COLOR`, else whether the
/// report goes to a terminal (one that is not `dumb`).
pub fn use_color(choice: ColorChoice, env: &TermEnv, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => return true,
        ColorChoice::Never => return false,
        ColorChoice::Auto => {}
    }
    match env.cargo_term_color.as_deref().map(str::trim) {
        Some("always") => return true,
        Some("never") => return false,
        _ => {}
    }
    !env.no_color && terminal && !env.dumb
}

/// The progress display for `--show-progress`: `auto` is the bar on a terminal outside CI.
pub fn progress(show: ShowProgress, env: &TermEnv, terminal: bool) -> Progress {
    match show {
        ShowProgress::Auto if terminal && !env.ci && !env.dumb => Progress::Bar,
        ShowProgress::Auto | ShowProgress::None => Progress::None,
        ShowProgress::Bar => Progress::Bar,
        ShowProgress::Counter => Progress::Counter,
    }
}

/// The label styles, or none when colors are off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Palette {
    color: bool,
}

impl Palette {
    /// Colors on or off.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    /// `text` in the color of the outcome label it is (`PASS`, `FAIL`, …).
    pub fn label(self, text: &str) -> String {
        let color = match text {
            "PASS" => AnsiColor::Green,
            "FAIL" | "TIMEOUT" | "LEAK-FAIL" => AnsiColor::Red,
            "SKIP" | "FLAKY" | "RETRY" | "SLOW" => AnsiColor::Yellow,
            _ => return text.to_string(),
        };
        self.paint(text, Style::new().bold().fg_color(Some(color.into())))
    }

    /// `text` in `style`, when colors are on.
    pub fn paint(self, text: &str, style: Style) -> String {
        if self.color { format!("{style}{text}{style:#}") } else { text.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(no_color: bool, cargo: Option<&str>) -> TermEnv {
        TermEnv { no_color, cargo_term_color: cargo.map(String::from), ..TermEnv::default() }
    }

    #[test]
    fn color_follows_the_flag_then_cargo_then_no_color_then_the_terminal() {
        use ColorChoice::*;
        let cases = [
            // (flag, NO_COLOR, CARGO_TERM_COLOR, terminal) -> color
            ((Auto, false, None, true), true),
            ((Auto, false, None, false), false),
            ((Auto, true, None, true), false),
            ((Auto, false, Some("never"), true), false),
            ((Auto, false, Some("always"), false), true),
            ((Auto, true, Some("always"), false), true),
            ((Auto, false, Some("auto"), false), false),
            ((Auto, true, Some("auto"), true), false),
            ((Always, true, Some("never"), false), true),
            ((Never, false, Some("always"), true), false),
        ];
        for ((flag, no_color, cargo, terminal), want) in cases {
            let got = use_color(flag, &env(no_color, cargo), terminal);
            assert_eq!(
                got, want,
                "{flag:?} NO_COLOR={no_color} CARGO_TERM_COLOR={cargo:?} tty={terminal}"
            );
        }
        let dumb = TermEnv { dumb: true, ..TermEnv::default() };
        assert!(!use_color(Auto, &dumb, true));
    }

    #[test]
    fn the_bar_is_for_terminals_outside_ci() {
        use ShowProgress::*;
        let ci = TermEnv { ci: true, ..TermEnv::default() };
        let plain = TermEnv::default();
        assert_eq!(progress(Auto, &plain, true), Progress::Bar);
        assert_eq!(progress(Auto, &plain, false), Progress::None);
        assert_eq!(progress(Auto, &ci, true), Progress::None);
        assert_eq!(progress(Bar, &ci, true), Progress::Bar);
        assert_eq!(progress(Counter, &plain, true), Progress::Counter);
        assert_eq!(progress(None, &plain, true), Progress::None);
    }

    #[test]
    fn labels_are_colored_only_when_asked() {
        assert_eq!(Palette::new(false).label("FAIL"), "FAIL");
        let red = Palette::new(true).label("FAIL");
        assert_eq!(red, "\u{1b}[1m\u{1b}[31mFAIL\u{1b}[0m");
        assert!(Palette::new(true).label("PASS").contains("\u{1b}[32m"));
        assert!(Palette::new(true).label("FLAKY").contains("\u{1b}[33m"));
    }
}
