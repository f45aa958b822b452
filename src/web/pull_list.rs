//! The file room's pull list: what to pull for the open requests (STAT, then needed-by, then
//! terminal-digit order), transfers asked of other holders, and a printable slip per request
//! whose barcode is scanned as the destination.

use super::requests::priority_badge;
use super::{layout, when, PageResult};
use crate::labels::{code128_modules, svg_bars};
use crate::service::requests as flows;
use crate::service::{AppState, Caller};
use crate::store::requests;
use axum::extract::State;
use axum::Extension;
use maud::{html, Markup, PreEscaped};

/// A request slip's barcode as an inline SVG (Code 128; the value carries its check character).
fn slip_barcode(value: &str) -> Markup {
    match code128_modules(value) {
        Ok(m) => PreEscaped(svg_bars(&m, 2, 56)),
        Err(_) => html! { code { (value) } },
    }
}

pub async fn pull_list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> PageResult {
    let tz = s.tz;
    let (pull, transfer) = s
        .store
        .audited(caller.access("pull-list", "file room"), requests::pull_list)
        .await?;
    let pull: Vec<_> = pull.into_iter().map(|r| flows::shown(&caller, r)).collect();
    let transfer: Vec<_> = transfer
        .into_iter()
        .map(|r| flows::shown(&caller, r))
        .collect();
    let now = crate::clock::show(s.store.clock().now(), tz);
    let today = super::today(&s);
    Ok(layout(
        Some(&caller),
        "Pull list",
        html! {
            h1 { "Pull list " small { (now) } }
            p.noprint { button type="button" data-print { "Print the list and slips" } }
            p { "STAT first, then by needed-by time, then in terminal-digit order: one walk along the shelves. "
                "Scan a slip, then its volume, at a check-out station; CMD-NOTFOUND after the slip if the volume is not there." }
            @if pull.is_empty() { p.empty { "Nothing to pull." } }
            @else {
                table.pull {
                    thead { tr { th { "#" } th { "Priority" } th { "Shelf" } th { "Volume" } th { "Patient" } th { "Deliver to" } th { "Needed by" } th { "Slip" } } }
                    tbody {
                        @for (i, r) in pull.iter().enumerate() {
                            tr {
                                td.num { (i + 1) }
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
