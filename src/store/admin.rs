//! Writes that are not scans: locations, patients and volumes, stations, loose reports,
//! exceptions resolved. Each runs inside the writer's transaction (call through `Store::write`).
//! Users and tokens are in `store::users`, re-exported here for the callers that know them here.

use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{
    issue_barcode, Barcode, LocationCode, LocationKind, Mode, Mrn, Role, StationAccess,
};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

pub use super::users::{
    create_token, create_user, random_secret, reset_password, set_home, set_user, token_digest,
    user_count, TokenFor,
};

pub(super) fn constraint(e: rusqlite::Error, what: &str) -> StoreError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
        StoreError::Conflict(format!("{what} already exists"))
    } else {
        e.into()
    }
}

fn next_id(c: &Connection, table: &str, col: &str) -> Result<i64> {
    Ok(
        c.prepare_cached(&format!("SELECT coalesce(max({col}), 0) + 1 FROM {table}"))?
            .query_row([], |r| r.get(0))?,
    )
}

/// A location to create; `barcode` defaults to an issued one with a check character.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewLocation {
    pub code: LocationCode,
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub kind: LocationKind,
    #[serde(default)]
    pub barcode: Option<Barcode>,
    /// Shelf sections only: the terminal digits filed there, 0 to 99, low first, e.g. `[0, 19]`.
    #[serde(default)]
    #[schema(schema_with = terminal_range_schema)]
    pub terminal: Option<(u8, u8)>,
}

/// In the OpenAPI document: a terminal-digit range `[low, high]` (or null), for the fields that
/// hold one as a pair or an array of two.
pub fn terminal_range_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(99)),
        )
        .min_items(Some(2))
        .max_items(Some(2))
        .description(Some(
            "A terminal-digit range `[low, high]`: two numbers 0 to 99, low first, e.g. `[0, 19]`.",
        ))
        .build()
}

impl NewLocation {
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return Err(StoreError::Invalid(
                "location name must be 1 to 100 characters".into(),
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "location name must be plain text on one line (no tabs or line breaks)".into(),
            ));
        }
        if let Some((lo, hi)) = self.terminal {
            if lo > hi || hi > 99 {
                return Err(StoreError::Invalid(
                    "terminal range must be two numbers 0-99, low first".into(),
                ));
            }
            if self.kind != LocationKind::Shelf {
                return Err(StoreError::Invalid(
                    "only shelf sections have a terminal range".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Create a location; returns its barcode.
pub fn create_location(c: &Connection, l: &NewLocation, now: DateTime<Utc>) -> Result<String> {
    l.validate()?;
    let barcode = match &l.barcode {
        Some(b) => b.to_string(),
        None => issue_barcode(
            if l.kind == LocationKind::Container {
                'K'
            } else {
                'L'
            },
            next_id(c, "location", "location_id")? as u64,
        ),
    };
    c.prepare_cached("INSERT INTO location (code, name, kind, barcode, terminal_lo, terminal_hi, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)")?
        .execute(params![l.code.as_str(), l.name.trim(), l.kind.as_str(), barcode, l.terminal.map(|t| t.0), l.terminal.map(|t| t.1), stamp(now)])
        .map_err(|e| constraint(e, &format!("location {} or barcode {barcode}", l.code)))?;
    apply_waiting_stations(c, &l.code, now)?;
    Ok(barcode)
}

/// The configured stations that wait for `code`, applied now that it exists.
fn apply_waiting_stations(c: &Connection, code: &LocationCode, now: DateTime<Utc>) -> Result<()> {
    let waiting: Vec<NewStation> = {
        let mut st = c.prepare_cached(
            "SELECT station_id, mode, port, usb, allowed_roles, allowed_locations FROM station_waiting WHERE location_code = ?",
        )?;
        let rows = st.query_map([code.as_str()], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                (
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ),
                (r.get::<_, String>(4)?, r.get::<_, String>(5)?),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let ((id, mode), (port, usb), (roles, locations)) = row?;
            let mode = Mode::from_str(&mode).map_err(|e| StoreError::Internal(e.to_string()))?;
            let access = StationAccess::from_texts(&roles, &locations)
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            out.push(NewStation {
                id,
                location: code.clone(),
                mode,
                port,
                usb,
                roles: access.roles,
                locations: access.locations,
            });
        }
        out
    };
    for s in &waiting {
        upsert_station(c, s, now)?;
        c.prepare_cached("DELETE FROM station_waiting WHERE station_id = ?")?
            .execute([&s.id])?;
        tracing::info!(station = %s.id, location = %code, "configured station applied: its location now exists");
    }
    Ok(())
}

/// Apply the stations of the configuration: each whose location exists is created or updated;
/// each whose location does not exist yet waits for it (and is applied when it is created).
/// Returns the waiting ones as (station, location code).
pub fn apply_configured_stations(
    c: &Connection,
    stations: &[NewStation],
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>> {
    // The configuration is the whole truth about what waits: a station taken out of it stops waiting.
    c.execute("DELETE FROM station_waiting", [])?;
    let mut waiting = Vec::new();
    for s in stations {
        let exists = c
            .prepare_cached("SELECT 1 FROM location WHERE code = ?")?
            .query_row([s.location.as_str()], |_| Ok(()))
            .optional()?
            .is_some();
        if exists {
            upsert_station(c, s, now)?;
        } else {
            c.prepare_cached(
                "INSERT INTO station_waiting (station_id, location_code, mode, port, usb, since, allowed_roles, allowed_locations) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            )?
            .execute(params![s.id, s.location.as_str(), s.mode.as_str(), s.port, s.usb, stamp(now), s.access().roles_text(), s.access().locations_text()])?;
            waiting.push((s.id.clone(), s.location.to_string()));
        }
    }
    Ok(waiting)
}

/// The location a station waits for, if it waits.
pub fn station_waits_for(c: &Connection, id: &str) -> Result<Option<String>> {
    Ok(
        c.prepare_cached("SELECT location_code FROM station_waiting WHERE station_id = ?")?
            .query_row([id], |r| r.get(0))
            .optional()?,
    )
}

/// A volume to register, with its patient (created when the MRN is new).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewVolume {
    #[serde(default)]
    pub barcode: Option<Barcode>,
    pub mrn: Mrn,
    /// 1 to 80 printable characters.
    #[schema(min_length = 1, max_length = 80)]
    pub last_name: String,
    /// 1 to 80 printable characters.
    #[schema(min_length = 1, max_length = 80)]
    pub first_name: String,
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
    /// The volume's number in the patient's chart (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 999, default = 1)]
    pub volume: u32,
    /// Medical, radiology, outpatient, … (default `medical`).
    #[serde(default = "medical")]
    #[schema(pattern = "^[a-z_-]{1,32}$", default = "medical")]
    pub record_type: String,
    /// The home shelf's location code.
    pub home: LocationCode,
    #[serde(default)]
    pub restricted: bool,
}
fn one() -> u32 {
    1
}
fn medical() -> String {
    "medical".into()
}

impl NewVolume {
    pub fn validate(&self) -> Result<()> {
        match volume_problems(
            &self.last_name,
            &self.first_name,
            self.volume,
            &self.record_type,
        )
        .into_iter()
        .next()
        {
            Some(p) => Err(StoreError::Invalid(p)),
            None => Ok(()),
        }
    }
}

/// A date of birth no patient has: in the future (a day's grace for time zones), or before
/// 1880 (a mistyped century).
pub fn birth_date_problem(d: chrono::NaiveDate, now: DateTime<Utc>) -> Option<String> {
    let latest = (now + chrono::Duration::days(1)).date_naive();
    let earliest = chrono::NaiveDate::from_ymd_opt(1880, 1, 1).expect("a date");
    if d > latest {
        Some(format!("birth_date {d} is in the future"))
    } else if d < earliest {
        Some(format!("birth_date {d} is before 1880: check the year"))
    } else {
        None
    }
}

/// Every problem with a volume's own fields (names, volume number, record type), in column
/// order; empty when they are fine. The CSV import names them all at once.
pub fn volume_problems(
    last_name: &str,
    first_name: &str,
    volume: u32,
    record_type: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (what, v) in [("last name", last_name), ("first name", first_name)] {
        if v.trim().is_empty() || v.len() > 80 || v.chars().any(char::is_control) {
            problems.push(format!("{what} must be 1 to 80 printable characters"));
        }
    }
    if volume == 0 || volume > 999 {
        problems.push("volume number must be 1 to 999".into());
    }
    let rt = record_type;
    if rt.is_empty()
        || rt.len() > 32
        || !rt
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
    {
        problems.push("record type must be 1 to 32 lower-case letters, '-' or '_'".into());
    }
    problems
}

/// Every location's kind by code (the CSV import checks homes before it writes anything).
pub fn location_kinds(c: &Connection) -> Result<std::collections::HashMap<String, String>> {
    let mut st = c.prepare_cached("SELECT code, kind FROM location")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Register a volume (and its patient); returns the barcode.
pub fn create_volume(c: &Connection, v: &NewVolume, now: DateTime<Utc>) -> Result<String> {
    v.validate()?;
    if let Some(problem) = v.birth_date.and_then(|d| birth_date_problem(d, now)) {
        return Err(StoreError::Invalid(problem));
    }
    let home: (i64, String) = c
        .prepare_cached("SELECT location_id, kind FROM location WHERE code=?")?
        .query_row([v.home.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::Invalid(format!("home location {} does not exist", v.home)))?;
    insert_volume(c, v, (home.0, &home.1), now, &stamp(now))
}

/// A volume (and its patient, found by MRN or created) written, its home already looked up as
/// (location id, kind); `created` is `now` stamped. `create_volume` and the bulk import
/// (`store::bulk`) both register volumes here.
pub(super) fn insert_volume(
    c: &Connection,
    v: &NewVolume,
    home: (i64, &str),
    now: DateTime<Utc>,
    created: &str,
) -> Result<String> {
    v.validate()?;
    if let Some(problem) = v.birth_date.and_then(|d| birth_date_problem(d, now)) {
        return Err(StoreError::Invalid(problem));
    }
    if home.1 != "shelf" {
        return Err(StoreError::Invalid(format!(
            "home location {} is not a shelf section",
            v.home
        )));
    }
    let existing = c
        .prepare_cached(
            "SELECT patient_id, last_name, first_name, birth_date FROM patient WHERE mrn=?",
        )?
        .query_row([v.mrn.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let patient_id = match existing {
        Some((id, last, first, dob)) => {
            let same = last.eq_ignore_ascii_case(v.last_name.trim())
                && first.eq_ignore_ascii_case(v.first_name.trim())
                && (v.birth_date.is_none() || dob == v.birth_date.map(|d| d.to_string()));
            if !same {
                return Err(StoreError::Conflict(format!(
                    "MRN {} is already registered to a patient with another name or birth date",
                    v.mrn
                )));
            }
            id
        }
        None => {
            c.prepare_cached("INSERT INTO patient (mrn, last_name, first_name, birth_date, restricted, created_at) VALUES (?1,?2,?3,?4,?5,?6)")?
                .execute(params![v.mrn.as_str(), v.last_name.trim(), v.first_name.trim(), v.birth_date.map(|d| d.to_string()), v.restricted, created])?;
            c.last_insert_rowid()
        }
    };
    let barcode = match &v.barcode {
        Some(b) => b.to_string(),
        None => issue_barcode('V', next_id(c, "volume", "volume_id")? as u64),
    };
    c.prepare_cached("INSERT INTO volume (barcode, patient_id, volume_no, record_type, home_id, created_at) VALUES (?1,?2,?3,?4,?5,?6)")?
        .execute(params![barcode, patient_id, v.volume, v.record_type, home.0, created])
        .map_err(|e| constraint(e, &format!("volume barcode {barcode}")))?;
    let volume_id = c.last_insert_rowid();
    c.prepare_cached("INSERT INTO volume_state (volume_id, status, location_id, since) VALUES (?1, 'on_shelf', ?2, ?3)")?
        .execute(params![volume_id, home.0, created])?;
    Ok(barcode)
}

/// Register a loose report for a patient; returns its barcode.
pub fn create_report(
    c: &Connection,
    barcode: Option<&Barcode>,
    mrn: &Mrn,
    description: &str,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<String> {
    if description.trim().is_empty()
        || description.len() > 200
        || description.chars().any(char::is_control)
    {
        return Err(StoreError::Invalid(
            "description must be 1 to 200 characters, on one line".into(),
        ));
    }
    let patient: i64 = c
        .prepare_cached("SELECT patient_id FROM patient WHERE mrn=?")?
        .query_row([mrn.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no patient with MRN {mrn}")))?;
    let barcode = match barcode {
        Some(b) => b.to_string(),
        None => issue_barcode('R', next_id(c, "loose_report", "report_id")? as u64),
    };
    c.prepare_cached("INSERT INTO loose_report (barcode, patient_id, description, created_at, registered_by) VALUES (?1,?2,?3,?4,?5)")?
        .execute(params![barcode, patient, description.trim(), stamp(now), user_id])
        .map_err(|e| constraint(e, &format!("report barcode {barcode}")))?;
    Ok(barcode)
}

/// A station definition (from the configuration or the admin API).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewStation {
    /// 1 to 64 letters, digits, `.`, `_` or `-`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub id: String,
    pub location: LocationCode,
    pub mode: Mode,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub usb: Option<String>,
    /// The roles allowed to use it on the scan page or with their own token; with `locations`
    /// empty too, anyone may. Station tokens and scanners on a port are the station itself.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The home units whose staff may use it (a user's home unit), besides `roles`.
    #[serde(default)]
    pub locations: Vec<LocationCode>,
}

impl NewStation {
    /// Who may drive it.
    pub fn access(&self) -> StationAccess {
        StationAccess {
            roles: self.roles.clone(),
            locations: self.locations.clone(),
        }
    }
}

impl From<&crate::config::StationConfig> for NewStation {
    fn from(s: &crate::config::StationConfig) -> NewStation {
        NewStation {
            id: s.id.clone(),
            location: s.location.clone(),
            mode: s.mode,
            port: s.port.clone(),
            usb: s.usb.clone(),
            roles: s.roles.clone(),
            locations: s.locations.clone(),
        }
    }
}

/// Create or update a station. Its memory is kept unless the location or mode changes.
pub fn upsert_station(c: &Connection, s: &NewStation, now: DateTime<Utc>) -> Result<()> {
    if s.id.is_empty()
        || s.id.len() > 64
        || !s
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(StoreError::Invalid(
            "station id must be 1 to 64 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    let loc: i64 = c
        .prepare_cached("SELECT location_id FROM location WHERE code=?")?
        .query_row([s.location.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "station {}: location {} does not exist",
                s.id, s.location
            ))
        })?;
    let access = s.access();
    c.prepare_cached(
        "INSERT INTO station (station_id, location_id, mode, port, usb, created_at, allowed_roles, allowed_locations) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)
         ON CONFLICT(station_id) DO UPDATE SET
            memory = CASE WHEN location_id <> excluded.location_id OR mode <> excluded.mode THEN '{}' ELSE memory END,
            location_id = excluded.location_id, mode = excluded.mode, port = excluded.port, usb = excluded.usb,
            allowed_roles = excluded.allowed_roles, allowed_locations = excluded.allowed_locations",
    )?
    .execute(params![s.id, loc, s.mode.as_str(), s.port, s.usb, stamp(now), access.roles_text(), access.locations_text()])?;
    Ok(())
}

/// Mark a serial station's scanner present or absent.
/// A scanner station's link changed: connected, or lost with the reason. Only a change is
/// written (and stamped), so a station retrying while its scanner is away writes nothing.
pub fn set_station_link(
    c: &Connection,
    id: &str,
    connected: bool,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    c.prepare_cached(
        "UPDATE station SET connected=?2, link_error=?3, link_changed_at=?4
         WHERE station_id=?1 AND (connected IS NOT ?2 OR link_error IS NOT ?3)",
    )?
    .execute(params![id, connected, error, stamp(now)])?;
    Ok(())
}

/// Close an exception with what was done about it (`ignored`, `registered`, ...).
pub fn resolve_exception(
    c: &Connection,
    id: i64,
    user_id: i64,
    resolution: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if resolution.is_empty() || resolution.len() > 200 || resolution.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "the resolution must be 1 to 200 printable characters".into(),
        ));
    }
    let n = c
        .prepare_cached(
            "UPDATE exception SET resolved_at = ?2, resolved_by = ?3, resolution = ?4
             WHERE exception_id = ?1 AND resolved_at IS NULL",
        )?
        .execute(params![id, stamp(now), user_id, resolution])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "no open exception {id} (already resolved?)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_name_with_a_line_break_is_refused() {
        let l = |name: &str| NewLocation {
            code: LocationCode::parse("4W").unwrap(),
            name: name.into(),
            kind: LocationKind::Unit,
            barcode: None,
            terminal: None,
        };
        assert!(l("4 West").validate().is_ok());
        for bad in ["4 West\rannex", "4 West\nannex", "4\tWest"] {
            let e = l(bad).validate().unwrap_err().to_string();
            assert!(e.contains("one line"), "{bad:?}: {e}");
        }
    }
}
