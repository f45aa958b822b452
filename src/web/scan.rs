//! The browser scan page for keyboard-wedge scanners: one input that keeps focus and never stops
//! taking keys; a scan ends on Enter. The page queues each line with its own scan id, posts them
//! in order to `POST /api/v1/scans` (the same path as every scan), retries one the server could
//! not take (the id makes a retry idempotent), shows how many wait, shows the latest answer
//! huge, coloured and in words (a chart checked in to be shelved: "Shelve at FR-20-39"), lists
//! the recent answers (a refusal in a burst stays visible), and speaks them. A station that names
//! who may use it is offered only to them; the others see who may, and why not them.
//! The script is `assets/app.js`.

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
    let user = caller.user_id();
    let (all, home) = s
        .store
        .read(move |c| {
            let home = match user {
                Some(id) => query::home_of(c, id)?,
                None => None,
            };
            Ok((query::stations(c)?, home))
        })
        .await?;
    // Why this user may not drive a station (its roles and home units); a station token drives
    // its own station. The scan path refuses the same way; the page says so before a scan.
    let refusal = |st: &query::StationView| -> Option<String> {
        let role = caller.role()?;
        st.access().refusal(&st.id, role, home.as_deref())
    };
    let (stations, not_yours): (Vec<_>, Vec<_>) = all
        .into_iter()
        .filter(|st| st.kind == "http")
        .partition(|st| refusal(st).is_none());
    let chosen = q
        .station
        .as_deref()
        .and_then(|id| stations.iter().find(|st| st.id == id));
    let refused = q
        .station
        .as_deref()
        .and_then(|id| not_yours.iter().find(|st| st.id == id))
        .and_then(refusal);
    Ok(layout(
        Some(&caller),
        "Scan",
        html! {
            @match chosen {
                None => {
                    @if let Some(why) = &refused {
                        div #refusal.answer.refused role="alert" {
                            div.verdict { "Not your station" }
                            div.message { (why) }
                        }
                    }
                    h1 { "Choose this workstation's station" }
                    @if stations.is_empty() && not_yours.is_empty() { p.empty { "No browser stations yet: an admin adds one under Admin → Stations (no port, no USB)." } }
                    @if stations.is_empty() && !not_yours.is_empty() { p.empty { "None of the browser stations is yours to use; ask a supervisor." } }
                    form.narrow method="get" action="/scan" {
                        label { "Station"
                            select name="station" {
                                @for st in &stations { option value=(st.id) { (st.id) " — " (st.location) " (" (st.mode) ")" } }
                            }
                        }
                        button type="submit" { "Start scanning" }
                    }
                    @if !not_yours.is_empty() {
                        h2 { "Stations for others" }
                        ul.not-yours {
                            @for st in &not_yours { li { strong { (st.id) } " at " (st.location) ": only " (st.access().who()) } }
                        }
                    }
                }
                Some(st) => {
                    section.scanner data-station=(st.id) {
                        p.station-line { "Station " strong { (st.id) } " at " (st.location) ", mode " strong #mode { (st.mode) }
                            " · " a href="/scan" { "change" } }
                        label.scan-label for="scan-input" { "Scan a barcode (or type it and press Enter)" }
                        input #scan-input type="text" autocomplete="off" autocapitalize="off" spellcheck="false" maxlength="200" autofocus;
                        // No scanner here: a photo of the label (a phone's or a webcam's camera).
                        label.camera for="camera-input" { "No scanner? Take a photo of the label: " }
                        input #camera-input type="file" accept="image/jpeg,image/png" capture="environment";
                        div #answer.answer.idle role="status" aria-live="assertive" {
                            div.verdict { "Ready" }
                            div.message { "Scan a badge, a location, a command or a chart." }
                        }
                        p #waiting.waiting role="status" aria-live="polite" hidden {}
                        ol #history.history aria-label="This station's recent answers, newest first" {}
                    }
                }
            }
        },
    ))
}
