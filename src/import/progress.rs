//! How far an import is, told on standard error.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How far an import is, told to whoever runs it: a bar on a terminal; otherwise (a pipe, a
/// log file, a job scheduler) a plain line on standard error at each tenth of the file and at
/// least every few seconds. An import told nothing (an upload from the admin page) says nothing.
pub struct Progress {
    what: &'static str,
    /// The file's size in bytes (the share read is the share done); unknown for a stream.
    size: Option<u64>,
    bar: Option<ProgressBar>,
    lines: bool,
    started: Instant,
    last: Instant,
    /// The tenth of the file last told.
    tenth: u64,
}

/// Plain progress lines at most this often when the file's tenths come slower than that.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// A file under this size gets no progress lines: it is done before anyone reads one.
const QUIET_BELOW: u64 = 1 << 20;

impl Progress {
    /// Progress told on standard error: `what` names the import ("import volumes").
    pub fn on_stderr(what: &'static str, size: Option<u64>) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let pb = ProgressBar::new(size.unwrap_or(0));
            let template = if size.is_some() {
                "{msg} [{bar:40}] {percent}% ({eta})"
            } else {
                "{msg}"
            };
            pb.set_style(
                ProgressStyle::with_template(template)
                    .expect("template")
                    .progress_chars("=> "),
            );
            pb.set_message(what);
            pb
        });
        let now = Instant::now();
        Progress {
            what,
            size,
            bar,
            lines: !terminal && size.is_none_or(|s| s >= QUIET_BELOW),
            started: now,
            last: now,
            tenth: 0,
        }
    }

    /// Nothing told.
    pub fn none() -> Progress {
        let now = Instant::now();
        Progress {
            what: "",
            size: None,
            bar: None,
            lines: false,
            started: now,
            last: now,
            tenth: 0,
        }
    }

    /// `rows` rows read and checked, `byte` bytes into the file.
    pub(super) fn update(&mut self, rows: u64, byte: u64) {
        if let Some(pb) = &self.bar {
            pb.set_position(byte);
            pb.set_message(format!("{}: {rows} rows checked", self.what));
        }
        if !self.lines {
            return;
        }
        let tenth = self
            .size
            .filter(|&s| s > 0)
            .map_or(0, |s| byte.min(s) * 10 / s);
        if tenth > self.tenth || self.last.elapsed() >= PROGRESS_EVERY {
            self.tenth = tenth;
            self.last = Instant::now();
            match self.size.filter(|&s| s > 0 && byte > 0) {
                Some(size) => eprintln!(
                    "{}: {rows} of about {} rows checked ({} %)",
                    self.what,
                    rows * size / byte,
                    byte.min(size) * 100 / size
                ),
                None => eprintln!("{}: {rows} rows checked", self.what),
            }
        }
    }

    /// A line said when the import's rows are all read (and on a terminal, the bar cleared).
    pub(super) fn done(&mut self, message: &str) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        if self.lines {
            eprintln!(
                "{}: {message} ({:.1} s)",
                self.what,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
