//! The reports' charts as numbers: bars, one a line, which the pages draw as SVG. Request
//! turnaround by local day (median, with the 90th percentile as a mark; by week over a long
//! period) and misfiles by shelf section.

use super::{Delivered, Params};
use chrono::Duration;
use serde::Serialize;

/// Bars, one a line: what a page draws as a chart (the numbers, never the drawing).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chart {
    pub title: String,
    /// What the bars' length is, with its unit ("median minutes, request to delivery").
    pub measure: &'static str,
    /// What each bar is ("day", "shelf section").
    pub per: &'static str,
    /// What `Bar::mark` is, when bars have one.
    pub mark: Option<&'static str>,
    pub bars: Vec<Bar>,
    /// What the chart leaves out, in words, when it does.
    pub left_out: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: i64,
    /// A second value drawn as a tick across the bar (a 90th percentile beside a median).
    pub mark: Option<i64>,
    /// The bar's numbers in words ("4 delivered, 90th percentile 75 min").
    pub note: String,
}

/// The misfiles chart shows this many sections at most (the most misfiles first).
const SECTIONS_CHARTED: usize = 25;
/// The turnaround chart draws this many days (or weeks) at most, the latest.
const DAYS_CHARTED: usize = 62;

/// The median and 90th percentile of some minutes (sorted here).
pub(super) fn quantiles(minutes: &mut [i64]) -> (i64, i64) {
    minutes.sort_unstable();
    let at = |q: f64| minutes[((minutes.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

/// Median minutes to delivery on each local day of the period (every day, a quiet one as an
/// empty bar), with the 90th percentile as a mark; by week when the period is long.
pub(super) fn turnaround_by_day(delivered: &[Delivered], p: &Params) -> Chart {
    use chrono::NaiveDate;
    let weekly = p.days > 62;
    let bucket = |d: NaiveDate| {
        if weekly {
            d.week(chrono::Weekday::Mon).first_day()
        } else {
            d
        }
    };
    let today = p.now.with_timezone(&p.tz).date_naive();
    let first = today - Duration::days(i64::from(p.days) - 1);
    let mut days: std::collections::BTreeMap<NaiveDate, Vec<i64>> = Default::default();
    let mut d = first;
    while d <= today {
        days.entry(bucket(d)).or_default();
        d += Duration::days(1);
    }
    for r in delivered {
        let day = r.delivered_at.with_timezone(&p.tz).date_naive();
        if day >= first {
            days.entry(bucket(day)).or_default().push(r.minutes);
        }
    }
    let bars = days
        .into_iter()
        .map(|(day, mut minutes)| {
            let label = if weekly {
                format!("week of {}", day.format("%a %Y-%m-%d"))
            } else {
                day.format("%a %Y-%m-%d").to_string()
            };
            if minutes.is_empty() {
                return Bar {
                    label,
                    value: 0,
                    mark: None,
                    note: "none delivered".into(),
                };
            }
            let (median, p90) = quantiles(&mut minutes);
            Bar {
                label,
                value: median,
                mark: Some(p90),
                note: format!(
                    "{} delivered, median {median} min, 90th percentile {p90} min",
                    minutes.len()
                ),
            }
        })
        .collect();
    let mut bars: Vec<Bar> = bars;
    let left_out = (bars.len() > DAYS_CHARTED).then(|| {
        let n = bars.len() - DAYS_CHARTED;
        bars.drain(..n);
        format!(
            "The {n} earliest {}s are in the table, not drawn.",
            if weekly { "week" } else { "day" }
        )
    });
    Chart {
        title: format!(
            "Request turnaround {} (last {} days)",
            if weekly { "by week" } else { "by day" },
            p.days
        ),
        measure: "median minutes from request to delivery",
        per: if weekly { "week" } else { "day" },
        mark: Some("90th percentile"),
        bars,
        left_out,
    }
}

/// Misfiles in each shelf section, the most first (rows as the report's own order gives them).
pub(super) fn misfiles_by_section(rows: &[Vec<String>], days: u32) -> Chart {
    let bars = rows
        .iter()
        .take(SECTIONS_CHARTED)
        .map(|r| Bar {
            label: format!("{} {}", r[0], r[1]),
            value: r[4].parse().unwrap_or(0),
            mark: None,
            note: format!("{} wrong section, {} out of order", r[2], r[3]),
        })
        .collect();
    Chart {
        title: format!("Misfiles by shelf section (last {days} days)"),
        measure: "misfiles found",
        per: "shelf section",
        mark: None,
        bars,
        left_out: (rows.len() > SECTIONS_CHARTED).then(|| {
            format!(
                "{} more sections, with fewer, are in the table.",
                rows.len() - SECTIONS_CHARTED
            )
        }),
    }
}
