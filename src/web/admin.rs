//! Supervisors' and admins' pages: exceptions (with how to resolve each), the access log, and
//! the admin page (locations, stations, CSV import with per-line errors; its user forms are
//! answered in `web::users`).

use super::{layout, when, PageError, PageForm, PageResult};
use crate::domain::{LocationCode, Mode, StationAccess};
use crate::service::AppError;
use crate::service::AppState;
use crate::service::Caller;
use crate::store::admin::{self, NewStation};
use crate::store::audit;
use crate::store::query::{self, Principal};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono_tz::Tz;
use maud::{html, Markup};
use serde::Deserialize;
use std::str::FromStr;

fn user_id(caller: &Caller) -> Result<i64, AppError> {
    match &caller.principal {
        Principal::User { id, .. } => Ok(*id),
        Principal::Station { .. } | Principal::Display { .. } => Err(AppError::Forbidden(
            "only a signed-in person can do this".into(),
        )),
    }
}

#[derive(Deserialize, Default)]
pub struct ExceptionsQuery {
    #[serde(default)]
    all: bool,
}

pub async fn exceptions(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ExceptionsQuery>,
) -> PageResult {
    let tz = s.tz;
    let all = q.all;
    let list = s
        .store
        .read(move |c| query::exceptions(c, !all, 500))
        .await?;
    // Messages from the hospital's feeds that were not applied (their raw text is patient
    // data: read after the access-log entry, and only when there are some).
    let feed = if s.store.read(crate::store::hl7::count_unapplied).await? > 0 {
        s.store
            .audited(caller.access("view-hl7-exceptions", "exceptions"), |c| {
                crate::store::hl7::unapplied(c, 200)
            })
            .await?
    } else {
        Vec::new()
    };
    Ok(layout(
        Some(&caller),
        "Exceptions",
        html! {
            h1 { "Exceptions" }
            p { "Values a station could not place: unknown barcodes and unreadable scans. "
                "Register an unknown chart (Admin), then mark it registered; or ignore a misread. "
                @if all { a href="/exceptions" { "Show open only" } } @else { a href="/exceptions?all=true" { "Show all" } } }
            @if list.is_empty() { p.empty { @if feed.is_empty() { "Nothing to resolve." } @else { "No scans to resolve." } } }
            @else {
                table.list {
                    thead { tr { th { "When" } th { "Station" } th { "What" } th { "Value" } th { "Resolve" } } }
                    tbody {
                        @for e in &list {
                            tr {
                                td { (when(tz, &e.created_at)) }
                                td { (e.station) }
                                td { (e.kind) }
                                td { code { (e.value) } }
                                td {
                                    @if let Some(r) = &e.resolution { (r) " " small { (when(tz, e.resolved_at.as_deref().unwrap_or(""))) } }
                                    @else {
                                        form.inline method="post" action={ "/exceptions/" (e.id) "/resolve" } {
                                            input type="hidden" name="csrf" value=(caller.csrf());
                                            button name="resolution" value="ignored" { "Ignore" }
                                            button name="resolution" value="registered" { "Mark registered" }
                                        }
                                        " " a href={ "/admin?barcode=" (super::url_escape(&e.value)) "#volume" } { "register it" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !feed.is_empty() {
                h2 #hl7 { "Hospital feed messages not applied" }
                p { "HL7 messages chartrack answered AE (understood, not applicable: an unknown patient or location) or AR (unreadable, or a kind chartrack does not take). "
                    "Fix the cause (create the location or map it in [hl7.locations]), then have the interface engine send the message again." }
                table.list.hl7 {
                    thead { tr { th { "When" } th { "From" } th { "Message" } th { "Answer" } th { "Reason" } th { "Text" } th { "Done with it" } } }
                    tbody {
                        @for m in &feed {
                            tr {
                                td { (when(tz, &m.received_at)) }
                                td { (m.sender) }
                                td { (m.kind) " " (m.control_id) }
                                td { (m.ack_code) }
                                td { (m.reason) }
                                td { details { summary { "raw text" } pre { (m.raw.replace('\r', "\n")) } } }
                                td {
                                    form.inline method="post" action={ "/exceptions/hl7/" (m.id) "/dismiss" } {
                                        input type="hidden" name="csrf" value=(caller.csrf());
                                        button { "Dismiss" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct ResolveForm {
    resolution: String,
}

pub async fn resolve_exception(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    PageForm(f): PageForm<ResolveForm>,
) -> PageResult<Response> {
    let uid = user_id(&caller)?;
    let now = s.store.clock().now();
    s.store
        .write(move |c| admin::resolve_exception(c, id, uid, &f.resolution, now))
        .await?;
    Ok(Redirect::to("/exceptions").into_response())
}

/// Take a feed message not applied off the list (it stays recorded).
pub async fn dismiss_hl7(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> PageResult<Response> {
    let uid = user_id(&caller)?;
    let now = s.store.clock().now();
    s.store
        .write(move |c| crate::store::hl7::dismiss(c, id, uid, now))
        .await?;
    Ok(Redirect::to("/exceptions#hl7").into_response())
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    subject: Option<String>,
    /// Walk the whole chain now (the page's button), not just show the background check's.
    verify: Option<String>,
    /// The next page: entries numbered below this.
    before: Option<String>,
}

/// Entries a page of the access log shows, newest first.
const LOG_LISTED: u32 = 300;

pub async fn access_log(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<LogQuery>,
) -> PageResult {
    let tz = s.tz;
    let subject = q.subject.filter(|t| !t.trim().is_empty());
    let before = super::page_before(
        q.before.as_deref(),
        "That is not a page of the access log: go back to the newest entries.",
    )?;
    let sub = subject.clone();
    let rows = s
        .store
        .read(move |c| audit::recent(c, sub.as_deref(), before, LOG_LISTED))
        .await?;
    let with_subject = subject
        .as_deref()
        .map(|t| format!("&subject={}", super::url_escape(t)))
        .unwrap_or_default();
    let older = (rows.len() == LOG_LISTED as usize)
        .then(|| rows.last().map(|r| r.entry_id))
        .flatten();
    // The whole chain is walked when a supervisor asks; otherwise the page shows what the
    // background check (at start, then daily) found: at a million entries a walk takes seconds.
    let checked = if q.verify.is_some() {
        let finding = match s
            .store
            .verify_audit()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
        {
            Ok(v) => Ok(v),
            Err(broken) => Err(broken.to_string()),
        };
        Some(crate::store::Checked {
            at: s.store.clock().now(),
            finding,
        })
    } else {
        s.store.audit_checked()
    };
    Ok(layout(
        Some(&caller),
        "Access log",
        html! {
            h1 { "Access log" }
            @match checked.as_ref().map(|c| (&c.finding, &c.at)) {
                Some((Ok(v), at)) => p.ok {
                    "Chain intact: " (v.entries) " entries"
                    @if v.keyed_from > 1 { " (keyed from entry " (v.keyed_from) ")" }
                    "."
                    @match &v.anchor {
                        Some(a) => { " Agrees with the newest anchor: entry " (a.entries) ", written " (when(tz, &a.at)) " to " code { (s.store.anchor_path().display()) } "." }
                        None => { " No anchor written yet (one is written every minute the log grows, and at shutdown)." }
                    }
                    " Checked " (when(tz, &crate::clock::stamp(*at))) "."
                }
                Some((Err(b), at)) => p.error role="alert" { (b) " (checked " (when(tz, &crate::clock::stamp(*at))) ")" }
                None => p { "The chain is being checked in the background (at start, then daily)." }
            }
            form method="get" action="/access-log" {
                input type="hidden" name="verify" value="now";
                button type="submit" { "Check the whole chain now" }
            }
            form.search method="get" action="/access-log" {
                div.row {
                    input name="subject" value=(subject.as_deref().unwrap_or("")) placeholder="A barcode, location code or user name";
                    button type="submit" { "Show who looked" }
                }
            }
            p.count {
                "Newest first, " (LOG_LISTED) " to a page"
                @if let Some(t) = &subject { ", entries about " strong { (t) } }
                @if let (Some(first), Some(last)) = (rows.first(), rows.last()) { ": entries " (last.entry_id) " to " (first.entry_id) "." }
                @else { ": none." }
            }
            table.list {
                thead { tr { th { "#" } th { "When" } th { "Who" } th { "Did" } th { "What" } th { "From" } } }
                tbody {
                    @for r in &rows {
                        tr { td { (r.entry_id) } td { (when(tz, &r.at)) } td { (r.actor) } td { (r.action) } td { (r.subject) } td { (r.remote) } }
                    }
                }
            }
            p.pages {
                @if before.is_some() { a href={ "/access-log?" (with_subject.trim_start_matches('&')) } { "← Newest" } " " }
                @if let Some(id) = older { a href={ "/access-log?before=" (id) (with_subject) } { "Older →" } }
            }
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    barcode: Option<String>,
    done: Option<String>,
}

// Each section's data, as read; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn admin_view(
    tz: Tz,
    caller: &Caller,
    users: &[query::UserView],
    locs: &[query::LocationView],
    stations: &[query::StationView],
    q: &AdminQuery,
    error: Option<&str>,
    displays: &[crate::store::displays::DisplayView],
) -> Markup {
    let csrf = caller.csrf();
    layout(
        Some(caller),
        "Admin",
        html! {
            h1 { "Admin" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if let Some(d) = &q.done { p.ok role="status" { (d) } }
            section #users {
                h2 { "Users and roles" }
                table.list {
                    thead { tr { th { "Name" } th { "Role and access" } th { "Badge" } th { "Since" } } }
                    tbody { @for u in users { tr { td { (u.name) }
                        td {
                            form.inline method="post" action={ "/admin/users/" (super::url_escape(&u.name)) } {
                                input type="hidden" name="csrf" value=(csrf);
                                select name="role" aria-label={ "role of " (u.name) } {
                                    @for r in ["nurse", "clerk", "supervisor", "admin"] { option selected[r == u.role] { (r) } }
                                }
                                label.check { input type="checkbox" name="active" value="true" checked[u.active]; "active" }
                                button type="submit" { "Save" }
                            }
                            form.inline.home method="post" action={ "/admin/users/" (super::url_escape(&u.name)) "/home" } {
                                input type="hidden" name="csrf" value=(csrf);
                                select name="home" aria-label={ "home unit of " (u.name) } {
                                    option value="" { "no home unit" }
                                    @for l in locs.iter().filter(|l| !matches!(l.kind.as_str(), "shelf" | "desk" | "container")) {
                                        option value=(l.code) selected[u.home.as_deref() == Some(l.code.as_str())] { (l.name) " (" (l.code) ")" }
                                    }
                                }
                                button type="submit" { "Set home unit" }
                            }
                            form.inline.reset method="post" action={ "/admin/users/" (super::url_escape(&u.name)) "/password" } {
                                input type="hidden" name="csrf" value=(csrf);
                                input name="password" type="password" required minlength="12" maxlength="128" autocomplete="new-password"
                                    placeholder="new one-time password" aria-label={ "new one-time password for " (u.name) };
                                button type="submit" { "Reset password" }
                            }
                        }
                        td { (if u.has_badge { "yes" } else { "—" }) } td { (when(tz, &u.created_at)) } } } }
                }
                form.grid method="post" action="/admin/users" {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "Name" input name="name" required maxlength="64" pattern="[A-Za-z0-9._-]+"; }
                    label { "Role" select name="role" { @for r in ["nurse", "clerk", "supervisor", "admin"] { option { (r) } } } }
                    label { "One-time password" input name="password" type="password" required minlength="12" maxlength="128" autocomplete="new-password"; }
                    label { "Badge barcode (optional)" input name="badge" maxlength="64"; }
                    button type="submit" { "Add user" }
                }
            }
            section #locations {
                h2 { "Locations" }
                p { (locs.len()) " locations. " a href="/locations" { "See them all" } }
                form.grid method="post" action="/admin/locations" {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "Code" input name="code" required maxlength="32"; }
                    label { "Name" input name="name" required maxlength="100"; }
                    label { "Kind" select name="kind" { @for k in ["shelf", "desk", "unit", "clinic", "office", "offsite", "person", "container"] { option { (k) } } } }
                    label { "Barcode (blank: issue one)" input name="barcode" maxlength="64"; }
                    button type="submit" { "Add location" }
                }
            }
            section #stations {
                h2 { "Stations" }
                p { (stations.len()) " stations. Serial and USB scanners are set in chartrack.toml; stations added here are browser or agent stations. " a href="/stations" { "See them all" } }
                @if stations.iter().any(|st| !st.access().is_open()) {
                    ul.station-access {
                        @for st in stations.iter().filter(|st| !st.access().is_open()) {
                            li { strong { (st.id) } ": only " (st.access().who()) }
                        }
                    }
                }
                form.grid method="post" action="/admin/stations" {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "Station id" input name="id" required maxlength="64"; }
                    label { "Location" select name="location" { @for l in locs { option value=(l.code) { (l.code) " — " (l.name) } } } }
                    label { "Mode" select name="mode" { @for m in ["check-out", "check-in", "receive", "transfer", "file", "inventory"] { option { (m) } } } }
                    label { "Roles allowed (blank: anyone)" input name="roles" maxlength="200" placeholder="clerk, supervisor"; }
                    label { "Home units allowed" input name="locations" maxlength="400" placeholder="4W"; }
                    button type="submit" { "Add or change station" }
                }
            }
            (super::display::admin_section(tz, csrf, displays, locs))
            section #volume {
                h2 { "Register a chart volume" }
                p { "Unknown barcode at a station? Register it here. Many at once: import a CSV below." }
                form.grid data-json-post="/api/v1/volumes" {
                    label { "Barcode (blank: issue one)" input name="barcode" value=(q.barcode.as_deref().unwrap_or("")) maxlength="64"; }
                    label { "MRN" input name="mrn" required maxlength="20"; }
                    label { "Last name" input name="last_name" required maxlength="80"; }
                    label { "First name" input name="first_name" required maxlength="80"; }
                    label { "Home (shelf code)" select name="home" { @for l in locs.iter().filter(|l| l.kind == "shelf") { option value=(l.code) { (l.code) } } } }
                    label.check { input type="checkbox" name="restricted" value="true"; "Restricted (VIP, behavioural health)" }
                    button type="submit" { "Register" }
                    output.result {}
                }
            }
            section #import {
                h2 { "Import from CSV" }
                p { "All or nothing: if any line is wrong, nothing is imported and every wrong line is listed. "
                    "Volumes: " code { (crate::import::VOLUME_COLUMNS.join(",")) } ". Locations: " code { (crate::import::LOCATION_COLUMNS.join(",")) } ". "
                    "Loose reports: " code { (crate::import::REPORT_COLUMNS.join(",")) } "." }
                form.grid #import-form data-upload="/admin/import" {
                    label { "What" select name="what" { option value="volumes" { "volumes" } option value="locations" { "locations" } option value="reports" { "loose reports" } } }
                    label { "CSV file" input name="file" type="file" accept=".csv,text/csv" required; }
                    button type="submit" { "Import" }
                    progress #import-progress max="100" value="0" hidden {}
                    output.result #import-result {}
                }
            }
        },
    )
}

async fn admin_data(
    s: &AppState,
) -> Result<
    (
        Vec<query::UserView>,
        Vec<query::LocationView>,
        Vec<query::StationView>,
    ),
    AppError,
> {
    Ok(s.store
        .read(|c| Ok((query::users(c)?, query::locations(c)?, query::stations(c)?)))
        .await?)
}

pub async fn admin_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AdminQuery>,
) -> PageResult {
    let (users, locs, stations) = admin_data(&s).await?;
    let displays = super::display::admin_list(&s).await?;
    Ok(admin_view(
        s.tz, &caller, &users, &locs, &stations, &q, None, &displays,
    ))
}

/// After a form: back to the admin page saying what was done, or the page again with the error.
pub(super) async fn after(
    s: &AppState,
    caller: &Caller,
    result: Result<String, AppError>,
) -> PageResult<Response> {
    match result {
        Ok(done) => {
            Ok(Redirect::to(&format!("/admin?done={}", super::url_escape(&done))).into_response())
        }
        Err(
            AppError::Unprocessable(m)
            | AppError::BadRequest(m)
            | AppError::Conflict(m)
            | AppError::NotFound(m),
        ) => {
            let (users, locs, stations) = admin_data(s).await?;
            let displays = super::display::admin_list(s).await?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                admin_view(
                    s.tz,
                    caller,
                    &users,
                    &locs,
                    &stations,
                    &AdminQuery::default(),
                    Some(&m),
                    &displays,
                ),
            )
                .into_response())
        }
        Err(e) => Err(PageError::from(e)),
    }
}

#[derive(Deserialize)]
pub struct LocationForm {
    code: String,
    name: String,
    kind: String,
    #[serde(default)]
    barcode: String,
}

pub async fn add_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(f): PageForm<LocationForm>,
) -> PageResult<Response> {
    let result = async {
        // The same checks as a CSV row; a shelf's terminal digits come from its code.
        let l = crate::import::location_from_fields(&f.code, &f.name, &f.kind, &f.barcode)
            .map_err(AppError::BadRequest)?;
        let now = s.store.clock().now();
        let code = l.code.to_string();
        let barcode = s
            .store
            .write(move |c| admin::create_location(c, &l, now))
            .await?;
        Ok(format!("Location {code} added; its barcode is {barcode}."))
    }
    .await;
    after(&s, &caller, result).await
}

#[derive(Deserialize)]
pub struct StationForm {
    id: String,
    location: String,
    mode: String,
    /// Comma-separated roles allowed (blank: anyone).
    #[serde(default)]
    roles: String,
    /// Comma-separated home units allowed.
    #[serde(default)]
    locations: String,
}

pub async fn add_station(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(f): PageForm<StationForm>,
) -> PageResult<Response> {
    let result = async {
        let access =
            StationAccess::from_texts(&f.roles.to_lowercase(), &f.locations.to_uppercase())
                .map_err(|e| AppError::BadRequest(e.to_string()))?;
        let st = NewStation {
            id: f.id.trim().to_owned(),
            location: LocationCode::parse(&f.location)
                .map_err(|e| AppError::BadRequest(e.to_string()))?,
            mode: Mode::from_str(&f.mode).map_err(|e| AppError::BadRequest(e.to_string()))?,
            port: None,
            usb: None,
            roles: access.roles,
            locations: access.locations,
        };
        let now = s.store.clock().now();
        let id = st.id.clone();
        s.store
            .write(move |c| admin::upsert_station(c, &st, now))
            .await?;
        Ok(format!("Station {id} saved."))
    }
    .await;
    after(&s, &caller, result).await
}

/// CSV upload (multipart, sent by the page's script with its anti-forgery header). Answers in
/// plain text: how many were imported, or every wrong line.
pub async fn import(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    mut form: Multipart,
) -> Response {
    let mut what = None;
    let mut data = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                match field.bytes().await {
                    Ok(b) if name == "what" => {
                        what = Some(String::from_utf8_lossy(&b).into_owned())
                    }
                    Ok(b) if name == "file" => data = Some(b),
                    Ok(_) => {}
                    // 413 when the file is over the limit, 400 when the upload broke off.
                    Err(e) => {
                        return (e.status(), format!("the upload was cut short: {e}"))
                            .into_response()
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return (e.status(), format!("the upload could not be read: {e}")).into_response()
            }
        }
    }
    let (Some(what), Some(data)) = (what, data) else {
        return (
            StatusCode::BAD_REQUEST,
            "choose what to import and a CSV file",
        )
            .into_response();
    };
    let store = s.store.clone();
    let now = store.clock().now();
    let entry = caller.access("import", format!("{what}: {} bytes", data.len()));
    let result = tokio::task::spawn_blocking(move || match what.as_str() {
        "volumes" => crate::import::volumes_from(&store, &data[..]),
        "locations" => crate::import::locations_from(&store, &data[..]),
        "reports" => crate::import::reports_from(&store, &data[..]),
        _ => Err(anyhow::anyhow!("import volumes, locations or reports")),
    })
    .await;
    match result {
        Ok(Ok(n)) => {
            // The rows are in; a failed log entry is reported, not hidden.
            if let Err(e) = s.store.write(move |c| audit::append(c, &entry, now)).await {
                tracing::warn!(error = %e, "import recorded but its access-log entry was not");
            }
            (StatusCode::OK, format!("Imported {n} rows.")).into_response()
        }
        Ok(Err(e)) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
        Err(e) => PageError::from(AppError::Internal(e.to_string())).into_response(),
    }
}
