//! Requests: someone asks for a volume at a location. Created and cancelled here (inside the
//! writer); pulled, delivered and found missing by scans (`store::scan`). Read for the nurses'
//! floor page, the file room's pull list and the turnaround report.

use super::audit::Audited;
use super::query::restricted_place;
use super::scan::LocBrief;
use super::{Result, StoreError};
use crate::clock::{parse_stamp, stamp};
use crate::domain::{
    issue_barcode, EndReason, LocationKind, Mrn, Priority, RequestStatus, TerminalDigit,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

mod lists;
pub use lists::{active_count, asked_of, list, pull_list, pull_page, PullPage};

/// A request for a volume to be delivered to a location (`POST /api/v1/requests`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The volume's barcode.
    pub barcode: String,
    /// Deliver to: a location code (a unit, clinic, office or person).
    pub location: String,
    pub priority: Priority,
    #[serde(default)]
    pub needed_by: Option<DateTime<Utc>>,
    /// At most 200 characters, on one line.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

/// What became of a request for one volume: a new one, or the one already open for that
/// volume and place (asking twice does not make two slips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New(i64),
    Existing(i64),
}

impl Created {
    pub fn id(self) -> i64 {
        match self {
            Created::New(id) | Created::Existing(id) => id,
        }
    }
}

fn validate(r: &NewRequest) -> Result<()> {
    if let Some(reason) = &r.reason {
        if reason.len() > 200 || reason.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "reason must be at most 200 characters, on one line".into(),
            ));
        }
    }
    Ok(())
}

/// Create a request (or find the one already active for the same volume and place).
pub fn create(
    c: &Connection,
    r: &NewRequest,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Created> {
    validate(r)?;
    // A deadline already gone is a mistyped date (a wrong year, a.m. for p.m.), not a request
    // to rush: it would sort first on the pull list forever. Ten minutes' grace for the form.
    if let Some(t) = r
        .needed_by
        .filter(|t| *t < now - chrono::Duration::minutes(10))
    {
        return Err(StoreError::Invalid(format!(
            "needed by {} is in the past: check the date",
            stamp(t)
        )));
    }
    let volume = c
        .prepare_cached(
            "SELECT v.volume_id, s.status, s.location_id, s.destination_id
             FROM volume v JOIN volume_state s ON s.volume_id = v.volume_id WHERE v.barcode = ?",
        )?
        .query_row([crate::domain::Barcode::canonical(&r.barcode)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<i64>>(3)?,
            ))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no volume has the barcode {}", r.barcode)))?;
    let (volume_id, status, location_id, destination_id) = volume;
    let (to, kind): (i64, String) = c
        .prepare_cached("SELECT location_id, kind FROM location WHERE code = ?")?
        .query_row([&r.location], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no location has the code {}", r.location)))?;
    if kind == LocationKind::Shelf.as_str()
        || kind == LocationKind::Desk.as_str()
        || kind == LocationKind::Container.as_str()
    {
        return Err(StoreError::Invalid(format!(
            "{} is a {kind}: a request is delivered to a unit, clinic, office or person",
            r.location
        )));
    }
    let existing = c
        .prepare_cached(
            "SELECT request_id FROM request WHERE volume_id = ? AND location_id = ? AND status IN ('open','pulled')",
        )?
        .query_row([volume_id, to], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(Created::Existing(id));
    }
    // Not on its shelf: the request goes to whoever holds it (or will, when it arrives).
    let holder = match status.as_str() {
        "at_location" => Some(location_id),
        "in_transit" => destination_id.or(Some(location_id)),
        _ => None,
    };
    let id: i64 = c.query_row(
        "SELECT coalesce(max(request_id), 0) + 1 FROM request",
        [],
        |row| row.get(0),
    )?;
    let barcode = issue_barcode('Q', id as u64);
    c.prepare_cached(
        "INSERT INTO request (request_id, barcode, volume_id, location_id, priority, needed_by, reason, status,
                              holder_id, requested_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        barcode,
        volume_id,
        to,
        r.priority.as_str(),
        r.needed_by.map(stamp),
        r.reason.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        holder,
        user_id,
        stamp(now)
    ])?;
    Ok(Created::New(id))
}

/// A request's slip, state and place, as the floor pages are told of it.
pub fn note(c: &Connection, id: i64) -> Result<super::scan::RequestNote> {
    c.prepare_cached(
        "SELECT q.barcode, q.status, l.code FROM request q JOIN location l ON l.location_id = q.location_id
         WHERE q.request_id = ?",
    )?
    .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?)))
    .optional()?
    .map(|(barcode, status, location)| {
        Ok(super::scan::RequestNote {
            id,
            barcode,
            status: RequestStatus::from_str(&status)
                .map_err(|e| StoreError::Internal(e.to_string()))?,
            location,
        })
    })
    .unwrap_or_else(|| Err(StoreError::NotFound(format!("no request {id}"))))
}

/// Request every volume of a patient (or one record type) for a location.
pub fn create_for_patient(
    c: &Connection,
    mrn: &Mrn,
    record_type: Option<&str>,
    template: &NewRequest,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Vec<Created>> {
    let barcodes: Vec<String> = {
        let mut st = c.prepare_cached(
            "SELECT v.barcode FROM volume v JOIN patient p ON p.patient_id = v.patient_id
             WHERE p.mrn = ?1 AND (?2 IS NULL OR v.record_type = ?2) ORDER BY v.record_type, v.volume_no",
        )?;
        let rows = st.query_map(params![mrn.as_str(), record_type], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if barcodes.is_empty() {
        return Err(StoreError::NotFound(format!("no volumes for MRN {mrn}")));
    }
    barcodes
        .into_iter()
        .map(|barcode| {
            create(
                c,
                &NewRequest {
                    barcode,
                    ..template.clone()
                },
                user_id,
                now,
            )
        })
        .collect()
}

/// Cancel an open or pulled request, with a coded reason (`other` needs a note).
pub fn cancel(
    c: &Connection,
    id: i64,
    reason: EndReason,
    note: Option<&str>,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<()> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if reason == EndReason::Other && note.is_none() {
        return Err(StoreError::Invalid(
            "say why in the note when the reason is 'other'".into(),
        ));
    }
    if note.is_some_and(|n| n.len() > 200) {
        return Err(StoreError::Invalid(
            "the note must be at most 200 characters".into(),
        ));
    }
    let status: String = c
        .prepare_cached("SELECT status FROM request WHERE request_id = ?")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no request {id}")))?;
    if !RequestStatus::from_str(&status).is_ok_and(RequestStatus::is_active) {
        return Err(StoreError::Conflict(format!(
            "request {id} is already {status}; only an open or pulled request can be cancelled"
        )));
    }
    c.prepare_cached(
        "UPDATE request SET status = 'cancelled', ended_at = ?2, ended_by = ?3, end_reason = ?4, end_note = ?5
         WHERE request_id = ?1",
    )?
    .execute(params![id, stamp(now), user_id, reason.as_str(), note])?;
    Ok(())
}

/// Who did a step of a request, and when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Step {
    #[schema(format = DateTime)]
    pub at: String,
    pub by: Option<String>,
}

/// `GET /api/v1/requests/{id}`: a request and where it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Request)]
pub struct RequestView {
    pub id: i64,
    /// The slip's barcode.
    pub barcode: String,
    pub status: RequestStatus,
    pub priority: Priority,
    pub volume: String,
    pub volume_no: u32,
    pub record_type: String,
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    /// Deliver to.
    pub location: LocBrief,
    #[schema(format = DateTime)]
    pub needed_by: Option<String>,
    pub reason: Option<String>,
    /// Asked of whoever holds the volume (it is not on its shelf), not of the file room.
    pub transfer: bool,
    /// Who holds the volume, or will when it arrives (while in transit: its destination), while
    /// the request is open and the volume is not on its shelf: who the request is asked of.
    pub holder: Option<LocBrief>,
    /// While the request is open and the volume in transit: where it left and since when.
    pub on_the_way: Option<OnTheWay>,
    #[schema(value_type = crate::domain::Status)]
    pub volume_status: String,
    pub home: LocBrief,
    pub requested: Step,
    pub pulled: Option<Step>,
    pub delivered: Option<Step>,
    /// Cancelled or not found: when, by whom, the coded reason and a note.
    pub ended: Option<Step>,
    pub end_reason: Option<EndReason>,
    pub end_note: Option<String>,
    /// Request to delivery, in minutes.
    pub turnaround_minutes: Option<i64>,
    pub restricted: bool,
    /// The patient's date of birth (YYYY-MM-DD), to tell same-name patients apart.
    #[schema(format = Date)]
    pub birth_date: Option<String>,
    #[serde(skip)]
    pub filing_key: Option<TerminalDigit>,
}

/// A requested volume in transit: where it left and since when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnTheWay {
    pub from: LocBrief,
    #[schema(format = DateTime)]
    pub since: String,
}

impl RequestView {
    /// For someone who may not see a restricted chart's whereabouts.
    pub fn hide_whereabouts(&mut self) {
        self.holder = self.holder.as_ref().map(|_| restricted_place());
        if let Some(w) = &mut self.on_the_way {
            w.from = restricted_place();
        }
        self.home = restricted_place();
    }
}

const VIEW_SELECT: &str = "SELECT q.request_id, q.barcode, q.status, q.priority, v.barcode, v.volume_no, v.record_type,
        p.mrn, p.last_name, p.first_name, l.code, l.name, q.needed_by, q.reason, q.holder_id IS NOT NULL,
        s.status, h.code, h.name, hl.code, hl.name,
        q.created_at, (SELECT name FROM app_user WHERE user_id = q.requested_by),
        q.pulled_at, (SELECT name FROM app_user WHERE user_id = q.pulled_by), q.pulled_station,
        q.delivered_at, (SELECT name FROM app_user WHERE user_id = q.delivered_by), q.delivered_station,
        q.ended_at, (SELECT name FROM app_user WHERE user_id = q.ended_by), q.end_reason, q.end_note,
        p.restricted, s.since, ol.code, ol.name, p.birth_date
     FROM request q
     JOIN volume v ON v.volume_id = q.volume_id JOIN patient p ON p.patient_id = v.patient_id
     JOIN volume_state s ON s.volume_id = v.volume_id
     JOIN location l ON l.location_id = q.location_id
     JOIN location h ON h.location_id = v.home_id
     JOIN location hl ON hl.location_id = CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END
     JOIN location ol ON ol.location_id = s.location_id";

fn view_row(r: &rusqlite::Row) -> rusqlite::Result<RequestView> {
    let text = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: crate::domain::ParseError| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let step = |at: usize, by: usize, station: Option<usize>| -> rusqlite::Result<Option<Step>> {
        let Some(at) = r.get::<_, Option<String>>(at)? else {
            return Ok(None);
        };
        let by = match (r.get::<_, Option<String>>(by)?, station) {
            (Some(user), _) => Some(user),
            (None, Some(s)) => r.get::<_, Option<String>>(s)?,
            (None, None) => None,
        };
        Ok(Some(Step { at, by }))
    };
    let status = RequestStatus::from_str(&text(2)?).map_err(|e| bad(2, e))?;
    let volume_status = text(15)?;
    let held_elsewhere = status.is_active() && volume_status != "on_shelf";
    let in_transit = volume_status == "in_transit";
    let holder = held_elsewhere.then(|| LocBrief {
        code: text(18).unwrap_or_default(),
        name: text(19).unwrap_or_default(),
    });
    let on_the_way = (status.is_active() && in_transit)
        .then(|| -> rusqlite::Result<OnTheWay> {
            Ok(OnTheWay {
                from: LocBrief {
                    code: text(34)?,
                    name: text(35)?,
                },
                since: text(33)?,
            })
        })
        .transpose()?;
    let requested = Step {
        at: text(20)?,
        by: r.get(21)?,
    };
    let delivered = step(25, 26, Some(27))?;
    let turnaround_minutes = delivered.as_ref().and_then(|d| {
        let from = parse_stamp(&requested.at)?;
        let to = parse_stamp(&d.at)?;
        Some((to - from).num_minutes())
    });
    let end_reason = r
        .get::<_, Option<String>>(30)?
        .map(|s| EndReason::from_str(&s).map_err(|e| bad(30, e)))
        .transpose()?;
    let mrn = text(7)?;
    Ok(RequestView {
        id: r.get(0)?,
        barcode: text(1)?,
        status,
        priority: Priority::from_str(&text(3)?).map_err(|e| bad(3, e))?,
        volume: text(4)?,
        volume_no: r.get(5)?,
        record_type: text(6)?,
        filing_key: Mrn::parse(&mrn).ok().map(|m| TerminalDigit::of(&m)),
        mrn,
        last_name: text(8)?,
        first_name: text(9)?,
        location: LocBrief {
            code: text(10)?,
            name: text(11)?,
        },
        needed_by: r.get(12)?,
        reason: r.get(13)?,
        transfer: r.get::<_, bool>(14)? || held_elsewhere,
        holder,
        on_the_way,
        volume_status,
        home: LocBrief {
            code: text(16)?,
            name: text(17)?,
        },
        requested,
        pulled: step(22, 23, Some(24))?,
        delivered,
        ended: step(28, 29, None)?,
        end_reason,
        end_note: r.get(31)?,
        turnaround_minutes,
        restricted: r.get(32)?,
        birth_date: r.get(36)?,
    })
}

/// Who a request belongs to, without its patient: the code of the place it delivers to, and
/// the user id of whoever made it. `None` when there is no such request.
pub fn owner(c: &Connection, id: i64) -> Result<Option<(String, Option<i64>)>> {
    Ok(c
        .prepare_cached(
            "SELECT l.code, q.requested_by FROM request q JOIN location l ON l.location_id = q.location_id
             WHERE q.request_id = ?",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn view(c: &Audited, id: i64) -> Result<Option<RequestView>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("{VIEW_SELECT} WHERE q.request_id = ?1"));
    Ok(c.prepare_cached(sql)?
        .query_row([id], view_row)
        .optional()?)
}

/// Which requests to list (`GET /api/v1/requests?…`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Requests for delivery to this location.
    pub location: Option<String>,
    /// Only open and pulled ones.
    #[serde(default)]
    pub active: bool,
    /// Ended or delivered since this time, besides the active ones (the floor page's "today").
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// At most this many, 1 to 5000 (default 200).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
    /// Only requests numbered below this: the next page of a newest-first list (give the last
    /// `id` of the page before). Not with `since`.
    pub before: Option<i64>,
}
