//! A spinner on stderr while the test binaries are listed, shown only when stderr is a
//! terminal and the listing takes more than a second (a short listing shows nothing), and
//! cleared when it is done.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a listing runs before the spinner shows.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

/// The spinner of one listing; dropping it clears it.
pub struct ListingSpinner {
    bar: ProgressBar,
    done: Option<mpsc::Sender<()>>,
    drawer: Option<thread::JoinHandle<()>>,
}

impl ListingSpinner {
    /// A spinner for listing `binaries` on stderr, if stderr is a terminal.
    pub fn on_stderr(binaries: usize) -> Self {
        let terminal =
            std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        if !terminal {
            return Self::with_target(binaries, SHOW_AFTER, None);
        }
        Self::with_target(binaries, SHOW_AFTER, Some(Box::new(ProgressDrawTarget::stderr)))
    }

    /// A spinner that draws on `target` (nothing when `None`) once `after` has passed.
    pub fn with_target(
        binaries: usize,
        after: Duration,
        target: Option<Box<dyn FnOnce() -> ProgressDrawTarget + Send>>,
    ) -> Self {
        let bar =
            ProgressBar::with_draw_target(Some(binaries as u64), ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template(
            "{spinner:.green} Listing test binaries {pos}/{len} [{elapsed}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        let Some(target) = target else {
            return Self { bar, done: None, drawer: None };
        };
        let (done, waiting) = mpsc::channel::<()>();
        let shown = bar.clone();
        let drawer = thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = waiting.recv_timeout(after) {
                shown.set_draw_target(target());
                shown.enable_steady_tick(Duration::from_millis(100));
                // Until the listing is over (the sender goes).
                let _ = waiting.recv();
            }
        });
        Self { bar, done: Some(done), drawer: Some(drawer) }
    }

    /// One more binary was listed.
    pub fn listed_one(&self) {
        self.bar.inc(1);
    }
}

impl Drop for ListingSpinner {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps what was written to it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn on(screen: &Screen) -> Option<Box<dyn FnOnce() -> ProgressDrawTarget + Send>> {
        let screen = screen.clone();
        Some(Box::new(move || ProgressDrawTarget::term_like(Box::new(screen))))
    }

    #[test]
    fn a_quick_listing_shows_nothing() {
        let screen = Screen::default();
        let spinner = ListingSpinner::with_target(3, Duration::from_millis(500), on(&screen));
        (0..3).for_each(|_| spinner.listed_one());
        // Long enough for a drawn spinner to tick, shorter than the delay.
        thread::sleep(Duration::from_millis(250));
        drop(spinner);
        assert_eq!(*screen.0.lock().unwrap(), "");
    }

    #[test]
    fn a_slow_listing_shows_the_spinner_after_the_delay() {
        let screen = Screen::default();
        let spinner = ListingSpinner::with_target(40, Duration::from_millis(50), on(&screen));
        spinner.listed_one();
        thread::sleep(Duration::from_millis(400));
        let shown = screen.0.lock().unwrap().clone();
        assert!(shown.contains("Listing test binaries 1/40"), "{shown:?}");
        drop(spinner);
    }
}
