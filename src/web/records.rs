//! The records department's lists: missing and found, loose reports waiting to be filed,
//! stocktakes and their results. (The supervisor's reports are `web::reports`.)

use super::url_escape;
use super::{layout, status_words, when, PageForm, PageResult};
use crate::domain::{Barcode, MissingReason, Mrn};
use crate::service::AppError;
use crate::service::AppState;
use crate::service::Caller;
use crate::store::stocktake::{self, NewStocktake};
use crate::store::{admin, loose, missing, query};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn done_note(done: &Option<String>) -> Markup {
    html! { @if let Some(d) = done { p.ok role="status" { (d) } } }
}

fn reason_select(selected: Option<MissingReason>) -> Markup {
    html! {
        select name="reason" aria-label="Reason" {
            @for r in MissingReason::ALL {
                option value=(r.as_str()) selected[selected == Some(*r)] { (r.label()) }
            }
        }
    }
}

pub async fn missing_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Done>,
) -> PageResult {
    let tz = s.tz;
    let today = super::today(&s);
    let (missing, found, candidates) = s
        .store
        .audited(caller.access("missing-list", "all"), missing::overview)
        .await?;
    let csrf = caller.csrf().to_owned();
    Ok(layout(
        Some(&caller),
        "Missing",
        html! {
            h1 { "Missing and found" }
            (done_note(&q.done))
            @if !found.is_empty() {
                section.found {
                    h2 { "Found — turned up since they were marked missing" }
                    table {
                        thead { tr { th { "Volume" } th { "Patient" } th { "Was missing since" } th { "Found" } th { "Where" } th { "" } } }
                        tbody {
                            @for f in &found {
                                tr {
                                    td { a href={ "/volumes/" (url_escape(&f.barcode)) } { (f.barcode) } }
                                    td { (f.last_name) ", " (f.first_name) }
                                    td { (when(tz, &f.marked_at)) br; small { (f.reason.label()) } }
                                    td { (when(tz, &f.found_at)) @if let Some(by) = &f.found_by { br; small { (by) } } }
                                    td { (f.found_location.name) @if let Some(st) = &f.found_station { br; small { "station " (st) } } }
                                    td {
                                        form.inline method="post" action={ "/missing/" (f.mark_id) "/acknowledge" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button type="submit" { "Seen" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Missing — where to look" }
            @if missing.is_empty() { p.empty { "No volume is marked missing." } }
            @for m in &missing {
                article.missing {
                    h3 { a href={ "/volumes/" (url_escape(&m.barcode)) } { (m.barcode) } " · " (m.last_name) ", " (m.first_name) " " small { "MRN " (m.mrn) " " (super::born(m.birth_date.as_deref(), today)) " · " (m.record_type) " vol. " (m.volume_no) } }
                    dl {
                        dt { "Marked" } dd { (when(tz, &m.marked_at)) @if let Some(by) = &m.marked_by { " by " (by) } " · " (m.reason.label()) @if let Some(n) = &m.note { " · " (n) } }
                        dt { "Last recorded at" } dd { (m.last_location.name) " (" (m.last_location.code) ") · home " (m.home.code) }
                        dt { "Last scan" } dd {
                            @if let Some(at) = &m.last_scan_at { (when(tz, at)) } @else { "never scanned" }
                            @if let Some(st) = &m.last_station { " · station " (st) }
                            @if let Some(u) = &m.last_user { " · " (u) }
                        }
                        dt { "Last holder" } dd {
                            @if let Some(h) = &m.last_holder { (h.name) " (" (h.code) ")" @if let Some(at) = &m.last_holder_at { " since " (when(tz, at)) } @if let Some(p) = &m.last_holder_person { " · " (p) } }
                            @else { "never left the file room" }
                        }
                        dt { "Moved with it" } dd {
                            @if m.moved_with.is_empty() { "nothing" }
                            @for c in &m.moved_with {
                                a href={ "/volumes/" (url_escape(&c.barcode)) } { (c.barcode) } " (" (c.how) ", now "
                                span class={ "status " (c.status) } { (status_words(&c.status)) } " " (c.location.code) ") "
                            }
                        }
                        dt { "Open requests" } dd {
                            @if m.requests.is_empty() { "none" }
                            @for r in &m.requests { (r.barcode) " for " (r.location.name) " (" (r.priority.label()) ") " }
                        }
                    }
                }
            }
            h2 { "Candidates — looked for and not found, not marked missing" }
            @if candidates.is_empty() { p.empty { "None." } }
            @else {
                table {
                    thead { tr { th { "Volume" } th { "Patient" } th { "Why" } th { "When" } th { "Recorded at" } th { "Mark missing" } } }
                    tbody {
                        @for c in &candidates {
                            tr {
                                td { a href={ "/volumes/" (url_escape(&c.barcode)) } { (c.barcode) } }
                                td { (c.last_name) ", " (c.first_name) }
                                td { (c.why) br; small { (c.source) } }
                                td { (when(tz, &c.at)) }
                                td { (c.location.code) }
                                td {
                                    form.inline method="post" action="/missing" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="barcode" value=(c.barcode);
                                        (reason_select(Some(if c.why == "request not found" { MissingReason::RequestNotFound } else { MissingReason::NotSeenInStocktake })))
                                        button type="submit" { "Mark missing" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Mark a volume missing" }
            form.grid method="post" action="/missing" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Volume barcode" input name="barcode" required maxlength="64"; }
                label { "Reason" (reason_select(None)) }
                label { "Note (needed for other)" input name="note" maxlength="200"; }
                button type="submit" { "Mark missing" }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct MarkForm {
    barcode: String,
    reason: MissingReason,
    #[serde(default)]
    note: Option<String>,
}

pub async fn mark_missing(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(f): PageForm<MarkForm>,
) -> PageResult<Response> {
    let (now, user) = (s.store.clock().now(), caller.user_id());
    let barcode = f.barcode.trim().to_owned();
    let b = barcode.clone();
    s.store
        .write(move |c| missing::mark(c, &b, f.reason, f.note.as_deref(), user, now))
        .await?;
    Ok(Redirect::to(&format!(
        "/missing?done={}",
        url_escape(&format!("{barcode} is marked missing."))
    ))
    .into_response())
}

pub async fn acknowledge(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> PageResult<Response> {
    let (now, user) = (s.store.clock().now(), caller.user_id());
    s.store
        .write(move |c| missing::acknowledge(c, id, user, now))
        .await?;
    Ok(Redirect::to("/missing").into_response())
}

pub async fn loose_reports(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Done>,
) -> PageResult {
    let now = s.store.clock().now();
    let mut waiting = s
        .store
        .audited(caller.access("loose-reports", "waiting"), move |c| {
            loose::waiting(c, now, 2000)
        })
        .await?;
    if !caller.sees_restricted() {
        waiting
            .iter_mut()
            .filter(|w| w.restricted)
            .for_each(loose::WaitingReport::hide_whereabouts);
    }
    Ok(layout(
        Some(&caller),
        "Loose reports",
        html! {
            h1 { "Loose reports waiting to be filed" }
            (done_note(&q.done))
            p { "Oldest first. Receive a report at a receive or check-in station to start its clock and learn where it goes; "
                "file it at a file station: the report, then its volume." }
            @if waiting.is_empty() { p.empty { "Nothing waits to be filed." } }
            @else {
                table {
                    thead { tr { th { "Report" } th { "Patient" } th { "What" } th.num { "Age (hours)" } th { "Routed to" } th { "Its volumes" } } }
                    tbody {
                        @for w in &waiting {
                            tr {
                                td { code { (w.barcode) } }
                                td { (w.last_name) ", " (w.first_name) br; small { "MRN " (w.mrn) } }
                                td { (w.description) }
                                td.num { (w.age_hours) @if w.received_at.is_none() { br; small { "not received yet" } } }
                                td { @if let Some(r) = &w.routed_to { (r.name) } @else { "—" } }
                                td {
                                    @for v in &w.volumes {
                                        a href={ "/volumes/" (url_escape(&v.barcode)) } { (v.barcode) } " "
                                        span class={ "status " (v.status) } { (status_words(&v.status)) } " " (v.location.code) br;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Register a loose report" }
            form.grid method="post" action="/loose-reports" {
                input type="hidden" name="csrf" value=(caller.csrf());
                label { "Patient MRN" input name="mrn" required maxlength="20"; }
                label { "What it is" input name="description" required maxlength="200" placeholder="Lab result, discharge summary, ..."; }
                label { "Barcode (blank: issue one)" input name="barcode" maxlength="64"; }
                button type="submit" { "Register" }
            }
            p { small { "Many at once: upload a CSV (barcode,mrn,description) on the admin page, or " code { "chartrack import reports FILE.csv" } "." } }
        },
    ))
}

#[derive(Deserialize)]
pub struct ReportForm {
    mrn: String,
    description: String,
    #[serde(default)]
    barcode: String,
}

pub async fn register_report(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(f): PageForm<ReportForm>,
) -> PageResult<Response> {
    let mrn = Mrn::parse(f.mrn.trim()).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let barcode = match f.barcode.trim() {
        "" => None,
        b => Some(Barcode::parse(b).map_err(|e| AppError::BadRequest(e.to_string()))?),
    };
    let (now, user) = (s.store.clock().now(), caller.user_id());
    let issued = s
        .store
        .write(move |c| admin::create_report(c, barcode.as_ref(), &mrn, &f.description, user, now))
        .await?;
    Ok(Redirect::to(&format!(
        "/loose-reports?done={}",
        url_escape(&format!(
            "Registered loose report {issued}: label it and receive it."
        ))
    ))
    .into_response())
}

pub async fn stocktakes(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Done>,
) -> PageResult {
    let tz = s.tz;
    let (takes, stations, places) = s
        .store
        .read(|c| {
            Ok((
                stocktake::list(c, 100)?,
                query::stations(c)?,
                query::locations(c)?,
            ))
        })
        .await?;
    let csrf = caller.csrf().to_owned();
    Ok(layout(
        Some(&caller),
        "Stocktakes",
        html! {
            h1 { "Stocktakes" }
            (done_note(&q.done))
            p { "A stocktake counts one shelf location or a terminal-digit range. What is expected is frozen when it opens "
                "(volumes known to be out are left off). Scan in shelf order; a break in terminal-digit order is flagged at once. "
                "At the end, CMD-DONE: what was found elsewhere is corrected, what was not seen becomes a candidate for missing — never marked missing. "
                "Nothing outside the scope is touched." }
            h2 { "Open a stocktake" }
            form.grid method="post" action="/stocktakes" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Station"
                    select name="station" required {
                        @for st in &stations { option value=(st.id) { (st.id) " (" (st.location) ")" } }
                    }
                }
                label { "Shelf location"
                    select name="location" {
                        option value="" { "— or a terminal-digit range —" }
                        @for l in places.iter().filter(|l| l.kind != "container") { option value=(l.code) { (l.code) " " (l.name) } }
                    }
                }
                label { "Terminal digits from" input name="from" inputmode="numeric" pattern="[0-9]{1,2}" maxlength="2"; }
                label { "to" input name="to" inputmode="numeric" pattern="[0-9]{1,2}" maxlength="2"; }
                button type="submit" { "Open" }
            }
            h2 { "Stocktakes" }
            @if takes.is_empty() { p.empty { "None yet." } }
            @else {
                table {
                    thead { tr { th { "#" } th { "Scope" } th { "Station" } th { "Opened" } th { "Closed" } th.num { "Expected" } th.num { "Counted" } th.num { "Corrected" } th.num { "Misfiles" } } }
                    tbody {
                        @for t in &takes {
                            tr {
                                td { a href={ "/stocktakes/" (t.id) } { (t.id) } }
                                td { (t.scope) }
                                td { (t.station) }
                                td { (when(tz, &t.opened_at)) @if let Some(by) = &t.opened_by { br; small { (by) } } }
                                td { @if let Some(c) = &t.closed_at { (when(tz, c)) } @else { strong { "open" } } }
                                td.num { (t.expected) }
                                td.num { (t.expected_seen) }
                                td.num { (t.corrected) }
                                td.num { (t.misfiles) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct StocktakeForm {
    station: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

pub async fn open_stocktake(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PageForm(f): PageForm<StocktakeForm>,
) -> PageResult<Response> {
    let digits = |t: &str, what: &str| -> Result<Option<u8>, AppError> {
        match t.trim() {
            "" => Ok(None),
            t => t
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= 99)
                .map(Some)
                .ok_or_else(|| {
                    AppError::BadRequest(format!("Terminal digits {what} '{t}' is not 0 to 99."))
                }),
        }
    };
    let terminal = match (digits(&f.from, "from")?, digits(&f.to, "to")?) {
        (Some(lo), Some(hi)) => Some([lo, hi]),
        (None, None) => None,
        _ => {
            return Err(
                AppError::BadRequest("Give both ends of the terminal-digit range.".into()).into(),
            )
        }
    };
    let new = NewStocktake {
        station: f.station,
        location: Some(f.location.trim().to_owned()).filter(|l| !l.is_empty()),
        terminal,
    };
    let (now, user) = (s.store.clock().now(), caller.user_id());
    let id = s
        .store
        .write(move |c| stocktake::open(c, &new, user, now))
        .await?;
    Ok(Redirect::to(&format!("/stocktakes/{id}")).into_response())
}

pub async fn stocktake_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> PageResult {
    let tz = s.tz;
    let r = s
        .store
        .audited(caller.access("view-stocktake", id.to_string()), move |c| {
            stocktake::results(c, id)
        })
        .await?
        .ok_or_else(|| AppError::NotFound(format!("There is no stocktake {id}.")))?;
    let t = &r.summary;
    Ok(layout(
        Some(&caller),
        &format!("Stocktake {id}"),
        html! {
            h1 { "Stocktake " (id) " " small { (t.scope) " · station " (t.station) } }
            p {
                "Opened " (when(tz, &t.opened_at)) @if let Some(by) = &t.opened_by { " by " (by) } ". "
                @if let Some(c) = &t.closed_at { "Closed " (when(tz, c)) "." }
                @else {
                    strong { "Open" } ": scan at station " (t.station) " in inventory mode; CMD-DONE ends it. "
                    form.inline method="post" action={ "/stocktakes/" (id) "/close" } {
                        input type="hidden" name="csrf" value=(caller.csrf());
                        button type="submit" { "Close it now" }
                    }
                }
            }
            div.tiles {
                div.tile { span.n { (t.expected_seen) " / " (t.expected) } span.l { "expected, counted" } }
                div.tile { span.n { (t.corrected) } span.l { "found here, recorded elsewhere" } }
                div.tile { span.n { (r.not_seen.len()) } span.l { "expected, not seen" } }
                div.tile { span.n { (t.misfiles) } span.l { "misfiles" } }
            }
            h2 { "Found here but recorded elsewhere (corrected)" }
            @if r.corrected.is_empty() { p.empty { "None." } }
            @else {
                table {
                    thead { tr { th { "Volume" } th { "Patient" } th { "Was recorded at" } th { "Counted" } } }
                    tbody { @for l in &r.corrected { tr {
                        td { a href={ "/volumes/" (url_escape(&l.barcode)) } { (l.barcode) } }
                        td { (l.last_name) ", " (l.first_name) }
                        td { @if let Some(p) = &l.recorded { (p.code) } }
                        td { @if let Some(at) = &l.at { (when(tz, at)) } }
                    } } }
                }
            }
            h2 { "Expected here, not seen (candidates for missing; not marked)" }
            @if r.not_seen.is_empty() { p.empty { "None." } }
            @else {
                table {
                    thead { tr { th { "Volume" } th { "Patient" } th { "Now" } th { "Last scan" } } }
                    tbody { @for l in &r.not_seen { tr {
                        td { a href={ "/volumes/" (url_escape(&l.barcode)) } { (l.barcode) } }
                        td { (l.last_name) ", " (l.first_name) " " small { "MRN " (l.mrn) } }
                        td { span class={ "status " (l.status) } { (status_words(&l.status)) } @if let Some(p) = &l.recorded { " " (p.code) } }
                        td { @if let Some(at) = &l.at { (when(tz, at)) } @else { "never" } }
                    } } }
                }
            }
            h2 { "Misfiles" }
            @if r.misfiles.is_empty() { p.empty { "None." } }
            @else {
                table {
                    thead { tr { th { "Volume" } th { "What" } th { "Section" } th { "When" } } }
                    tbody { @for m in &r.misfiles { tr {
                        td { a href={ "/volumes/" (url_escape(&m.barcode)) } { (m.barcode) } }
                        td { @if m.kind == "out_of_order" { "out of terminal-digit order" } @else { "wrong section" } }
                        td { (m.section.code) }
                        td { (when(tz, &m.at)) }
                    } } }
                }
            }
        },
    ))
}

pub async fn close_stocktake(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> PageResult<Response> {
    let (now, user) = (s.store.clock().now(), caller.user_id());
    s.store
        .write(move |c| stocktake::close(c, id, user, now))
        .await?;
    Ok(Redirect::to(&format!("/stocktakes/{id}")).into_response())
}
