//! The supervisor's reports. Each is a plain table (title, columns, rows of text) so one page
//! renders them all and one writer exports them as CSV.

mod charts;
mod out;
mod pending;

use charts::{misfiles_by_section, quantiles, turnaround_by_day};
pub use charts::{Bar, Chart};
use out::out_by_holder;
pub use out::{OUT_AT, OVERDUE_AT_PAGE};
use pending::pending_requests;

use super::audit::Audited;
use super::{loose, Result};
use crate::clock::{local_rfc3339, parse_stamp, stamp};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rusqlite::params_from_iter;
use rusqlite::types::Value;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    ChargedOut,
    Overdue,
    Missing,
    PendingRequests,
    Turnaround,
    LooseReports,
    Misfiles,
    Activity,
    BreakGlass,
}

impl Report {
    pub const ALL: [Report; 9] = [
        Report::ChargedOut,
        Report::Overdue,
        Report::Missing,
        Report::PendingRequests,
        Report::Turnaround,
        Report::LooseReports,
        Report::Misfiles,
        Report::Activity,
        Report::BreakGlass,
    ];
    /// The name in its address (`/reports/{slug}`).
    pub fn slug(self) -> &'static str {
        match self {
            Report::ChargedOut => "charged-out",
            Report::Overdue => "overdue",
            Report::Missing => "missing",
            Report::PendingRequests => "pending-requests",
            Report::Turnaround => "turnaround",
            Report::LooseReports => "loose-reports",
            Report::Misfiles => "misfiles",
            Report::Activity => "activity",
            Report::BreakGlass => "break-glass",
        }
    }
    pub fn from_slug(s: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.slug() == s)
    }
    pub fn title(self) -> &'static str {
        match self {
            Report::ChargedOut => "Volumes charged out, by holder",
            Report::Overdue => "Overdue volumes, by holder",
            Report::Missing => "Missing volumes",
            Report::PendingRequests => "Pending requests",
            Report::Turnaround => "Request turnaround (request to delivery)",
            Report::LooseReports => "Loose reports waiting to be filed, oldest first",
            Report::Misfiles => "Misfiles by shelf section",
            Report::Activity => "Activity by station and by user",
            Report::BreakGlass => "Break-glass: restricted charts opened in an emergency",
        }
    }
    /// The columns, in order: the CSV's header (scripts read it: keep it stable).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Report::ChargedOut | Report::Overdue => &[
                "holder",
                "holder name",
                "kind",
                "volume",
                "patient",
                "mrn",
                "status",
                "since",
                "days out",
                "overdue",
            ],
            Report::Missing => &[
                "volume",
                "patient",
                "mrn",
                "reason",
                "note",
                "marked at",
                "marked by",
                "last location",
                "last scan",
                "last station",
                "last user",
                "open requests",
            ],
            Report::PendingRequests => &[
                "slip",
                "priority",
                "needed by",
                "deliver to",
                "volume",
                "patient",
                "status",
                "volume is",
                "requested at",
                "requested by",
            ],
            Report::Turnaround => &[
                "priority",
                "deliver to",
                "delivered",
                "median minutes",
                "90th percentile minutes",
                "longest minutes",
            ],
            Report::LooseReports => &[
                "report",
                "patient",
                "mrn",
                "description",
                "registered",
                "received",
                "age hours",
                "routed to",
                "volumes",
            ],
            Report::Misfiles => &[
                "section",
                "section name",
                "wrong section",
                "out of order",
                "total",
                "last found",
            ],
            Report::Activity => &["by", "name", "scans", "accepted", "refused", "movements"],
            Report::BreakGlass => &[
                "opened at",
                "opened by",
                "role",
                "volume",
                "patient",
                "reason",
                "until",
            ],
        }
    }
    /// Reports over a period (the rest are as of now).
    pub fn has_period(self) -> bool {
        matches!(
            self,
            Report::Turnaround | Report::Misfiles | Report::Activity | Report::BreakGlass
        )
    }
}

/// What a report is run with.
#[derive(Debug, Clone)]
pub struct Params {
    pub now: DateTime<Utc>,
    /// The configured zone: a day in a chart is a local day.
    pub tz: Tz,
    /// Loan cutoffs by location kind (`config::LoanDays::cutoffs`).
    pub cutoffs: Vec<(&'static str, String)>,
    /// The period, for reports that have one: the last `days` days.
    pub days: u32,
    /// The order asked for; `None` is the report's own order (the CSV's).
    pub sort: Option<Sort>,
    /// At most this many rows (a page); `None` is every row (the CSV).
    pub limit: Option<usize>,
}

/// A column to order the rows by (its index in `Table::columns`), and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub descending: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// For each column: does it hold times (stored UTC stamps)? Those are shown and exported
    /// in the configured zone.
    pub times: Vec<bool>,
    /// How many rows there are in all (`rows` holds at most `Params::limit` of them).
    pub total: usize,
    /// A picture of the report, where one reads faster than the table.
    pub chart: Option<Chart>,
}

/// The columns, in any report, that hold a time.
const TIME_COLUMNS: &[&str] = &[
    "since",
    "marked at",
    "last scan",
    "needed by",
    "requested at",
    "registered",
    "received",
    "last found",
    "opened at",
    "until",
];

/// A cell as a spreadsheet will read it as text. A cell beginning with `=`, `+`, `-`, `@`, a
/// tab or a carriage return would be run as a formula when the file is opened (OWASP "CSV
/// injection"): it gets a leading `'`, as OWASP advises. A plain number (`-3`, `+1.5`) is left
/// as it is: a spreadsheet reads it as that number and never as a formula.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    // A lone CR inside a cell is left unquoted by the CSV writer and ends the row in a
    // spreadsheet: line breaks in a cell become spaces (found by fuzzing the import's model).
    let cell: std::borrow::Cow<'_, str> = if cell.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(cell.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(cell)
    };
    // Spaces in front do not stop a spreadsheet from reading a formula.
    let risky = cell.starts_with('\t') || cell.trim_start().starts_with(['=', '+', '-', '@']);
    if risky && !is_plain_number(&cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        cell
    }
}

/// An optional sign, digits, and at most one decimal point with digits after it.
fn is_plain_number(cell: &str) -> bool {
    let body = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (!body.contains('.') || (!frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())))
}

impl Table {
    /// The table as CSV text (the header, then the rows), every cell through [`csv_cell`].
    /// Times are RFC 3339 in `tz` with their offset (`2026-03-02T14:30:00-06:00`): the file says
    /// which zone each is in, and the repeated hour of a fall-back night stays unambiguous.
    pub fn to_csv(&self, tz: Tz) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| super::StoreError::Internal(format!("CSV: {e}"));
        w.write_record(self.columns.iter().map(|c| csv_cell(c).into_owned()))
            .map_err(fail)?;
        for row in &self.rows {
            let row = row.iter().zip(&self.times).map(|(cell, &time)| {
                match parse_stamp(cell).filter(|_| time) {
                    Some(t) => local_rfc3339(t, tz),
                    None => csv_cell(cell).into_owned(),
                }
            });
            w.write_record(row).map_err(fail)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| super::StoreError::Internal(format!("CSV: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Run a query whose columns are all shown as text.
fn rows(c: &Audited, sql: &str, args: Vec<Value>) -> Result<Vec<Vec<String>>> {
    let mut st = c.prepare_cached(sql)?;
    let n = st.column_count();
    let rows = st.query_map(params_from_iter(args), |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get::<_, Value>(i)? {
                    Value::Null => String::new(),
                    Value::Integer(v) => v.to_string(),
                    Value::Real(v) => format!("{v:.1}"),
                    Value::Text(t) => t,
                    Value::Blob(_) => String::new(),
                })
            })
            .collect::<rusqlite::Result<Vec<String>>>()
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A listing that can be long (one row a volume or request): ordered and cut in SQL, so a
/// page of it sorts the whole set without holding it; the count only when the page is full.
fn listing(
    c: &Audited,
    sql: &str,
    args: Vec<Value>,
    p: &Params,
) -> Result<(Vec<Vec<String>>, usize)> {
    if p.sort.is_none() && p.limit.is_none() {
        let all = rows(c, sql, args)?;
        let n = all.len();
        return Ok((all, n));
    }
    let order = match p.sort {
        // Column positions only (never user text); a tie keeps the report's own order.
        Some(s) => format!(
            "ORDER BY {} {}",
            s.column + 1,
            if s.descending { "DESC" } else { "ASC" }
        ),
        None => String::new(),
    };
    let limit = p.limit.unwrap_or(usize::MAX >> 1);
    let page = rows(
        c,
        &format!("SELECT * FROM ({sql}) {order} LIMIT {limit}"),
        args.clone(),
    )?;
    let total = if page.len() < limit {
        page.len()
    } else {
        let n: i64 = c.query_row(
            &format!("SELECT count(*) FROM ({sql})"),
            params_from_iter(args),
            |r| r.get(0),
        )?;
        n as usize
    };
    Ok((page, total))
}

/// Order and cut rows already in hand (the short summaries): numbers as numbers, the rest as
/// text; a stable sort, so ties keep the report's own order.
fn arrange(mut rows: Vec<Vec<String>>, p: &Params) -> (Vec<Vec<String>>, usize) {
    if let Some(s) = p.sort {
        rows.sort_by(|a, b| {
            let (x, y) = (&a[s.column], &b[s.column]);
            let o = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => x.cmp(y),
            };
            if s.descending {
                o.reverse()
            } else {
                o
            }
        });
    }
    let total = rows.len();
    if let Some(limit) = p.limit {
        rows.truncate(limit);
    }
    (rows, total)
}

/// `CASE kind WHEN 'unit' THEN ?n ...`: the loan cutoff of a location's kind (the kinds are
/// fixed words from the configuration's keys, never user text).
fn cutoff_case(cutoffs: &[(&'static str, String)], column: &str, first: usize) -> String {
    let mut sql = format!("CASE {column}");
    for (i, (kind, _)) in cutoffs.iter().enumerate() {
        sql += &format!(" WHEN '{kind}' THEN ?{}", first + i);
    }
    sql + " ELSE '' END"
}

pub fn run(c: &Audited, report: Report, p: &Params) -> Result<Table> {
    let since = stamp(p.now - Duration::days(p.days.into()));
    let cut: Vec<Value> = p
        .cutoffs
        .iter()
        .map(|(_, t)| Value::Text(t.clone()))
        .collect();
    let mut chart = None;
    let (rows, total) = match report {
        Report::ChargedOut | Report::Overdue if p.sort.is_none() && p.limit.is_some() => {
            out_by_holder(c, report == Report::Overdue, p)?
        }
        Report::ChargedOut | Report::Overdue => {
            let only_overdue = report == Report::Overdue;
            let sql = format!(
                "SELECT l.code, l.name, l.kind, v.barcode, p.last_name || ', ' || p.first_name, p.mrn, s.status, s.since,
                        CAST(julianday(?1) - julianday(s.since) AS INTEGER),
                        CASE WHEN s.since < {} THEN 'yes' ELSE '' END AS overdue
                 FROM volume_state s JOIN volume v ON v.volume_id = s.volume_id JOIN patient p ON p.patient_id = v.patient_id
                 JOIN location l ON l.location_id = CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END
                 WHERE s.status IN ('in_transit','at_location') {}
                 ORDER BY l.code, s.since",
                cutoff_case(&p.cutoffs, "l.kind", 2),
                if only_overdue { "AND overdue = 'yes'" } else { "" }
            );
            let mut args = vec![Value::Text(stamp(p.now))];
            args.extend(cut);
            listing(c, &sql, args, p)?
        }
        Report::Missing =>
            listing(
                c,
                "SELECT v.barcode, p.last_name || ', ' || p.first_name, p.mrn, m.reason, m.note, m.marked_at,
                        (SELECT name FROM app_user WHERE user_id = m.marked_by), l.code, s.last_scan_at, s.last_station_id,
                        (SELECT name FROM app_user WHERE user_id = s.last_user_id),
                        (SELECT count(*) FROM request q WHERE q.volume_id = v.volume_id AND q.status IN ('open','pulled'))
                 FROM missing_mark m JOIN volume v ON v.volume_id = m.volume_id JOIN patient p ON p.patient_id = v.patient_id
                 JOIN volume_state s ON s.volume_id = v.volume_id JOIN location l ON l.location_id = s.location_id
                 WHERE m.found_at IS NULL ORDER BY m.marked_at",
                vec![],
                p,
            )?,
        Report::PendingRequests => pending_requests(c, p)?,
        Report::Turnaround => {
            let delivered = delivered(c, &since)?;
            chart = Some(turnaround_by_day(&delivered, p));
            arrange(turnaround(delivered), p)
        }
        Report::LooseReports => {
            let waiting = loose::waiting(c, p.now, 10_000)?;
            let rows = waiting
                .into_iter()
                .map(|w| {
                    let volumes = w
                        .volumes
                        .iter()
                        .map(|v| format!("{} {} {}", v.barcode, v.status, v.location.code))
                        .collect::<Vec<_>>()
                        .join("; ");
                    vec![
                        w.barcode,
                        format!("{}, {}", w.last_name, w.first_name),
                        w.mrn,
                        w.description,
                        w.registered_at,
                        w.received_at.unwrap_or_default(),
                        w.age_hours.to_string(),
                        w.routed_to.map(|l| l.code).unwrap_or_default(),
                        volumes,
                    ]
                })
                .collect();
            arrange(rows, p)
        }
        Report::Misfiles => {
            // One row a shelf section: short whatever the size of the file room.
            let all = rows(
                c,
                "SELECT l.code, l.name, sum(f.kind = 'wrong_section'), sum(f.kind = 'out_of_order'), count(*), max(f.at)
                 FROM misfile f JOIN location l ON l.location_id = f.location_id
                 WHERE f.at >= ?1 GROUP BY l.location_id ORDER BY count(*) DESC, l.code",
                vec![Value::Text(since.clone())],
            )?;
            chart = Some(misfiles_by_section(&all, p.days));
            arrange(all, p)
        }
        Report::BreakGlass => listing(
            c,
            "SELECT b.opened_at, u.name, u.role, v.barcode, p.last_name || ', ' || p.first_name, b.reason, b.expires_at
             FROM break_glass b JOIN app_user u ON u.user_id = b.user_id JOIN volume v ON v.volume_id = b.volume_id
             JOIN patient p ON p.patient_id = b.patient_id
             WHERE b.opened_at >= ?1 ORDER BY b.opened_at DESC",
            vec![Value::Text(since.clone())],
            p,
        )?,
        // Kept by day and station, and by day and user, as scans and movements are written
        // (schema v20): a row per station-day and user-day is read, not every scan of the
        // period. The period is whole (UTC) days, from the day `days` ago.
        Report::Activity => arrange(
            rows(
                c,
                "SELECT 'station', a.station_id, sum(a.scans), sum(a.accepted), sum(a.scans - a.accepted), sum(a.movements)
                 FROM activity_station a WHERE a.day >= substr(?1, 1, 10) GROUP BY a.station_id HAVING sum(a.scans) > 0
                 UNION ALL
                 SELECT 'user', coalesce(u.name, '(no user)'), sum(a.scans), sum(a.accepted), sum(a.scans - a.accepted), sum(a.movements)
                 FROM activity_user a LEFT JOIN app_user u ON u.user_id = a.user_id
                 WHERE a.day >= substr(?1, 1, 10) GROUP BY a.user_id HAVING sum(a.scans) > 0
                 ORDER BY 1 DESC, 3 DESC",
                vec![Value::Text(since.clone())],
            )?,
            p,
        ),
    };
    let columns = report.columns().to_vec();
    Ok(Table {
        title: report.title(),
        times: columns.iter().map(|c| TIME_COLUMNS.contains(c)).collect(),
        columns,
        rows,
        total,
        chart,
    })
}

/// A delivered request: its priority, where it went, and minutes from asking to delivery.
struct Delivered {
    priority: String,
    place: String,
    delivered_at: DateTime<Utc>,
    minutes: i64,
}

/// The requests delivered in the period (the index on `delivered_at` bounds the read to it).
fn delivered(c: &Audited, since: &str) -> Result<Vec<Delivered>> {
    let mut st = c.prepare_cached(
        "SELECT q.priority, l.code, q.created_at, q.delivered_at FROM request q
         JOIN location l ON l.location_id = q.location_id
         WHERE q.delivered_at IS NOT NULL AND q.delivered_at >= ?1 ORDER BY q.priority, l.code",
    )?;
    let rows = st.query_map([since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (priority, place, asked, delivered) = row?;
        if let (Some(a), Some(d)) = (parse_stamp(&asked), parse_stamp(&delivered)) {
            out.push(Delivered {
                priority,
                place,
                delivered_at: d,
                minutes: (d - a).num_minutes(),
            });
        }
    }
    Ok(out)
}

/// Delivered requests in the period: count, median, 90th percentile and longest, by priority
/// and place, then by priority alone.
fn turnaround(delivered: Vec<Delivered>) -> Vec<Vec<String>> {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<i64>> = Default::default();
    for d in delivered {
        groups
            .entry((d.priority.clone(), d.place))
            .or_default()
            .push(d.minutes);
        groups
            .entry((d.priority, "(all)".into()))
            .or_default()
            .push(d.minutes);
    }
    groups
        .into_iter()
        .map(|((priority, place), mut minutes)| {
            let (median, p90) = quantiles(&mut minutes);
            vec![
                priority,
                place,
                minutes.len().to_string(),
                median.to_string(),
                p90.to_string(),
                minutes.last().copied().unwrap_or(0).to_string(),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests;
