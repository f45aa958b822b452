//! The supervisor's reports. Each is a plain table (title, columns, rows of text) so one page
//! renders them all and one writer exports them as CSV.

use super::audit::Audited;
use super::{loose, Result};
use crate::clock::{parse_stamp, stamp};
use chrono::{DateTime, Duration, Utc};
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
}

impl Report {
    pub const ALL: [Report; 8] = [
        Report::ChargedOut,
        Report::Overdue,
        Report::Missing,
        Report::PendingRequests,
        Report::Turnaround,
        Report::LooseReports,
        Report::Misfiles,
        Report::Activity,
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
        }
    }
    /// Reports over a period (the rest are as of now).
    pub fn has_period(self) -> bool {
        matches!(
            self,
            Report::Turnaround | Report::Misfiles | Report::Activity
        )
    }
}

/// What a report is run with.
#[derive(Debug, Clone)]
pub struct Params {
    pub now: DateTime<Utc>,
    /// Loan cutoffs by location kind (`config::LoanDays::cutoffs`).
    pub cutoffs: Vec<(&'static str, String)>,
    /// The period, for reports that have one: the last `days` days.
    pub days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// A cell as a spreadsheet will read it as text. A cell beginning with `=`, `+`, `-`, `@`, a
/// tab or a carriage return would be run as a formula when the file is opened (OWASP "CSV
/// injection"): it gets a leading `'`, as OWASP advises. A plain number (`-3`, `+1.5`) is left
/// as it is: a spreadsheet reads it as that number and never as a formula.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
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
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| super::StoreError::Internal(format!("CSV: {e}"));
        w.write_record(self.columns.iter().map(|c| csv_cell(c).into_owned()))
            .map_err(fail)?;
        for row in &self.rows {
            w.write_record(row.iter().map(|c| csv_cell(c).into_owned()))
                .map_err(fail)?;
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
    let (columns, rows) = match report {
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
            (
                vec!["holder", "holder name", "kind", "volume", "patient", "mrn", "status", "since", "days out", "overdue"],
                rows(c, &sql, args)?,
            )
        }
        Report::Missing => (
            vec!["volume", "patient", "mrn", "reason", "note", "marked at", "marked by", "last location", "last scan", "last station", "last user", "open requests"],
            rows(
                c,
                "SELECT v.barcode, p.last_name || ', ' || p.first_name, p.mrn, m.reason, m.note, m.marked_at,
                        (SELECT name FROM app_user WHERE user_id = m.marked_by), l.code, s.last_scan_at, s.last_station_id,
                        (SELECT name FROM app_user WHERE user_id = s.last_user_id),
                        (SELECT count(*) FROM request q WHERE q.volume_id = v.volume_id AND q.status IN ('open','pulled'))
                 FROM missing_mark m JOIN volume v ON v.volume_id = m.volume_id JOIN patient p ON p.patient_id = v.patient_id
                 JOIN volume_state s ON s.volume_id = v.volume_id JOIN location l ON l.location_id = s.location_id
                 WHERE m.found_at IS NULL ORDER BY m.marked_at",
                vec![],
            )?,
        ),
        Report::PendingRequests => (
            vec!["slip", "priority", "needed by", "deliver to", "volume", "patient", "status", "volume is", "requested at", "requested by"],
            rows(
                c,
                "SELECT q.barcode, q.priority, q.needed_by, l.code, v.barcode, p.last_name || ', ' || p.first_name, q.status,
                        s.status || ' ' || hl.code, q.created_at, (SELECT name FROM app_user WHERE user_id = q.requested_by)
                 FROM request q JOIN volume v ON v.volume_id = q.volume_id JOIN patient p ON p.patient_id = v.patient_id
                 JOIN volume_state s ON s.volume_id = v.volume_id JOIN location l ON l.location_id = q.location_id
                 JOIN location hl ON hl.location_id = s.location_id
                 WHERE q.status IN ('open','pulled')
                 ORDER BY q.priority = 'stat' DESC, q.needed_by IS NULL, q.needed_by, q.request_id",
                vec![],
            )?,
        ),
        Report::Turnaround => (
            vec!["priority", "deliver to", "delivered", "median minutes", "90th percentile minutes", "longest minutes"],
            turnaround(c, &since)?,
        ),
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
            (
                vec!["report", "patient", "mrn", "description", "registered", "received", "age hours", "routed to", "volumes"],
                rows,
            )
        }
        Report::Misfiles => (
            vec!["section", "section name", "wrong section", "out of order", "total", "last found"],
            rows(
                c,
                "SELECT l.code, l.name, sum(f.kind = 'wrong_section'), sum(f.kind = 'out_of_order'), count(*), max(f.at)
                 FROM misfile f JOIN location l ON l.location_id = f.location_id
                 WHERE f.at >= ?1 GROUP BY l.location_id ORDER BY count(*) DESC, l.code",
                vec![Value::Text(since.clone())],
            )?,
        ),
        Report::Activity => (
            vec!["by", "name", "scans", "accepted", "refused", "movements"],
            rows(
                c,
                "SELECT 'station', x.station_id, count(*), sum(x.accepted), sum(NOT x.accepted),
                        (SELECT count(*) FROM movement m JOIN scan y ON y.scan_seq = m.scan_seq
                          WHERE y.station_id = x.station_id AND y.received_at >= ?1)
                 FROM scan x WHERE x.received_at >= ?1 GROUP BY x.station_id
                 UNION ALL
                 SELECT 'user', coalesce(u.name, '(no user)'), count(*), sum(x.accepted), sum(NOT x.accepted),
                        (SELECT count(*) FROM movement m WHERE m.user_id IS x.user_id AND m.at >= ?1)
                 FROM scan x LEFT JOIN app_user u ON u.user_id = x.user_id WHERE x.received_at >= ?1 GROUP BY x.user_id
                 ORDER BY 1 DESC, 3 DESC",
                vec![Value::Text(since.clone())],
            )?,
        ),
    };
    Ok(Table {
        title: report.title(),
        columns,
        rows,
    })
}

/// Delivered requests in the period: count, median, 90th percentile and longest, by priority
/// and place, then by priority alone.
fn turnaround(c: &Audited, since: &str) -> Result<Vec<Vec<String>>> {
    let mut st = c.prepare_cached(
        "SELECT q.priority, l.code, q.created_at, q.delivered_at FROM request q
         JOIN location l ON l.location_id = q.location_id
         WHERE q.delivered_at IS NOT NULL AND q.delivered_at >= ?1 ORDER BY q.priority, l.code",
    )?;
    let mut groups: std::collections::BTreeMap<(String, String), Vec<i64>> = Default::default();
    let rows = st.query_map([since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (priority, place, asked, delivered) = row?;
        if let (Some(a), Some(d)) = (parse_stamp(&asked), parse_stamp(&delivered)) {
            let minutes = (d - a).num_minutes();
            groups
                .entry((priority.clone(), place))
                .or_default()
                .push(minutes);
            groups
                .entry((priority, "(all)".into()))
                .or_default()
                .push(minutes);
        }
    }
    Ok(groups
        .into_iter()
        .map(|((priority, place), mut minutes)| {
            minutes.sort_unstable();
            let at = |q: f64| minutes[((minutes.len() - 1) as f64 * q).round() as usize];
            vec![
                priority,
                place,
                minutes.len().to_string(),
                at(0.5).to_string(),
                at(0.9).to_string(),
                minutes.last().copied().unwrap_or(0).to_string(),
            ]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_numbers_and_dates_are_not() {
        for (cell, shown) in [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2+3", "'-2+3"),
            ("@cmd", "'@cmd"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("-", "'-"),
            ("-.5", "'-.5"),
            ("-3", "-3"),
            ("+12.5", "+12.5"),
            ("0", "0"),
            ("2026-03-02T08:00:00Z", "2026-03-02T08:00:00Z"),
            ("Ashdown, Test", "Ashdown, Test"),
            ("", ""),
        ] {
            assert_eq!(csv_cell(cell), shown, "{cell:?}");
        }
        let t = Table {
            title: "t",
            columns: vec!["a", "b"],
            rows: vec![vec!["=HYPERLINK(\"x\")".into(), "-1".into()]],
        };
        assert_eq!(t.to_csv().unwrap(), "a,b\n\"'=HYPERLINK(\"\"x\"\")\",-1\n");
    }
}
