//! Sign-in sessions and failed sign-ins, kept in SQLite so that signing out, idle timeouts and
//! rate limits hold across restarts. A session's cookie secret is never stored, only its SHA-256.

use super::admin::{random_secret, token_digest};
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{Role, Secret};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::str::FromStr;

/// What a sign-in needs to know of an account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub active: bool,
    pub must_change_password: bool,
}

pub fn account(c: &Connection, name: &str) -> Result<Option<Account>> {
    let row = c
        .prepare_cached("SELECT user_id, name, role, password_hash, active, must_change_password FROM app_user WHERE name = ?")?
        .query_row([name], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    Ok(row.and_then(
        |(id, name, role, password_hash, active, must_change_password)| {
            Some(Account {
                id,
                name,
                role: Role::from_str(&role).ok()?,
                password_hash,
                active,
                must_change_password,
            })
        },
    ))
}

/// A session freshly opened: the cookie secret (in clear, once) and its anti-forgery token.
#[derive(Debug, Clone)]
pub struct Opened {
    pub secret: Secret,
    pub csrf: Secret,
}

/// Open a session for a user (always a new id: a session is never carried over a sign-in).
pub fn open(c: &Connection, user_id: i64, remote: &str, now: DateTime<Utc>) -> Result<Opened> {
    let secret = random_secret(32);
    let csrf = random_secret(24);
    c.prepare_cached(
        "INSERT INTO session (digest, user_id, csrf, remote, created_at, last_seen_at) VALUES (?1,?2,?3,?4,?5,?5)",
    )?
    .execute(params![token_digest(&secret), user_id, csrf, remote, stamp(now)])?;
    Ok(Opened {
        secret: Secret::new(secret),
        csrf: Secret::new(csrf),
    })
}

/// A live session as a request sees it.
#[derive(Debug, Clone)]
pub struct Live {
    pub session_id: i64,
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub csrf: Secret,
    pub last_seen_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Signed in with a one-time password: nothing but changing it is allowed.
    pub must_change_password: bool,
}

/// Why a session cookie no longer opens anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Unknown,
    Idle(i64),
    Expired(i64),
}

impl Ended {
    /// The session to end on the server, and why.
    pub fn to_end(self) -> Option<(i64, &'static str)> {
        match self {
            Ended::Unknown => None,
            Ended::Idle(id) => Some((id, "idle")),
            Ended::Expired(id) => Some((id, "expired")),
        }
    }
}

/// Look a cookie secret up on a read connection. A session idle past `idle` or older than
/// `lifetime` is reported as ended; the caller ends it on the writer (`end`).
pub fn find_live(
    c: &Connection,
    secret: &str,
    now: DateTime<Utc>,
    idle: Duration,
    lifetime: Duration,
) -> Result<std::result::Result<Live, Ended>> {
    let row = c
        .prepare_cached(
            "SELECT s.session_id, u.user_id, u.name, u.role, s.csrf, s.last_seen_at, s.created_at, u.must_change_password
             FROM session s JOIN app_user u ON u.user_id = s.user_id
             WHERE s.digest = ? AND s.ended_at IS NULL AND u.active = 1",
        )?
        .query_row([token_digest(secret)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, bool>(7)?,
            ))
        })
        .optional()?;
    let Some((session_id, user_id, name, role, csrf, seen, created, must_change_password)) = row
    else {
        return Ok(Err(Ended::Unknown));
    };
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Internal(format!("bad session time {t}: {e}")))
    };
    let (last_seen_at, created_at) = (parse(&seen)?, parse(&created)?);
    let role = Role::from_str(&role).map_err(|e| StoreError::Internal(e.to_string()))?;
    if now - last_seen_at > idle {
        return Ok(Err(Ended::Idle(session_id)));
    }
    if now - created_at > lifetime {
        return Ok(Err(Ended::Expired(session_id)));
    }
    Ok(Ok(Live {
        session_id,
        user_id,
        name,
        role,
        csrf: Secret::new(csrf),
        last_seen_at,
        created_at,
        must_change_password,
    }))
}

/// Does session `session_id` still hold (not ended, its user active, not idle past `idle` nor
/// older than `lifetime`)? Asked by a live page's stream while it is open; an idle or expired
/// session is reported so the caller can end it on the writer.
pub fn holds(
    c: &Connection,
    session_id: i64,
    now: DateTime<Utc>,
    idle: Duration,
    lifetime: Duration,
) -> Result<std::result::Result<(), Ended>> {
    let row: Option<(String, String)> = c
        .prepare_cached(
            "SELECT s.last_seen_at, s.created_at FROM session s JOIN app_user u ON u.user_id = s.user_id
             WHERE s.session_id = ? AND s.ended_at IS NULL AND u.active = 1",
        )?
        .query_row([session_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((seen, created)) = row else {
        return Ok(Err(Ended::Unknown));
    };
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Internal(format!("bad session time {t}: {e}")))
    };
    if now - parse(&seen)? > idle {
        return Ok(Err(Ended::Idle(session_id)));
    }
    if now - parse(&created)? > lifetime {
        return Ok(Err(Ended::Expired(session_id)));
    }
    Ok(Ok(()))
}

/// The user was active now.
pub fn touch(c: &Connection, session_id: i64, now: DateTime<Utc>) -> Result<()> {
    c.prepare_cached(
        "UPDATE session SET last_seen_at = ?2 WHERE session_id = ?1 AND ended_at IS NULL",
    )?
    .execute(params![session_id, stamp(now)])?;
    Ok(())
}

/// End a session on the server (sign-out, idle, expired).
pub fn end(c: &Connection, session_id: i64, reason: &str, now: DateTime<Utc>) -> Result<()> {
    c.prepare_cached("UPDATE session SET ended_at = ?2, end_reason = ?3 WHERE session_id = ?1 AND ended_at IS NULL")?
        .execute(params![session_id, stamp(now), reason])?;
    Ok(())
}

/// Count a failed sign-in against each key (`user:NAME`, `addr:IP`).
pub fn record_failure(c: &Connection, keys: &[String], now: DateTime<Utc>) -> Result<()> {
    let mut st = c.prepare_cached("INSERT INTO login_failure (key, at) VALUES (?1, ?2)")?;
    for k in keys {
        st.execute(params![k, stamp(now)])?;
    }
    Ok(())
}

/// Failed sign-ins for `key` since `since`.
pub fn failures_since(c: &Connection, key: &str, since: DateTime<Utc>) -> Result<u32> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM login_failure WHERE key = ?1 AND at >= ?2")?
            .query_row(params![key, stamp(since)], |r| r.get(0))?,
    )
}

/// A successful sign-in clears the account's failures (not the address's).
pub fn clear_failures(c: &Connection, key: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM login_failure WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// End every open session of a user but one (after a password change, ASVS 3.3.3).
pub fn end_others(c: &Connection, user_id: i64, keep: i64, now: DateTime<Utc>) -> Result<usize> {
    Ok(c.prepare_cached(
        "UPDATE session SET ended_at = ?3, end_reason = 'password-changed'
         WHERE user_id = ?1 AND session_id <> ?2 AND ended_at IS NULL",
    )?
    .execute(params![user_id, keep, stamp(now)])?)
}

/// Store a new password hash (made off the writer) and clear the one-time flag.
pub fn set_password(c: &Connection, user_id: i64, hash: &str) -> Result<()> {
    c.prepare_cached(
        "UPDATE app_user SET password_hash = ?2, must_change_password = 0 WHERE user_id = ?1",
    )?
    .execute(params![user_id, hash])?;
    Ok(())
}
