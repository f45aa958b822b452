//! Wall displays: a screen left on a wall or at a floor's desk shows one location's charts
//! (masked, restricted ones left off) with nobody signed in. An admin creates a display for a
//! location on the admin page and opens its link once on the screen: the link sets the
//! display's own cookie (`auth::display_cookie_name`) and leads to `/display`. That cookie opens
//! the display page, its list and its stream, and nothing else; a person's session opens none
//! of them. The page has no menu and names nobody; its reads are in the access log as
//! `display:<label>`. Revoking the display signs the screen out: its stream sends `signed-out`
//! and the page says "ask an admin".

use super::{when, PageError, PageForm, PageResult};
use crate::auth::{set_display_cookie, Policy, Routes};
use crate::domain::{LocationCode, Secret};
use crate::service::{AppError, AppState, Caller};
use crate::store::displays::{self, DisplayView};
use crate::store::query::{LocationView, Principal};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono_tz::Tz;
use futures_util::stream::{self, StreamExt};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

/// What a wall screen says when its display is no more (revoked, or the cookie lost).
pub const SIGNED_OUT: &str =
    "This display was signed out or revoked — ask an admin to set it up again.";

/// The display's routes, and the admin's forms for displays.
pub fn routes() -> Routes {
    use crate::domain::Role::{Admin, Nurse};
    Routes::new()
        .get("/display/{secret}", Policy::Public, open)
        .get("/display", Policy::Display, page)
        .get("/display/events", Policy::Display, events)
        .get("/display/session", Policy::Display, still_here)
        .get("/session", Policy::User(Nurse), still_here)
        .post("/admin/displays", Policy::User(Admin), create)
        .post("/admin/displays/{id}/revoke", Policy::User(Admin), revoke)
}

/// A page of its own: no menu, no one's name, large type.
fn display_layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · chartrack" }
                link rel="stylesheet" href="/static/app.css";
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
                script src="/static/app.js" defer {}
            }
            body.display data-probe="/display/session" { main { (body) } }
        }
    }
}

/// A screen without a (live) display: said on the page, in words, with nothing else on it.
pub fn signed_out_page() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        display_layout(
            "Display signed out",
            html! { div.signed-out role="alert" { p { (SIGNED_OUT) } } },
        ),
    )
        .into_response()
}

/// The display's link, opened once on the wall screen: sets the display's cookie and leads to
/// the display page. An unknown or revoked link changes nothing and says so.
pub async fn open(State(s): State<AppState>, Path(secret): Path<String>) -> Response {
    let valid = secret.len() <= 128 && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    let found = if valid {
        let key = secret.clone();
        match s.store.read(move |c| displays::by_secret(c, &key)).await {
            Ok(found) => found,
            Err(e) => return PageError::from(e).into_response(),
        }
    } else {
        None
    };
    if found.is_none() {
        return (
            StatusCode::NOT_FOUND,
            display_layout(
                "Display link not valid",
                html! { div.signed-out role="alert" { p { "This display link is not valid or was revoked — ask an admin for a new one." } } },
            ),
        )
            .into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                set_display_cookie(&s.sessions, &Secret::new(secret)),
            ),
            (header::LOCATION, "/display".parse().expect("ASCII")),
        ],
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct DisplayQuery {
    /// `list`: only the list (the page's script refreshes it after each scan).
    part: Option<String>,
}

fn location_of(caller: &Caller) -> Result<String, AppError> {
    match &caller.principal {
        Principal::Display { location, .. } => Ok(location.clone()),
        _ => Err(AppError::Forbidden(
            "only a wall display opens this page".into(),
        )),
    }
}

/// The display page: the location's charts here and on their way, masked, in large type,
/// refreshed after each scan.
pub async fn page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<DisplayQuery>,
) -> PageResult<Response> {
    let code = location_of(&caller)?;
    let (l, list) = super::charts::wall_list(&s, &caller, &code).await?;
    if q.part.as_deref() == Some("list") {
        return Ok(list.into_response());
    }
    Ok(display_layout(
        &l.name,
        html! {
            section.wallpage.displaypage data-display="/display/events" data-wall="/display?part=list"
                data-signed-out=(SIGNED_OUT) {
                header.display-head {
                    h1 { (l.name) }
                    span.live data-state="connecting" { "connecting" }
                }
                (list)
            }
        },
    )
    .into_response())
}

/// The display's stream: a `changed` event (nothing of the scan itself) after each committed scan, so the page
/// refetches its list; `signed-out` when the display is revoked. Ends at shutdown.
pub async fn events(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> PageResult<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>> {
    location_of(&caller)?;
    let rx = s.store.subscribe();
    let mut shutdown = s.shutdown.clone();
    let changes = stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some(((), rx)),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    })
    // Browsers drop an event whose data is empty: say what it is.
    .map(|()| Ok(Event::default().event("changed").data("a scan")))
    .take_until(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    let stream = super::live::while_access_holds(s, caller, changes);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// 204 while the caller's access holds; the gate answers 401 once it has ended. A live page
/// asks when its stream fails, to tell "signed out" from "the server is away".
pub async fn still_here() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The admin page's section: the displays, a form to create one, a button to revoke each.
pub(super) fn admin_section(
    tz: Tz,
    csrf: &str,
    list: &[DisplayView],
    locs: &[LocationView],
) -> Markup {
    html! {
        section #displays {
            h2 { "Wall displays" }
            p { "A screen left on a wall shows one location's charts (initials and the last digits of the MRN) "
                "with nobody signed in, and can open no other page. Create a display, then open its link once on that screen. "
                "Revoke it when the screen is moved or lost: the screen then says it was signed out." }
            @if !list.is_empty() {
                table.list {
                    thead { tr { th { "Location" } th { "Label" } th { "Created" } th { "Last seen" } th { "" } } }
                    tbody {
                        @for d in list {
                            tr class=(if d.revoked_at.is_some() { "revoked" } else { "" }) {
                                td { (d.location_name) " (" (d.location_code) ")" }
                                td { (d.label) }
                                td { (when(tz, &d.created_at)) @if let Some(by) = &d.created_by { " by " (by) } }
                                td { @match &d.last_seen_at { Some(t) => { (when(tz, t)) }, None => { "never opened" } } }
                                td {
                                    @if let Some(t) = &d.revoked_at { "revoked " (when(tz, t)) }
                                    @else {
                                        form.inline method="post" action={ "/admin/displays/" (d.id) "/revoke" }
                                            data-confirm={ "Revoke the display “" (d.label) "”? Its screen stops showing charts within seconds." } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form.grid method="post" action="/admin/displays" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Location" select name="location" { @for l in locs { option value=(l.code) { (l.code) " — " (l.name) } } } }
                label { "Label (where the screen is)" input name="label" required maxlength=(displays::LABEL_MAX) placeholder="Ward 4 corridor"; }
                button type="submit" { "Create display" }
            }
        }
    }
}

/// The displays, for the admin page.
pub(super) async fn admin_list(s: &AppState) -> Result<Vec<DisplayView>, AppError> {
    Ok(s.store.read(displays::list).await?)
}

#[derive(Deserialize)]
pub struct CreateForm {
    location: String,
    label: String,
}

/// Create a display; its link is shown on this answer only.
pub async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    PageForm(f): PageForm<CreateForm>,
) -> PageResult<Response> {
    let made = async {
        let by = caller
            .user_id()
            .ok_or_else(|| AppError::Forbidden("only a signed-in admin can do this".into()))?;
        let location = LocationCode::parse(f.location.trim())
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        let label = f.label.trim().to_owned();
        let now = s.store.clock().now();
        let (_, secret) = s
            .store
            .write(move |c| displays::create(c, &location, &label, by, now))
            .await?;
        Ok::<_, AppError>(secret)
    }
    .await;
    let secret = match made {
        Ok(secret) => secret,
        Err(e) => return super::admin::after(&s, &caller, Err(e)).await,
    };
    let path = format!("/display/{}", secret.expose());
    let link = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => {
            let scheme = if s.sessions.secure_cookies {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}{path}")
        }
        None => path,
    };
    Ok(super::layout(
        Some(&caller),
        "Display created",
        html! {
            h1 { "Display created: " (f.label.trim()) }
            p { "Open this link once on the wall screen (type it, or open it there and bookmark nothing). "
                "It is shown only now; if it is lost, revoke this display and create another." }
            p.secret-link { code #display-link { (link) } }
            p { a href="/admin#displays" { "Back to the admin page" } }
        },
    )
    .into_response())
}

/// Revoke a display: its screen is signed out within seconds (its stream ends, its page says so).
pub async fn revoke(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let result = async {
        let id: i64 = id
            .parse()
            .map_err(|_| AppError::NotFound(format!("there is no display {id}")))?;
        let by = caller
            .user_id()
            .ok_or_else(|| AppError::Forbidden("only a signed-in admin can do this".into()))?;
        let now = s.store.clock().now();
        let label = s
            .store
            .write(move |c| displays::revoke(c, id, by, now))
            .await?;
        Ok(format!(
            "Display “{label}” revoked; its screen now says it was signed out."
        ))
    }
    .await;
    super::admin::after(&s, &caller, result).await
}
