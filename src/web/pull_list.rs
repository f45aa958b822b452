//! The file room's pull list: what to pull for the open requests (STAT, then needed-by, then
//! terminal-digit order), transfers asked of other holders, and a printable slip per request
//! whose barcode is scanned as the destination. 200 requests a page in pull order, with the
//! count of all; `?all=true` is the whole list on one page, to print it at once.

use super::requests::priority_badge;
use super::{layout, when, PageResult};
use crate::labels::{code128_modules, svg_bars};
use crate::service::requests as flows;
use crate::service::{AppState, Caller};
use crate::store::requests;
use axum::extract::{Query, State};
use axum::Extension;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

/// "1 chart", "3,333 charts".
fn count(n: usize, what: &str) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{out} {what}{}", if n == 1 { "" } else { "s" })
}

/// A request slip's barcode as an inline SVG (Code 128; the value carries its check character).
fn slip_barcode(value: &str) -> Markup {
    match code128_modules(value) {
        Ok(m) => PreEscaped(svg_bars(&m, 2, 56)),
        Err(_) => html! { code { (value) } },
    }
}

/// Requests to pull on one page of the pull list.
pub const PAGE: usize = 200;

#[derive(Deserialize, Default)]
pub struct PullQuery {
    /// The page, from 1 (anything else reads as the first page).
    page: Option<String>,
    /// `true`: every request on one page, to print the whole list at once (slower).
    all: Option<String>,
}

pub async fn pull_list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PullQuery>,
) -> PageResult {
    let tz = s.tz;
    let all = q.all.as_deref() == Some("true");
    let page = q
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let (offset, limit) = if all {
        (0, usize::MAX)
    } else {
        ((page - 1) * PAGE, PAGE)
    };
    let found = s
        .store
        .audited(caller.access("pull-list", "file room"), move |c| {
            requests::pull_page(c, offset, limit)
        })
        .await?;
    let (total, offset) = (found.total, found.offset);
    let pull: Vec<_> = found
        .pull
        .into_iter()
        .map(|r| flows::shown(&caller, r))
        .collect();
    let transfer: Vec<_> = found
        .transfer
        .into_iter()
        .map(|r| flows::shown(&caller, r))
        .collect();
    let now = crate::clock::show(s.store.clock().now(), tz);
    let today = super::today(&s);
    let (first, last) = (offset + 1, offset + pull.len());
    let more = last < total;
    let nav = html! {
        @if !all && (page > 1 || more) {
            nav.pages.noprint {
                @if page > 1 { a.prev href={ "/pull-list?page=" (page - 1) } { "← Previous " (PAGE) } " " }
                @if more { a.next href={ "/pull-list?page=" (page + 1) } { "Next " (PAGE.min(total - last)) " →" } }
            }
        }
    };
    Ok(layout(
        Some(&caller),
        "Pull list",
        html! {
            h1 { "Pull list " small { (now) } }
            p.how-many role="status" {
                strong { (count(total, "chart")) " to pull" }
                @if !all && total > pull.len() && !pull.is_empty() { ": showing " (first) "–" (last) }
            }
            p.noprint {
                button type="button" data-print {
                    @if all || total <= pull.len() { "Print the list and slips" }
                    @else { "Print this page and its slips" }
                }
                @if !all && total > pull.len() {
                    " " a href="/pull-list?all=true" { "Print all " (total) " (one long page, slower to open)" }
                }
            }
            (nav)
            p { "STAT first, then by needed-by time, then in terminal-digit order: one walk along the shelves. "
                "Scan a slip, then its volume, at a check-out station; CMD-NOTFOUND after the slip if the volume is not there." }
            @if pull.is_empty() && total == 0 { p.empty { "Nothing to pull." } }
            @else if pull.is_empty() { p.empty { "This page is past the end of the list: " a href="/pull-list" { "back to the first page" } } }
            @else {
                table.pull {
                    thead { tr { th { "#" } th { "Priority" } th { "Shelf" } th { "Volume" } th { "Patient" } th { "Deliver to" } th { "Needed by" } th { "Slip" } } }
                    tbody {
                        @for (i, r) in pull.iter().enumerate() {
                            tr {
                                td.num { (offset + i + 1) }
                                td { (priority_badge(r.priority)) }
                                td { (r.home.code) }
                                td { (r.volume) br; small { (r.record_type) " vol. " (r.volume_no) } }
                                td { (r.last_name) ", " (r.first_name) br; small { "MRN " (r.mrn) " " (super::born(r.birth_date.as_deref(), today)) } }
                                td { (r.location.name) }
                                td { @if let Some(n) = &r.needed_by { (when(tz, n)) } @else { "—" } }
                                td { code { (r.barcode) } }
                            }
                        }
                    }
                }
            }
            (nav)
            @if !transfer.is_empty() {
                h2 { "Transfer requests (the volume is out: the holder hands it over)" }
                table {
                    thead { tr { th { "Priority" } th { "Volume" } th { "Held by" } th { "Deliver to" } th { "Slip" } } }
                    tbody {
                        @for r in &transfer {
                            tr {
                                td { (priority_badge(r.priority)) }
                                td { (r.volume) }
                                td { @if let Some(h) = &r.holder { (h.name) } }
                                td { (r.location.name) }
                                td { code { (r.barcode) } }
                            }
                        }
                    }
                }
            }
            @if !pull.is_empty() {
                section.slips {
                    h2 { "Slips" }
                    @for r in &pull {
                        article.slip {
                            div.slip-head { (priority_badge(r.priority)) " " strong { (r.location.name) } " (" (r.location.code) ")" }
                            div.slip-code { (slip_barcode(&r.barcode)) div { code { (r.barcode) } } }
                            div { (r.last_name) ", " (r.first_name) " · MRN " (r.mrn) " " (super::born(r.birth_date.as_deref(), today)) }
                            div { "Volume " (r.volume) " · " (r.record_type) " vol. " (r.volume_no) " · shelf " (r.home.code) }
                            @if let Some(n) = &r.needed_by { div { "Needed by " (when(tz, n)) } }
                            @if let Some(reason) = &r.reason { div { small { (reason) } } }
                        }
                    }
                }
            }
        },
    ))
}
