//! A fault told once: the first failure of a run (or a different one) is logged with its
//! context, repeats are only counted, and the end of the run is logged with how long it lasted.
//! A disk that keeps failing fills no log and hides nothing: the metrics count every failure.

use std::time::{Duration, Instant};

/// One kind of background work's run of failures (writes, checkpoints, anchors).
#[derive(Debug, Default)]
pub(crate) struct Streak {
    /// Since when it fails, and the error last logged.
    since: Option<(Instant, String)>,
    failures: u64,
}

/// How a failure should be told.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tell {
    /// The first of a run, or a different error than the one logged: log it.
    Log,
    /// The same error again: count it, do not log it again.
    Repeat,
}

impl Streak {
    /// One more failure with this error.
    pub fn failed(&mut self, error: &str) -> Tell {
        self.failures += 1;
        match &mut self.since {
            Some((_, last)) if last == error => Tell::Repeat,
            Some((_, last)) => {
                *last = error.to_owned();
                Tell::Log
            }
            None => {
                self.since = Some((Instant::now(), error.to_owned()));
                Tell::Log
            }
        }
    }

    /// It worked: the failures of the run that ended and how long it lasted, if there was one.
    pub fn succeeded(&mut self) -> Option<(u64, Duration)> {
        let (since, _) = self.since.take()?;
        let n = std::mem::take(&mut self.failures);
        Some((n, since.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_the_same_error_is_told_once_and_its_end_with_the_count() {
        let mut s = Streak::default();
        assert_eq!(s.succeeded(), None, "no run, nothing to tell");
        assert_eq!(s.failed("disk I/O error"), Tell::Log);
        assert_eq!(s.failed("disk I/O error"), Tell::Repeat);
        assert_eq!(s.failed("disk I/O error"), Tell::Repeat);
        assert_eq!(
            s.failed("the disk is full"),
            Tell::Log,
            "a different error is told"
        );
        assert_eq!(s.failed("the disk is full"), Tell::Repeat);
        let (n, _) = s.succeeded().expect("the run ended");
        assert_eq!(n, 5);
        assert_eq!(s.succeeded(), None);
        assert_eq!(
            s.failed("disk I/O error"),
            Tell::Log,
            "a new run is told again"
        );
    }
}
