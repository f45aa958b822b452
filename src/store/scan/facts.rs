//! The facts a scan is decided on, read inside the writer's transaction: what the scanned
//! value is (`classify`: a volume with its requests, a report with where its patient's volumes
//! are, a location, a badge, a request slip, a command, or nothing known) and the station.

use super::super::{Result, StoreError};
use crate::domain::{
    verify_check_char, Command, LocationKind, Mode, Mrn, Priority, RequestStatus, Role,
    StationAccess, Status,
};
use crate::engine::{
    LocRef, Memory, ReportRef, RequestRef, Scanned, StationFacts, UserRef, VolumeFacts, VolumeWhere,
};
use rusqlite::{Connection, OptionalExtension};
use std::str::FromStr;

pub(crate) fn loc_ref(c: &Connection, id: i64) -> Result<LocRef> {
    let mut st = c.prepare_cached("SELECT location_id, code, name, kind, terminal_lo, terminal_hi FROM location WHERE location_id=?")?;
    Ok(st.query_row([id], loc_row)?)
}

fn loc_row(r: &rusqlite::Row) -> rusqlite::Result<LocRef> {
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
                {}, {}, {}, p.restricted
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
            r.get::<_, bool>(26)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (
            (id, barcode, patient_id, mrn),
            (status, container, waiting, requested),
            (home, location, destination),
            restricted,
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
            restricted,
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
        .prepare_cached(
            "SELECT r.report_id, r.barcode, r.patient_id, r.filed_at IS NOT NULL, r.received_at IS NOT NULL, p.restricted
             FROM loose_report r JOIN patient p ON p.patient_id = r.patient_id WHERE r.barcode=?",
        )?
        .query_row([value], |r| {
            Ok(ReportRef {
                id: r.get(0)?,
                barcode: r.get(1)?,
                patient_id: r.get(2)?,
                filed: r.get(3)?,
                received: r.get(4)?,
                volumes: Vec::new(),
                restricted: r.get(5)?,
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

/// The station: where it is, its mode and what it remembers.
pub(super) fn station_facts(c: &Connection, id: &str) -> Result<StationFacts> {
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

/// Who may drive a station (`StationAccess`), read as stored; `None` for an unknown station
/// (the scan path says so itself).
fn station_access(c: &Connection, id: &str) -> Result<Option<StationAccess>> {
    let row = c
        .prepare_cached(
            "SELECT allowed_roles, allowed_locations FROM station WHERE station_id = ?",
        )?
        .query_row([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    row.map(|(roles, units)| {
        StationAccess::from_texts(&roles, &units).map_err(|e| StoreError::Internal(e.to_string()))
    })
    .transpose()
}

/// A signed-in user scanning at a station that names who may use it: refused (`Forbidden`,
/// with the reason) unless their role or home unit is allowed. Station tokens and scanners on
/// a port scan as the station itself (no user) and are not restricted.
pub(super) fn may_drive(c: &Connection, station: &str, user: Option<&UserRef>) -> Result<()> {
    let Some(user) = user else {
        return Ok(());
    };
    let Some(access) = station_access(c, station)?.filter(|a| !a.is_open()) else {
        return Ok(());
    };
    let (role, home): (String, Option<String>) = c
        .prepare_cached(
            "SELECT u.role, l.code FROM app_user u LEFT JOIN location l ON l.location_id = u.home_location_id
             WHERE u.user_id = ?",
        )?
        .query_row([user.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::Forbidden(format!("station {station}: no such user")))?;
    let role = Role::from_str(&role).map_err(|e| StoreError::Internal(e.to_string()))?;
    match access.refusal(station, role, home.as_deref()) {
        None => Ok(()),
        Some(why) => Err(StoreError::Forbidden(why)),
    }
}

/// Does deciding this scan need the station's open stocktake?
pub(super) fn needs_stocktake(mode: Mode, scanned: &Scanned) -> bool {
    match scanned {
        Scanned::Command(Command::Done | Command::Inventory) => true,
        Scanned::Volume(_) | Scanned::Location(_) => mode == Mode::Inventory,
        _ => false,
    }
}
