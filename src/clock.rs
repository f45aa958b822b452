//! Time, injectable: production reads the system clock; tests hold a manual clock and move it.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(Mutex::new(start)))
    }
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(t) => *t.lock().expect("clock lock"),
        }
    }
    /// Move a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            *t.lock().expect("clock lock") += by;
        }
    }
}

/// Timestamps are stored as RFC 3339 UTC with milliseconds, which sort as text.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Read back a stored timestamp.
pub fn parse_stamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time as a person reads it, in the configured zone and naming it: `2026-03-08 03:30 CDT`
/// (`2026-03-08 08:30 UTC` when the zone is UTC). The abbreviation tells the two 01:30s of a
/// fall-back night apart (`CDT`, then `CST`).
pub fn show(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// A time for a file (CSV): RFC 3339 in the configured zone with its offset, to the second:
/// `2026-03-08T03:30:00-05:00` (`…Z` in UTC). The offset makes every value unambiguous, the
/// repeated hour of a fall-back night included.
pub fn local_rfc3339(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A wall-clock time a person entered, read in the configured zone (see [`from_local`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The instant taken.
    pub at: DateTime<Utc>,
    /// Set when the wall-clock time did not name exactly one instant.
    pub adjusted: Option<Adjusted>,
}

/// How a wall-clock time that does not name exactly one instant was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjusted {
    /// It does not exist: the clocks went forward over it (02:30 on a spring-forward night in
    /// America/Chicago). Taken as the moment they jumped to (03:00 CDT), the first valid time
    /// after the one entered.
    Skipped,
    /// It happened twice: the clocks went back over it (01:30 on a fall-back night). Taken as the
    /// first (01:30 CDT); `later` is the second (01:30 CST, an hour after).
    Repeated { later: DateTime<Utc> },
}

/// Read a wall-clock time in `tz`. A time that happens twice is the earlier of the two; a time
/// that never happens is moved forward to the moment the clocks jump to. One rule covers both:
/// the instant taken is the first at which the wall clock reads the time entered or later, so a
/// needed-by deadline is never quietly moved later.
pub fn from_local(local: NaiveDateTime, tz: Tz) -> Reading {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Reading {
            at: t.with_timezone(&Utc),
            adjusted: None,
        },
        LocalResult::Ambiguous(first, second) => Reading {
            at: first.with_timezone(&Utc),
            adjusted: Some(Adjusted::Repeated {
                later: second.with_timezone(&Utc),
            }),
        },
        LocalResult::None => {
            // Walk forward a minute at a time to the first wall-clock time that exists: the
            // moment the clocks jumped to (zones change on whole minutes). Gaps are an hour or
            // so; the longest in the database is a day (Samoa, 2011).
            let mut t = local
                .with_second(0)
                .unwrap_or(local)
                .with_nanosecond(0)
                .unwrap_or(local);
            for _ in 0..(49 * 60) {
                t += Duration::minutes(1);
                if let Some(first) = tz.from_local_datetime(&t).earliest() {
                    return Reading {
                        at: first.with_timezone(&Utc),
                        adjusted: Some(Adjusted::Skipped),
                    };
                }
            }
            // No zone skips two days; should one, read the time at the offset in force a day
            // before.
            let before = tz
                .offset_from_utc_datetime(&(local - Duration::days(1)))
                .fix()
                .local_minus_utc();
            Reading {
                at: (local - Duration::seconds(before.into())).and_utc(),
                adjusted: Some(Adjusted::Skipped),
            }
        }
    }
}

impl Reading {
    /// What the person who entered `local` is told when it was not taken as entered.
    pub fn explain(&self, local: NaiveDateTime, tz: Tz) -> Option<String> {
        let entered = local.format("%Y-%m-%d %H:%M");
        match self.adjusted? {
            Adjusted::Skipped => Some(format!(
                "{entered} does not exist in {tz}: the clocks go forward over it. \
                 Taken as {}, the moment they jump to.",
                show(self.at, tz)
            )),
            Adjusted::Repeated { later } => Some(format!(
                "{entered} happens twice in {tz}: the clocks go back over it. \
                 Taken as the first, {} (not {}).",
                show(self.at, tz),
                show(later, tz)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Chicago;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_ordinary_local_time_is_its_one_instant() {
        let r = from_local(local("2026-01-15T14:00"), Chicago);
        assert_eq!(r.at, utc("2026-01-15T20:00:00Z"));
        assert_eq!(r.adjusted, None);
        assert_eq!(r.explain(local("2026-01-15T14:00"), Chicago), None);
        let r = from_local(local("2026-07-15T14:00"), Chicago);
        assert_eq!(r.at, utc("2026-07-15T19:00:00Z"));
        assert_eq!(show(r.at, Chicago), "2026-07-15 14:00 CDT");
        assert_eq!(show(r.at, chrono_tz::UTC), "2026-07-15 19:00 UTC");
    }

    #[test]
    fn a_time_the_clocks_skip_moves_forward_to_the_jump() {
        // 2026-03-08: 02:00 CST becomes 03:00 CDT (08:00 UTC).
        for entered in ["2026-03-08T02:00", "2026-03-08T02:30", "2026-03-08T02:59"] {
            let r = from_local(local(entered), Chicago);
            assert_eq!(r.at, utc("2026-03-08T08:00:00Z"), "{entered}");
            assert_eq!(r.adjusted, Some(Adjusted::Skipped));
        }
        let r = from_local(local("2026-03-08T02:30"), Chicago);
        assert_eq!(show(r.at, Chicago), "2026-03-08 03:00 CDT");
        let told = r.explain(local("2026-03-08T02:30"), Chicago).unwrap();
        assert!(
            told.contains("2026-03-08 02:30 does not exist in America/Chicago"),
            "{told}"
        );
        assert!(told.contains("2026-03-08 03:00 CDT"), "{told}");
        // Seconds (a browser may send them) do not move the jump.
        let r = from_local(
            NaiveDateTime::parse_from_str("2026-03-08T02:59:30", "%Y-%m-%dT%H:%M:%S").unwrap(),
            Chicago,
        );
        assert_eq!(r.at, utc("2026-03-08T08:00:00Z"));
        // Either side of the gap is taken as entered.
        assert_eq!(
            from_local(local("2026-03-08T01:59"), Chicago).at,
            utc("2026-03-08T07:59:00Z")
        );
        assert_eq!(
            from_local(local("2026-03-08T03:00"), Chicago),
            Reading {
                at: utc("2026-03-08T08:00:00Z"),
                adjusted: None
            }
        );
    }

    #[test]
    fn a_time_that_happens_twice_is_the_first() {
        // 2026-11-01: 02:00 CDT becomes 01:00 CST; 01:30 happens at 06:30 and at 07:30 UTC.
        let r = from_local(local("2026-11-01T01:30"), Chicago);
        assert_eq!(r.at, utc("2026-11-01T06:30:00Z"));
        assert_eq!(
            r.adjusted,
            Some(Adjusted::Repeated {
                later: utc("2026-11-01T07:30:00Z")
            })
        );
        assert_eq!(show(r.at, Chicago), "2026-11-01 01:30 CDT");
        let told = r.explain(local("2026-11-01T01:30"), Chicago).unwrap();
        assert!(told.contains("happens twice in America/Chicago"), "{told}");
        assert!(
            told.contains("the first, 2026-11-01 01:30 CDT (not 2026-11-01 01:30 CST)"),
            "{told}"
        );
        assert_eq!(local_rfc3339(r.at, Chicago), "2026-11-01T01:30:00-05:00");
        assert_eq!(
            local_rfc3339(utc("2026-11-01T07:30:00Z"), Chicago),
            "2026-11-01T01:30:00-06:00"
        );
    }

    #[test]
    fn utc_has_no_gaps_or_repeats() {
        let r = from_local(local("2026-03-08T02:30"), chrono_tz::UTC);
        assert_eq!(r.at, utc("2026-03-08T02:30:00Z"));
        assert_eq!(r.adjusted, None);
        assert_eq!(local_rfc3339(r.at, chrono_tz::UTC), "2026-03-08T02:30:00Z");
    }
}
