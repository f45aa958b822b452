//! Stocktakes (inventory): a session at one station over a shelf location or a terminal-digit
//! range. Opening one freezes what is expected there; scans count volumes (`store::scan`, with
//! the facts read here: the open stocktake and the run counted so far); closing leaves the
//! unseen as candidates. Nothing outside the scope is touched, and nothing
//! is ever marked missing here (Koha's partial-inventory flaw).

use super::audit::Audited;
use super::scan::{loc_ref, LocBrief};
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{Mrn, TerminalDigit};
use crate::engine::{Counted, Scope, StocktakeFacts};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// The station's open stocktake, with what it knows of `volume` (if one was scanned).
pub(crate) fn stocktake_facts(
    c: &Connection,
    station: &str,
    volume: Option<i64>,
) -> Result<Option<StocktakeFacts>> {
    let open = c
        .prepare_cached(
            "SELECT stocktake_id, location_id, terminal_lo, terminal_hi FROM stocktake
             WHERE station_id = ? AND closed_at IS NULL",
        )?
        .query_row([station], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<u8>>(2)?,
                r.get::<_, Option<u8>>(3)?,
            ))
        })
        .optional()?;
    let Some((id, location, lo, hi)) = open else {
        return Ok(None);
    };
    let scope = match (location, lo, hi) {
        (Some(l), _, _) => Scope::Location(loc_ref(c, l)?),
        (None, Some(lo), Some(hi)) => Scope::Terminal(lo, hi),
        _ => return Err(StoreError::Internal("stocktake without a scope".into())),
    };
    let run = counted_run(c, id)?;
    let (this_expected, this_counted) = match volume {
        None => (false, false),
        Some(v) => c
            .prepare_cached(
                "SELECT expected, seen_seq IS NOT NULL FROM stocktake_item WHERE stocktake_id = ? AND volume_id = ?",
            )?
            .query_row([id, v], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((false, false)),
    };
    let (expected, expected_seen, corrected) = c
        .prepare_cached(
            "SELECT coalesce(sum(expected), 0), coalesce(sum(expected AND seen_seq IS NOT NULL), 0),
                    coalesce(sum(result = 'corrected'), 0)
             FROM stocktake_item WHERE stocktake_id = ?",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(Some(StocktakeFacts {
        id,
        scope,
        run,
        this_expected,
        this_counted,
        expected,
        expected_seen,
        corrected,
    }))
}

/// Freeze a new stocktake's expected list: what is recorded in its scope (on the shelf, or at
/// the location), nothing known to be out or on its way (`engine::inventory` says the same). Returns how many volumes are expected.
pub(crate) fn freeze_expected(c: &Connection, stocktake_id: i64, scope: &Scope) -> Result<usize> {
    Ok(match scope {
        Scope::Location(l) => c
            .prepare_cached(
                "INSERT INTO stocktake_item (stocktake_id, volume_id, expected)
                 SELECT ?1, volume_id, 1 FROM volume_state WHERE location_id = ?2 AND status IN ('on_shelf','at_location')",
            )?
            .execute(params![stocktake_id, l.id])?,
        Scope::Terminal(lo, hi) => c
            .prepare_cached(
                "INSERT INTO stocktake_item (stocktake_id, volume_id, expected)
                 SELECT ?1, s.volume_id, 1 FROM volume_state s
                 JOIN volume v ON v.volume_id = s.volume_id JOIN patient p ON p.patient_id = v.patient_id
                 WHERE s.status = 'on_shelf' AND CAST(substr('00' || p.mrn, -2) AS INTEGER) BETWEEN ?2 AND ?3",
            )?
            .execute(params![stocktake_id, lo, hi])?,
    })
}

/// How many of the charts counted most recently in a stocktake are judged for terminal-digit
/// order: a shelf section walked in one go is a few hundred; the oldest beyond this are let go.
pub(crate) const RUN_LIMIT: u32 = 2_000;

/// The run judged for terminal-digit order (`engine::StocktakeFacts::run`): the volumes
/// counted so far in this stocktake, in scan order, less those named for a wrong section, each
/// marked when already named out of order. One read per inventory scan: the stocktake's items
/// by primary key, the misfile checks by `misfile_stocktake`; O(n log n) in the charts counted.
fn counted_run(c: &Connection, stocktake_id: i64) -> Result<Vec<Counted>> {
    let mut st = c.prepare_cached(
        "SELECT i.volume_id, v.barcode, p.mrn,
                EXISTS (SELECT 1 FROM misfile f WHERE f.stocktake_id = i.stocktake_id
                        AND f.volume_id = i.volume_id AND f.kind = 'out_of_order')
         FROM stocktake_item i
         JOIN volume v ON v.volume_id = i.volume_id JOIN patient p ON p.patient_id = v.patient_id
         WHERE i.stocktake_id = ?1 AND i.seen_seq IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM misfile f WHERE f.stocktake_id = i.stocktake_id
                           AND f.volume_id = i.volume_id AND f.kind = 'wrong_section')
         ORDER BY i.seen_seq DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![stocktake_id, RUN_LIMIT], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
        ))
    })?;
    let mut run = Vec::new();
    for row in rows {
        let (volume_id, barcode, mrn, misfiled) = row?;
        let mrn = Mrn::parse(&mrn)
            .map_err(|e| StoreError::Internal(format!("stored MRN invalid: {e}")))?;
        run.push(Counted {
            volume_id,
            barcode,
            key: TerminalDigit::of(&mrn),
            misfiled,
        });
    }
    run.reverse();
    Ok(run)
}

/// `POST /api/v1/stocktakes`: a location, or a terminal-digit range `[lo, hi]`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStocktake {
    pub station: String,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::store::admin::terminal_range_schema)]
    pub terminal: Option<[u8; 2]>,
}

/// Open a stocktake and put the station in inventory mode. Returns its id.
pub fn open(
    c: &Connection,
    s: &NewStocktake,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let scope = match (&s.location, s.terminal) {
        (Some(code), None) => {
            let id: i64 = c
                .prepare_cached(
                    "SELECT location_id FROM location WHERE code = ? AND kind <> 'container'",
                )?
                .query_row([code], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("no location has the code {code}")))?;
            Scope::Location(loc_ref(c, id)?)
        }
        (None, Some([lo, hi])) if lo <= hi && hi <= 99 => Scope::Terminal(lo, hi),
        (None, Some(_)) => {
            return Err(StoreError::Invalid(
                "terminal is [from, to] with 0 <= from <= to <= 99".into(),
            ))
        }
        _ => {
            return Err(StoreError::Invalid(
                "give either a location or a terminal-digit range, not both".into(),
            ))
        }
    };
    let exists: bool = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM station WHERE station_id = ?)")?
        .query_row([&s.station], |r| r.get(0))?;
    if !exists {
        return Err(StoreError::NotFound(format!("no station '{}'", s.station)));
    }
    let open: Option<i64> = c
        .prepare_cached(
            "SELECT stocktake_id FROM stocktake WHERE station_id = ? AND closed_at IS NULL",
        )?
        .query_row([&s.station], |r| r.get(0))
        .optional()?;
    if let Some(id) = open {
        return Err(StoreError::Conflict(format!(
            "station {} already has stocktake {id} open: close it first",
            s.station
        )));
    }
    let (location, lo, hi) = match &scope {
        Scope::Location(l) => (Some(l.id), None, None),
        Scope::Terminal(lo, hi) => (None, Some(*lo), Some(*hi)),
    };
    c.prepare_cached(
        "INSERT INTO stocktake (station_id, location_id, terminal_lo, terminal_hi, opened_at, opened_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![s.station, location, lo, hi, stamp(now), user_id])?;
    let id = c.last_insert_rowid();
    freeze_expected(c, id, &scope)?;
    c.prepare_cached("UPDATE station SET mode = 'inventory', memory = '{}' WHERE station_id = ?")?
        .execute([&s.station])?;
    Ok(id)
}

/// Close a stocktake from a page (a station closes its own with CMD-DONE).
pub fn close(c: &Connection, id: i64, user_id: Option<i64>, now: DateTime<Utc>) -> Result<()> {
    let n = c
        .prepare_cached(
            "UPDATE stocktake SET closed_at = ?2, closed_by = ?3 WHERE stocktake_id = ?1 AND closed_at IS NULL",
        )?
        .execute(params![id, stamp(now), user_id])?;
    if n == 0 {
        return Err(StoreError::Conflict(format!("stocktake {id} is not open")));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StocktakeSummary {
    pub id: i64,
    pub station: String,
    /// A location code, or `terminal digits 00-19`.
    pub scope: String,
    #[schema(format = DateTime)]
    pub opened_at: String,
    pub opened_by: Option<String>,
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
    pub expected: i64,
    pub expected_seen: i64,
    pub corrected: i64,
    pub misfiles: i64,
}

const SUMMARY_SELECT: &str = "SELECT t.stocktake_id, t.station_id,
        coalesce((SELECT code FROM location WHERE location_id = t.location_id),
                 printf('terminal digits %02d-%02d', t.terminal_lo, t.terminal_hi)),
        t.opened_at, (SELECT name FROM app_user WHERE user_id = t.opened_by), t.closed_at,
        (SELECT count(*) FROM stocktake_item i WHERE i.stocktake_id = t.stocktake_id AND i.expected),
        (SELECT count(*) FROM stocktake_item i WHERE i.stocktake_id = t.stocktake_id AND i.expected AND i.seen_seq IS NOT NULL),
        (SELECT count(*) FROM stocktake_item i WHERE i.stocktake_id = t.stocktake_id AND i.result = 'corrected'),
        (SELECT count(*) FROM misfile f WHERE f.stocktake_id = t.stocktake_id)
     FROM stocktake t";

fn summary_row(r: &rusqlite::Row) -> rusqlite::Result<StocktakeSummary> {
    Ok(StocktakeSummary {
        id: r.get(0)?,
        station: r.get(1)?,
        scope: r.get(2)?,
        opened_at: r.get(3)?,
        opened_by: r.get(4)?,
        closed_at: r.get(5)?,
        expected: r.get(6)?,
        expected_seen: r.get(7)?,
        corrected: r.get(8)?,
        misfiles: r.get(9)?,
    })
}

pub fn list(c: &Connection, limit: u32) -> Result<Vec<StocktakeSummary>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("{SUMMARY_SELECT} ORDER BY t.stocktake_id DESC LIMIT ?1"));
    let rows = c
        .prepare_cached(sql)?
        .query_map([limit], summary_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// One volume in a stocktake's results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResultLine {
    pub barcode: String,
    pub last_name: String,
    pub first_name: String,
    pub mrn: String,
    /// Where it was recorded before the count corrected it, or where it is recorded now (not seen).
    pub recorded: Option<LocBrief>,
    #[schema(value_type = crate::domain::Status)]
    pub status: String,
    #[schema(format = DateTime)]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MisfileLine {
    pub barcode: String,
    #[schema(pattern = "^(wrong_section|out_of_order)$")]
    pub kind: String,
    pub section: LocBrief,
    #[schema(format = DateTime)]
    pub at: String,
}

/// A stocktake's results (`GET /api/v1/stocktakes/{id}`). Serialized as [`ResultsJson`]: the
/// summary's fields, then the lists. (Flattening the summary wrote `corrected` and `misfiles`
/// twice in one object, as its counts and as the lists; JSON parsers kept the lists.)
#[derive(Debug, Clone, Serialize)]
#[serde(into = "ResultsJson")]
pub struct StocktakeResults {
    pub summary: StocktakeSummary,
    pub corrected: Vec<ResultLine>,
    pub not_seen: Vec<ResultLine>,
    pub misfiles: Vec<MisfileLine>,
}

/// A stocktake's results: its summary, then what was corrected, not seen and misfiled.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = StocktakeResults)]
pub struct ResultsJson {
    pub id: i64,
    pub station: String,
    /// A location code, or `terminal digits 00-19`.
    pub scope: String,
    #[schema(format = DateTime)]
    pub opened_at: String,
    pub opened_by: Option<String>,
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
    pub expected: i64,
    pub expected_seen: i64,
    /// Found here but recorded elsewhere: corrected by an inventory movement.
    pub corrected: Vec<ResultLine>,
    /// Expected here and not seen: candidates for missing (never marked missing by this).
    pub not_seen: Vec<ResultLine>,
    /// Charts out of place: in the wrong section, or out of terminal-digit order.
    pub misfiles: Vec<MisfileLine>,
}

impl From<StocktakeResults> for ResultsJson {
    fn from(r: StocktakeResults) -> ResultsJson {
        let StocktakeSummary {
            id,
            station,
            scope,
            opened_at,
            opened_by,
            closed_at,
            expected,
            expected_seen,
            corrected: _,
            misfiles: _,
        } = r.summary;
        ResultsJson {
            id,
            station,
            scope,
            opened_at,
            opened_by,
            closed_at,
            expected,
            expected_seen,
            corrected: r.corrected,
            not_seen: r.not_seen,
            misfiles: r.misfiles,
        }
    }
}

pub fn results(c: &Audited, id: i64) -> Result<Option<StocktakeResults>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("{SUMMARY_SELECT} WHERE t.stocktake_id = ?1"));
    let Some(summary) = c
        .prepare_cached(sql)?
        .query_row([id], summary_row)
        .optional()?
    else {
        return Ok(None);
    };
    let line = |r: &rusqlite::Row| -> rusqlite::Result<ResultLine> {
        Ok(ResultLine {
            barcode: r.get(0)?,
            last_name: r.get(1)?,
            first_name: r.get(2)?,
            mrn: r.get(3)?,
            recorded: match r.get::<_, Option<String>>(4)? {
                Some(code) => Some(LocBrief {
                    code,
                    name: r.get(5)?,
                }),
                None => None,
            },
            status: r.get(6)?,
            at: r.get(7)?,
        })
    };
    let corrected = c
        .prepare_cached(
            "SELECT v.barcode, p.last_name, p.first_name, p.mrn, l.code, l.name, s.status, m.at
             FROM stocktake_item i JOIN volume v ON v.volume_id = i.volume_id
             JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
             LEFT JOIN movement m ON m.scan_seq = i.seen_seq AND m.volume_id = i.volume_id
             LEFT JOIN location l ON l.location_id = m.from_id
             WHERE i.stocktake_id = ? AND i.result = 'corrected' ORDER BY i.seen_seq",
        )?
        .query_map([id], line)?
        .collect::<rusqlite::Result<_>>()?;
    let not_seen = c
        .prepare_cached(
            "SELECT v.barcode, p.last_name, p.first_name, p.mrn, l.code, l.name, s.status, s.last_scan_at
             FROM stocktake_item i JOIN volume v ON v.volume_id = i.volume_id
             JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
             JOIN location l ON l.location_id = s.location_id
             WHERE i.stocktake_id = ? AND i.expected AND i.seen_seq IS NULL ORDER BY v.barcode",
        )?
        .query_map([id], line)?
        .collect::<rusqlite::Result<_>>()?;
    let misfiles = c
        .prepare_cached(
            "SELECT v.barcode, f.kind, l.code, l.name, f.at FROM misfile f
             JOIN volume v ON v.volume_id = f.volume_id JOIN location l ON l.location_id = f.location_id
             WHERE f.stocktake_id = ? ORDER BY f.misfile_id",
        )?
        .query_map([id], |r| {
            Ok(MisfileLine {
                barcode: r.get(0)?,
                kind: r.get(1)?,
                section: LocBrief {
                    code: r.get(2)?,
                    name: r.get(3)?,
                },
                at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(StocktakeResults {
        summary,
        corrected,
        not_seen,
        misfiles,
    }))
}
