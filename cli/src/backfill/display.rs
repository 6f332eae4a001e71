//! How a followed backfill's readings are shown on stderr: a progress bar (indicatif)
//! when stderr is a terminal, else a plain line every few seconds, never a bar's control
//! codes (CI logs, pipes). Stdout stays for the summary (or the one `--json` document).

use super::text;
use ferry_runtime::backfill::{FollowEnd, Reading};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The bar on the terminal now, if any: log lines are written around it ([`LogWriter`]).
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Stderr for the log: while a bar is shown, each line is written with the bar cleared
/// and drawn again below it, instead of across it.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = SHOWN.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// How often a plain line is printed.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

pub enum Display {
    Bar(ProgressBar),
    Lines { last: Option<Instant> },
}

impl Display {
    /// A bar when stderr is a terminal (`terminal`), else plain lines.
    pub fn new(terminal: bool, total: usize) -> Self {
        if !terminal {
            return Display::Lines { last: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        // The pace and time left are the store-observed ones of the message (the bar's
        // own `{eta}` would count from this process's start, before any item settled).
        let style = ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        if let Ok(mut shown) = SHOWN.lock() {
            *shown = Some(bar.clone());
        }
        Display::Bar(bar)
    }

    pub fn show(&mut self, r: &Reading) {
        match self {
            Display::Bar(bar) => {
                bar.set_length(r.counts.total as u64);
                bar.set_position(r.counts.done() as u64);
                bar.set_message(text::detail(&r.counts, Some(&r.estimate)));
            }
            Display::Lines { last } => {
                if last.is_none_or(|t| t.elapsed() >= LINE_EVERY) {
                    eprintln!("{}", text::progress_line(&r.counts, Some(&r.estimate)));
                    *last = Some(Instant::now());
                }
            }
        }
    }

    /// The final reading: the bar left drawn at its end, or one last line.
    pub fn finish(&mut self, end: &FollowEnd) {
        match self {
            Display::Bar(bar) => {
                bar.set_position(end.counts.done() as u64);
                bar.set_message(text::detail(&end.counts, None));
                bar.abandon();
                if let Ok(mut shown) = SHOWN.lock() {
                    *shown = None;
                }
            }
            Display::Lines { .. } => eprintln!("{}", text::progress_line(&end.counts, None)),
        }
    }
}
