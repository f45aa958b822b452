//! Missing and found: a supervisor marks a volume missing with a coded reason; any later scan
//! closes the mark with where it turned up (`store::scan`), and the supervisor acknowledges it.
//! The missing list says where to look; candidates (requests not found, volumes not seen in a
//! stocktake) are listed for a person to decide, never marked automatically.

use super::audit::Audited;
use super::scan::LocBrief;
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{MissingReason, Priority};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::str::FromStr;

/// Mark a volume missing. Its last known location stays on record.
pub fn mark(
    c: &Connection,
    barcode: &str,
    reason: MissingReason,
    note: Option<&str>,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if reason == MissingReason::Other && note.is_none() {
        return Err(StoreError::Invalid(
            "say why in the note when the reason is 'other'".into(),
        ));
    }
    if note.is_some_and(|n| n.len() > 200 || n.chars().any(char::is_control)) {
        return Err(StoreError::Invalid(
            "the note must be at most 200 characters, on one line".into(),
        ));
    }
    let (volume_id, status): (i64, String) = c
        .prepare_cached(
            "SELECT v.volume_id, s.status FROM volume v JOIN volume_state s ON s.volume_id = v.volume_id WHERE v.barcode = ?",
        )?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no volume has the barcode {barcode}")))?;
    if status == "missing" {
        return Err(StoreError::Conflict(format!(
            "{barcode} is already marked missing"
        )));
    }
    c.prepare_cached(
        "UPDATE volume_state SET status = 'missing', since = ?2 WHERE volume_id = ?1",
    )?
    .execute(params![volume_id, stamp(now)])?;
    c.prepare_cached(
        "INSERT INTO missing_mark (volume_id, reason, note, marked_at, marked_by) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![volume_id, reason.as_str(), note, stamp(now), user_id])?;
    Ok(c.last_insert_rowid())
}

/// The supervisor has seen that a missing volume turned up.
pub fn acknowledge(
    c: &Connection,
    mark_id: i64,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = c
        .prepare_cached(
            "UPDATE missing_mark SET acknowledged_at = ?2, acknowledged_by = ?3
             WHERE mark_id = ?1 AND found_at IS NOT NULL AND acknowledged_at IS NULL",
        )?
        .execute(params![mark_id, stamp(now), user_id])?;
    if n == 0 {
        return Err(StoreError::Conflict(format!(
            "mark {mark_id} is not a found volume waiting to be acknowledged"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Companion {
    pub barcode: String,
    #[schema(value_type = crate::domain::Status)]
    pub status: String,
    pub location: LocBrief,
    /// `container` (rode in the same container) or `batch` (moved from the same station to the
    /// same place within ten minutes).
    #[schema(pattern = "^(container|batch)$")]
    pub how: &'static str,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpenRequest {
    pub barcode: String,
    pub location: LocBrief,
    pub priority: Priority,
    #[schema(value_type = crate::domain::RequestStatus)]
    pub status: String,
}

/// A volume marked missing, with where to look.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissingView {
    pub mark_id: i64,
    pub barcode: String,
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    /// The patient's date of birth (YYYY-MM-DD), to tell same-name patients apart.
    #[schema(format = Date)]
    pub birth_date: Option<String>,
    pub volume_no: u32,
    pub record_type: String,
    pub reason: MissingReason,
    pub note: Option<String>,
    #[schema(format = DateTime)]
    pub marked_at: String,
    pub marked_by: Option<String>,
    /// Where it was last recorded.
    pub last_location: LocBrief,
    pub home: LocBrief,
    #[schema(format = DateTime)]
    pub last_scan_at: Option<String>,
    pub last_station: Option<String>,
    pub last_user: Option<String>,
    /// The last place outside the file room it went to, and who received it there.
    pub last_holder: Option<LocBrief>,
    #[schema(format = DateTime)]
    pub last_holder_at: Option<String>,
    pub last_holder_person: Option<String>,
    pub moved_with: Vec<Companion>,
    pub requests: Vec<OpenRequest>,
}

/// A missing volume that turned up, until the supervisor acknowledges it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FoundView {
    pub mark_id: i64,
    pub barcode: String,
    pub last_name: String,
    pub first_name: String,
    pub reason: MissingReason,
    #[schema(format = DateTime)]
    pub marked_at: String,
    #[schema(format = DateTime)]
    pub found_at: String,
    pub found_location: LocBrief,
    pub found_station: Option<String>,
    pub found_by: Option<String>,
}

/// Someone could not find it, but nobody has marked it missing yet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub barcode: String,
    pub last_name: String,
    pub first_name: String,
    #[schema(pattern = "^(request not found|not seen in stocktake)$")]
    pub why: &'static str,
    #[schema(format = DateTime)]
    pub at: String,
    /// The request slip or the stocktake's scope.
    pub source: String,
    pub location: LocBrief,
}

fn brief(code: String, name: String) -> LocBrief {
    LocBrief { code, name }
}

/// The supervisor's whole list: missing with where to look, found to acknowledge, candidates.
pub fn overview(c: &Audited) -> Result<(Vec<MissingView>, Vec<FoundView>, Vec<Candidate>)> {
    Ok((missing(c)?, found(c)?, candidates(c)?))
}

pub fn missing(c: &Audited) -> Result<Vec<MissingView>> {
    let mut st = c.prepare_cached(
        "SELECT m.mark_id, v.volume_id, v.barcode, p.mrn, p.last_name, p.first_name, v.volume_no, v.record_type,
                m.reason, m.note, m.marked_at, (SELECT name FROM app_user WHERE user_id = m.marked_by),
                l.code, l.name, h.code, h.name, s.last_scan_at, s.last_station_id,
                (SELECT name FROM app_user WHERE user_id = s.last_user_id), s.last_movement_id, p.birth_date
         FROM missing_mark m JOIN volume v ON v.volume_id = m.volume_id
         JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
         JOIN location l ON l.location_id = s.location_id JOIN location h ON h.location_id = v.home_id
         WHERE m.found_at IS NULL ORDER BY m.marked_at DESC",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(19)?,
            MissingView {
                mark_id: r.get(0)?,
                barcode: r.get(2)?,
                mrn: r.get(3)?,
                last_name: r.get(4)?,
                first_name: r.get(5)?,
                birth_date: r.get(20)?,
                volume_no: r.get(6)?,
                record_type: r.get(7)?,
                reason: MissingReason::from_str(&r.get::<_, String>(8)?)
                    .unwrap_or(MissingReason::Other),
                note: r.get(9)?,
                marked_at: r.get(10)?,
                marked_by: r.get(11)?,
                last_location: brief(r.get(12)?, r.get(13)?),
                home: brief(r.get(14)?, r.get(15)?),
                last_scan_at: r.get(16)?,
                last_station: r.get(17)?,
                last_user: r.get(18)?,
                last_holder: None,
                last_holder_at: None,
                last_holder_person: None,
                moved_with: Vec::new(),
                requests: Vec::new(),
            },
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (volume_id, last_movement, mut view) = row?;
        where_to_look(c, volume_id, last_movement, &mut view)?;
        out.push(view);
    }
    Ok(out)
}

fn where_to_look(
    c: &Connection,
    volume_id: i64,
    last_movement: Option<i64>,
    view: &mut MissingView,
) -> Result<()> {
    // The last holder: the most recent movement to a place that is not a shelf.
    let holder = c
        .prepare_cached(
            "SELECT l.code, l.name, m.at, coalesce(
                    (SELECT name FROM app_user WHERE user_id = m.receiver_id),
                    (SELECT name FROM app_user WHERE user_id = m.user_id))
             FROM movement m JOIN location l ON l.location_id = m.to_id
             WHERE m.volume_id = ? AND l.kind <> 'shelf' ORDER BY m.movement_id DESC LIMIT 1",
        )?
        .query_row([volume_id], |r| {
            Ok((brief(r.get(0)?, r.get(1)?), r.get(2)?, r.get(3)?))
        })
        .optional()?;
    if let Some((loc, at, person)) = holder {
        view.last_holder = Some(loc);
        view.last_holder_at = Some(at);
        view.last_holder_person = person;
    }
    if last_movement.is_some() {
        // What moved with it in its last few moves: the same scan (a container), or the same
        // station and destination within ten minutes (one batch at the desk).
        let mut st = c.prepare_cached(
            "SELECT v.barcode, s.status, l.code, l.name,
                    min(CASE WHEN o.scan_seq = m.scan_seq THEN 'container' ELSE 'batch' END)
             FROM movement m JOIN movement o ON o.volume_id <> m.volume_id
                AND (o.scan_seq = m.scan_seq
                     OR (o.station_id = m.station_id AND o.to_id = m.to_id
                         AND o.at BETWEEN strftime('%Y-%m-%dT%H:%M:%fZ', m.at, '-10 minutes')
                                      AND strftime('%Y-%m-%dT%H:%M:%fZ', m.at, '+10 minutes')))
             JOIN volume v ON v.volume_id = o.volume_id JOIN volume_state s ON s.volume_id = o.volume_id
             JOIN location l ON l.location_id = s.location_id
             WHERE m.movement_id IN (SELECT movement_id FROM movement WHERE volume_id = ?1 ORDER BY movement_id DESC LIMIT 5)
             GROUP BY o.volume_id ORDER BY max(o.movement_id) DESC LIMIT 50",
        )?;
        let rows = st.query_map([volume_id], |r| {
            let how: String = r.get(4)?;
            Ok(Companion {
                barcode: r.get(0)?,
                status: r.get(1)?,
                location: brief(r.get(2)?, r.get(3)?),
                how: if how == "container" {
                    "container"
                } else {
                    "batch"
                },
            })
        })?;
        view.moved_with = rows.collect::<rusqlite::Result<_>>()?;
    }
    let mut st = c.prepare_cached(
        "SELECT q.barcode, l.code, l.name, q.priority, q.status FROM request q
         JOIN location l ON l.location_id = q.location_id
         WHERE q.volume_id = ? AND q.status IN ('open','pulled') ORDER BY q.request_id",
    )?;
    let rows = st.query_map([volume_id], |r| {
        Ok(OpenRequest {
            barcode: r.get(0)?,
            location: brief(r.get(1)?, r.get(2)?),
            priority: Priority::from_str(&r.get::<_, String>(3)?).unwrap_or(Priority::Routine),
            status: r.get(4)?,
        })
    })?;
    view.requests = rows.collect::<rusqlite::Result<_>>()?;
    Ok(())
}

pub fn found(c: &Audited) -> Result<Vec<FoundView>> {
    let mut st = c.prepare_cached(
        "SELECT m.mark_id, v.barcode, p.last_name, p.first_name, m.reason, m.marked_at, m.found_at,
                l.code, l.name, m.found_station, (SELECT name FROM app_user WHERE user_id = m.found_by)
         FROM missing_mark m JOIN volume v ON v.volume_id = m.volume_id
         JOIN patient p ON p.patient_id = v.patient_id JOIN location l ON l.location_id = m.found_location_id
         WHERE m.found_at IS NOT NULL AND m.acknowledged_at IS NULL ORDER BY m.found_at DESC",
    )?;
    let rows = st.query_map([], |r| {
        Ok(FoundView {
            mark_id: r.get(0)?,
            barcode: r.get(1)?,
            last_name: r.get(2)?,
            first_name: r.get(3)?,
            reason: MissingReason::from_str(&r.get::<_, String>(4)?)
                .unwrap_or(MissingReason::Other),
            marked_at: r.get(5)?,
            found_at: r.get(6)?,
            found_location: brief(r.get(7)?, r.get(8)?),
            found_station: r.get(9)?,
            found_by: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many found volumes wait for the supervisor (the dashboard's tile).
pub fn found_count(c: &Connection) -> Result<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM missing_mark WHERE found_at IS NOT NULL AND acknowledged_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

/// Volumes someone looked for and did not find, not scanned since and not marked missing.
pub fn candidates(c: &Audited) -> Result<Vec<Candidate>> {
    // Each kind newest first from its own index, and only the newest 1,000 of each (at about
    // four a day, the last eight months of not-found requests): years of them were all read
    // and sorted before, most of their charts seen again since (40–50 ms at a million charts).
    let requests = c.prepare_cached(
        "SELECT v.barcode, p.last_name, p.first_name, 'request not found', q.ended_at, q.barcode, l.code, l.name
         FROM (SELECT request_id, volume_id, ended_at, barcode FROM request INDEXED BY request_status
               WHERE status = 'not_found' ORDER BY request_id DESC LIMIT ?1) q
         JOIN volume v ON v.volume_id = q.volume_id JOIN patient p ON p.patient_id = v.patient_id
         JOIN volume_state s ON s.volume_id = v.volume_id JOIN location l ON l.location_id = s.location_id
         WHERE s.status <> 'missing' AND (s.last_scan_at IS NULL OR s.last_scan_at < q.ended_at)
         ORDER BY q.request_id DESC",
    )?;
    let stocktakes = c.prepare_cached(
        "SELECT v.barcode, p.last_name, p.first_name, 'not seen in stocktake', t.closed_at,
                coalesce((SELECT code FROM location WHERE location_id = t.location_id),
                         printf('terminal digits %02d-%02d', t.terminal_lo, t.terminal_hi)),
                l.code, l.name
         FROM stocktake_item i JOIN stocktake t ON t.stocktake_id = i.stocktake_id
         JOIN volume v ON v.volume_id = i.volume_id JOIN patient p ON p.patient_id = v.patient_id
         JOIN volume_state s ON s.volume_id = v.volume_id JOIN location l ON l.location_id = s.location_id
         WHERE t.closed_at IS NOT NULL AND i.expected = 1 AND i.seen_seq IS NULL AND s.status <> 'missing'
           AND (s.last_scan_at IS NULL OR s.last_scan_at < t.opened_at)
         ORDER BY t.closed_at DESC LIMIT ?1",
    )?;
    let row = |r: &rusqlite::Row| {
        let why: String = r.get(3)?;
        Ok(Candidate {
            barcode: r.get(0)?,
            last_name: r.get(1)?,
            first_name: r.get(2)?,
            why: if why == "request not found" {
                "request not found"
            } else {
                "not seen in stocktake"
            },
            at: r.get(4)?,
            source: r.get(5)?,
            location: brief(r.get(6)?, r.get(7)?),
        })
    };
    let mut all: Vec<Candidate> = Vec::new();
    for mut st in [requests, stocktakes] {
        let rows = st.query_map([CANDIDATES], row)?;
        all.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    all.sort_by(|a, b| b.at.cmp(&a.at));
    all.truncate(CANDIDATES as usize);
    Ok(all)
}

/// Candidates for missing a page lists at most, newest first.
const CANDIDATES: i64 = 1_000;
