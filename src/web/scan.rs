//! The browser scan page for keyboard-wedge scanners: one input that keeps focus; a scan ends
//! on Enter; the page posts it to `POST /api/v1/scans` (the same path as every scan) and shows
//! the answer huge, coloured and in words, and speaks it. The script is `assets/app.js`.

use super::{layout, PageResult};
use crate::service::AppState;
use crate::service::Caller;
use crate::store::query;
use axum::extract::{Query, State};
use axum::Extension;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ScanQuery {
    station: Option<String>,
}

pub async fn scan_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ScanQuery>,
) -> PageResult {
    let stations: Vec<_> = s
        .store
        .read(query::stations)
        .await?
        .into_iter()
        .filter(|st| st.kind == "http")
        .collect();
    let chosen = q
        .station
        .as_deref()
        .and_then(|id| stations.iter().find(|st| st.id == id));
    Ok(layout(
        Some(&caller),
        "Scan",
        html! {
            @match chosen {
                None => {
                    h1 { "Choose this workstation's station" }
                    @if stations.is_empty() { p.empty { "No browser stations yet: an admin adds one under Admin → Stations (no port, no USB)." } }
                    form.narrow method="get" action="/scan" {
                        label { "Station"
                            select name="station" {
                                @for st in &stations { option value=(st.id) { (st.id) " — " (st.location) " (" (st.mode) ")" } }
                            }
                        }
                        button type="submit" { "Start scanning" }
                    }
                }
                Some(st) => {
                    section.scanner data-station=(st.id) {
                        p.station-line { "Station " strong { (st.id) } " at " (st.location) ", mode " strong #mode { (st.mode) }
                            " · " a href="/scan" { "change" } }
                        label.scan-label for="scan-input" { "Scan a barcode (or type it and press Enter)" }
                        input #scan-input type="text" autocomplete="off" autocapitalize="off" spellcheck="false" maxlength="200" autofocus;
                        div #answer.answer.idle role="status" aria-live="assertive" {
                            div.verdict { "Ready" }
                            div.message { "Scan a badge, a location, a command or a chart." }
                        }
                        ol #history.history aria-label="This station's scans" {}
                    }
                }
            }
        },
    ))
}
