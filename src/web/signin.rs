//! Sign-in, sign-out and changing one's password.

use super::{layout, PageForm, PageResult};
use crate::auth::{self, login};
use crate::service::AppState;
use crate::service::Caller;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// Only a path on this site (never `//host` or a URL) may be the place to go after signing in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && n.len() < 500 =>
        {
            n
        }
        _ => "/",
    }
}

fn login_form(next: &str, message: Option<&str>) -> Markup {
    layout(
        None,
        "Sign in",
        html! {
            section.signin {
                h1 { "chartrack" }
                p { "Sign in to find and move charts." }
                @if let Some(m) = message { p.error role="alert" { (m) } }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label { "Name" input name="name" autocomplete="username" required autofocus maxlength="64"; }
                    label { "Password" input name="password" type="password" autocomplete="current-password" required maxlength="128"; }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub async fn login_page(Query(q): Query<Next>) -> Markup {
    login_form(safe_next(q.next.as_deref()), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> PageResult<Response> {
    let next = safe_next(form.next.as_deref()).to_owned();
    // Login CSRF: the form must be posted from this site.
    if auth::cross_site(&headers) {
        return Ok((
            StatusCode::FORBIDDEN,
            login_form(&next, Some("Refused: the sign-in came from another site.")),
        )
            .into_response());
    }
    let name = form.name.trim();
    if name.is_empty() || name.len() > 64 || form.password.len() > 128 {
        return Ok((
            StatusCode::UNAUTHORIZED,
            login_form(&next, Some(login::REFUSED)),
        )
            .into_response());
    }
    let remote = auth::client_address(addr.ip(), &headers, &state.trusted_proxies).to_string();
    Ok(
        match login::sign_in(&state, name, &form.password, &remote).await? {
            login::SignIn::Opened {
                secret,
                must_change_password,
            } => {
                let to = if must_change_password {
                    "/account/password"
                } else {
                    &next
                };
                (
                    [(
                        header::SET_COOKIE,
                        auth::set_cookie(&state.sessions, Some(&secret)),
                    )],
                    Redirect::to(to),
                )
                    .into_response()
            }
            login::SignIn::Refused => (
                StatusCode::UNAUTHORIZED,
                login_form(&next, Some(login::REFUSED)),
            )
                .into_response(),
            login::SignIn::Limited => (
                StatusCode::TOO_MANY_REQUESTS,
                login_form(&next, Some(login::LIMITED)),
            )
                .into_response(),
        },
    )
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> PageResult<Response> {
    login::sign_out(&state, &caller).await?;
    Ok((
        [(header::SET_COOKIE, auth::set_cookie(&state.sessions, None))],
        Redirect::to("/login"),
    )
        .into_response())
}

fn password_form(caller: &Caller, message: Option<(&str, bool)>) -> Markup {
    layout(
        Some(caller),
        "Change password",
        html! {
            h1 { "Change your password" }
            p { "At least 12 characters. Signing in elsewhere with the old password stops working." }
            @if let Some((m, ok)) = message {
                p class=(if ok { "ok" } else { "error" }) role="alert" { (m) }
            }
            form.narrow method="post" action="/account/password" {
                input type="hidden" name="csrf" value=(caller.csrf());
                label { "Current password" input name="current" type="password" autocomplete="current-password" required; }
                label { "New password" input name="new" type="password" autocomplete="new-password" required minlength="12" maxlength="128"; }
                button type="submit" { "Change password" }
            }
        },
    )
}

pub async fn password_page(Extension(caller): Extension<Caller>) -> Markup {
    password_form(&caller, None)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    match login::change_password(&state, &caller, &form.current, &form.new).await {
        Ok(()) => password_form(&caller, Some(("Your password is changed.", true))).into_response(),
        Err(crate::service::AppError::BadRequest(m)) => (
            StatusCode::BAD_REQUEST,
            password_form(&caller, Some((&m, false))),
        )
            .into_response(),
        Err(e) => super::PageError::from(e).into_response(),
    }
}
