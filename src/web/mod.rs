//! The pages: server-rendered HTML (maud escapes everything by default), for clerks, nurses,
//! supervisors and admins. Views are plain functions returning `Markup`; handlers read the
//! store (patient data only through the audited path) and write only through the writer.
//! Scripts and styles are files under `/static` so the CSP can stay `default-src 'self'`.

mod admin;
mod charts;
mod places;
mod records;
mod requests;
mod scan;
mod signin;

use crate::api::{self, AppState};
use crate::auth::{self, Caller};
use crate::domain::Role;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};

/// The whole application: the API and the pages behind one access policy.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(auth::security_headers))
        .with_state(state)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/{file}", get(asset))
        .route("/login", get(signin::login_page).post(signin::login))
        .route("/logout", post(signin::logout))
        .route(
            "/account/password",
            get(signin::password_page).post(signin::change_password),
        )
        .route("/", get(charts::dashboard))
        .route("/events", get(charts::events))
        .route("/volumes/{barcode}", get(charts::volume_page))
        .route("/wall/{code}", get(charts::wall))
        .route("/locations", get(places::locations))
        .route("/locations/{code}", get(places::location))
        .route("/stations", get(places::stations))
        .route("/stations/sheet/{profile}", get(places::setup_sheet))
        .route("/scan", get(scan::scan_page))
        .route(
            "/requests",
            get(requests::requests_page).post(requests::create),
        )
        .route("/requests/{id}", get(requests::request_page))
        .route("/requests/{id}/cancel", post(requests::cancel))
        .route("/events/requests", get(requests::events))
        .route("/pull-list", get(requests::pull_list))
        .route(
            "/missing",
            get(records::missing_page).post(records::mark_missing),
        )
        .route("/missing/{id}/acknowledge", post(records::acknowledge))
        .route(
            "/loose-reports",
            get(records::loose_reports).post(records::register_report),
        )
        .route(
            "/stocktakes",
            get(records::stocktakes).post(records::open_stocktake),
        )
        .route("/stocktakes/{id}", get(records::stocktake_page))
        .route("/stocktakes/{id}/close", post(records::close_stocktake))
        .route("/reports", get(records::reports_index))
        .route("/reports/{name}", get(records::report))
        .route("/exceptions", get(admin::exceptions))
        .route("/exceptions/{id}/resolve", post(admin::resolve_exception))
        .route("/access-log", get(admin::access_log))
        .route("/admin", get(admin::admin_page))
        .route("/admin/users", post(admin::add_user))
        .route("/admin/users/{name}", post(admin::change_user))
        .route("/admin/locations", post(admin::add_location))
        .route("/admin/stations", post(admin::add_station))
        .route(
            "/admin/import",
            post(admin::import).layer(DefaultBodyLimit::max(64 * 1024 * 1024)),
        )
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if auth::is_page(uri.path()) {
        error_page(StatusCode::NOT_FOUND, "There is no such page.")
    } else {
        api::error::ApiError::NotFound("no such route".into()).into_response()
    }
}

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return error_page(StatusCode::NOT_FOUND, "There is no such file."),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// A page with the site's header (navigation by role) around `body`.
pub fn layout(caller: Option<&Caller>, title: &str, body: Markup) -> Markup {
    let role = caller.and_then(Caller::role);
    let may = |r: Role| role.is_some_and(|have| have.at_least(r));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(c) = caller {
                    meta name="csrf-token" content=(c.csrf());
                }
                title { (title) " · chartrack" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                @if let Some(c) = caller {
                    header.top {
                        a.brand href="/" { "chartrack" }
                        nav {
                            a href="/" { "Find a chart" }
                            a href="/scan" { "Scan" }
                            a href="/requests" { "Requests" }
                            a href="/locations" { "Locations" }
                            @if may(Role::Clerk) {
                                a href="/pull-list" { "Pull list" }
                                a href="/loose-reports" { "Loose reports" }
                                a href="/stocktakes" { "Stocktakes" }
                                a href="/stations" { "Stations" }
                            }
                            @if may(Role::Supervisor) {
                                a href="/missing" { "Missing" }
                                a href="/reports" { "Reports" }
                                a href="/exceptions" { "Exceptions" }
                                a href="/access-log" { "Access log" }
                            }
                            @if may(Role::Admin) { a href="/admin" { "Admin" } }
                        }
                        form.signout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(c.csrf());
                            span.who { (c.name()) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page that says what went wrong, in words.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { (status.canonical_reason().unwrap_or("Error")) }
        p.error { (message) }
        p { a href="/" { "Back to the dashboard" } }
    };
    (status, layout(None, "Error", body)).into_response()
}

/// Handlers' errors become error pages (the API's become JSON).
pub struct PageError(api::error::ApiError);

impl<E: Into<api::error::ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        use api::error::ApiError::*;
        let (status, msg) = match self.0 {
            BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Unauthorized => return axum::response::Redirect::to("/login").into_response(),
            Forbidden(m) => (StatusCode::FORBIDDEN, m),
            NotFound(m) => (StatusCode::NOT_FOUND, m),
            Conflict(m) => (StatusCode::CONFLICT, m),
            Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            Unavailable(m) => {
                tracing::warn!(reason = %m, "page refused: storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Not saved: {m}. Try again."),
                )
            }
            Internal(m) => {
                tracing::error!(detail = %m, "internal error on a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong; it has been logged.".into(),
                )
            }
        };
        error_page(status, &msg)
    }
}

pub type PageResult<T = Markup> = Result<T, PageError>;

/// `2026-03-02T08:00:00.000Z` → `2026-03-02 08:00 UTC` (what a person reads).
pub fn when(stamp: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(stamp) {
        Ok(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => stamp.to_owned(),
    }
}

/// Status words people use.
pub fn status_words(status: &str) -> &'static str {
    match status {
        "on_shelf" => "On the shelf",
        "in_transit" => "In transit",
        "at_location" => "Out",
        "missing" => "Missing",
        _ => "Unknown",
    }
}

/// Initials and the last four digits of the MRN: enough to pick a chart off a cart, not
/// enough to identify a patient across a room (the wall display, minimum necessary).
pub fn masked(last: &str, first: &str, mrn: &str) -> String {
    let initial = |s: &str| {
        s.chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default()
    };
    let digits: String = mrn
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}{} ·{digits}", initial(first), initial(last))
}

/// A URL-encoded form whose rejection is an error page that says what was wrong.
pub struct PageForm<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for PageForm<T> {
    type Rejection = PageError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, PageError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(r) => Err(PageError(api::error::ApiError::BadRequest(format!(
                "The form could not be read: {}",
                r.body_text()
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masking_keeps_initials_and_four_digits() {
        assert_eq!(super::masked("O'Brien", "ann", "00123456"), "AO ·3456");
        assert_eq!(super::masked("", "", "12"), " ·12");
    }
}
