//! Signing in and changing a password. Unknown names, wrong passwords and disabled accounts
//! get the same answer after the same work (a dummy hash is verified for unknown names);
//! failures are counted per account and per address in SQLite, so the limit survives a restart.

use crate::passwords;
use crate::service::AppError;
use crate::service::AppState;
use crate::store::{audit, sessions};
use chrono::Duration;
use std::sync::OnceLock;

/// Failed sign-ins allowed per account name in [`WINDOW`].
pub const ACCOUNT_LIMIT: u32 = 5;
/// Failed sign-ins allowed per client address in [`WINDOW`].
pub const ADDRESS_LIMIT: u32 = 30;
pub fn window() -> Duration {
    Duration::minutes(15)
}

/// The answer to a sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    Opened {
        secret: crate::domain::Secret,
        must_change_password: bool,
    },
    /// Wrong name or password (never says which).
    Refused,
    /// Too many failures for this name or this address.
    Limited,
}

/// The same message for every refusal.
pub const REFUSED: &str = "The name or password is not right.";
pub const LIMITED: &str = "Too many failed sign-ins. Wait 15 minutes, or ask a supervisor to help.";

fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| passwords::hash("not-a-real-password-for-timing").expect("argon2 works"))
}

fn keys(name: &str, remote: &str) -> [String; 2] {
    [
        format!("user:{}", name.to_lowercase()),
        format!("addr:{remote}"),
    ]
}

pub async fn sign_in(
    state: &AppState,
    name: &str,
    password: &str,
    remote: &str,
) -> Result<SignIn, AppError> {
    let now = state.store.clock().now();
    let typed: String = name.chars().take(64).collect();
    let [user_key, addr_key] = keys(name, remote);
    let since = now - window();
    let (n, uk, ak) = (name.to_owned(), user_key.clone(), addr_key.clone());
    let (account, user_failures, addr_failures) = state
        .store
        .read(move |c| {
            Ok((
                sessions::account(c, &n)?,
                sessions::failures_since(c, &uk, since)?,
                sessions::failures_since(c, &ak, since)?,
            ))
        })
        .await?;
    if user_failures >= ACCOUNT_LIMIT || addr_failures >= ADDRESS_LIMIT {
        let entry = audit::Access {
            user_id: None,
            actor: typed.clone(),
            action: "sign-in-limited",
            subject: typed,
            remote: remote.to_owned(),
        };
        state
            .store
            .write(move |c| audit::append(c, &entry, now))
            .await?;
        return Ok(SignIn::Limited);
    }
    // Argon2 is CPU work: off the async runtime. Unknown names verify a dummy hash.
    let phc = account
        .as_ref()
        .filter(|a| a.active)
        .and_then(|a| a.password_hash.clone());
    let pw = password.to_owned();
    let good = tokio::task::spawn_blocking(move || {
        let ok = passwords::verify(&pw, phc.as_deref().unwrap_or(dummy_hash()));
        ok && phc.is_some()
    })
    .await
    .map_err(|e| AppError::Internal(format!("password check failed: {e}")))?;
    let remote = remote.to_owned();
    match account.filter(|_| good) {
        None => {
            state
                .store
                .write(move |c| {
                    sessions::record_failure(c, &[user_key, addr_key], now)?;
                    let entry = audit::Access {
                        user_id: None,
                        actor: typed.clone(),
                        action: "sign-in-failed",
                        subject: typed,
                        remote,
                    };
                    audit::append(c, &entry, now)
                })
                .await?;
            Ok(SignIn::Refused)
        }
        Some(a) => {
            let must_change_password = a.must_change_password;
            let opened = state
                .store
                .write(move |c| {
                    sessions::clear_failures(c, &user_key)?;
                    let opened = sessions::open(c, a.id, &remote, now)?;
                    let entry = audit::Access {
                        user_id: Some(a.id),
                        actor: a.name.clone(),
                        action: "sign-in",
                        subject: a.name,
                        remote,
                    };
                    audit::append(c, &entry, now)?;
                    Ok(opened)
                })
                .await?;
            Ok(SignIn::Opened {
                secret: opened.secret,
                must_change_password,
            })
        }
    }
}

/// Change the signed-in user's password; other sessions of the user are ended.
pub async fn change_password(
    state: &AppState,
    caller: &super::Caller,
    current: &str,
    new: &str,
) -> Result<(), AppError> {
    let crate::store::query::Principal::User { id, name, .. } = &caller.principal else {
        return Err(AppError::Forbidden("stations have no password".into()));
    };
    passwords::check_policy(new).map_err(|e| AppError::BadRequest(e.to_string()))?;
    if new == current {
        return Err(AppError::BadRequest(
            "the new password must differ from the current one".into(),
        ));
    }
    let n = name.clone();
    let account = state
        .store
        .read(move |c| sessions::account(c, &n))
        .await?
        .ok_or(AppError::Unauthorized)?;
    let (cur, new_pw, phc) = (current.to_owned(), new.to_owned(), account.password_hash);
    let hash = tokio::task::spawn_blocking(move || {
        if !passwords::verify(&cur, phc.as_deref().unwrap_or(dummy_hash())) || phc.is_none() {
            return Ok(None);
        }
        passwords::hash(&new_pw).map(Some)
    })
    .await
    .map_err(|e| AppError::Internal(format!("hashing failed: {e}")))?
    .map_err(|e| AppError::Internal(e.to_string()))?
    .ok_or_else(|| AppError::BadRequest("the current password is not right".into()))?;
    let now = state.store.clock().now();
    let (uid, keep) = (*id, caller.session.as_ref().map(|s| s.id).unwrap_or(-1));
    let entry = caller.access("password-changed", name.clone());
    state
        .store
        .write(move |c| {
            sessions::set_password(c, uid, &hash)?;
            sessions::end_others(c, uid, keep, now)?;
            audit::append(c, &entry, now)
        })
        .await?;
    Ok(())
}

/// End the caller's session on the server.
pub async fn sign_out(state: &AppState, caller: &super::Caller) -> Result<(), AppError> {
    let Some(s) = &caller.session else {
        return Ok(());
    };
    let now = state.store.clock().now();
    let id = s.id;
    let entry = caller.access("sign-out", caller.name().to_owned());
    state
        .store
        .write(move |c| {
            sessions::end(c, id, "sign-out", now)?;
            audit::append(c, &entry, now)
        })
        .await?;
    Ok(())
}
