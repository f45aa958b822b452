//! Writes about people and credentials: users (created, role and access, home unit, password
//! reset) and bearer tokens (only their SHA-256 is stored). Each runs inside the writer's
//! transaction (call through `Store::write`).

use super::admin::{constraint, station_waits_for};
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{Barcode, LocationCode, Role, Secret};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// Create a user. `password_hash` is an argon2id PHC string made off the writer thread.
pub fn create_user(
    c: &Connection,
    name: &str,
    role: Role,
    password_hash: Option<&str>,
    badge: Option<&Barcode>,
    must_change: bool,
    now: DateTime<Utc>,
) -> Result<i64> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(StoreError::Invalid(
            "user name must be 1 to 64 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    c.prepare_cached("INSERT INTO app_user (name, role, password_hash, badge, must_change_password, created_at) VALUES (?1,?2,?3,?4,?5,?6)")?
        .execute(params![name, role.as_str(), password_hash, badge.map(|b| b.as_str()), must_change, stamp(now)])
        .map_err(|e| constraint(e, &format!("user {name} or its badge")))?;
    Ok(c.last_insert_rowid())
}

/// Give a user a badge (or take it away): the barcode a station reads to know who is scanning.
pub fn set_badge(c: &Connection, name: &str, badge: Option<&Barcode>) -> Result<()> {
    let n = c
        .prepare_cached("UPDATE app_user SET badge = ?2 WHERE name = ?1")?
        .execute(params![name, badge.map(|b| b.as_str())])
        .map_err(|e| constraint(e, &format!("the badge of {name}")))?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("no user {name}")));
    }
    Ok(())
}

pub fn user_count(c: &Connection) -> Result<i64> {
    Ok(c.query_row("SELECT count(*) FROM app_user", [], |r| r.get(0))?)
}

/// SHA-256 of a bearer token, as stored.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random secret, hex-encoded (`bytes` random bytes).
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source");
    hex::encode(buf)
}

/// Who a new token is for.
#[derive(Debug, Clone)]
pub enum TokenFor {
    Station(String),
    User(String),
}

/// Create a bearer token; returns it in clear (the only time it exists in clear).
/// A new bearer token (only its SHA-256 is stored): shown once, to its owner.
pub fn create_token(c: &Connection, who: &TokenFor, now: DateTime<Utc>) -> Result<Secret> {
    let token = format!("ct_{}", random_secret(24));
    let (station, user): (Option<String>, Option<i64>) = match who {
        TokenFor::Station(id) => {
            let exists: Option<String> = c
                .prepare_cached("SELECT station_id FROM station WHERE station_id=?")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            let exists = match exists {
                Some(id) => id,
                None => {
                    return Err(match station_waits_for(c, id)? {
                        Some(code) => StoreError::NotFound(format!(
                            "station '{id}' waits for location {code}, which does not exist yet: create it (chartrack import locations, or the admin page), then ask again"
                        )),
                        None => StoreError::NotFound(format!(
                            "no station '{id}': add it to chartrack.toml ([[stations]]) or on the admin page"
                        )),
                    })
                }
            };
            (Some(exists), None)
        }
        TokenFor::User(name) => {
            let id: Option<i64> = c
                .prepare_cached("SELECT user_id FROM app_user WHERE name=? AND active=1")?
                .query_row([name], |r| r.get(0))
                .optional()?;
            (
                None,
                Some(id.ok_or_else(|| StoreError::NotFound(format!("no active user '{name}'")))?),
            )
        }
    };
    c.prepare_cached(
        "INSERT INTO token (digest, station_id, user_id, created_at) VALUES (?1,?2,?3,?4)",
    )?
    .execute(params![token_digest(&token), station, user, stamp(now)])?;
    Ok(Secret::new(token))
}

/// Set (or clear, with `None`) a user's home unit.
pub fn set_home(c: &Connection, name: &str, home: Option<&LocationCode>) -> Result<()> {
    let location: Option<i64> = match home {
        None => None,
        Some(code) => Some(
            c.prepare_cached("SELECT location_id FROM location WHERE code = ?")?
                .query_row([code.as_str()], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::Invalid(format!("no location {code}")))?,
        ),
    };
    let n = c
        .prepare_cached("UPDATE app_user SET home_location_id = ?2 WHERE name = ?1")?
        .execute(params![name, location])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("no user '{name}'")));
    }
    Ok(())
}

/// An admin resets a user's password to a one-time one (its hash made off the writer): the user
/// must choose a new one at the next sign-in, and every session they have open ends now.
pub fn reset_password(c: &Connection, name: &str, hash: &str, now: DateTime<Utc>) -> Result<()> {
    let id: i64 = c
        .prepare_cached("SELECT user_id FROM app_user WHERE name = ?")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no user '{name}'")))?;
    c.prepare_cached(
        "UPDATE app_user SET password_hash = ?2, must_change_password = 1 WHERE user_id = ?1",
    )?
    .execute(params![id, hash])?;
    c.prepare_cached(
        "UPDATE session SET ended_at = ?2, end_reason = 'password-reset' WHERE user_id = ?1 AND ended_at IS NULL",
    )?
    .execute(params![id, stamp(now)])?;
    Ok(())
}

/// Change a user's role, or deactivate (or reactivate) them. A deactivated user's sessions and
/// tokens stop working at once (both look the user up as active). The last active admin stays.
pub fn set_user(c: &Connection, name: &str, role: Role, active: bool) -> Result<()> {
    let current: Option<(String, bool)> = c
        .prepare_cached("SELECT role, active FROM app_user WHERE name = ?")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((was_role, was_active)) = current else {
        return Err(StoreError::NotFound(format!("no user '{name}'")));
    };
    if was_role == "admin" && was_active && (role != Role::Admin || !active) {
        let admins: i64 = c.query_row(
            "SELECT count(*) FROM app_user WHERE role = 'admin' AND active = 1",
            [],
            |r| r.get(0),
        )?;
        if admins <= 1 {
            return Err(StoreError::Invalid(
                "this is the last active admin; make another admin first".into(),
            ));
        }
    }
    c.prepare_cached("UPDATE app_user SET role = ?2, active = ?3 WHERE name = ?1")?
        .execute(params![name, role.as_str(), active])?;
    Ok(())
}
