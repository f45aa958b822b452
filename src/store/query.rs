//! Reads for pages and the API. Every function takes a read-only connection; those that show
//! patients take an [`Audited`] one (see `store::audit`).

use super::audit::Audited;
use super::scan::{loc_ref, LocBrief};
use super::Result;
use crate::domain::Role;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::str::FromStr;

#[derive(Debug, Clone, Serialize)]
pub struct LastScan {
    pub at: String,
    pub station: Option<String>,
    pub user: Option<String>,
    pub location: Option<LocBrief>,
}

/// `GET /api/v1/volumes/{barcode}`.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeView {
    pub barcode: String,
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    pub volume: u32,
    pub record_type: String,
    pub status: String,
    pub since: String,
    pub home: LocBrief,
    pub location: LocBrief,
    pub destination: Option<LocBrief>,
    pub container: Option<LocBrief>,
    pub last_scan: Option<LastScan>,
    pub waiting_reports: u32,
    /// A restricted chart (VIP, behavioural health): its whereabouts are shown only to roles
    /// that may see them (see [`VolumeView::hide_whereabouts`]).
    pub restricted: bool,
}

/// What a restricted chart shows in place of a location.
pub fn restricted_place() -> LocBrief {
    LocBrief {
        code: "restricted".into(),
        name: "location restricted".into(),
    }
}

impl VolumeView {
    /// For someone whose role may not see a restricted chart's whereabouts.
    pub fn hide_whereabouts(&mut self) {
        self.location = restricted_place();
        self.destination = self.destination.as_ref().map(|_| restricted_place());
        self.container = None;
        if let Some(l) = &mut self.last_scan {
            l.location = Some(restricted_place());
            l.station = None;
        }
    }
}

fn brief(c: &Connection, id: i64) -> Result<LocBrief> {
    let l = loc_ref(c, id)?;
    Ok(LocBrief {
        code: l.code,
        name: l.name,
    })
}

fn user_name(c: &Connection, id: Option<i64>) -> Result<Option<String>> {
    match id {
        None => Ok(None),
        Some(id) => Ok(c
            .prepare_cached("SELECT name FROM app_user WHERE user_id=?")?
            .query_row([id], |r| r.get(0))
            .optional()?),
    }
}

pub fn volume(c: &Audited, barcode: &str) -> Result<Option<VolumeView>> {
    let row = c
        .prepare_cached(
            "SELECT v.barcode, p.mrn, p.last_name, p.first_name, v.volume_no, v.record_type, s.status, s.since, v.home_id,
                    s.location_id, s.destination_id, s.container_id, s.last_scan_at, s.last_station_id, s.last_user_id, s.last_location_id,
                    (SELECT count(*) FROM loose_report r WHERE r.patient_id = v.patient_id AND r.filed_at IS NULL), p.restricted
             FROM volume v JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
             WHERE v.barcode = ?",
        )?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                (r.get::<_, u32>(4)?, r.get::<_, String>(5)?, r.get::<_, String>(6)?, r.get::<_, String>(7)?),
                (r.get::<_, i64>(8)?, r.get::<_, i64>(9)?, r.get::<_, Option<i64>>(10)?, r.get::<_, Option<i64>>(11)?),
                (r.get::<_, Option<String>>(12)?, r.get::<_, Option<String>>(13)?, r.get::<_, Option<i64>>(14)?, r.get::<_, Option<i64>>(15)?),
                (r.get::<_, u32>(16)?, r.get::<_, bool>(17)?),
            ))
        })
        .optional()?;
    let Some((
        (barcode, mrn, last_name, first_name),
        (volume, record_type, status, since),
        (home, loc, dest, cont),
        (at, station, user, last_loc),
        (waiting, restricted),
    )) = row
    else {
        return Ok(None);
    };
    let last_scan = match at {
        None => None,
        Some(at) => Some(LastScan {
            at,
            station,
            user: user_name(c, user)?,
            location: last_loc.map(|l| brief(c, l)).transpose()?,
        }),
    };
    Ok(Some(VolumeView {
        barcode,
        mrn,
        last_name,
        first_name,
        volume,
        record_type,
        status,
        since,
        home: brief(c, home)?,
        location: brief(c, loc)?,
        destination: dest.map(|d| brief(c, d)).transpose()?,
        container: cont.map(|d| brief(c, d)).transpose()?,
        last_scan,
        waiting_reports: waiting,
        restricted,
    }))
}

/// Whether a volume's patient is restricted; `None` when the volume is unknown.
pub fn is_restricted(c: &Audited, barcode: &str) -> Result<Option<bool>> {
    Ok(c
        .prepare_cached(
            "SELECT p.restricted FROM volume v JOIN patient p ON p.patient_id = v.patient_id WHERE v.barcode = ?",
        )?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| r.get(0))
        .optional()?)
}

#[derive(Debug, Clone, Serialize)]
pub struct MovementView {
    pub scan_id: String,
    pub seq: i64,
    pub action: String,
    pub at: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub station: String,
    pub user: Option<String>,
    pub receiver: Option<String>,
}

/// A volume's movements, newest first; `None` when the volume is unknown.
pub fn movements(c: &Audited, barcode: &str, limit: u32) -> Result<Option<Vec<MovementView>>> {
    let id: Option<i64> = c
        .prepare_cached("SELECT volume_id FROM volume WHERE barcode=?")?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| r.get(0))
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let mut st = c.prepare_cached(
        "SELECT s.scan_id, m.movement_id, m.action, m.at, lf.code, lt.code, m.station_id, u.name, rv.name
         FROM movement m JOIN scan s ON s.scan_seq = m.scan_seq
         LEFT JOIN location lf ON lf.location_id = m.from_id LEFT JOIN location lt ON lt.location_id = m.to_id
         LEFT JOIN app_user u ON u.user_id = m.user_id LEFT JOIN app_user rv ON rv.user_id = m.receiver_id
         WHERE m.volume_id = ? ORDER BY m.movement_id DESC LIMIT ?",
    )?;
    let rows = st.query_map(params![id, limit], |r| {
        Ok(MovementView {
            scan_id: r.get(0)?,
            seq: r.get(1)?,
            action: r.get(2)?,
            at: r.get(3)?,
            from: r.get(4)?,
            to: r.get(5)?,
            station: r.get(6)?,
            user: r.get(7)?,
            receiver: r.get(8)?,
        })
    })?;
    Ok(Some(rows.collect::<rusqlite::Result<_>>()?))
}

#[derive(Debug, Clone, Serialize)]
pub struct StationView {
    pub id: String,
    pub location: String,
    pub mode: String,
    /// `serial` (a port or USB scanner on the server) or `http` (browser page, agent, API).
    pub kind: String,
    pub port: Option<String>,
    pub usb: Option<String>,
    pub connected: bool,
    /// Why a scanner station is not connected.
    pub link_error: Option<String>,
    /// When the scanner connected or was lost.
    pub link_changed_at: Option<String>,
    pub last_scan_at: Option<String>,
}

pub fn stations(c: &Connection) -> Result<Vec<StationView>> {
    let mut st = c.prepare_cached(
        "SELECT s.station_id, l.code, s.mode, s.port, s.usb, s.connected, s.last_scan_at, s.link_error, s.link_changed_at
         FROM station s JOIN location l ON l.location_id = s.location_id ORDER BY s.station_id",
    )?;
    let rows = st.query_map([], |r| {
        let port: Option<String> = r.get(3)?;
        let usb: Option<String> = r.get(4)?;
        let serial = port.is_some() || usb.is_some();
        Ok(StationView {
            id: r.get(0)?,
            location: r.get(1)?,
            mode: r.get(2)?,
            kind: if serial { "serial" } else { "http" }.into(),
            // An HTTP station has no device to lose; a serial one is as its reader last saw it.
            connected: !serial || r.get::<_, bool>(5)?,
            port,
            usb,
            last_scan_at: r.get(6)?,
            link_error: r.get(7)?,
            link_changed_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn station_exists(c: &Connection, id: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM station WHERE station_id=?")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub barcode: String,
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    pub volume: u32,
    pub record_type: String,
    pub status: String,
    pub location: LocBrief,
    pub destination: Option<LocBrief>,
    /// When, where (station) and by whom it was last scanned.
    pub last_scan_at: Option<String>,
    pub last_station: Option<String>,
    pub last_user: Option<String>,
    pub restricted: bool,
}

impl SearchHit {
    /// For someone whose role may not see a restricted chart's whereabouts.
    pub fn hide_whereabouts(&mut self) {
        self.location = restricted_place();
        self.destination = self.destination.as_ref().map(|_| restricted_place());
        self.last_station = None;
    }
}

/// The columns `hit_row` reads, after `FROM volume v JOIN patient p JOIN volume_state s JOIN
/// location l` (the current location) and the joins in [`HIT_JOINS`].
const HIT_COLS: &str = "v.barcode, p.mrn, p.last_name, p.first_name, v.volume_no, v.record_type, s.status, l.code, l.name,
    d.code, d.name, s.last_scan_at, s.last_station_id, u.name, p.restricted";
const HIT_JOINS: &str = "LEFT JOIN location d ON d.location_id = s.destination_id
    LEFT JOIN app_user u ON u.user_id = s.last_user_id";

/// Volumes by barcode, MRN, or patient name ("last", "last, first" or "first last" prefixes).
pub fn search(c: &Audited, q: &str, limit: u32) -> Result<Vec<SearchHit>> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(vec![]);
    }
    let code = crate::domain::Barcode::canonical(q);
    let base = format!("SELECT {HIT_COLS}
        FROM volume v JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
        JOIN location l ON l.location_id = s.location_id {HIT_JOINS}");
    let order = "ORDER BY p.last_name COLLATE NOCASE, p.first_name COLLATE NOCASE, p.mrn, v.volume_no LIMIT ?3";
    let (sql, a, b) = if q.bytes().all(|b| b.is_ascii_digit()) {
        (
            format!("{base} WHERE p.mrn = ?1 OR v.barcode = ?2 {order}"),
            q.to_owned(),
            q.to_owned(),
        )
    } else if let Some((last, first)) = q.split_once(',') {
        (
            format!("{base} WHERE p.last_name LIKE ?1 ESCAPE '\\' AND p.first_name LIKE ?2 ESCAPE '\\' {order}"),
            like_prefix(last.trim()),
            like_prefix(first.trim()),
        )
    } else if let Some((first, last)) = q.split_once(' ') {
        (
            format!("{base} WHERE (p.last_name LIKE ?1 ESCAPE '\\' AND p.first_name LIKE ?2 ESCAPE '\\') OR (p.last_name LIKE ?2 ESCAPE '\\' AND p.first_name LIKE ?1 ESCAPE '\\') {order}"),
            like_prefix(last.trim()),
            like_prefix(first.trim()),
        )
    } else {
        (
            format!("{base} WHERE v.barcode = ?2 OR p.last_name LIKE ?1 ESCAPE '\\' {order}"),
            like_prefix(q),
            code.clone(),
        )
    };
    if !q.contains([' ', ',']) {
        // A scanned or typed barcode: its unique index answers at once (an OR with the name
        // LIKE would read every patient).
        let exact = format!("{base} WHERE v.barcode = ?1");
        if let Some(hit) = c
            .prepare_cached(&exact)?
            .query_row([&code], hit_row)
            .optional()?
        {
            return Ok(vec![hit]);
        }
    }
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![a, b, limit], hit_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A `SearchHit` from [`HIT_COLS`].
fn hit_row(r: &rusqlite::Row) -> rusqlite::Result<SearchHit> {
    let dest: Option<String> = r.get(9)?;
    Ok(SearchHit {
        barcode: r.get(0)?,
        mrn: r.get(1)?,
        last_name: r.get(2)?,
        first_name: r.get(3)?,
        volume: r.get(4)?,
        record_type: r.get(5)?,
        status: r.get(6)?,
        location: LocBrief {
            code: r.get(7)?,
            name: r.get(8)?,
        },
        destination: match dest {
            Some(code) => Some(LocBrief {
                code,
                name: r.get(10)?,
            }),
            None => None,
        },
        last_scan_at: r.get(11)?,
        last_station: r.get(12)?,
        last_user: r.get(13)?,
        restricted: r.get(14)?,
    })
}

fn like_prefix(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| {
            if matches!(c, '%' | '_' | '\\') {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect();
    format!("{escaped}%")
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationView {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub barcode: String,
    pub terminal: Option<(u8, u8)>,
    /// Volumes here now (on the shelf or at the location).
    pub here: u32,
    /// Volumes on their way here.
    pub incoming: u32,
}

const LOCATION_SELECT: &str = "SELECT l.code, l.name, l.kind, l.barcode, l.terminal_lo, l.terminal_hi,
    (SELECT count(*) FROM volume_state s WHERE s.location_id = l.location_id AND s.status IN ('on_shelf','at_location')),
    (SELECT count(*) FROM volume_state s WHERE s.destination_id = l.location_id AND s.status = 'in_transit')
    FROM location l";

fn location_row(r: &rusqlite::Row) -> rusqlite::Result<LocationView> {
    let lo: Option<u8> = r.get(4)?;
    let hi: Option<u8> = r.get(5)?;
    Ok(LocationView {
        code: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        barcode: r.get(3)?,
        terminal: lo.zip(hi),
        here: r.get(6)?,
        incoming: r.get(7)?,
    })
}

pub fn locations(c: &Connection) -> Result<Vec<LocationView>> {
    let mut st = c.prepare_cached(&format!("{LOCATION_SELECT} ORDER BY l.kind, l.code"))?;
    let rows = st.query_map([], location_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One location and its counts, without the patients at it.
pub fn location_summary(c: &Connection, code: &str) -> Result<Option<LocationView>> {
    Ok(
        c.prepare_cached(&format!("{LOCATION_SELECT} WHERE l.code = ?"))?
            .query_row([code], location_row)
            .optional()?,
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationDetail {
    #[serde(flatten)]
    pub location: LocationView,
    pub volumes: Vec<SearchHit>,
}

/// A location and the volumes at it now (or on their way to it).
pub fn location(c: &Audited, code: &str, limit: u32) -> Result<Option<LocationDetail>> {
    let Some(location) = location_summary(c, code)? else {
        return Ok(None);
    };
    let mut st = c.prepare_cached(&format!(
        "SELECT {HIT_COLS}
         FROM volume_state s JOIN volume v ON v.volume_id = s.volume_id JOIN patient p ON p.patient_id = v.patient_id
         JOIN location l ON l.location_id = s.location_id {HIT_JOINS} JOIN location here ON here.code = ?1
         WHERE (s.location_id = here.location_id AND s.status IN ('on_shelf','at_location'))
            OR (s.destination_id = here.location_id AND s.status = 'in_transit')
         ORDER BY p.last_name COLLATE NOCASE, p.first_name COLLATE NOCASE, v.volume_no LIMIT ?2"
    ))?;
    let rows = st.query_map(params![code, limit], hit_row)?;
    Ok(Some(LocationDetail {
        location,
        volumes: rows.collect::<rusqlite::Result<_>>()?,
    }))
}

#[derive(Debug, Clone, Serialize)]
pub struct ExceptionView {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub station: String,
    pub scan_id: String,
    pub created_at: String,
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

/// Who a bearer token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: i64, name: String, role: Role },
    Station { id: String },
}

pub fn principal_by_digest(c: &Connection, digest: &str) -> Result<Option<Principal>> {
    let row = c
        .prepare_cached(
            "SELECT t.station_id, u.user_id, u.name, u.role FROM token t LEFT JOIN app_user u ON u.user_id = t.user_id
             WHERE t.digest = ? AND t.revoked_at IS NULL AND (t.user_id IS NULL OR u.active = 1)",
        )?
        .query_row([digest], |r| {
            Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, Option<String>>(3)?))
        })
        .optional()?;
    Ok(match row {
        Some((Some(station), _, _, _)) => Some(Principal::Station { id: station }),
        Some((None, Some(id), Some(name), Some(role))) => Role::from_str(&role)
            .ok()
            .map(|role| Principal::User { id, name, role }),
        _ => None,
    })
}

/// Counts by status, for metrics and the dashboard.
pub fn status_counts(c: &Connection) -> Result<Vec<(String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT status, count(*) FROM volume_state GROUP BY status ORDER BY status",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn scan_counts(c: &Connection) -> Result<(i64, i64, i64)> {
    Ok(c.query_row(
        "SELECT count(*), coalesce(sum(accepted), 0), (SELECT count(*) FROM exception WHERE resolved_at IS NULL) FROM scan",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// A few volumes in a status, pseudo-randomly spread (for the demo's simulated traffic).
pub fn sample_volumes(
    c: &Connection,
    status: &str,
    offset: i64,
    limit: u32,
) -> Result<Vec<(String, Option<String>)>> {
    let mut st = c.prepare_cached(
        "SELECT v.barcode, d.code FROM volume_state s JOIN volume v ON v.volume_id = s.volume_id
         LEFT JOIN location d ON d.location_id = s.destination_id
         WHERE s.status = ?1 ORDER BY (s.volume_id * 7919 + ?2) % 10007 LIMIT ?3",
    )?;
    let rows = st.query_map(params![status, offset, limit], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The demo's file room: the most urgent open request whose volume is on its shelf
/// (slip barcode, volume barcode).
pub fn next_to_pull(c: &Connection) -> Result<Option<(String, String)>> {
    Ok(c.prepare_cached(
        "SELECT q.barcode, v.barcode FROM request q JOIN volume v ON v.volume_id = q.volume_id
         JOIN volume_state s ON s.volume_id = q.volume_id
         WHERE q.status = 'open' AND s.status = 'on_shelf'
         ORDER BY q.priority = 'stat' DESC, q.request_id LIMIT 1",
    )?
    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}

/// The demo's clerk: an unfiled loose report (received or not yet) and, when one of its
/// patient's volumes is on its shelf, that volume's barcode.
pub fn next_report(c: &Connection, received: bool) -> Result<Option<(String, Option<String>)>> {
    Ok(c.prepare_cached(
        "SELECT r.barcode, (SELECT v.barcode FROM volume v JOIN volume_state s ON s.volume_id = v.volume_id
                            WHERE v.patient_id = r.patient_id AND s.status = 'on_shelf' LIMIT 1)
         FROM loose_report r WHERE r.filed_at IS NULL AND (r.received_at IS NOT NULL) = ?1
         ORDER BY r.report_id LIMIT 1",
    )?
    .query_row([received], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}

/// A volume's patient's MRN (the demo registers loose reports for it).
pub fn mrn_of(c: &Connection, barcode: &str) -> Result<Option<String>> {
    Ok(c.prepare_cached(
        "SELECT p.mrn FROM volume v JOIN patient p ON p.patient_id = v.patient_id WHERE v.barcode = ?",
    )?
    .query_row([crate::domain::Barcode::canonical(barcode)], |r| r.get(0))
    .optional()?)
}

pub fn location_count(c: &Connection) -> Result<i64> {
    Ok(c.query_row("SELECT count(*) FROM location", [], |r| r.get(0))?)
}

/// An active user by name, as the engine refers to users.
pub fn user_by_name(c: &Connection, name: &str) -> Result<Option<crate::engine::UserRef>> {
    Ok(
        c.prepare_cached("SELECT user_id, name FROM app_user WHERE name=? AND active=1")?
            .query_row([name], |r| {
                Ok(crate::engine::UserRef {
                    id: r.get(0)?,
                    name: r.get(1)?,
                })
            })
            .optional()?,
    )
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
    // One pass over the volumes that are out (the status index), each held to the loan period
    // of the kind of place it is at or going to.
    let mut sql = String::from(
        "SELECT count(*) FROM volume_state s
         JOIN location l ON l.location_id = CASE WHEN s.status = 'in_transit' THEN s.destination_id ELSE s.location_id END
         WHERE s.status IN ('in_transit','at_location') AND s.since < CASE l.kind",
    );
    for (i, (kind, _)) in cutoffs.iter().enumerate() {
        sql += &format!(" WHEN '{kind}' THEN ?{}", i + 1);
    }
    sql += " ELSE '' END";
    let cut: Vec<&str> = cutoffs.iter().map(|(_, t)| t.as_str()).collect();
    out.overdue = c
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(cut), |r| r.get(0))?;
    out.open_exceptions = c.query_row(
        "SELECT count(*) FROM exception WHERE resolved_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    (out.open_requests, out.stat_requests) = c.query_row(
        "SELECT count(*), coalesce(sum(priority = 'stat'), 0) FROM request WHERE status IN ('open','pulled')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    out.found = super::missing::found_count(c)?;
    out.loose_waiting = c.query_row(
        "SELECT count(*) FROM loose_report WHERE filed_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(out)
}

/// The answers of the most recent scans, newest first (the live feed's first page).
pub fn recent_answers(
    c: &Connection,
    station: Option<&str>,
    only_refused: bool,
    limit: u32,
) -> Result<Vec<super::ScanAnswer>> {
    let mut st = c.prepare_cached(
        "SELECT response FROM scan WHERE (?1 IS NULL OR station_id = ?1) AND (?2 = 0 OR accepted = 0)
         ORDER BY scan_seq DESC LIMIT ?3",
    )?;
    let rows = st.query_map(params![station, only_refused, limit], |r| {
        r.get::<_, String>(0)
    })?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub name: String,
    pub role: String,
    pub active: bool,
    pub has_badge: bool,
    pub must_change_password: bool,
    pub created_at: String,
}

pub fn users(c: &Connection) -> Result<Vec<UserView>> {
    let mut st = c.prepare_cached(
        "SELECT name, role, active, badge IS NOT NULL, must_change_password, created_at FROM app_user ORDER BY name",
    )?;
    let rows = st.query_map([], |r| {
        Ok(UserView {
            name: r.get(0)?,
            role: r.get(1)?,
            active: r.get(2)?,
            has_badge: r.get(3)?,
            must_change_password: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
