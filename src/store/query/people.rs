//! Reads of people and credentials: who a bearer token belongs to, a user by name, the users.

use crate::domain::Role;
use crate::store::Result;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use std::str::FromStr;

/// Who is calling: a user (session or token), a station (token), or a wall display (its own
/// cookie, which opens nothing but its display page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User {
        id: i64,
        name: String,
        role: Role,
    },
    Station {
        id: String,
    },
    Display {
        id: i64,
        label: String,
        location: String,
    },
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

#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub name: String,
    pub role: String,
    pub active: bool,
    pub has_badge: bool,
    pub must_change_password: bool,
    pub created_at: String,
    /// The user's home unit (its code): where the request form delivers to by default.
    pub home: Option<String>,
}

pub fn users(c: &Connection) -> Result<Vec<UserView>> {
    let mut st = c.prepare_cached(
        "SELECT u.name, u.role, u.active, u.badge IS NOT NULL, u.must_change_password, u.created_at, l.code
         FROM app_user u LEFT JOIN location l ON l.location_id = u.home_location_id ORDER BY u.name",
    )?;
    let rows = st.query_map([], |r| {
        Ok(UserView {
            name: r.get(0)?,
            role: r.get(1)?,
            active: r.get(2)?,
            has_badge: r.get(3)?,
            must_change_password: r.get(4)?,
            created_at: r.get(5)?,
            home: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A user's home unit (its code), if they have one.
pub fn home_of(c: &Connection, user_id: i64) -> Result<Option<String>> {
    Ok(c
        .prepare_cached(
            "SELECT l.code FROM app_user u JOIN location l ON l.location_id = u.home_location_id WHERE u.user_id = ?",
        )?
        .query_row([user_id], |r| r.get(0))
        .optional()?)
}
