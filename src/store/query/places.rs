//! Reads of places: locations with their counts, what is at one location now (patients:
//! [`Audited`]), and the stations.

use super::volumes::{hit_row, SearchHit, HIT_COLS, HIT_JOINS};
use crate::domain::{LocationCode, Role, StationAccess};
use crate::store::audit::Audited;
use crate::store::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Station)]
pub struct StationView {
    pub id: String,
    pub location: String,
    #[schema(value_type = crate::domain::Mode)]
    pub mode: String,
    /// `serial` (a port or USB scanner on the server) or `http` (browser page, agent, API).
    #[schema(pattern = "^(serial|http)$")]
    pub kind: String,
    pub port: Option<String>,
    pub usb: Option<String>,
    pub connected: bool,
    /// Why a scanner station is not connected.
    pub link_error: Option<String>,
    /// When the scanner connected or was lost.
    #[schema(format = DateTime)]
    pub link_changed_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_scan_at: Option<String>,
    /// The roles allowed to use it on the scan page or with their own token (with `locations`
    /// empty too: anyone).
    pub roles: Vec<Role>,
    /// The home units whose staff may use it, besides `roles`.
    pub locations: Vec<String>,
}

impl StationView {
    /// Who may drive it.
    pub fn access(&self) -> StationAccess {
        StationAccess {
            roles: self.roles.clone(),
            locations: self
                .locations
                .iter()
                .filter_map(|l| LocationCode::parse(l).ok())
                .collect(),
        }
    }
}

pub fn stations(c: &Connection) -> Result<Vec<StationView>> {
    let mut st = c.prepare_cached(
        "SELECT s.station_id, l.code, s.mode, s.port, s.usb, s.connected, s.last_scan_at, s.link_error, s.link_changed_at,
                s.allowed_roles, s.allowed_locations
         FROM station s JOIN location l ON l.location_id = s.location_id ORDER BY s.station_id",
    )?;
    let rows = st.query_map([], |r| {
        // Written by `admin::upsert_station` from checked values; anything unreadable is left out.
        let access = StationAccess::from_texts(&r.get::<_, String>(9)?, &r.get::<_, String>(10)?)
            .unwrap_or_default();
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
            roles: access.roles,
            locations: access.locations.iter().map(|l| l.to_string()).collect(),
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationView {
    pub code: String,
    pub name: String,
    #[schema(value_type = crate::domain::LocationKind)]
    pub kind: String,
    pub barcode: String,
    /// Shelf sections: the terminal digits filed there.
    #[schema(schema_with = crate::store::admin::terminal_range_schema)]
    pub terminal: Option<(u8, u8)>,
    /// Volumes here now (on the shelf or at the location).
    pub here: u32,
    /// Volumes on their way here.
    pub incoming: u32,
}

const LOCATION_SELECT: &str =
    "SELECT l.code, l.name, l.kind, l.barcode, l.terminal_lo, l.terminal_hi,
    coalesce(n.here, 0), coalesce(n.incoming, 0)
    FROM location l LEFT JOIN place_count n ON n.location_id = l.location_id";

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
/// The code of the one location whose code is `code` in another case ("9n" typed for "9N"),
/// when exactly one has it.
pub fn location_code_any_case(c: &Connection, code: &str) -> Result<Option<String>> {
    let codes = c
        .prepare_cached("SELECT code FROM location WHERE code = ?1 COLLATE NOCASE LIMIT 2")?
        .query_map([code], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(match codes.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

pub fn location_summary(c: &Connection, code: &str) -> Result<Option<LocationView>> {
    Ok(
        c.prepare_cached(&format!("{LOCATION_SELECT} WHERE l.code = ?"))?
            .query_row([code], location_row)
            .optional()?,
    )
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationDetail {
    #[serde(flatten)]
    pub location: LocationView,
    /// Newest arrival (or dispatch, for those on the way) first.
    pub volumes: Vec<SearchHit>,
    /// More are there: pass this as `after` for the next ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Where a location's list goes on from: the last one shown (`since~volume`).
fn cursor(since: &str, volume_id: i64) -> String {
    format!("{since}~{volume_id}")
}

/// A cursor from [`LocationDetail::next`]; `None` when it is not one.
pub fn parse_cursor(s: &str) -> Option<(String, i64)> {
    let (since, id) = s.rsplit_once('~')?;
    Some((since.to_owned(), id.parse().ok()?))
}

/// A location and the volumes at it now or on their way to it, newest first, at most `limit`
/// after `after` (a [`LocationDetail::next`]). Each list is read from its own index in order
/// (schema v16) and stops at the limit: a file-room section of 200,000 charts costs what a ward
/// of 20 does.
pub fn location(
    c: &Audited,
    code: &str,
    limit: u32,
    after: Option<(String, i64)>,
) -> Result<Option<LocationDetail>> {
    let Some(location) = location_summary(c, code)? else {
        return Ok(None);
    };
    let id: i64 = c
        .prepare_cached("SELECT location_id FROM location WHERE code = ?")?
        .query_row([code], |r| r.get(0))?;
    let (since, after_id) = after.unwrap_or_else(|| ("~".to_owned(), i64::MAX)); // '~' sorts after any time
    let mut st = c.prepare_cached(&format!(
        "SELECT {HIT_COLS}, s.since, s.volume_id
         FROM (SELECT volume_id FROM (
                 SELECT volume_id, since FROM volume_state
                 WHERE destination_id = ?1 AND status = 'in_transit' AND (since, volume_id) < (?2, ?3)
                 ORDER BY since DESC, volume_id DESC LIMIT ?4 + 1)
               UNION ALL
               SELECT volume_id FROM (
                 SELECT volume_id, since FROM volume_state
                 WHERE location_id = ?1 AND status IN ('on_shelf','at_location') AND (since, volume_id) < (?2, ?3)
                 ORDER BY since DESC, volume_id DESC LIMIT ?4 + 1)) w
         JOIN volume_state s ON s.volume_id = w.volume_id
         JOIN volume v ON v.volume_id = s.volume_id JOIN patient p ON p.patient_id = v.patient_id
         JOIN location l ON l.location_id = s.location_id {HIT_JOINS}
         ORDER BY s.since DESC, s.volume_id DESC LIMIT ?4 + 1"
    ))?;
    let mut rows = st.query(params![id, since, after_id, limit])?;
    let mut volumes = Vec::new();
    let mut next = None;
    let mut last = None;
    while let Some(r) = rows.next()? {
        if volumes.len() == limit as usize {
            next = last.take();
            break;
        }
        volumes.push(hit_row(r)?);
        last = Some(cursor(&r.get::<_, String>(16)?, r.get(17)?));
    }
    Ok(Some(LocationDetail {
        location,
        volumes,
        next,
    }))
}

pub fn location_count(c: &Connection) -> Result<i64> {
    Ok(c.query_row("SELECT count(*) FROM location", [], |r| r.get(0))?)
}
