//! The supervisor's reports as pages people read: headings in words, times in local time,
//! links to the volumes, places and people named, columns sorted by the server
//! (`?sort=column&dir=asc|desc`, so it works without a script and prints as shown), a header
//! for the printed page (title, when, who printed), and a chart drawn here as SVG where one
//! reads faster than the table. The CSV export is the report's own columns, unchanged.

use super::{layout, status_words, url_escape, when, PageResult};
use crate::domain::{MissingReason, Priority, RequestStatus};
use crate::service::{AppError, AppState, Caller};
use crate::store::reports::{self, Chart, Params, Report, Sort, Table};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono_tz::Tz;
use maud::{html, Markup};
use serde::Deserialize;

/// A page shows at most this many rows, and says so when there are more (the CSV has them all).
const PAGE_ROWS: usize = 500;

pub async fn reports_index(Extension(caller): Extension<Caller>) -> PageResult {
    Ok(layout(
        Some(&caller),
        "Reports",
        html! {
            h1 { "Reports" }
            ul.reports {
                @for r in Report::ALL {
                    li {
                        a href={ "/reports/" (r.slug()) } { (r.title()) }
                        " · " a href={ "/reports/" (r.slug()) "?format=csv" } { "CSV" }
                    }
                }
            }
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    format: Option<String>,
    days: Option<u32>,
    sort: Option<String>,
    dir: Option<String>,
}

/// A column's name in an address: `days out` → `days-out`.
fn column_slug(column: &str) -> String {
    column.replace(' ', "-")
}

/// The order asked for in the address, checked against the report's columns.
fn sort_asked(report: Report, q: &ReportQuery) -> Result<Option<Sort>, AppError> {
    let descending = match q.dir.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "Sort direction '{other}' is not asc or desc."
            )))
        }
    };
    let Some(name) = q.sort.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let column = report
        .columns()
        .iter()
        .position(|c| column_slug(c) == name)
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "This report has no column '{name}' to sort by; it has {}.",
                report
                    .columns()
                    .iter()
                    .map(|c| column_slug(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    Ok(Some(Sort { column, descending }))
}

pub async fn report(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<ReportQuery>,
) -> PageResult<Response> {
    let report = Report::from_slug(&name)
        .ok_or_else(|| AppError::NotFound(format!("There is no report called {name}.")))?;
    let days = q.days.unwrap_or(30);
    if !(1..=3660).contains(&days) {
        return Err(AppError::BadRequest("days must be 1 to 3660".into()).into());
    }
    let csv = q.format.as_deref() == Some("csv");
    // The CSV is every row in the report's own order (scripts read it); a page is sorted as asked.
    let sort = if csv { None } else { sort_asked(report, &q)? };
    let now = s.store.clock().now();
    let params = Params {
        now,
        tz: s.tz,
        cutoffs: s.loans.cutoffs(now),
        days,
        sort,
        limit: (!csv).then_some(PAGE_ROWS),
    };
    let table = s
        .store
        .audited(caller.access("report", report.slug()), move |c| {
            reports::run(c, report, &params)
        })
        .await?;
    if csv {
        let csv = table.to_csv(s.tz)?;
        let file = format!(
            "attachment; filename=\"chartrack-{}-{}.csv\"",
            report.slug(),
            now.with_timezone(&s.tz).format("%Y%m%d")
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, file),
            ],
            csv,
        )
            .into_response());
    }
    let period = report
        .has_period()
        .then(|| format!("The last {days} days."));
    let shown = table.rows.len();
    let count = if shown < table.total {
        format!(
            "Showing {shown} of {} rows; the CSV has them all.",
            table.total
        )
    } else if table.total == 1 {
        "1 row.".to_owned()
    } else {
        format!("{} rows.", table.total)
    };
    Ok(layout(
        Some(&caller),
        table.title,
        html! {
            div.print-head {
                p.print-title { "chartrack · " (table.title) }
                p { "Printed " (crate::clock::show(now, s.tz)) " by " (caller.name()) }
                p { @if let Some(p) = &period { (p) " " } (count) }
            }
            h1 { (table.title) }
            p.noprint {
                @if let Some(p) = &period { (p) " " }
                a href={ "/reports/" (report.slug()) "?format=csv&days=" (days) } { "Download CSV" }
                " · " a href="/reports" { "All reports" }
            }
            @if report.has_period() {
                form.inline method="get" {
                    label.check { "Days " input name="days" value=(days) inputmode="numeric" size="4"; }
                    @if let Some(s) = &q.sort { input type="hidden" name="sort" value=(s); }
                    @if let Some(d) = &q.dir { input type="hidden" name="dir" value=(d); }
                    button type="submit" { "Show" }
                }
            }
            @if let Some(chart) = table.chart.as_ref().filter(|c| c.bars.iter().any(|b| b.value > 0 || b.mark.is_some())) {
                (bar_chart(chart))
            }
            @if table.rows.is_empty() { p.empty { "Nothing to report." } }
            @else {
                (report_table(s.tz, report, &table, sort, days))
                p.count { small { (count) } }
            }
        },
    )
    .into_response())
}

/// A column heading in words: `days out` → `Days out`, `mrn` → `MRN`.
fn heading(column: &str) -> String {
    match column {
        "mrn" => "MRN".into(),
        "by" => "Station or user".into(),
        "age hours" => "Age (hours)".into(),
        "median minutes" => "Median (minutes)".into(),
        "90th percentile minutes" => "90th percentile (minutes)".into(),
        "longest minutes" => "Longest (minutes)".into(),
        "volume is" => "Volume is now".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// Columns that hold counts: right-aligned.
const NUMBERS: &[&str] = &[
    "days out",
    "open requests",
    "age hours",
    "delivered",
    "median minutes",
    "90th percentile minutes",
    "longest minutes",
    "wrong section",
    "out of order",
    "total",
    "scans",
    "accepted",
    "refused",
    "movements",
];

fn report_table(tz: Tz, report: Report, t: &Table, sort: Option<Sort>, days: u32) -> Markup {
    let base = format!("/reports/{}?days={days}", report.slug());
    html! {
        table.report {
            thead { tr {
                @for (i, c) in t.columns.iter().enumerate() {
                    @let on = sort.filter(|s| s.column == i);
                    @let next = if on.is_some_and(|s| !s.descending) { "desc" } else { "asc" };
                    th.num[NUMBERS.contains(c)] scope="col"
                        aria-sort=[on.map(|s| if s.descending { "descending" } else { "ascending" })] {
                        a.sort href={ (base) "&sort=" (url_escape(&column_slug(c))) "&dir=" (next) }
                            title={ "Sort by " (heading(c).to_lowercase()) } {
                            (heading(c))
                            @match on {
                                Some(s) if s.descending => span.arrow { " ▼" },
                                Some(_) => span.arrow { " ▲" },
                                None => {},
                            }
                        }
                    }
                }
            } }
            tbody {
                @for row in &t.rows {
                    tr {
                        @for (i, cell) in row.iter().enumerate() {
                            @let c = t.columns[i];
                            td.num[NUMBERS.contains(&c)] .time[t.times[i]] {
                                @if t.times[i] { (when(tz, cell)) }
                                @else { (cell_view(report, c, cell, row, &t.columns)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn volume_link(barcode: &str) -> Markup {
    html! { a href={ "/volumes/" (url_escape(barcode)) } { (barcode) } }
}

fn place_link(code: &str) -> Markup {
    html! { @if code.is_empty() { "—" } @else { a href={ "/locations/" (url_escape(code)) } { (code) } } }
}

/// A person named in a report: there is no page for a user, so the link is the access log for
/// that name.
fn user_link(name: &str) -> Markup {
    html! {
        @if name.is_empty() || name.starts_with('(') { (name) }
        @else { a href={ "/access-log?subject=" (url_escape(name)) } title="The access log for this name" { (name) } }
    }
}

fn status_view(status: &str) -> Markup {
    html! { span class={ "status " (status) } { (status_words(status)) } }
}

/// One cell in words and links, by what its column holds.
fn cell_view(report: Report, column: &str, cell: &str, row: &[String], columns: &[&str]) -> Markup {
    match column {
        "volume" => volume_link(cell),
        "holder" | "deliver to" | "last location" | "routed to" | "section" => {
            if cell == "(all)" {
                html! { em { "all places" } }
            } else {
                place_link(cell)
            }
        }
        "marked by" | "last user" | "requested by" | "opened by" => user_link(cell),
        "name" if report == Report::Activity => {
            let by = columns.iter().position(|c| *c == "by").map(|i| &row[i]);
            if by.is_some_and(|b| b == "user") {
                user_link(cell)
            } else {
                html! { (cell) }
            }
        }
        "by" => html! { @if cell == "station" { "station" } @else { "user" } },
        "status" if report == Report::PendingRequests => match cell.parse::<RequestStatus>() {
            Ok(st) => html! { (st.label()) },
            Err(_) => html! { (cell) },
        },
        "status" => status_view(cell),
        "volume is" => {
            let (status, code) = cell.split_once(' ').unwrap_or((cell, ""));
            html! { (status_view(status)) " " (place_link(code)) }
        }
        "priority" => match cell.parse::<Priority>() {
            Ok(Priority::Stat) => html! { span.badge { "STAT" } },
            Ok(p) => html! { (p.label()) },
            Err(_) => html! { (cell) },
        },
        "reason" => match cell.parse::<MissingReason>() {
            Ok(r) => html! { (r.label()) },
            Err(_) => html! { (cell) },
        },
        "overdue" => html! { @if cell == "yes" { strong { "overdue" } } },
        "volumes" => html! {
            @for v in cell.split("; ").filter(|v| !v.is_empty()) {
                @let mut parts = v.splitn(3, ' ');
                @let (b, st, at) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                (volume_link(b)) " " (status_view(st)) " " (place_link(at)) br;
            }
        },
        _ => html! { (cell) },
    }
}

/// A bar's label cut to fit beside the chart (the bar's title has it whole).
fn short(label: &str) -> String {
    const MAX: usize = 30;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        label.chars().take(MAX - 1).chain(['…']).collect()
    }
}

/// A horizontal bar chart, drawn here: one labelled bar a line with its number written beside
/// it (readable in black and white and by a screen reader: a title, a description, and each
/// bar's numbers in words), an axis with its unit, sized for a printed page.
fn bar_chart(chart: &Chart) -> Markup {
    const LABEL: i64 = 200;
    const PLOT: i64 = 400;
    const ROW: i64 = 22;
    const TOP: i64 = 26;
    let width = LABEL + PLOT + 170;
    let n = chart.bars.len() as i64;
    let height = TOP + n * ROW + 50;
    let max = chart
        .bars
        .iter()
        .map(|b| b.value.max(b.mark.unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |v: i64| LABEL + v.max(0) * PLOT / max;
    let axis_y = TOP + n * ROW + 4;
    let id = if chart.per == "shelf section" {
        "chart-misfiles"
    } else {
        "chart-turnaround"
    };
    let summary = format!(
        "One bar per {}; its length is the {}.{}",
        chart.per,
        chart.measure,
        chart
            .mark
            .map(|m| format!(" A black tick across a bar marks the {m}."))
            .unwrap_or_default()
    );
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" role="img" id=(id)
                aria-labelledby={ (id) "-title " (id) "-desc" }
                viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height) {
                title id={ (id) "-title" } { (chart.title) }
                desc id={ (id) "-desc" } { (summary) }
                @for (i, b) in chart.bars.iter().enumerate() {
                    @let y = TOP + i as i64 * ROW;
                    g.bar-row {
                        text x=(LABEL - 8) y=(y + 15) text-anchor="end" font-size="12" fill="#000" { (short(&b.label)) }
                        rect.bar x=(LABEL) y=(y + 3) width=(x(b.value) - LABEL) height=(ROW - 6)
                            fill="#9ca3af" stroke="#000" stroke-width="1" data-value=(b.value) {
                            title { (b.label) ": " (b.note) }
                        }
                        @if let Some(m) = b.mark {
                            line.mark x1=(x(m)) x2=(x(m)) y1=(y + 1) y2=(y + ROW - 1) stroke="#000" stroke-width="3" data-value=(m) {
                                title { (chart.mark.unwrap_or("mark")) ": " (m) }
                            }
                        }
                        text x=(x(b.value.max(b.mark.unwrap_or(0))) + 6) y=(y + 15) font-size="12" fill="#000" {
                            @if b.mark.is_some() { (b.value) " (" (b.mark.unwrap_or(0)) ")" }
                            @else if b.note == "none delivered" { "—" }
                            @else { (b.value) }
                        }
                    }
                }
                line x1=(LABEL) x2=(LABEL) y1=(TOP) y2=(axis_y) stroke="#000" stroke-width="1" {}
                line x1=(LABEL) x2=(LABEL + PLOT) y1=(axis_y) y2=(axis_y) stroke="#000" stroke-width="1" {}
                @for v in [0, max / 2, max] {
                    line x1=(x(v)) x2=(x(v)) y1=(axis_y) y2=(axis_y + 5) stroke="#000" {}
                    text x=(x(v)) y=(axis_y + 18) text-anchor="middle" font-size="11" fill="#000" { (v) }
                }
                text.axis-label x=(LABEL + PLOT / 2) y=(axis_y + 38) text-anchor="middle" font-size="12" fill="#000" { (chart.measure) }
                text.axis-label x=(LABEL - 8) y=(TOP - 8) text-anchor="end" font-size="12" font-weight="bold" fill="#000" { (chart.per) }
            }
            figcaption {
                (chart.title) ". " (summary)
                @if chart.mark.is_some() { " The number beside a bar is the median, then the " (chart.mark.unwrap_or("")) " in brackets." }
                @if let Some(more) = &chart.left_out { " " (more) }
            }
        }
    }
}
