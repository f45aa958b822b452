//! Query plans at scale: a log of every statement the serving connections run (for tests and
//! the scale benchmark), and the check that none of them reads every row of a large table.
//!
//! A page that counts or lists by reading every volume, movement or scan is fast at 50,000
//! charts and takes a second at a million. [`full_scans`] asks SQLite (`EXPLAIN QUERY PLAN`)
//! how it would run each logged statement and names those that walk a whole large table.

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::Connection;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The tables that grow with the hospital and its history: no page, API list or scan may read
/// all of their rows. (The five, and the patients and requests that grow with them.)
pub const LARGE_TABLES: [&str; 7] = [
    "volume",
    "volume_state",
    "movement",
    "scan",
    "access_log",
    "patient",
    "request",
];

/// Every distinct statement run on the traced connections, with its values bound (so its plan
/// can be asked for as it ran).
#[derive(Clone, Default)]
pub struct StatementLog(Arc<Mutex<BTreeSet<String>>>);

impl std::fmt::Debug for StatementLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatementLog")
    }
}

impl StatementLog {
    /// Record what `conn` runs from now on.
    pub(super) fn attach(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let log = Arc::clone(&self.0);
        conn.trace_v2(
            TraceEventCodes::SQLITE_TRACE_PROFILE,
            Some(move |event: TraceEvent<'_>| {
                if let TraceEvent::Profile(stmt, _) = event {
                    if let Some(sql) = stmt.expanded_sql() {
                        log.lock().expect("statement log").insert(sql);
                    }
                }
            }),
        )
    }

    /// The statements logged so far, and forget them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("statement log"))
            .into_iter()
            .collect()
    }
}

/// A statement whose plan reads a whole large table, and the plan line that says so.
#[derive(Debug, Clone, PartialEq)]
pub struct FullScan {
    pub sql: String,
    pub plan: String,
}

/// The statements among `sql` that would read every row of one of [`LARGE_TABLES`] (or of an
/// index over one): a `SCAN` step of such a table. A scan in the order an index gives that
/// stops at a `LIMIT` is not one (the newest N scans), unless the plan then sorts, which reads
/// everything first, or its WHERE passes over many more rows than it returns (measured: the
/// query is run and SQLite's count of full-scan steps read). Statements that are not queries
/// of tables (`PRAGMA`, `BEGIN`) are skipped.
pub fn full_scans(c: &Connection, sql: &[String]) -> rusqlite::Result<Vec<FullScan>> {
    let mut found = Vec::new();
    for s in sql {
        let head = s.trim_start().to_ascii_uppercase();
        if !["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
            .iter()
            .any(|k| head.starts_with(k))
        {
            continue;
        }
        // An INSERT of values reads nothing; its plan can still list scans of the tables that
        // refer to the new row, which SQLite runs only to settle deferred foreign-key
        // violations (chartrack's keys are immediate: never).
        if head.starts_with("INSERT") && !head.contains("SELECT") {
            continue;
        }
        let mut st = match c.prepare(&format!("EXPLAIN QUERY PLAN {s}")) {
            Ok(st) => st,
            // A temporary table of the connection that ran it, gone now: not a page's query.
            Err(_) => continue,
        };
        let plan: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(3))?
            .collect::<rusqlite::Result<_>>()?;
        let limited = head.contains(" LIMIT ");
        let sorts = plan.iter().any(|p| p.contains("USE TEMP B-TREE"));
        for step in &plan {
            let Some(rest) = step.strip_prefix("SCAN ") else {
                continue;
            };
            let table = rest.split_whitespace().next().unwrap_or("");
            let large = LARGE_TABLES.contains(&table)
                || aliases(s)
                    .iter()
                    .any(|(t, a)| a == table && LARGE_TABLES.contains(&t.as_str()));
            // A limited read in index order stops early; one that sorts has read everything,
            // and so has one whose WHERE passes over rows it does not return (the pull list
            // filtering the whole request history newest first for the few still open).
            if large && !(limited && !sorts && !walks_past(c, s)) {
                found.push(FullScan {
                    sql: s.clone(),
                    plan: plan.join(" / "),
                });
                break;
            }
        }
    }
    Ok(found)
}

/// Rows a limited walk may pass over beyond twice those it returns before it counts as
/// filtering a table rather than stopping early (a few refused scans among the newest).
const WALK_SLACK: i64 = 20;

/// Whether a limited walk in index order passes over many more rows than it returns: run
/// (queries only), SQLite counts the steps of its full-scan loops. A keyset page steps once
/// per row it returns; a walk whose WHERE keeps few of the rows steps over all the others.
fn walks_past(c: &Connection, sql: &str) -> bool {
    let head = sql.trim_start().to_ascii_uppercase();
    if !(head.starts_with("SELECT") || head.starts_with("WITH")) {
        return false;
    }
    let Ok(mut st) = c.prepare(sql) else {
        return false;
    };
    let mut returned = 0i64;
    let Ok(mut rows) = st.query([]) else {
        return false;
    };
    while let Ok(Some(_)) = rows.next() {
        returned += 1;
        if returned > 100_000 {
            break;
        }
    }
    drop(rows);
    let steps = st.get_status(rusqlite::StatementStatus::FullscanStep) as i64;
    steps > 2 * returned + WALK_SLACK
}

/// `table alias` pairs named after FROM or JOIN in a statement (plans name tables by alias).
fn aliases(sql: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for w in words.windows(3) {
        if w[0].eq_ignore_ascii_case("FROM") || w[0].eq_ignore_ascii_case("JOIN") {
            let alias = if w[2].eq_ignore_ascii_case("AS") {
                continue;
            } else {
                w[2]
            };
            out.push((w[1].to_owned(), alias.to_owned()));
        }
    }
    for w in words.windows(4) {
        if (w[0].eq_ignore_ascii_case("FROM") || w[0].eq_ignore_ascii_case("JOIN"))
            && w[2].eq_ignore_ascii_case("AS")
        {
            out.push((w[1].to_owned(), w[3].to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE scan (scan_seq INTEGER PRIMARY KEY, station_id TEXT, accepted INTEGER);
             CREATE INDEX scan_station ON scan(station_id, scan_seq);
             CREATE TABLE location (location_id INTEGER PRIMARY KEY, code TEXT);",
        )
        .unwrap();
        c
    }

    #[test]
    fn a_count_over_every_scan_is_a_full_scan() {
        let c = db();
        let sql = vec!["SELECT count(*) FROM scan WHERE accepted = 1".to_owned()];
        assert_eq!(full_scans(&c, &sql).unwrap().len(), 1);
        let aliased = vec!["SELECT count(*) FROM scan s WHERE s.accepted = 1".to_owned()];
        assert_eq!(full_scans(&c, &aliased).unwrap().len(), 1);
    }

    #[test]
    fn an_index_lookup_and_a_limited_newest_first_read_are_not() {
        let c = db();
        let sql = vec![
            "SELECT * FROM scan WHERE station_id = 'a' ORDER BY scan_seq DESC LIMIT 20".to_owned(),
            "SELECT * FROM scan ORDER BY scan_seq DESC LIMIT 20".to_owned(),
            "SELECT * FROM location".to_owned(),
            "PRAGMA quick_check".to_owned(),
        ];
        assert_eq!(full_scans(&c, &sql).unwrap(), vec![]);
    }

    #[test]
    fn a_limited_walk_that_passes_over_most_rows_is_a_full_scan() {
        let c = db();
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO scan (scan_seq, station_id, accepted) SELECT i, 'a', i = 3 FROM n;",
        )
        .unwrap();
        // The newest 20: stops after 20 rows. The few accepted ones: steps over all 200.
        let newest = vec!["SELECT * FROM scan ORDER BY scan_seq DESC LIMIT 20".to_owned()];
        assert_eq!(full_scans(&c, &newest).unwrap(), vec![]);
        let filtered = vec![
            "SELECT * FROM scan WHERE accepted = 1 ORDER BY scan_seq DESC LIMIT 20".to_owned(),
        ];
        assert_eq!(full_scans(&c, &filtered).unwrap().len(), 1);
    }

    #[test]
    fn a_limit_after_a_sort_of_everything_is_still_a_full_scan() {
        let c = db();
        let sql = vec!["SELECT * FROM scan ORDER BY accepted LIMIT 20".to_owned()];
        assert_eq!(full_scans(&c, &sql).unwrap().len(), 1);
    }
}

#[cfg(test)]
mod out_plan {
    use rusqlite::Connection;

    /// The index of volumes out by place is an index on an expression: SQLite seeks it only
    /// with the place bound as a value (joined to `location` it read the status index of every
    /// volume out instead, once per place). The statements that read it say so.
    #[test]
    fn volumes_out_are_read_place_by_place_from_their_index() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        for sql in [
            crate::store::query::OVERDUE_AT,
            crate::store::reports::OUT_AT,
            crate::store::reports::OVERDUE_AT_PAGE,
        ] {
            let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let unbound = vec![rusqlite::types::Null; st.parameter_count()];
            let plan: Vec<String> = st
                .query_map(rusqlite::params_from_iter(unbound), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.iter()
                    .any(|p| p.starts_with("SEARCH s USING INDEX volume_state_out (<expr>=?")),
                "{sql}\n{plan:?}"
            );
            assert!(
                !plan.iter().any(|p| p.contains("TEMP B-TREE")),
                "{sql}\n{plan:?}"
            );
        }
    }
}
