//! How an import shows it is moving: a bar with rate and time left on a terminal (indicatif),
//! a plain line every few seconds otherwise (a log file, CI), nothing in tests.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::import::ImportReport;

/// How often the plain form writes a line.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub enum Progress {
    Bar(ProgressBar),
    Plain { last: Instant, started: Instant },
    Silent,
}

impl Progress {
    /// A bar when standard error is a terminal, plain lines otherwise. `total_bytes` is the
    /// file's size when known: the bar measures bytes read, so its rate and time left hold for
    /// any mix of lines.
    pub fn for_stderr(total_bytes: Option<u64>) -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr());
            let template = "{bar:30} {percent:>3}% {binary_bytes_per_sec} eta {eta} {msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            Self::Bar(bar)
        } else {
            let now = Instant::now();
            Self::Plain {
                last: now,
                started: now,
            }
        }
    }

    /// After each batch: `bytes` of the file read so far.
    pub fn update(&mut self, bytes: u64, report: &ImportReport) {
        match self {
            Self::Bar(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!(
                    "{} lines, {} created, {} rejected",
                    report.lines, report.created, report.rejected
                ));
            }
            Self::Plain { last, started } => {
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    let seconds = started.elapsed().as_secs_f64().max(0.001);
                    let _ = writeln!(
                        std::io::stderr(),
                        "import: {} lines ({:.0} a second), {} created, {} unchanged, {} rejected",
                        report.lines,
                        report.lines as f64 / seconds,
                        report.created,
                        report.unchanged,
                        report.rejected
                    );
                }
            }
            Self::Silent => {}
        }
    }

    pub fn finish(&mut self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
