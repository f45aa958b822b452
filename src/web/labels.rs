//! The label pages: a label's preview and its print form (a thermal printer from `[[printers]]`),
//! a patient's volumes at once, sheets of labels for an office printer (a location range, named
//! volumes, the charts registered today), and the supervisors' record of prints.

use super::{layout, url_escape, PageForm, PageResult};
use crate::domain::Role;
use crate::labels::job::{self, Actor};
use crate::labels::set::Paper;
use crate::labels::{Kind, Label};
use crate::service::{AppError, AppState, Caller};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

fn actor(s: &AppState, caller: &Caller) -> Actor {
    Actor {
        user_id: caller.user_id(),
        name: caller.name().to_owned(),
        remote: caller.remote.clone(),
        tz: s.tz,
    }
}

fn kind_of(k: &str) -> Result<Kind, AppError> {
    Kind::ALL
        .into_iter()
        .find(|kind| kind.name() == k)
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "there is no {k} label: volume, location, badge, container, report or slip"
            ))
        })
}

/// Badges identify who scans: only an admin prints them.
fn may_print(caller: &Caller, kind: Kind) -> Result<(), AppError> {
    if kind == Kind::Badge && !caller.role().is_some_and(|r| r.at_least(Role::Admin)) {
        return Err(AppError::Forbidden(
            "badges are printed by an admin (a badge says who is scanning)".into(),
        ));
    }
    Ok(())
}

/// Run a label job off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, anyhow::Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| anyhow::anyhow!("the label job failed unexpectedly"))?
}

/// An error of the label job as the page shows it: a missing item is a 404, bad input a 422.
fn job_error(e: anyhow::Error) -> AppError {
    match e.downcast::<crate::store::StoreError>() {
        Ok(se) => se.into(),
        Err(e) => AppError::Unprocessable(format!("{e:#}")),
    }
}

async fn read(s: &AppState, caller: &Caller, kind: Kind, id: &str) -> Result<Label, AppError> {
    let (store, actor, id) = (s.store.clone(), actor(s, caller), id.to_owned());
    blocking(move || job::read(&store, kind, &id, &actor))
        .await
        .map_err(job_error)
}

/// `/labels`: what can be printed, and where.
pub async fn hub(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    let printers = &s.labels.printers;
    let admin = caller.role().is_some_and(|r| r.at_least(Role::Admin));
    let today = chrono::Utc::now()
        .with_timezone(&s.tz)
        .format("%Y-%m-%d")
        .to_string();
    Ok(layout(
        Some(&caller),
        "Labels",
        html! {
            h1 { "Labels" }
            @if caller.role().is_some_and(|r| r.at_least(Role::Supervisor)) {
                p { a href="/labels/printed" { "Labels printed so far" } " (who printed what, where, and why a reprint)" }
            }
            @if printers.is_empty() {
                p.note { "No label printer is set up: labels print on sheets from your browser. To print on a thermal printer, IT adds a [[printers]] entry to chartrack.toml." }
            } @else {
                p { "Label printers: " @for (i, p) in printers.iter().enumerate() { @if i > 0 { ", " } strong { (p.name) } " (" (p.size.name()) " in)" } "." }
            }
            section.forms {
                form method="get" action="/labels/go" {
                    h2 { "One label" }
                    label for="kind" { "Label for" }
                    select #kind name="kind" {
                        option value="volume" { "a volume (chart)" }
                        option value="location" { "a location (shelf, unit, clinic)" }
                        option value="container" { "a cart or box" }
                        option value="report" { "a loose report" }
                        option value="slip" { "a request slip" }
                        @if admin { option value="badge" { "a user's badge" } }
                    }
                    label for="id" { "Barcode, code or user name" }
                    input #id name="id" required maxlength="100" autocomplete="off";
                    button type="submit" { "Show the label" }
                }
                form method="get" action="/labels/sheet" {
                    h2 { "A sheet of location labels" }
                    input type="hidden" name="of" value="locations";
                    label for="from" { "From code" }
                    input #from name="from" required maxlength="40" placeholder="FR-00";
                    label for="to" { "To code" }
                    input #to name="to" required maxlength="40" placeholder="FR-99";
                    (paper_select())
                    button type="submit" { "Make the sheet" }
                }
                form method="get" action="/labels/sheet" {
                    h2 { "New charts" }
                    input type="hidden" name="of" value="volumes";
                    label for="since" { "Volumes registered since" }
                    input #since type="date" name="since" value=(today) required;
                    (paper_select())
                    button type="submit" { "Make the sheet" }
                }
            }
        },
    ))
}

fn paper_select() -> Markup {
    html! {
        label { "Paper "
            select name="paper" {
                option value="letter" { "Letter, 30 labels (3 × 10)" }
                option value="a4" { "A4, 24 labels (3 × 8)" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct GoQuery {
    kind: String,
    id: String,
}

/// The hub's one-label form: on to that label's page.
pub async fn go(Query(q): Query<GoQuery>) -> PageResult<Response> {
    let kind = kind_of(&q.kind)?;
    let id = q.id.trim();
    if id.is_empty() {
        return Err(AppError::BadRequest("give the barcode, code or user name".into()).into());
    }
    Ok(Redirect::to(&format!("/labels/{}/{}", kind.name(), url_escape(id))).into_response())
}

#[derive(Deserialize, Default)]
pub struct LabelQuery {
    /// All of the patient's volumes (volume labels).
    pub all: Option<String>,
    /// Set after a print: the printer it went to.
    pub printed: Option<String>,
}

/// A label's page: its preview (what a sheet would print) and the print form.
pub async fn label_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((kind, id)): Path<(String, String)>,
    Query(q): Query<LabelQuery>,
) -> PageResult<Response> {
    let kind = kind_of(&kind)?;
    may_print(&caller, kind)?;
    let page = page(
        &s,
        &caller,
        kind,
        &id,
        q.all.is_some(),
        q.printed.as_deref(),
        None,
    )
    .await?;
    Ok(page.into_response())
}

/// The labels to show: one, or all of the patient's volumes.
async fn labels(
    s: &AppState,
    caller: &Caller,
    kind: Kind,
    id: &str,
    all: bool,
) -> Result<Vec<Label>, AppError> {
    if !(all && kind == Kind::Volume) {
        return Ok(vec![read(s, caller, kind, id).await?]);
    }
    let b = id.to_owned();
    let barcodes = s
        .store
        .read(move |c| crate::store::labels::patient_volumes(c, &b))
        .await?;
    if barcodes.is_empty() {
        return Err(AppError::NotFound(format!(
            "no volume has the barcode {id}"
        )));
    }
    let mut out = Vec::new();
    for b in barcodes {
        out.push(read(s, caller, kind, &b).await?);
    }
    Ok(out)
}

async fn page(
    s: &AppState,
    caller: &Caller,
    kind: Kind,
    id: &str,
    all: bool,
    printed: Option<&str>,
    failed: Option<&str>,
) -> Result<Response, AppError> {
    let labels = labels(s, caller, kind, id, all).await?;
    let mut previews = Vec::new();
    for l in &labels {
        previews.push(
            s.labels
                .templates
                .svg(l)
                .map_err(|e| AppError::Internal(e.to_string()))?,
        );
    }
    let first = &labels[0];
    let kind_name = kind.name();
    let item = if kind == Kind::Badge {
        first.get("user")
    } else {
        first.barcode.clone()
    };
    let (k, i) = (kind_name.to_owned(), item.clone());
    let before = if labels.len() == 1 {
        s.store
            .read(move |c| crate::store::labels::printed_before(c, &k, &i))
            .await?
    } else {
        None
    };
    let here = format!("/labels/{kind_name}/{}", url_escape(id));
    let action = format!("{here}/print");
    let sheet_codes: Vec<String> = labels.iter().map(|l| l.barcode.clone()).collect();
    let title = if labels.len() > 1 {
        format!("Labels: {} volumes of {}", labels.len(), first.get("name"))
    } else {
        format!("Label: {kind_name} {}", first.barcode)
    };
    let body = html! {
        h1 { (title) }
        @if let Some(p) = printed {
            p.answer-ok role="status" { "Sent to " strong { (p) } "." }
        }
        @if let Some(f) = failed {
            p.error role="alert" { (f) }
        }
        div.label-previews {
            @for svg in &previews {
                div.label-preview { (PreEscaped(svg)) }
            }
        }
        @if let Some((at, who, on)) = &before {
            p.note { "Printed before: " (super::when(s.tz, at)) " by " (who) " on " (on) ". A reprint needs a reason." }
        }
        @if s.labels.printers.is_empty() {
            p.note { "No label printer is set up (IT adds [[printers]] to chartrack.toml). Print it on a sheet instead." }
        } @else {
            form.print method="post" action=(action) {
                input type="hidden" name="csrf" value=(caller.csrf());
                @if labels.len() > 1 { input type="hidden" name="all" value="1"; }
                label for="printer" { "Printer" }
                select #printer name="printer" {
                    @for p in &s.labels.printers {
                        option value=(p.name) { (p.name) " (" (p.size.name()) " in)" }
                    }
                }
                label for="copies" { "Copies" }
                input #copies type="number" name="copies" min="1" max="100" value="1" required;
                @if before.is_some() || labels.len() > 1 {
                    label for="reason" { "Why again? (for a reprint)" }
                    input #reason name="reason" maxlength="300" required[before.is_some()] placeholder="label torn, chart re-covered, ...";
                }
                button type="submit" { "Print" }
            }
        }
        p.more {
            a href=(format!("/labels/sheet?of={}&codes={}", if kind == Kind::Location { "locations" } else { "volumes" }, url_escape(&sheet_codes.join(",")))) { "Print on a sheet instead" }
            @if kind == Kind::Volume && labels.len() == 1 {
                " · " a href=(format!("{here}?all=1")) { "All of this patient's volumes" }
            }
            @if kind == Kind::Volume { " · " a href=(format!("/volumes/{}", url_escape(&first.barcode))) { "The chart" } }
        }
    };
    // A printer that did not take it is the gateway's failure; a missing reason is the form's.
    let status = match failed {
        Some(f) if f.contains("a reprint needs a reason") || f.contains("copies") => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Some(_) => StatusCode::BAD_GATEWAY,
        None => StatusCode::OK,
    };
    Ok((status, layout(Some(caller), &title, body)).into_response())
}

#[derive(Deserialize)]
pub struct PrintForm {
    printer: String,
    copies: Option<String>,
    reason: Option<String>,
    all: Option<String>,
}

/// Print the label(s) on the chosen printer; back to the page saying where it went, or the page
/// again with why it did not print.
pub async fn print(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((kind, id)): Path<(String, String)>,
    PageForm(f): PageForm<PrintForm>,
) -> PageResult<Response> {
    let kind = kind_of(&kind)?;
    may_print(&caller, kind)?;
    let copies: u32 = match f.copies.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => 1,
        Some(c) => c
            .parse()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                AppError::Unprocessable("copies must be a number from 1 to 100".into())
            })?,
    };
    let printer = s
        .labels
        .printer(&f.printer)
        .map_err(|e| AppError::Unprocessable(e.to_string()))?
        .clone();
    let all = f.all.is_some();
    let labels = labels(&s, &caller, kind, &id, all).await?;
    let (store, setup, who) = (s.store.clone(), s.labels.clone(), actor(&s, &caller));
    let reason = f.reason.clone();
    let p = printer.clone();
    let result = blocking(move || {
        for l in &labels {
            job::print(
                &store,
                &setup.templates,
                &p,
                l,
                copies,
                reason.as_deref(),
                &who,
            )?;
        }
        Ok(())
    })
    .await;
    let here = format!("/labels/{}/{}", kind.name(), url_escape(&id));
    match result {
        Ok(()) => Ok(Redirect::to(&format!(
            "{here}?printed={}{}",
            url_escape(&printer.name),
            if all { "&all=1" } else { "" }
        ))
        .into_response()),
        Err(e) => {
            let mut why = format!("Not printed: {e:#}");
            if why.contains("needs a reason") {
                why.push_str(": fill in \"Why again?\"");
            }
            Ok(page(&s, &caller, kind, &id, all, None, Some(&why)).await?)
        }
    }
}

#[derive(Deserialize)]
pub struct SheetQuery {
    of: String,
    from: Option<String>,
    to: Option<String>,
    since: Option<String>,
    codes: Option<String>,
    paper: Option<String>,
}

/// At most this many labels on one sheet run from the pages.
const SHEET_MAX: u32 = 600;

/// Sheets of labels for the browser to print: one page a sheet, at its paper's size.
pub async fn sheet(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<SheetQuery>,
) -> PageResult<Response> {
    let paper = match q.paper.as_deref().unwrap_or("letter") {
        "letter" => Paper::Letter,
        "a4" => Paper::A4,
        other => {
            return Err(AppError::BadRequest(format!("paper {other} is not letter or a4")).into())
        }
    };
    let blank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (kind, ids): (Kind, Vec<String>) = match (
        q.of.as_str(),
        blank(&q.codes),
        blank(&q.from),
        blank(&q.to),
        blank(&q.since),
    ) {
        ("locations" | "volumes", Some(codes), _, _, _) => (
            if q.of == "locations" {
                Kind::Location
            } else {
                Kind::Volume
            },
            codes
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
        ),
        ("locations", None, Some(from), Some(to), _) => {
            let ids = s
                .store
                .read(move |c| crate::store::labels::location_range(c, &from, &to, SHEET_MAX + 1))
                .await?;
            (Kind::Location, ids)
        }
        ("volumes", None, _, _, Some(since)) => {
            let day = chrono::NaiveDate::parse_from_str(&since, "%Y-%m-%d")
                .map_err(|_| AppError::BadRequest(format!("{since} is not a date (YYYY-MM-DD)")))?;
            // The day begins at local midnight, stored times are UTC.
            let start = day
                .and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(s.tz).earliest())
                .map(|t| crate::clock::stamp(t.with_timezone(&chrono::Utc)))
                .ok_or_else(|| AppError::BadRequest(format!("{since} is not a date here")))?;
            let ids = s
                .store
                .read(move |c| crate::store::labels::volumes_since(c, &start, SHEET_MAX + 1))
                .await?;
            (Kind::Volume, ids)
        }
        _ => return Err(AppError::BadRequest(
            "say which labels: of=locations with from and to, or of=volumes with since, or codes"
                .into(),
        )
        .into()),
    };
    if ids.is_empty() {
        return Err(AppError::NotFound("no labels match: nothing to print".into()).into());
    }
    // More than one run takes: the first ones, saying so (never a silent cut).
    let more = ids.len() > SHEET_MAX as usize;
    let mut ids = ids;
    ids.truncate(SHEET_MAX as usize);
    let mut labels = Vec::new();
    for id in &ids {
        labels.push(read(&s, &caller, kind, id).await?);
    }
    let pages = s
        .labels
        .templates
        .sheet(&labels, paper)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let (store, who, ls) = (s.store.clone(), actor(&s, &caller), labels.clone());
    let paper_name = if paper == Paper::Letter {
        "letter"
    } else {
        "a4"
    };
    blocking(move || job::record_sheet(&store, kind, &ls, paper_name, &who))
        .await
        .map_err(job_error)?;
    let size = if paper == Paper::Letter {
        "letter"
    } else {
        "A4"
    };
    let body = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (labels.len()) " labels · chartrack" }
                style { (PreEscaped(format!(
                    "@page {{ size: {size}; margin: 0 }} body {{ margin: 0 }} .sheet {{ page-break-after: always; break-after: page }} .sheet svg {{ display: block }} .tools {{ font: 16px sans-serif; padding: 8px; }} @media print {{ .tools {{ display: none }} }}"
                ))) }
            }
            body {
                div.tools {
                    @if more {
                        strong.error { "Only the first " (SHEET_MAX) " labels are here; more match: narrow the range or the date, and print the rest after. " }
                    }
                    (labels.len()) " labels on " (pages.len()) " sheet(s). Print at 100 % (no scaling), no margins. "
                    button type="button" onclick="window.print()" { "Print" }
                    " · " a href="/labels" { "Back to labels" }
                }
                @for p in &pages { div.sheet { (PreEscaped(p)) } }
            }
        }
    };
    Ok(body.into_response())
}

/// `/reports/prints`: every label printed or reprinted, newest first (supervisors).
pub async fn prints_report(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> PageResult {
    let rows = s
        .store
        .read(|c| crate::store::labels::recent(c, 500))
        .await?;
    Ok(layout(
        Some(&caller),
        "Labels printed",
        html! {
            h1 { "Labels printed" }
            p { "Every label printed or reprinted, newest first (the last 500). A reprint says why." }
            @if rows.is_empty() {
                p.empty { "No label has been printed yet." }
            } @else {
                table {
                    thead { tr { th { "When" } th { "Who" } th { "What" } th { "Printer" } th { "Copies" } th { "Why again" } } }
                    tbody {
                        @for r in &rows {
                            tr {
                                td { (super::when(s.tz, &r.at)) }
                                td { (r.actor) }
                                td {
                                    (r.kind) " "
                                    @if r.count == 1 && r.kind == "volume" {
                                        a href=(format!("/volumes/{}", url_escape(&r.items))) { (r.items) }
                                    } @else if r.count == 1 {
                                        (r.items)
                                    } @else {
                                        (r.count) " labels"
                                    }
                                }
                                td { (r.printer) }
                                td { (r.copies) }
                                td { (r.reason.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        },
    ))
}
