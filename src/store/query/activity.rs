//! Reads of activity without patient identities: counts for the dashboard and metrics,
//! exceptions, the recent scan answers of the live feed.

use crate::store::audit::Audited;
use crate::store::Result;
use rusqlite::{params, Connection};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExceptionView {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub station: String,
    pub scan_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub resolved_at: Option<String>,
    pub resolution: Option<String>,
}

pub fn exceptions(c: &Connection, open_only: bool, limit: u32) -> Result<Vec<ExceptionView>> {
    let mut st = c.prepare_cached(
        "SELECT e.exception_id, e.kind, e.value, e.station_id, s.scan_id, e.created_at, e.resolved_at, e.resolution
         FROM exception e JOIN scan s ON s.scan_seq = e.scan_seq
         WHERE (?1 = 0 OR e.resolved_at IS NULL) ORDER BY e.exception_id DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![open_only, limit], |r| {
        Ok(ExceptionView {
            id: r.get(0)?,
            kind: r.get(1)?,
            value: r.get(2)?,
            station: r.get(3)?,
            scan_id: r.get(4)?,
            created_at: r.get(5)?,
            resolved_at: r.get(6)?,
            resolution: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Counts by status, for metrics and the dashboard (kept by the database as volumes move:
/// schema v16 `tally`).
pub fn status_counts(c: &Connection) -> Result<Vec<(String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT substr(name, 8), n FROM tally WHERE name > 'status:' AND name < 'status;' ORDER BY name",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Scans received, accepted, and open exceptions (kept counts, whatever the history).
pub fn scan_counts(c: &Connection) -> Result<(i64, i64, i64)> {
    Ok(c.query_row(
        "SELECT (SELECT n FROM tally WHERE name = 'scans'), (SELECT n FROM tally WHERE name = 'scans_accepted'),
                (SELECT count(*) FROM exception WHERE resolved_at IS NULL)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// The dashboard's counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub on_shelf: i64,
    pub in_transit: i64,
    pub at_location: i64,
    pub missing: i64,
    /// Out longer than the loan period of where it is (or is going).
    pub overdue: i64,
    pub open_exceptions: i64,
    /// Requests open or pulled, and of those STAT.
    pub open_requests: i64,
    pub stat_requests: i64,
    /// Missing volumes that turned up, waiting for the supervisor to see.
    pub found: i64,
    /// Loose reports not yet filed.
    pub loose_waiting: i64,
}

/// `cutoffs`: for each location kind (a fixed word, never user text), volumes out there since
/// before this time are overdue.
pub fn counts(c: &Connection, cutoffs: &[(&str, String)]) -> Result<Counts> {
    let mut out = Counts::default();
    for (status, n) in status_counts(c)? {
        match status.as_str() {
            "on_shelf" => out.on_shelf = n,
            "in_transit" => out.in_transit = n,
            "at_location" => out.at_location = n,
            "missing" => out.missing = n,
            _ => {}
        }
    }
    out.overdue = overdue(c, cutoffs)?;
    out.open_exceptions = c.query_row(
        "SELECT count(*) FROM exception WHERE resolved_at IS NULL",
        [],
        |r| r.get::<_, i64>(0),
    )? + super::super::hl7::count_unapplied(c)?;
    (out.open_requests, out.stat_requests) = c.query_row(
        "SELECT count(*), coalesce(sum(priority = 'stat'), 0) FROM request WHERE status IN ('open','pulled')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    out.found = crate::store::missing::found_count(c)?;
    out.loose_waiting = c.query_row(
        "SELECT count(*) FROM loose_report WHERE filed_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(out)
}

/// Volumes out at or on their way to one place (`?1`) since before `?2`: a range of the index
/// of volumes out by place and since (schema v16), which SQLite seeks only with the place bound
/// as a value.
pub const OVERDUE_AT: &str = "SELECT count(*) FROM volume_state s INDEXED BY volume_state_out
     WHERE s.status IN ('in_transit','at_location')
       AND (CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END) = ?1
       AND s.since < ?2";

/// Volumes out past the loan period of where they are (or are going): place by place, only
/// each place's overdue volumes are read ([`OVERDUE_AT`]).
pub fn overdue(c: &Connection, cutoffs: &[(&str, String)]) -> Result<i64> {
    let places: Vec<(i64, String)> = c
        .prepare_cached("SELECT location_id, kind FROM location")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0;
    let mut st = c.prepare_cached(OVERDUE_AT)?;
    for (id, kind) in places {
        if let Some((_, cut)) = cutoffs.iter().find(|(k, _)| *k == kind) {
            n += st.query_row(params![id, cut], |r| r.get::<_, i64>(0))?;
        }
    }
    Ok(n)
}

/// The answers of the most recent scans, newest first (the live feed's first page).
pub fn recent_answers(
    c: &Audited,
    station: Option<&str>,
    only_refused: bool,
    limit: u32,
) -> Result<Vec<crate::store::ScanAnswer>> {
    // Each its own statement, so each has its index: refused scans by station (partial, schema
    // v16) when only refusals are wanted, where most stations have none.
    // (Answers are kept for a month: older scans are not in the feed's first page.)
    let sql = match (station.is_some(), only_refused) {
        (false, false) => {
            "SELECT a.response FROM scan_answer a WHERE ?1 IS NULL ORDER BY a.scan_seq DESC LIMIT ?2"
        }
        (true, false) => {
            "SELECT a.response FROM scan s JOIN scan_answer a ON a.scan_seq = s.scan_seq
             WHERE s.station_id = ?1 ORDER BY s.scan_seq DESC LIMIT ?2"
        }
        (false, true) => {
            "SELECT a.response FROM scan s JOIN scan_answer a ON a.scan_seq = s.scan_seq
             WHERE ?1 IS NULL AND NOT s.accepted ORDER BY s.scan_seq DESC LIMIT ?2"
        }
        (true, true) => {
            "SELECT a.response FROM scan s JOIN scan_answer a ON a.scan_seq = s.scan_seq
             WHERE s.station_id = ?1 AND NOT s.accepted ORDER BY s.scan_seq DESC LIMIT ?2"
        }
    };
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params![station, limit], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}
