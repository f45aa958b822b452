//! The pages: server-rendered HTML (maud escapes everything by default), for clerks, nurses,
//! supervisors and admins. Views are plain functions returning `Markup`; handlers read the
//! store (patient data only through the audited path) and write only through the writer.
//! Scripts and styles are files under `/static` so the CSP can stay `default-src 'self'`.

mod admin;
mod charts;
mod display;
mod labels;
mod live;
mod places;
mod pull_list;
mod records;
mod reports;
mod requests;
mod scan;
mod signin;
mod users;

use crate::auth::{Policy::Public, Policy::User, Routes};
use crate::domain::Role::{self, Admin, Clerk, Nurse, Supervisor};
use crate::service::{AppError, Caller};
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use maud::{html, Markup, DOCTYPE};

/// The pages, each with who may see it (`auth::Policy`).
pub fn routes() -> Routes {
    Routes::new()
        .get("/static/{file}", Public, asset)
        .get("/favicon.ico", Public, favicon)
        .get("/login", Public, signin::login_page)
        .post("/login", Public, signin::login)
        .post("/logout", User(Nurse), signin::logout)
        .get("/account/password", User(Nurse), signin::password_page)
        .post("/account/password", User(Nurse), signin::change_password)
        .get("/", User(Nurse), charts::dashboard)
        .get("/events", User(Nurse), charts::events)
        .get("/volumes/{barcode}", User(Nurse), charts::volume_page)
        .post(
            "/volumes/{barcode}/break-glass",
            User(Nurse),
            charts::break_glass,
        )
        .get("/wall/{code}", User(Nurse), charts::wall)
        .get("/locations", User(Nurse), places::locations)
        .get("/locations/{code}", User(Nurse), places::location)
        .get("/stations", User(Clerk), places::stations)
        .get(
            "/stations/sheet/{profile}",
            User(Clerk),
            places::setup_sheet,
        )
        .get("/scan", User(Nurse), scan::scan_page)
        .get("/requests", User(Nurse), requests::requests_page)
        .post("/requests", User(Nurse), requests::create)
        .get("/requests/{id}", User(Nurse), requests::request_page)
        .post("/requests/{id}/cancel", User(Nurse), requests::cancel)
        .get("/events/requests", User(Nurse), requests::events)
        .get("/pull-list", User(Clerk), pull_list::pull_list)
        .get("/loose-reports", User(Clerk), records::loose_reports)
        .post("/loose-reports", User(Clerk), records::register_report)
        .get("/stocktakes", User(Clerk), records::stocktakes)
        .post("/stocktakes", User(Clerk), records::open_stocktake)
        .get("/stocktakes/{id}", User(Clerk), records::stocktake_page)
        .post(
            "/stocktakes/{id}/close",
            User(Clerk),
            records::close_stocktake,
        )
        .get("/missing", User(Supervisor), records::missing_page)
        .post("/missing", User(Supervisor), records::mark_missing)
        .post(
            "/missing/{id}/acknowledge",
            User(Supervisor),
            records::acknowledge,
        )
        .get("/labels", User(Clerk), labels::hub)
        .get("/labels/go", User(Clerk), labels::go)
        .get("/labels/sheet", User(Clerk), labels::sheet)
        .get("/labels/printed", User(Supervisor), labels::prints_report)
        .get("/labels/{kind}/{id}", User(Clerk), labels::label_page)
        .post("/labels/{kind}/{id}/print", User(Clerk), labels::print)
        .get("/reports", User(Supervisor), reports::reports_index)
        .get("/reports/{name}", User(Supervisor), reports::report)
        .get("/exceptions", User(Supervisor), admin::exceptions)
        .post(
            "/exceptions/{id}/resolve",
            User(Supervisor),
            admin::resolve_exception,
        )
        .post(
            "/exceptions/hl7/{id}/dismiss",
            User(Supervisor),
            admin::dismiss_hl7,
        )
        .get("/access-log", User(Supervisor), admin::access_log)
        .get("/admin", User(Admin), admin::admin_page)
        .post("/admin/users", User(Admin), users::add_user)
        .post("/admin/users/{name}", User(Admin), users::change_user)
        .post(
            "/admin/users/{name}/password",
            User(Admin),
            users::reset_password,
        )
        .post("/admin/users/{name}/home", User(Admin), users::set_home)
        .post("/admin/locations", User(Admin), admin::add_location)
        .post("/admin/stations", User(Admin), admin::add_station)
        .with(
            "POST",
            "/admin/import",
            User(Admin),
            axum::routing::post(admin::import).layer(DefaultBodyLimit::max(64 * 1024 * 1024)),
        )
        .merge(display::routes())
}

/// A refusal at the gate, as a page: a stranger is sent to sign in (and back to `path`
/// afterwards); a wall display's pages say the display was signed out; a fragment or a stream
/// (`auth::is_background`) gets the bare status (401, 403) for its script to act on; a signed-in user
/// whose role falls short gets a page that keeps the menu and says what the role may do; every
/// other refusal is an error page.
pub fn refusal(refusal: crate::auth::Refusal, path: &str, fragment: bool) -> Response {
    let display =
        path == "/display" || path.starts_with("/display?") || path.starts_with("/display/");
    let error = refusal.error;
    if fragment {
        let (status, says) = match error {
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "signed out".to_owned()),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            other => return PageError(other).into_response(),
        };
        return (status, [(header::CACHE_CONTROL, "no-store")], says).into_response();
    }
    if let Some((caller, need)) = &refusal.refused {
        return not_for_your_role(caller, *need, path);
    }
    match error {
        AppError::Unauthorized if display => display::signed_out_page(),
        AppError::Unauthorized => {
            axum::response::Redirect::to(&format!("/login?next={}", url_escape(path)))
                .into_response()
        }
        other => PageError(other).into_response(),
    }
}

/// Percent-encode everything but unreserved characters and '/'.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const CSS: &str = include_str!("assets/app.css");
const FAVICON: &str = include_str!("assets/favicon.svg");
const JS: &str = include_str!("assets/app.js");

/// Browsers ask for `/favicon.ico` by themselves: the same icon (an SVG, which they take).
async fn favicon() -> Response {
    asset(Path("favicon.svg".to_owned())).await
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
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

/// One entry of the menu: the least role that sees it, where it goes, and what it is for (the
/// refusal page lists these for the caller's role).
pub struct MenuItem {
    pub role: Role,
    pub href: &'static str,
    pub label: &'static str,
    pub what: &'static str,
}

/// The menu, in the order the header shows it.
pub const MENU: &[MenuItem] = &[
    MenuItem {
        role: Role::Nurse,
        href: "/",
        label: "Find a chart",
        what: "search by name, MRN or barcode and see where a chart is",
    },
    MenuItem {
        role: Role::Nurse,
        href: "/scan",
        label: "Scan",
        what: "scan charts at a station",
    },
    MenuItem {
        role: Role::Nurse,
        href: "/requests",
        label: "Requests",
        what: "ask the file room for a chart and follow it to your floor",
    },
    MenuItem {
        role: Role::Nurse,
        href: "/locations",
        label: "Locations",
        what: "what each unit, clinic and shelf holds",
    },
    MenuItem {
        role: Role::Clerk,
        href: "/pull-list",
        label: "Pull list",
        what: "the charts to pull for open requests",
    },
    MenuItem {
        role: Role::Clerk,
        href: "/loose-reports",
        label: "Loose reports",
        what: "reports waiting to be filed",
    },
    MenuItem {
        role: Role::Clerk,
        href: "/stocktakes",
        label: "Stocktakes",
        what: "count a shelf and see what is missing or misfiled",
    },
    MenuItem {
        role: Role::Clerk,
        href: "/stations",
        label: "Stations",
        what: "the scanners, their modes and links",
    },
    MenuItem {
        role: Role::Clerk,
        href: "/labels",
        label: "Labels",
        what: "print chart, shelf and cart labels, and request slips",
    },
    MenuItem {
        role: Role::Supervisor,
        href: "/missing",
        label: "Missing",
        what: "charts marked missing and where to look",
    },
    MenuItem {
        role: Role::Supervisor,
        href: "/reports",
        label: "Reports",
        what: "charged-out, overdue and turnaround reports",
    },
    MenuItem {
        role: Role::Supervisor,
        href: "/exceptions",
        label: "Exceptions",
        what: "scans no station could place",
    },
    MenuItem {
        role: Role::Supervisor,
        href: "/access-log",
        label: "Access log",
        what: "who looked at which patient's charts",
    },
    MenuItem {
        role: Role::Admin,
        href: "/admin",
        label: "Admin",
        what: "users, locations, stations and imports",
    },
];

/// A role in words, with its article ("a nurse", "an admin").
fn a_role(role: Role) -> &'static str {
    match role {
        Role::Nurse => "a nurse",
        Role::Clerk => "a file clerk",
        Role::Supervisor => "a supervisor",
        Role::Admin => "an admin",
    }
}

/// The page for a signed-in user whose role may not open `path`: the menu stays, the page says
/// which role it needs and lists what this role may do instead.
fn not_for_your_role(caller: &Caller, need: Role, path: &str) -> Response {
    let role = caller.role().unwrap_or(Role::Nurse);
    let what = MENU
        .iter()
        .find(|i| i.href != "/" && path.starts_with(i.href))
        .map(|i| i.label)
        .unwrap_or("This page");
    let body = html! {
        h1 { "Not for your role" }
        p.error { (what) " is for " (a_role(need)) @if need != Role::Admin { " or above" } "; you are signed in as " (caller.name()) ", " (a_role(role)) "." }
        p { "Ask a supervisor if you need it. As " (a_role(role)) " you can:" }
        ul.may {
            @for item in MENU.iter().filter(|i| role.at_least(i.role)) {
                li { a href=(item.href) { (item.label) } " — " (item.what) }
            }
        }
    };
    (
        StatusCode::FORBIDDEN,
        layout(Some(caller), "Not for your role", body),
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
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
                script src="/static/app.js" defer {}
            }
            body {
                @if let Some(c) = caller {
                    header.top {
                        a.brand href="/" { "chartrack" }
                        nav {
                            @for item in MENU.iter().filter(|i| may(i.role)) {
                                a href=(item.href) { (item.label) }
                            }
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
pub struct PageError(AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        use AppError::*;
        let (status, msg) = match self.0 {
            BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Unauthorized => return axum::response::Redirect::to("/login").into_response(),
            Forbidden(m) => (StatusCode::FORBIDDEN, m),
            NotFound(m) => (StatusCode::NOT_FOUND, m),
            Conflict(m) => (StatusCode::CONFLICT, m),
            Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            UnsupportedMedia(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            Unavailable(m) => {
                tracing::debug!(reason = %m, "page refused: storage unavailable");
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

/// A stored time as a person reads it, in the configured zone and naming it:
/// `2026-03-02T08:00:00.000Z` → `2026-03-02 02:00 CST` in America/Chicago, `2026-03-02 08:00 UTC`
/// in UTC (`clock::show`). Every time on the pages goes through here.
pub fn when(tz: Tz, stamp: &str) -> String {
    match crate::clock::parse_stamp(stamp) {
        Some(t) => crate::clock::show(t, tz),
        None => stamp.to_owned(),
    }
}

/// A patient's date of birth and age ("b. 1970-01-31 · 56 y"), to tell same-name patients
/// apart; nothing when it is not known.
pub fn born(birth_date: Option<&str>, today: chrono::NaiveDate) -> Markup {
    let Some(dob) = birth_date.and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return html! {};
    };
    let age = today.years_since(dob).unwrap_or(0);
    html! { span.born { "b. " (dob.format("%Y-%m-%d")) " · " (age) " y" } }
}

/// Today's date where the hospital is.
pub fn today(s: &crate::service::AppState) -> chrono::NaiveDate {
    s.store.clock().now().with_timezone(&s.tz).date_naive()
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
            Err(r) => Err(PageError(AppError::rejected(
                r.status(),
                format!("The form could not be read: {}", r.body_text()),
            ))),
        }
    }
}

/// A `before=` page cursor (the last number of the page before, in a newest-first list): none,
/// or a positive number; anything else is refused with `refusal`, never read as the first page.
pub fn page_before(
    given: Option<&str>,
    refusal: &str,
) -> Result<Option<i64>, crate::service::AppError> {
    match given.map(str::trim) {
        None | Some("") => Ok(None),
        Some(b) => b
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| crate::service::AppError::BadRequest(refusal.into())),
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
