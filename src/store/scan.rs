//! The scan path inside the writer's transaction: replay a repeated scan id, normalise,
//! classify by lookup, ask the engine, then write the scan, its movements, the volumes'
//! current state, exceptions and the station's memory together.

use super::stocktake::{freeze_expected, stocktake_facts};
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{
    normalise_line, verify_check_char, Command, EndReason, LocationKind, Mode, Mrn, Priority,
    RequestStatus, Status,
};
use crate::engine::{
    self, ContainerChange, Effect, LocRef, Memory, ReportRef, RequestRef, Scanned, Scope,
    StationFacts, UserRef, VolumeFacts, VolumeWhere,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// One scan as it arrives, from any source.
#[derive(Debug, Clone)]
pub struct ScanInput {
    pub station: String,
    /// The line as read (terminator and AIM prefix may still be on it).
    pub line: Vec<u8>,
    /// The sender's unique id for this scan; a repeat is answered with the first answer.
    pub id: Option<uuid::Uuid>,
    /// When the scanner read it, if the sender knows (an agent delivering a queue).
    pub scanned_at: Option<DateTime<Utc>>,
    /// The signed-in user behind the request, if any.
    pub user: Option<UserRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocBrief {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeBrief {
    pub barcode: String,
    pub status: Status,
    pub location: LocBrief,
    pub destination: Option<LocBrief>,
}

/// The station's answer to a scan (the body of `POST /api/v1/scans`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanAnswer {
    pub scan_id: String,
    pub accepted: bool,
    pub action: String,
    pub message: String,
    pub warnings: Vec<String>,
    pub station: String,
    pub mode: Mode,
    pub at: DateTime<Utc>,
    /// Volumes moved by this scan.
    pub moved: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeBrief>,
    /// Requests this scan pulled, delivered or found missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestNote>,
}

/// A request's new state, as told in a scan's answer and to the live feeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestNote {
    pub id: i64,
    pub barcode: String,
    pub status: RequestStatus,
    /// The requesting location's code.
    pub location: String,
}

pub(crate) fn loc_ref(c: &Connection, id: i64) -> Result<LocRef> {
    let mut st = c.prepare_cached("SELECT location_id, code, name, kind, terminal_lo, terminal_hi FROM location WHERE location_id=?")?;
    Ok(st.query_row([id], loc_row)?)
}

pub(crate) fn loc_row(r: &rusqlite::Row) -> rusqlite::Result<LocRef> {
    loc_at(r, 0)?.ok_or(rusqlite::Error::InvalidColumnType(
        0,
        "location_id".into(),
        rusqlite::types::Type::Null,
    ))
}

const LOC_COLS: &str = "location_id, code, name, kind, terminal_lo, terminal_hi";

/// A `LocRef` from six columns starting at `at` (see `LOC_COLS`); `None` when the id is NULL.
fn loc_at(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Option<LocRef>> {
    let Some(id) = r.get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    let kind: String = r.get(at + 3)?;
    let lo: Option<u8> = r.get(at + 4)?;
    let hi: Option<u8> = r.get(at + 5)?;
    Ok(Some(LocRef {
        id,
        code: r.get(at + 1)?,
        name: r.get(at + 2)?,
        kind: LocationKind::from_str(&kind).unwrap_or(LocationKind::Office),
        terminal: lo.zip(hi),
    }))
}

/// Which volumes `volume_facts_where` reads.
#[derive(Clone, Copy)]
enum FactsOf {
    Barcode,
    Container,
}

/// The facts the engine needs about volumes, with home, location and destination joined.
/// The SQL is built once: it runs on every scan.
fn volume_facts_where(
    c: &Connection,
    of: FactsOf,
    arg: &dyn rusqlite::ToSql,
) -> Result<Vec<VolumeFacts>> {
    static SQL: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let cols = |t: &str| {
            LOC_COLS
                .split(", ")
                .map(|c| format!("{t}.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let select = |clause: &str| {
            // `INDEXED BY`: left to itself the planner did not seek the partial index for the
            // request check, and the scan path lost 5 % of its throughput (`benches/ingest.rs`).
            format!(
                "SELECT v.volume_id, v.barcode, v.patient_id, p.mrn, s.status, s.container_id,
                (SELECT count(*) FROM loose_report r WHERE r.patient_id = v.patient_id AND r.filed_at IS NULL),
                EXISTS (SELECT 1 FROM request q INDEXED BY request_active WHERE q.volume_id = v.volume_id AND q.status IN ('open','pulled')),
                {}, {}, {}
         FROM volume v JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
         JOIN location h ON h.location_id = v.home_id JOIN location l ON l.location_id = s.location_id
         LEFT JOIN location d ON d.location_id = s.destination_id
         WHERE {clause} ORDER BY v.volume_id",
                cols("h"),
                cols("l"),
                cols("d")
            )
        };
        [select("v.barcode = ?1"), select("s.container_id = ?1")]
    });
    let sql = match of {
        FactsOf::Barcode => &sql[0],
        FactsOf::Container => &sql[1],
    };
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map([arg], |r| {
        Ok((
            (
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ),
            (
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, u32>(6)?,
                r.get::<_, bool>(7)?,
            ),
            (loc_at(r, 8)?, loc_at(r, 14)?, loc_at(r, 20)?),
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (
            (id, barcode, patient_id, mrn),
            (status, container, waiting, requested),
            (home, location, destination),
        ) = row?;
        let missing = || StoreError::Internal("volume without its home or location".into());
        out.push(VolumeFacts {
            id,
            barcode,
            patient_id,
            mrn: Mrn::parse(&mrn)
                .map_err(|e| StoreError::Internal(format!("stored MRN invalid: {e}")))?,
            home: home.ok_or_else(missing)?,
            status: Status::from_str(&status).map_err(|e| StoreError::Internal(e.to_string()))?,
            location: location.ok_or_else(missing)?,
            destination,
            container,
            waiting_reports: waiting,
            requests: Vec::new(),
        });
        if requested {
            let v = out.last_mut().expect("just pushed");
            v.requests = active_requests(c, v.id)?;
        }
    }
    Ok(out)
}

const REQUEST_SELECT: &str = "SELECT q.request_id, q.barcode, q.volume_id, v.barcode, q.priority, q.status,
        l.location_id, l.code, l.name, l.kind, l.terminal_lo, l.terminal_hi
     FROM request q JOIN volume v ON v.volume_id = q.volume_id JOIN location l ON l.location_id = q.location_id";

fn request_row(r: &rusqlite::Row) -> rusqlite::Result<RequestRef> {
    let word = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: crate::domain::ParseError| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(RequestRef {
        id: r.get(0)?,
        barcode: r.get(1)?,
        volume_id: r.get(2)?,
        volume_barcode: r.get(3)?,
        priority: Priority::from_str(&word(4)?).map_err(|e| bad(4, e))?,
        status: RequestStatus::from_str(&word(5)?).map_err(|e| bad(5, e))?,
        location: loc_row_at(r, 6)?,
    })
}

fn loc_row_at(r: &rusqlite::Row, at: usize) -> rusqlite::Result<LocRef> {
    loc_at(r, at)?.ok_or(rusqlite::Error::InvalidColumnType(
        at,
        "location_id".into(),
        rusqlite::types::Type::Null,
    ))
}

/// A volume's requests still open or pulled, oldest first.
fn active_requests(c: &Connection, volume_id: i64) -> Result<Vec<RequestRef>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!("{REQUEST_SELECT} WHERE q.volume_id = ?1 AND q.status IN ('open','pulled') ORDER BY q.request_id")
    });
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map([volume_id], request_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Where each of a patient's volumes is (for routing a loose report).
fn patient_volumes(c: &Connection, patient_id: i64) -> Result<Vec<VolumeWhere>> {
    let mut st = c.prepare_cached(
        "SELECT v.barcode, s.status,
                l.location_id, l.code, l.name, l.kind, l.terminal_lo, l.terminal_hi,
                d.location_id, d.code, d.name, d.kind, d.terminal_lo, d.terminal_hi
         FROM volume v JOIN volume_state s ON s.volume_id = v.volume_id
         JOIN location l ON l.location_id = s.location_id
         LEFT JOIN location d ON d.location_id = s.destination_id
         WHERE v.patient_id = ? ORDER BY v.volume_no, v.volume_id",
    )?;
    let rows = st.query_map([patient_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            loc_row_at(r, 2)?,
            loc_at(r, 8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (barcode, status, location, destination) = row?;
        out.push(VolumeWhere {
            barcode,
            status: Status::from_str(&status).map_err(|e| StoreError::Internal(e.to_string()))?,
            location,
            destination,
        });
    }
    Ok(out)
}

/// Does the value have the shape of a barcode chartrack issues (prefix letter, 7 digits, check)?
fn looks_issued(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 9
        && b[0].is_ascii_uppercase()
        && b[1..8].iter().all(u8::is_ascii_digit)
        && (b[8].is_ascii_digit() || b[8].is_ascii_uppercase())
}

/// Classify a normalised value by looking it up among everything that has a barcode.
pub(crate) fn classify(c: &Connection, value: &str) -> Result<Scanned> {
    if value.starts_with("CMD-") {
        if let Ok(cmd) = Command::from_str(value) {
            return Ok(Scanned::Command(cmd));
        }
    }
    if let Some(v) = volume_facts_where(c, FactsOf::Barcode, &value)?.pop() {
        return Ok(Scanned::Volume(v));
    }
    let report = c
        .prepare_cached("SELECT report_id, barcode, patient_id, filed_at IS NOT NULL, received_at IS NOT NULL FROM loose_report WHERE barcode=?")?
        .query_row([value], |r| {
            Ok(ReportRef {
                id: r.get(0)?,
                barcode: r.get(1)?,
                patient_id: r.get(2)?,
                filed: r.get(3)?,
                received: r.get(4)?,
                volumes: Vec::new(),
            })
        })
        .optional()?;
    if let Some(mut r) = report {
        r.volumes = patient_volumes(c, r.patient_id)?;
        return Ok(Scanned::Report(r));
    }
    static SLIP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let slip = SLIP.get_or_init(|| format!("{REQUEST_SELECT} WHERE q.barcode = ?1"));
    if let Some(r) = c
        .prepare_cached(slip)?
        .query_row([value], request_row)
        .optional()?
    {
        return Ok(Scanned::Request(r));
    }
    let loc = c
        .prepare_cached("SELECT location_id, code, name, kind, terminal_lo, terminal_hi FROM location WHERE barcode=?")?
        .query_row([value], loc_row)
        .optional()?;
    if let Some(l) = loc {
        if l.kind == LocationKind::Container {
            let contents = volume_facts_where(c, FactsOf::Container, &l.id)?;
            return Ok(Scanned::Container(l, contents));
        }
        return Ok(Scanned::Location(l));
    }
    let badge = c
        .prepare_cached("SELECT user_id, name FROM app_user WHERE badge=? AND active=1")?
        .query_row([value], |r| {
            Ok(UserRef {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        })
        .optional()?;
    if let Some(u) = badge {
        return Ok(Scanned::Badge(u));
    }
    Ok(Scanned::Unknown {
        value: value.to_owned(),
        misread: looks_issued(value) && !verify_check_char(value),
    })
}

fn station_facts(c: &Connection, id: &str) -> Result<StationFacts> {
    let row = c
        .prepare_cached(
            "SELECT s.mode, s.memory, l.location_id, l.code, l.name, l.kind, l.terminal_lo, l.terminal_hi
             FROM station s JOIN location l ON l.location_id = s.location_id WHERE s.station_id = ?",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                loc_at(r, 2)?,
            ))
        })
        .optional()?;
    let (mode, memory, location) =
        row.ok_or_else(|| StoreError::NotFound(format!("unknown station '{id}'")))?;
    Ok(StationFacts {
        id: id.to_owned(),
        location: location
            .ok_or_else(|| StoreError::Internal("station without a location".into()))?,
        mode: Mode::from_str(&mode).map_err(|e| StoreError::Internal(e.to_string()))?,
        // A memory that cannot be read is forgotten rather than blocking the station.
        memory: serde_json::from_str::<Memory>(&memory).unwrap_or_default(),
        stocktake: None,
    })
}

/// Does deciding this scan need the station's open stocktake?
fn needs_stocktake(mode: Mode, scanned: &Scanned) -> bool {
    match scanned {
        Scanned::Command(Command::Done | Command::Inventory) => true,
        Scanned::Volume(_) | Scanned::Location(_) => mode == Mode::Inventory,
        _ => false,
    }
}

/// What the station shows about the scanned volume afterwards, worked out from its facts and
/// the engine's decision (so the scan row can be written once, with its answer, before the
/// movements that refer to it).
fn volume_brief(
    c: &Connection,
    v: &VolumeFacts,
    decision: &engine::Decision,
    station: &StationFacts,
) -> Result<VolumeBrief> {
    let brief = |l: &LocRef| LocBrief {
        code: l.code.clone(),
        name: l.name.clone(),
    };
    let Some(m) = decision.effects.iter().find_map(|e| match e {
        Effect::Move(m) if m.volume_id == v.id => Some(m),
        _ => None,
    }) else {
        return Ok(VolumeBrief {
            barcode: v.barcode.clone(),
            status: v.status,
            location: brief(&v.location),
            destination: v.destination.as_ref().map(brief),
        });
    };
    // The locations a move can name are ones the engine was given; look up any other.
    let known = [
        Some(&v.location),
        Some(&v.home),
        v.destination.as_ref(),
        Some(&station.location),
        decision.memory.target.as_ref().map(|t| &t.value),
        station.memory.target.as_ref().map(|t| &t.value),
    ];
    let resolve = |id: i64| -> Result<LocBrief> {
        match known.iter().flatten().find(|l| l.id == id) {
            Some(l) => Ok(brief(l)),
            None => Ok(brief(&loc_ref(c, id)?)),
        }
    };
    Ok(VolumeBrief {
        barcode: v.barcode.clone(),
        status: m.status,
        location: resolve(m.location)?,
        destination: m.destination.map(resolve).transpose()?,
    })
}

/// A printable, bounded rendering of a line that could not be read, for the scan record.
fn printable(line: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(line).escape_debug().collect();
    s.chars().take(160).collect()
}

/// The whole scan path; runs inside the writer's transaction.
pub fn apply(
    c: &Connection,
    input: &ScanInput,
    now: DateTime<Utc>,
    settings: &engine::Settings,
) -> Result<ScanAnswer> {
    let scan_id = input.id.unwrap_or_else(uuid::Uuid::new_v4).to_string();
    let earlier = c
        .prepare_cached("SELECT station_id, response FROM scan WHERE scan_id=?")?
        .query_row([&scan_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    if let Some((station, response)) = earlier {
        if station != input.station {
            return Err(StoreError::Conflict(format!(
                "scan id {scan_id} was already used by another station"
            )));
        }
        return Ok(serde_json::from_str(&response)?);
    }

    let mut station = station_facts(c, &input.station)?;
    let (value, scanned, decision) = match normalise_line(&input.line) {
        Err(refusal) => {
            let d = engine::Decision {
                accepted: false,
                action: "unreadable",
                message: format!("not read: {refusal}"),
                warnings: vec![],
                effects: vec![],
                memory: station.memory.clone(),
                mode: station.mode,
            };
            (printable(&input.line), None, d)
        }
        Ok(value) => {
            let scanned = classify(c, &value)?;
            if needs_stocktake(station.mode, &scanned) {
                let volume = match &scanned {
                    Scanned::Volume(v) => Some(v.id),
                    _ => None,
                };
                station.stocktake = stocktake_facts(c, &station.id, volume)?;
            }
            let d = engine::decide(&station, &scanned, input.user.as_ref(), now, settings);
            (value, Some(scanned), d)
        }
    };

    let user_id = decision
        .memory
        .badge
        .as_ref()
        .map(|b| b.value.id)
        .or(input.user.as_ref().map(|u| u.id));
    let moved = decision
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Move(_)))
        .count();
    let volume = match &scanned {
        Some(Scanned::Volume(v)) => Some(volume_brief(c, v, &decision, &station)?),
        _ => None,
    };
    let requests = decision
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Request { request, status } => Some(RequestNote {
                id: request.id,
                barcode: request.barcode.clone(),
                status: *status,
                location: request.location.code.clone(),
            }),
            _ => None,
        })
        .collect();
    let answer = ScanAnswer {
        requests,
        scan_id: scan_id.clone(),
        accepted: decision.accepted,
        action: decision.action.to_owned(),
        message: decision.message.clone(),
        warnings: decision.warnings.clone(),
        station: station.id.clone(),
        mode: decision.mode,
        at: now,
        moved,
        volume,
    };

    // The scan row first, with its answer: movements and exceptions refer to it.
    c.prepare_cached(
        "INSERT INTO scan (scan_id, station_id, user_id, value, received_at, scanned_at, accepted, action, response)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        scan_id,
        station.id,
        user_id,
        value,
        stamp(now),
        input.scanned_at.map(stamp),
        decision.accepted,
        decision.action,
        serde_json::to_string(&answer)?
    ])?;
    let seq = c.last_insert_rowid();
    let at = stamp(input.scanned_at.unwrap_or(now));

    // A stocktake opened by this scan, for the counts that follow it.
    let mut opened: Option<i64> = None;
    for effect in &decision.effects {
        match effect {
            Effect::Move(m) => {
                c.prepare_cached(
                    "INSERT INTO movement (scan_seq, volume_id, action, from_id, to_id, at, station_id, user_id, receiver_id, request_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![seq, m.volume_id, m.action.as_str(), m.from, m.to, at, station.id, m.user, m.receiver, m.request])?;
                let movement_id = c.last_insert_rowid();
                let (set_container, container) = match m.container {
                    ContainerChange::Keep => (false, None),
                    ContainerChange::Set(id) => (true, Some(id)),
                    ContainerChange::Clear => (true, None),
                };
                c.prepare_cached(
                    "UPDATE volume_state SET
                        since = CASE WHEN status <> ?2 OR location_id <> ?3 THEN ?8 ELSE since END,
                        status = ?2, location_id = ?3, destination_id = ?4,
                        container_id = CASE WHEN ?5 THEN ?6 ELSE container_id END,
                        last_movement_id = ?7, last_scan_at = ?8, last_station_id = ?9, last_user_id = ?10, last_location_id = ?11
                     WHERE volume_id = ?1",
                )?
                .execute(params![
                    m.volume_id,
                    m.status.as_str(),
                    m.location,
                    m.destination,
                    set_container,
                    container,
                    movement_id,
                    at,
                    station.id,
                    m.user,
                    station.location.id
                ])?;
            }
            Effect::FileReport {
                report_id,
                volume_id,
            } => {
                let n = c
                    .prepare_cached("UPDATE loose_report SET filed_volume_id=?2, filed_at=?3 WHERE report_id=?1 AND filed_at IS NULL")?
                    .execute(params![report_id, volume_id, at])?;
                if n != 1 {
                    return Err(StoreError::Conflict(
                        "the report was filed meanwhile".into(),
                    ));
                }
            }
            Effect::EmptyContainer { container_id } => {
                c.prepare_cached("UPDATE volume_state SET container_id=NULL WHERE container_id=?")?
                    .execute([container_id])?;
            }
            Effect::Exception { kind, value } => {
                c.prepare_cached("INSERT INTO exception (scan_seq, kind, value, station_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
                    .execute(params![seq, kind, value, station.id, stamp(now)])?;
            }
            Effect::Request { request, status } => {
                let n = match status {
                    RequestStatus::Pulled => c
                        .prepare_cached(
                            "UPDATE request SET status = 'pulled', pulled_at = ?2, pulled_by = ?3, pulled_station = ?4
                             WHERE request_id = ?1 AND status = 'open'",
                        )?
                        .execute(params![request.id, at, user_id, station.id])?,
                    RequestStatus::Delivered => c
                        .prepare_cached(
                            "UPDATE request SET status = 'delivered', delivered_at = ?2, delivered_by = ?3, delivered_station = ?4
                             WHERE request_id = ?1 AND status IN ('open','pulled')",
                        )?
                        .execute(params![request.id, at, user_id, station.id])?,
                    RequestStatus::NotFound => {
                        // Looked for on a shelf, or where the holder said it was.
                        let reason = if station.location.kind == LocationKind::Shelf {
                            EndReason::NotOnShelf
                        } else {
                            EndReason::NotAtHolder
                        };
                        c.prepare_cached(
                            "UPDATE request SET status = 'not_found', ended_at = ?2, ended_by = ?3, end_reason = ?4,
                                end_note = 'scanned not found at ' || ?5
                             WHERE request_id = ?1 AND status IN ('open','pulled')",
                        )?
                        .execute(params![request.id, at, user_id, reason.as_str(), station.id])?
                    }
                    other => {
                        return Err(StoreError::Internal(format!(
                            "a scan cannot make a request {other}"
                        )))
                    }
                };
                debug_assert!(n <= 1);
            }
            Effect::Found { volume_id } => {
                c.prepare_cached(
                    "UPDATE missing_mark SET found_at = ?2, found_scan_seq = ?3, found_location_id = ?4, found_station = ?5, found_by = ?6
                     WHERE volume_id = ?1 AND found_at IS NULL",
                )?
                .execute(params![volume_id, at, seq, station.location.id, station.id, user_id])?;
            }
            Effect::ReceiveReport {
                report_id,
                routed_to,
            } => {
                c.prepare_cached(
                    "UPDATE loose_report SET received_at = coalesce(received_at, ?2),
                        received_station = coalesce(received_station, ?3), routed_to = ?4
                     WHERE report_id = ?1",
                )?
                .execute(params![report_id, at, station.id, routed_to])?;
            }
            Effect::OpenStocktake { location_id } => {
                c.prepare_cached(
                    "INSERT INTO stocktake (station_id, location_id, opened_at, opened_by) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![station.id, location_id, at, user_id])?;
                let id = c.last_insert_rowid();
                freeze_expected(c, id, &Scope::Location(loc_ref(c, *location_id)?))?;
                opened = Some(id);
            }
            Effect::Count {
                volume_id,
                expected,
                result,
            } => {
                let take = opened
                    .or(station.stocktake.as_ref().map(|t| t.id))
                    .ok_or_else(|| StoreError::Internal("a count without a stocktake".into()))?;
                c.prepare_cached(
                    "INSERT INTO stocktake_item (stocktake_id, volume_id, expected, seen_seq, result) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (stocktake_id, volume_id) DO UPDATE SET seen_seq = excluded.seen_seq, result = excluded.result",
                )?
                .execute(params![take, volume_id, expected, seq, result])?;
            }
            Effect::Misfile {
                volume_id,
                location_id,
                kind,
            } => {
                let take = opened.or(station.stocktake.as_ref().map(|t| t.id));
                c.prepare_cached(
                    "INSERT INTO misfile (scan_seq, volume_id, location_id, kind, stocktake_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![seq, volume_id, location_id, kind, take, at])?;
            }
            Effect::CloseStocktake { stocktake_id } => {
                c.prepare_cached(
                    "UPDATE stocktake SET closed_at = ?2, closed_by = ?3 WHERE stocktake_id = ?1 AND closed_at IS NULL",
                )?
                .execute(params![stocktake_id, at, user_id])?;
            }
        }
    }

    if let Some(Scanned::Volume(v)) = &scanned {
        let moved_it = decision
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Move(m) if m.volume_id == v.id));
        if decision.accepted && !moved_it {
            // Any accepted scan of a volume is its last scan, even one that moved nothing.
            c.prepare_cached(
                "UPDATE volume_state SET last_scan_at=?2, last_station_id=?3, last_user_id=?4, last_location_id=?5 WHERE volume_id=?1",
            )?
            .execute(params![v.id, at, station.id, user_id, station.location.id])?;
        }
    }

    c.prepare_cached("UPDATE station SET mode=?2, memory=?3, last_scan_at=?4 WHERE station_id=?1")?
        .execute(params![
            station.id,
            decision.mode.as_str(),
            serde_json::to_string(&decision.memory)?,
            stamp(now)
        ])?;
    Ok(answer)
}
