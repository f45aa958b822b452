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
}

/// The requests `ids` (in that order), each read with its volume, patient and places. A list
/// picks its ids from the request table's indexes first, then reads only the rows it shows.
fn rows_of(c: &Audited, ids: &[i64]) -> Result<Vec<RequestView>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("{VIEW_SELECT} WHERE q.request_id = ?1"));
    let mut st = c.prepare_cached(sql)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = st.query_row([id], view_row).optional()? {
            out.push(r);
        }
    }
    Ok(out)
}

fn ids(c: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<i64>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(args, |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The active (open or pulled) requests, newest first, for one place or all: read from the
/// status index (`+location_id`: never the place's index, which walks all its history).
fn active_ids(c: &Connection, location: Option<&str>, limit: u32) -> Result<Vec<i64>> {
    match location {
        None => ids(
            c,
            "SELECT request_id FROM request WHERE status IN ('open','pulled')
             ORDER BY request_id DESC LIMIT ?1",
            params![limit],
        ),
        Some(code) => ids(
            c,
            "SELECT q.request_id FROM request q
             WHERE q.status IN ('open','pulled')
               AND +q.location_id = (SELECT location_id FROM location WHERE code = ?1)
             ORDER BY q.request_id DESC LIMIT ?2",
            params![code, limit],
        ),
    }
}

/// Requests newest first. Active ones come from the status index; ended ones since a time
/// from the indexes on `delivered_at` and `ended_at`; all of them (no `since`) newest first
/// along the request id (or the place's index), stopping at the limit.
pub fn list(c: &Audited, f: &Filter) -> Result<Vec<RequestView>> {
    let limit = f.limit.unwrap_or(200).clamp(1, 5000);
    let location = f.location.as_deref();
    let mut chosen = if f.active {
        active_ids(c, location, limit)?
    } else if let Some(since) = &f.since {
        let mut all = active_ids(c, location, limit)?;
        all.extend(ids(
            c,
            "SELECT q.request_id FROM request q WHERE q.delivered_at >= ?1
               AND (?2 IS NULL OR +q.location_id = (SELECT location_id FROM location WHERE code = ?2))
             UNION ALL
             SELECT q.request_id FROM request q WHERE q.ended_at >= ?1
               AND (?2 IS NULL OR +q.location_id = (SELECT location_id FROM location WHERE code = ?2))",
            params![since, location],
        )?);
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.dedup();
        all
    } else {
        match location {
            None => ids(
                c,
                "SELECT request_id FROM request ORDER BY request_id DESC LIMIT ?1",
                params![limit],
            )?,
            Some(code) => ids(
                c,
                "SELECT q.request_id FROM request q
                 WHERE q.location_id = (SELECT location_id FROM location WHERE code = ?1)
                 ORDER BY q.request_id DESC LIMIT ?2",
                params![code, limit],
            )?,
        }
    };
    chosen.truncate(limit as usize);
    rows_of(c, &chosen)
}

/// The open requests asked of whoever holds the volume at `code` (it is there, or on its way
/// there), newest first: the floor page's "asked of us".
pub fn asked_of(c: &Audited, code: &str) -> Result<Vec<RequestView>> {
    let chosen = ids(
        c,
        "SELECT q.request_id FROM request q JOIN volume_state s ON s.volume_id = q.volume_id
         WHERE q.status = 'open' AND s.status <> 'on_shelf'
           AND CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END
               = (SELECT location_id FROM location WHERE code = ?1)
         ORDER BY q.request_id DESC LIMIT 5000",
        params![code],
    )?;
    rows_of(c, &chosen)
}

/// Where an open request stands in the pull order, read without its patient's name: enough
/// to sort and split the pull list before reading the rows one page shows.
#[derive(Debug, Clone)]
struct PullKey {
    id: i64,
    stat: bool,
    needed_by: Option<String>,
    on_shelf: bool,
    /// `request.filing_key`: the terminal-digit order as text (schema v19).
    filing_key: Option<String>,
}

/// The open requests' pull order, read from the status index: on the shelf (to pull) STAT
/// first, then by needed-by time (none last), then terminal-digit order; the rest (transfer
/// requests: the volume is out) STAT first, then oldest first.
fn pull_order(c: &Connection) -> Result<(Vec<i64>, Vec<i64>)> {
    let mut st = c.prepare_cached(
        "SELECT q.request_id, q.priority = 'stat', q.needed_by, s.status = 'on_shelf', q.filing_key
         FROM request q JOIN volume_state s ON s.volume_id = q.volume_id
         WHERE q.status = 'open'",
    )?;
    let keys = st
        .query_map([], |r| {
            Ok(PullKey {
                id: r.get(0)?,
                stat: r.get(1)?,
                needed_by: r.get(2)?,
                on_shelf: r.get(3)?,
                filing_key: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (mut pull, mut transfer): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| k.on_shelf);
    pull.sort_by(|a, b| {
        let key = |k: &PullKey| {
            (
                !k.stat,
                k.needed_by.is_none(),
                k.needed_by.clone(),
                k.filing_key.clone(),
                k.id,
            )
        };
        key(a).cmp(&key(b))
    });
    transfer.sort_by_key(|k| (!k.stat, k.id));
    Ok((
        pull.into_iter().map(|k| k.id).collect(),
        transfer.into_iter().map(|k| k.id).collect(),
    ))
}

/// One page of the pull list: `limit` requests to pull from position `offset` (0-based) in
/// pull order, how many there are in all, and (on the first page) every transfer request.
#[derive(Debug, Clone)]
pub struct PullPage {
    pub pull: Vec<RequestView>,
    /// Requests to pull in all (every page).
    pub total: usize,
    /// Where this page starts in the pull order (0-based).
    pub offset: usize,
    pub transfer: Vec<RequestView>,
}

/// A page of the pull list (see [`pull_list`] for the order): the order is read narrowly for
/// every open request; the full rows only for this page.
pub fn pull_page(c: &Audited, offset: usize, limit: usize) -> Result<PullPage> {
    let (pull, transfer) = pull_order(c)?;
    let total = pull.len();
    let offset = offset.min(total);
    let end = offset.saturating_add(limit).min(total);
    if offset == 0 && end == total && total > BULK {
        let (pull, transfer) = open_rows_in(c, &pull, &transfer)?;
        return Ok(PullPage {
            pull,
            total,
            offset,
            transfer,
        });
    }
    Ok(PullPage {
        pull: rows_of(c, &pull[offset..end])?,
        total,
        offset,
        transfer: if offset == 0 {
            rows_of(c, &transfer)?
        } else {
            Vec::new()
        },
    })
}

/// Past this many rows, every open request is read in one pass (as `VIEW_SELECT` joins them)
/// rather than one by one.
const BULK: usize = 200;

/// Every open request's row, in the orders given: one pass over the status index.
fn open_rows_in(
    c: &Audited,
    pull: &[i64],
    transfer: &[i64],
) -> Result<(Vec<RequestView>, Vec<RequestView>)> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("{VIEW_SELECT} WHERE q.status = 'open'"));
    let mut by_id: std::collections::HashMap<i64, RequestView> = c
        .prepare_cached(sql)?
        .query_map([], view_row)?
        .map(|r| r.map(|r| (r.id, r)))
        .collect::<rusqlite::Result<_>>()?;
    let mut take = |ids: &[i64]| -> Vec<RequestView> {
        ids.iter().filter_map(|id| by_id.remove(id)).collect()
    };
    Ok((take(pull), take(transfer)))
}

/// The file room's pull list: open requests for volumes on their shelves, STAT first, then by
/// needed-by time (none last), then in terminal-digit order so one walk of the shelves pulls
/// them all. Also the open requests that wait on someone else (transfer requests). All of
/// them (the API, and the page's "print all").
pub fn pull_list(c: &Audited) -> Result<(Vec<RequestView>, Vec<RequestView>)> {
    let page = pull_page(c, 0, usize::MAX)?;
    Ok((page.pull, page.transfer))
}

#[cfg(test)]
mod tests {
    use crate::domain::{Mrn, TerminalDigit};
    use rusqlite::{params, Connection};

    /// The key the database keeps on an active request sorts as `TerminalDigit` does, for
    /// short, padded and long MRNs; and follows a volume moved to another patient (a merge)
    /// and a patient's corrected MRN.
    #[test]
    fn the_kept_filing_key_sorts_in_terminal_digit_order() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO location (location_id, code, name, kind, barcode, created_at)
             VALUES (1, '4W', '4 West', 'unit', 'L4W', 't')",
        )
        .unwrap();
        let mrns = [
            "5",
            "12",
            "123",
            "1234",
            "01234",
            "001234",
            "99",
            "100",
            "456789",
            "456788",
            "1456789",
            "9999999",
            "10000000",
            "0000",
            "000100",
            "123456789012",
            "7",
            "00000012",
            "300000",
            "200001",
        ];
        for (i, mrn) in mrns.iter().enumerate() {
            let id = i as i64 + 1;
            c.execute(
                "INSERT INTO patient (patient_id, mrn, last_name, first_name, created_at) VALUES (?1, ?2, 'A', 'B', 't')",
                params![id, mrn],
            )
            .unwrap();
            c.execute(
                "INSERT INTO volume (volume_id, barcode, patient_id, home_id, created_at) VALUES (?1, ?2, ?1, 1, 't')",
                params![id, format!("V{id}")],
            )
            .unwrap();
            c.execute(
                "INSERT INTO request (request_id, barcode, volume_id, location_id, priority, status, created_at)
                 VALUES (?1, ?2, ?1, 1, 'routine', 'open', 't')",
                params![id, format!("Q{id}")],
            )
            .unwrap();
        }
        let keyed = |c: &Connection| -> Vec<(String, String)> {
            let mut st = c
                .prepare(
                    "SELECT q.filing_key, p.mrn FROM request q JOIN volume v ON v.volume_id = q.volume_id
                     JOIN patient p ON p.patient_id = v.patient_id ORDER BY q.request_id",
                )
                .unwrap();
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let check = |rows: &[(String, String)]| {
            for a in rows {
                for b in rows {
                    let td = |m: &str| TerminalDigit::of(&Mrn::parse(m).unwrap());
                    assert_eq!(a.0.cmp(&b.0), td(&a.1).cmp(&td(&b.1)), "{a:?} {b:?}");
                }
            }
        };
        check(&keyed(&c));
        // A merge moves a volume to another patient; a corrected MRN: the key follows.
        c.execute("UPDATE volume SET patient_id = 9 WHERE volume_id = 1", [])
            .unwrap();
        c.execute("UPDATE patient SET mrn = '880001' WHERE patient_id = 2", [])
            .unwrap();
        let rows = keyed(&c);
        assert_eq!(rows[0].1, "456789");
        assert_eq!(rows[1].1, "880001");
        check(&rows);
    }
}
