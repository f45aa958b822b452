//! Requests on the pages: a nurse asks for a patient's chart and watches it come (the floor
//! page, live over Server-Sent Events), cancels her unit's requests, and reads one request's
//! history. The file room's pull list is `web::pull_list`.

use super::url_escape;
use super::{layout, status_words, when, PageForm, PageResult};
use crate::domain::{EndReason, Mrn, Priority, RequestStatus, Role};
use crate::service::requests::{self as flows, CancelBody};
use crate::service::AppError;
use crate::service::AppState;
use crate::service::Caller;
use crate::store::query::{self, SearchHit};
use crate::store::requests::{self, Filter, NewRequest, RequestView};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono_tz::Tz;
use futures_util::stream::{self, Stream, StreamExt};
use maud::{html, Markup};
use serde::Deserialize;
use std::convert::Infallible;

#[derive(Deserialize, Default)]
pub struct RequestsQuery {
    /// The floor page: requests for delivery here.
    location: Option<String>,
    /// Patient search for a new request.
    #[serde(default)]
    q: String,
    /// `list`: only the live list (the floor page's refresh).
    part: Option<String>,
    done: Option<String>,
    /// The next page of the open requests: those numbered below this.
    before: Option<String>,
}

/// Open requests a page of the requests page lists, newest first.
const LISTED: u32 = 200;

/// Volumes the request form's patient search lists at most.
const PICKER: u32 = 50;

pub(super) fn priority_badge(p: Priority) -> Markup {
    html! { @if p == Priority::Stat { span.badge { "STAT" } } @else { span.routine { "routine" } } }
}

/// Where a request stands, in the words a nurse uses: requested → pulled → in transit → delivered.
fn stage(r: &RequestView) -> Markup {
    let words = match r.status {
        RequestStatus::Open if r.transfer => "asked of the holder",
        RequestStatus::Open => "requested",
        RequestStatus::Pulled if r.volume_status == "in_transit" => "pulled · in transit",
        RequestStatus::Pulled => "pulled",
        RequestStatus::Delivered => "delivered",
        RequestStatus::Cancelled => "cancelled",
        RequestStatus::NotFound => "NOT FOUND",
    };
    html! { span.stage data-status=(r.status.as_str()) { (words) } }
}

/// Whether the caller gets a Cancel button on a request: a nurse only on her home unit's
/// requests and the ones she made (as `service::requests::cancel` allows); a clerk and above on
/// any request still under way.
fn may_cancel(caller: &Caller, home: Option<&str>, r: &RequestView) -> bool {
    match caller.role() {
        Some(Role::Nurse) => {
            home == Some(r.location.code.as_str())
                || r.requested.by.as_deref() == Some(caller.name())
        }
        Some(_) => true,
        None => false,
    }
}

/// The rows of a request list. `cancel`: the caller's home unit when the list offers Cancel
/// (`Some(None)`: no home unit set), `None` when it never does.
fn request_rows(
    tz: Tz,
    today: chrono::NaiveDate,
    caller: &Caller,
    rows: &[RequestView],
    cancel: Option<Option<&str>>,
) -> Markup {
    let cancel_column = cancel.is_some();
    html! {
        @if rows.is_empty() { p.empty { "No requests." } }
        @else {
            table {
                thead { tr { th { "Priority" } th { "Patient" } th { "Volume" } th { "For" } th { "Needed by" } th { "Where it stands" } th { "Requested" } @if cancel_column { th { "" } } } }
                tbody {
                    @for r in rows {
                        tr.request data-status=(r.status.as_str()) {
                            td { (priority_badge(r.priority)) }
                            td { (r.last_name) ", " (r.first_name) br; small { "MRN " (r.mrn) " " (super::born(r.birth_date.as_deref(), today)) } }
                            td { a href={ "/volumes/" (url_escape(&r.volume)) } { (r.volume) } br; small { (r.record_type) " vol. " (r.volume_no) } }
                            td { (r.location.name) br; small { (r.location.code) } }
                            td { @if let Some(n) = &r.needed_by { (when(tz, n)) } @else { "—" } }
                            td {
                                a href={ "/requests/" (r.id) } { (stage(r)) }
                                @if let Some(w) = &r.on_the_way { br; small.where { "on the way from " (w.from.name) " since " (when(tz, &w.since)) } }
                                @else if let Some(h) = &r.holder { br; small.where { "held by " (h.name) } }
                                @if let Some(reason) = r.end_reason { br; small { (reason.label()) } }
                            }
                            td { (when(tz, &r.requested.at)) @if let Some(by) = &r.requested.by { br; small { (by) } } }
                            @if let Some(home) = cancel {
                                td {
                                    @if r.status.is_active() && may_cancel(caller, home, r) {
                                        form.inline method="post" action={ "/requests/" (r.id) "/cancel" }
                                            data-confirm={ "Cancel the request for " (r.volume) " (" (r.last_name) ", " (r.first_name) ") to " (r.location.name) "?" } {
                                            input type="hidden" name="csrf" value=(caller.csrf());
                                            select name="reason" aria-label="Why" {
                                                @for reason in [EndReason::NoLongerNeeded, EndReason::EntryMistake, EndReason::ClinicCancelled, EndReason::PatientDischarged] {
                                                    option value=(reason.as_str()) { (reason.label()) }
                                                }
                                            }
                                            button type="submit" { "Cancel" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The floor's live list: what it asked for, and what others ask of it.
fn floor_list(
    tz: Tz,
    today: chrono::NaiveDate,
    caller: &Caller,
    home: Option<&str>,
    code: &str,
    mine: &[RequestView],
    asked_of_us: &[RequestView],
) -> Markup {
    html! {
        div #request-list {
            h2 { "Requested for " (code) }
            (request_rows(tz, today, caller, mine, Some(home)))
            @if !asked_of_us.is_empty() {
                h2 { "Asked of " (code) " (you hold these; hand them over)" }
                (request_rows(tz, today, caller, asked_of_us, None))
            }
        }
    }
}

/// The signed-in user's home unit (its code), if one is set.
async fn home_unit(s: &AppState, caller: &Caller) -> PageResult<Option<String>> {
    Ok(match caller.user_id() {
        Some(id) => s.store.read(move |c| query::home_of(c, id)).await?,
        None => None,
    })
}

async fn floor_data(
    s: &AppState,
    caller: &Caller,
    code: &str,
) -> PageResult<(Vec<RequestView>, Vec<RequestView>)> {
    let since = crate::clock::stamp(s.store.clock().now() - chrono::Duration::hours(24));
    let mut mine = flows::list(
        s,
        caller,
        Filter {
            location: Some(code.to_owned()),
            since: Some(since),
            ..Filter::default()
        },
    )
    .await?;
    // STAT first, then the rest still under way, then what ended today; newest first in each.
    mine.sort_by_key(|r| {
        (
            !r.status.is_active(),
            r.priority != crate::domain::Priority::Stat,
        )
    });
    let place = code.to_owned();
    let asked_of_us = s
        .store
        .audited(caller.access("list-requests", code.to_owned()), move |c| {
            requests::asked_of(c, &place)
        })
        .await?
        .into_iter()
        .map(|r| flows::shown(caller, r))
        .collect();
    Ok((mine, asked_of_us))
}

pub async fn requests_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RequestsQuery>,
) -> PageResult<Response> {
    let floor = q.location.clone().filter(|l| !l.trim().is_empty());
    if let Some(code) = &floor {
        let c = code.clone();
        if s.store
            .read(move |r| query::location_summary(r, &c))
            .await?
            .is_none()
        {
            return Err(AppError::NotFound(format!(
                "There is no location {code}. Pick your floor from the list on the requests page."
            ))
            .into());
        }
    }
    if let (Some(code), Some("list")) = (&floor, q.part.as_deref()) {
        let (mine, theirs) = floor_data(&s, &caller, code).await?;
        let home = home_unit(&s, &caller).await?;
        return Ok(floor_list(
            s.tz,
            super::today(&s),
            &caller,
            home.as_deref(),
            code,
            &mine,
            &theirs,
        )
        .into_response());
    }
    let text = crate::service::search_text(&q.q)?;
    let places = s.store.read(query::locations).await?;
    let places: Vec<_> = places
        .into_iter()
        .filter(|l| !matches!(l.kind.as_str(), "shelf" | "desk" | "container"))
        .collect();
    let hits: Vec<SearchHit> = if text.is_empty() {
        Vec::new()
    } else {
        let t = text.clone();
        let mut hits = s
            .store
            .audited(caller.access("search", text.clone()), move |c| {
                query::search(c, &t, PICKER)
            })
            .await?;
        let seen = crate::service::break_glass::seen(
            &s,
            &caller,
            crate::service::break_glass::restricted_in(&hits),
        )
        .await?;
        seen.mask(&mut hits);
        hits
    };
    let floor_part = match &floor {
        Some(code) => Some((code.clone(), floor_data(&s, &caller, code).await?)),
        None => None,
    };
    let before = super::page_before(
        q.before.as_deref(),
        "That is not a page of this list: go back to the newest requests.",
    )?;
    let (all, under_way) = if floor.is_none() {
        let listed = flows::list(
            &s,
            &caller,
            Filter {
                active: true,
                limit: Some(LISTED),
                before,
                ..Filter::default()
            },
        )
        .await?;
        (listed, s.store.read(requests::active_count).await?)
    } else {
        (Vec::new(), 0)
    };
    let older = (all.len() == LISTED as usize)
        .then(|| all.last().map(|r| r.id))
        .flatten();
    // One patient's volumes can all be asked for at once.
    let mut patients: Vec<(&str, &str, &str, Option<&str>)> = hits
        .iter()
        .map(|h| {
            (
                h.mrn.as_str(),
                h.last_name.as_str(),
                h.first_name.as_str(),
                h.birth_date.as_deref(),
            )
        })
        .collect();
    let today = super::today(&s);
    // "Deliver to" starts at the floor whose page this is, else the nurse's home unit.
    let home = home_unit(&s, &caller).await?;
    let deliver_to = floor.clone().or_else(|| home.clone());
    patients.dedup();
    let title = match &floor {
        Some(code) => format!("Requests for {code}"),
        None => "Requests".into(),
    };
    let body = html! {
        h1 { (title) }
        @if let Some(done) = &q.done { p.ok role="status" { (done) } }
        section {
            h2 { "Ask for a chart" }
            form.search method="get" action="/requests" {
                @if let Some(code) = &floor { input type="hidden" name="location" value=(code); }
                div.row {
                    input name="q" value=(text) placeholder="Patient name (and date of birth, 1970-01-31) or MRN" aria-label="Patient name or MRN";
                    button type="submit" { "Find the patient" }
                }
            }
            @if !text.is_empty() && hits.is_empty() { p.empty { "No patient matches " (text) "." } }
            @if hits.len() >= PICKER as usize {
                p.how-many role="status" { "Showing the first " (hits.len()) " volumes that match — add a first name or date of birth (Last, First 1970-01-31) to narrow it." }
            }
            @if !hits.is_empty() {
                form.request method="post" action="/requests" {
                    input type="hidden" name="csrf" value=(caller.csrf());
                    fieldset {
                        legend { "Which volume" }
                        @for (mrn, last, first, dob) in &patients {
                            label.check { input type="radio" name="volume" value={ "mrn:" (mrn) } required; " All volumes of " (last) ", " (first) " (MRN " (mrn) ") " (super::born(*dob, today)) }
                        }
                        @for h in &hits {
                            label.check {
                                input type="radio" name="volume" value=(h.barcode) required;
                                " " (h.barcode) " — " (h.last_name) ", " (h.first_name) " " (super::born(h.birth_date.as_deref(), today)) ", " (h.record_type) " vol. " (h.volume) " · "
                                span class={ "status " (h.status) } { (status_words(&h.status)) } " " (h.location.name)
                            }
                        }
                    }
                    div.grid {
                        label { "Deliver to"
                            select name="location" required {
                                // No floor page and no home unit: the nurse chooses; never a
                                // quiet default to the first place in the list.
                                @if deliver_to.is_none() {
                                    option value="" selected disabled { "— choose where —" }
                                }
                                @for l in &places {
                                    option value=(l.code) selected[deliver_to.as_deref() == Some(l.code.as_str())] { (l.name) " (" (l.code) ")" }
                                }
                            }
                        }
                        label { "Priority"
                            select name="priority" {
                                option value="routine" { "routine" }
                                option value="stat" { "STAT" }
                            }
                        }
                        label { "Needed by (" (s.tz.name()) " time, optional)" input type="datetime-local" name="needed_by"; }
                        label { "Reason (optional)" input name="reason" maxlength="200"; }
                    }
                    button type="submit" { "Request" }
                }
            }
        }
        @if let Some((code, (mine, theirs))) = &floor_part {
            section.floor data-requests=(format!("/events/requests?location={}", url_escape(code)))
                data-list=(format!("/requests?location={}&part=list", url_escape(code))) {
                p { span.live data-state="connecting" { "connecting" } " — this list updates by itself." }
                (floor_list(s.tz, today, &caller, home.as_deref(), code, mine, theirs))
            }
        } @else {
            h2 { "Open requests" }
            p { "Your floor's page: " @for l in &places { a href={ "/requests?location=" (url_escape(&l.code)) } { (l.code) } " " } }
            p.count {
                (under_way) " under way, newest first"
                @if all.len() < under_way as usize { "; " (all.len()) " listed here" @if before.is_some() { " (older ones)" } }
                ". The file room works them from the " a href="/pull-list" { "pull list" } ", STAT first."
            }
            (request_rows(s.tz, today, &caller, &all, Some(home.as_deref())))
            p.pages {
                @if before.is_some() { a href="/requests" { "← Newest" } " " }
                @if let Some(id) = older { a href={ "/requests?before=" (id) } { "Older →" } }
            }
        }
    };
    Ok(layout(Some(&caller), &title, body).into_response())
}

#[derive(Deserialize)]
pub struct RequestForm {
    /// A volume barcode, or `mrn:NNN` for all of a patient's volumes.
    volume: String,
    location: String,
    priority: Priority,
    #[serde(default)]
    needed_by: String,
    #[serde(default)]
    reason: String,
}

pub async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(f): PageForm<RequestForm>,
) -> PageResult<Response> {
    // The browser's `datetime-local` field sends a wall-clock time with no zone: it is read in
    // the configured zone. A time the clocks skip or repeat is taken as `clock::from_local`
    // says, and the nurse is told.
    let (needed_by, adjusted) = match f.needed_by.trim() {
        "" => (None, None),
        t => {
            let local = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
                .map_err(|_| {
                    AppError::BadRequest(format!("Needed by '{t}' is not a date and time."))
                })?;
            let reading = crate::clock::from_local(local, s.tz);
            (Some(reading.at), reading.explain(local, s.tz))
        }
    };
    let template = NewRequest {
        barcode: f.volume.clone(),
        location: f.location.clone(),
        priority: f.priority,
        needed_by,
        reason: Some(f.reason.clone()).filter(|r| !r.trim().is_empty()),
    };
    // Each slip, and whether it was made now or was already there (then it stands as it was).
    let slips: Vec<(String, bool)> = match f.volume.strip_prefix("mrn:") {
        Some(mrn) => {
            let mrn = Mrn::parse(mrn).map_err(|e| AppError::BadRequest(e.to_string()))?;
            let (now, user) = (s.store.clock().now(), caller.user_id());
            let created = s
                .store
                .write(move |c| requests::create_for_patient(c, &mrn, None, &template, user, now))
                .await?;
            let mut slips = Vec::new();
            for c in created {
                let view = flows::read(&s, &caller, c.id()).await?;
                let new = matches!(c, requests::Created::New(_));
                if new {
                    s.store.request_changed(flows::note(&view));
                }
                slips.push((view.barcode, new));
            }
            slips
        }
        None => {
            let (created, view) = flows::create(&s, &caller, template).await?;
            vec![(view.barcode, matches!(created, requests::Created::New(_)))]
        }
    };
    let list = |new: bool| {
        slips
            .iter()
            .filter(|(_, n)| *n == new)
            .map(|(b, _)| b.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (made, already) = (list(true), list(false));
    let mut done = String::new();
    if !made.is_empty() {
        done = format!("Requested: {} (slip {made}).", f.location);
    }
    if !already.is_empty() {
        done = format!(
            "{done} Already requested for {} (slip {already}): that request stands as it was; cancel it to ask again differently.",
            f.location
        )
        .trim_start()
        .to_owned();
    }
    if let Some(note) = adjusted {
        done = format!("{done} Needed by: {note}");
    }
    Ok(Redirect::to(&format!(
        "/requests?location={}&done={}",
        url_escape(&f.location),
        url_escape(&done)
    ))
    .into_response())
}

#[derive(Deserialize)]
pub struct CancelForm {
    reason: EndReason,
    #[serde(default)]
    note: Option<String>,
}

pub async fn cancel(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    PageForm(f): PageForm<CancelForm>,
) -> PageResult<Response> {
    let r = flows::cancel(
        &s,
        &caller,
        id,
        CancelBody {
            reason: f.reason,
            note: f.note,
        },
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/requests?location={}&done={}",
        url_escape(&r.location.code),
        url_escape(&format!("Request {} cancelled.", r.barcode))
    ))
    .into_response())
}

pub async fn request_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> PageResult {
    let tz = s.tz;
    let r = flows::read(&s, &caller, id).await?;
    let step = |label: &str, st: Option<&requests::Step>| {
        html! {
            dt { (label) }
            dd { @match st { Some(st) => { (when(tz, &st.at)) @if let Some(by) = &st.by { " · " (by) } } None => "—" } }
        }
    };
    Ok(layout(
        Some(&caller),
        &format!("Request {}", r.barcode),
        html! {
            h1 { "Request " (r.barcode) " " (priority_badge(r.priority)) }
            p.where { (stage(&r))
                @if caller.role().is_some_and(|role| role.at_least(crate::domain::Role::Clerk)) {
                    " · " a href={ "/labels/slip/" (url_escape(&r.barcode)) } { "Print slip" }
                } }
            dl {
                dt { "Patient" } dd { (r.last_name) ", " (r.first_name) " · MRN " (r.mrn) }
                dt { "Volume" } dd { a href={ "/volumes/" (url_escape(&r.volume)) } { (r.volume) } " (" (r.record_type) " vol. " (r.volume_no) ")" }
                dt { "Deliver to" } dd { (r.location.name) " (" (r.location.code) ")" }
                dt { "Needed by" } dd { @if let Some(n) = &r.needed_by { (when(tz, n)) } @else { "—" } }
                dt { "Reason" } dd { (r.reason.as_deref().unwrap_or("—")) }
                @if let Some(w) = &r.on_the_way { dt { "On the way" } dd { "from " (w.from.name) " (" (w.from.code) ") since " (when(tz, &w.since)) } }
                @else if let Some(h) = &r.holder { dt { "Held by" } dd { (h.name) " (" (h.code) "): a transfer request" } }
                (step("Requested", Some(&r.requested)))
                (step("Pulled", r.pulled.as_ref()))
                (step("Delivered", r.delivered.as_ref()))
                @if r.ended.is_some() {
                    (step(if r.status == RequestStatus::NotFound { "Not found" } else { "Cancelled" }, r.ended.as_ref()))
                    dt { "Why" } dd { (r.end_reason.map(EndReason::label).unwrap_or("—")) @if let Some(n) = &r.end_note { " · " (n) } }
                }
                @if let Some(m) = r.turnaround_minutes { dt { "Turnaround" } dd { (m) " minutes" } }
            }
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct RequestEventsQuery {
    location: Option<String>,
}

/// Request changes as SSE `request` events (data: the request's id and new status), for one
/// location or all. Ends when the server shuts down, or with `signed-out` when the caller's
/// session ends (`web::live`).
pub async fn events(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RequestEventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.store.subscribe_requests();
    let mut shutdown = s.shutdown.clone();
    let location = q.location;
    let notes = stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(n) => Some((Some(n), rx)),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some((None, rx)),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    let stream = notes
        .filter(move |n| {
            // A lagged reader refreshes anyway; otherwise only this floor's requests.
            let keep = match (n, &location) {
                (Some(n), Some(l)) => n.location == *l,
                _ => true,
            };
            async move { keep }
        })
        .map(|n| {
            let data = match n {
                Some(n) => format!("{} {}", n.id, n.status),
                None => "lagged".into(),
            };
            Ok(Event::default().event("request").data(data))
        })
        .take_until(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        });
    let stream = super::live::while_access_holds(s, caller, stream);
    Sse::new(stream).keep_alive(KeepAlive::default())
}
