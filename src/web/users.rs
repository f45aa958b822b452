//! The admin page's user forms: add a user, change a role or access, set a home unit, reset a
//! password. Each answers with the admin page again (`admin::after`), and each is in the access
//! log.

use super::admin::after;
use super::{PageForm, PageResult};
use crate::domain::{Barcode, Role};
use crate::service::{AppError, AppState, Caller};
use crate::store::{admin, audit};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use std::str::FromStr;

/// A one-time password checked against the policy and hashed off the async runtime (argon2
/// is CPU work).
async fn one_time_hash(password: &str) -> Result<String, AppError> {
    crate::passwords::check_policy(password).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || crate::passwords::hash(&pw))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(e.to_string()))
}

#[derive(Deserialize)]
pub struct UserForm {
    name: String,
    role: String,
    password: String,
    #[serde(default)]
    badge: String,
}

pub async fn add_user(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(f): PageForm<UserForm>,
) -> PageResult<Response> {
    let result = async {
        let role = Role::from_str(&f.role).map_err(|e| AppError::BadRequest(e.to_string()))?;
        let badge = match f.badge.trim() {
            "" => None,
            b => Some(Barcode::parse(b).map_err(|e| AppError::BadRequest(format!("badge: {e}")))?),
        };
        let hash = one_time_hash(&f.password).await?;
        let now = s.store.clock().now();
        let name = f.name.trim().to_owned();
        let n = name.clone();
        let entry = caller.access("user-added", format!("{name} as {role}"));
        s.store
            .write(move |c| {
                admin::create_user(c, &n, role, Some(&hash), badge.as_ref(), true, now)?;
                audit::append(c, &entry, now)
            })
            .await?;
        Ok(format!(
            "User {name} added as {role}; they choose their own password at first sign-in."
        ))
    }
    .await;
    after(&s, &caller, result).await
}

#[derive(Deserialize)]
pub struct HomeForm {
    /// A location code, or empty for none.
    #[serde(default)]
    home: String,
}

/// Set a user's home unit: where the request form delivers to unless told otherwise.
pub async fn set_home(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    PageForm(f): PageForm<HomeForm>,
) -> PageResult<Response> {
    let result = async {
        let home = match f.home.trim() {
            "" => None,
            code => Some(
                crate::domain::LocationCode::parse(code)
                    .map_err(|e| AppError::BadRequest(format!("home unit: {e}")))?,
            ),
        };
        let now = s.store.clock().now();
        let what = match &home {
            Some(h) => format!("{name}: home unit {h}"),
            None => format!("{name}: no home unit"),
        };
        let entry = caller.access("user-changed", what.clone());
        let n = name.clone();
        s.store
            .write(move |c| {
                admin::set_home(c, &n, home.as_ref())?;
                audit::append(c, &entry, now)
            })
            .await?;
        Ok(format!("{what}."))
    }
    .await;
    after(&s, &caller, result).await
}

#[derive(Deserialize)]
pub struct ResetForm {
    password: String,
}

/// An admin gives a user a new one-time password: they choose their own at the next sign-in,
/// and their open sessions end now.
pub async fn reset_password(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    PageForm(f): PageForm<ResetForm>,
) -> PageResult<Response> {
    let result = async {
        let hash = one_time_hash(&f.password).await?;
        let now = s.store.clock().now();
        let entry = caller.access("password-reset", name.clone());
        let n = name.clone();
        s.store
            .write(move |c| {
                admin::reset_password(c, &n, &hash, now)?;
                audit::append(c, &entry, now)
            })
            .await?;
        Ok(format!(
            "{name}'s password was reset; they choose their own at their next sign-in."
        ))
    }
    .await;
    after(&s, &caller, result).await
}

#[derive(Deserialize)]
pub struct ChangeUserForm {
    role: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    active: Option<String>,
}

pub async fn change_user(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    PageForm(f): PageForm<ChangeUserForm>,
) -> PageResult<Response> {
    let result = async {
        let role = Role::from_str(&f.role).map_err(|e| AppError::BadRequest(e.to_string()))?;
        let active = f.active.is_some();
        let now = s.store.clock().now();
        let what = format!(
            "{name}: {role}, {}",
            if active { "active" } else { "deactivated" }
        );
        let entry = caller.access("user-changed", what.clone());
        let n = name.clone();
        s.store
            .write(move |c| {
                admin::set_user(c, &n, role, active)?;
                audit::append(c, &entry, now)
            })
            .await?;
        Ok(format!("User {what}."))
    }
    .await;
    after(&s, &caller, result).await
}
