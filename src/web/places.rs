//! Places: every location with what is there now, one location's volumes, the stations with
//! their scanners' state and recent refusals, and the scanner setup sheets.

use super::{layout, status_words, url_escape, when, PageResult};
use crate::service::AppError;
use crate::service::AppState;
use crate::service::Caller;
use crate::store::query::{self, SearchHit};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};

pub async fn locations(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> PageResult {
    let locs = s.store.read(query::locations).await?;
    Ok(layout(
        Some(&caller),
        "Locations",
        html! {
            h1 { "Locations" }
            @if locs.is_empty() {
                p.empty { "No locations yet. Import them (chartrack import locations FILE.csv) or add them on the admin page." }
            }
            table.list {
                thead { tr { th { "Code" } th { "Name" } th { "Kind" } th.num { "Here" } th.num { "On the way" } th { "" } } }
                tbody {
                    @for l in &locs {
                        tr {
                            td { a href={ "/locations/" (super::url_escape(&l.code)) } { (l.code) } }
                            td { (l.name) }
                            td { (l.kind) @if let Some((lo, hi)) = l.terminal { " " small { (format!("{lo:02}–{hi:02}")) } } }
                            td.num { (l.here) }
                            td.num { (l.incoming) }
                            td { a href={ "/wall/" (super::url_escape(&l.code)) } { "wall display" } }
                        }
                    }
                }
            }
        },
    ))
}

pub async fn location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    Query(q): Query<LocationQuery>,
) -> PageResult<Response> {
    let tz = s.tz;
    let c2 = code.clone();
    // A cursor this page never gave (edited by hand) is refused, not read as the first page.
    let after = match q.after.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(given) => Some(query::parse_cursor(given).ok_or_else(|| {
            AppError::BadRequest(
                "That is not a page of this list: go back to the newest charts here.".into(),
            )
        })?),
    };
    let first = after.is_none();
    let detail = s
        .store
        .audited(caller.access("view-location", code.clone()), move |c| {
            query::location(c, &c2, LISTED, after)
        })
        .await?;
    let Some(detail) = detail else {
        // A code typed in another case ("9n") leads to the one location that has it.
        let typed = code.clone();
        let real = s
            .store
            .read(move |c| query::location_code_any_case(c, &typed))
            .await?;
        return match real {
            Some(real) if real != code => {
                Ok(Redirect::to(&format!("/locations/{}", url_escape(&real))).into_response())
            }
            _ => Err(AppError::NotFound(format!("No location has the code {code}.")).into()),
        };
    };
    let seen = crate::service::break_glass::seen(
        &s,
        &caller,
        crate::service::break_glass::restricted_in(&detail.volumes),
    )
    .await?;
    let shown: Vec<&SearchHit> = detail
        .volumes
        .iter()
        .filter(|h| seen.shows(&h.barcode, h.restricted))
        .collect();
    let withheld = detail.volumes.len() - shown.len();
    let l = &detail.location;
    Ok(layout(
        Some(&caller),
        &l.name,
        html! {
            h1 { (l.name) " " small { (l.code) " · " (l.kind) } }
            p { (l.here) " here now, " (l.incoming) " on the way. "
                @if withheld > 0 { (withheld) " restricted chart(s) not listed." } }
            @if detail.next.is_some() || !first {
                p.how-many role="status" { "Newest first, " (LISTED) " at a time. To find one chart here, search for it from the dashboard." }
            }
            @if shown.is_empty() { p.empty { "No chart is listed here." } }
            @else { table.list {
                thead { tr { th { "Patient" } th { "MRN" } th { "Volume" } th { "Status" } th { "Last scan" } } }
                tbody {
                    @for h in &shown {
                        tr {
                            td { a href={ "/volumes/" (h.barcode) } { (h.last_name) ", " (h.first_name) } }
                            td { (h.mrn) }
                            td { (h.record_type) " " (h.volume) " " small { (h.barcode) } }
                            td { span class={ "status " (h.status) } { (status_words(&h.status)) } }
                            td { @if let Some(at) = &h.last_scan_at { (when(tz, at)) } }
                        }
                    }
                }
            } }
            p.pages {
                @if !first { a href={ "/locations/" (l.code) } { "← Newest" } " " }
                @if let Some(next) = &detail.next {
                    a href={ "/locations/" (l.code) "?after=" (url_escape(next)) } { "Older →" }
                }
            }
        },
    )
    .into_response())
}

/// How many charts a location's page lists at a time.
const LISTED: u32 = 200;

#[derive(serde::Deserialize, Default)]
pub struct LocationQuery {
    /// Go on after this (the page's "Older" link).
    after: Option<String>,
}

pub async fn stations(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> PageResult {
    let tz = s.tz;
    let stations = s.store.read(query::stations).await?;
    let refusals = crate::service::feed::recent(&s, &caller, None, true, 30).await?;
    let profiles =
        crate::stations::profiles::built_in().map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(layout(
        Some(&caller),
        "Stations",
        html! {
            h1 { "Stations" }
            @if stations.is_empty() {
                p.empty { "No stations yet. A scanner attached to this server is added in chartrack.toml; a browser or agent station on the admin page." }
            }
            table.list {
                thead { tr { th { "Station" } th { "Location" } th { "Mode" } th { "Who may use it" } th { "Scanner" } th { "State" } th { "Last scan" } th { "" } } }
                tbody {
                    @for st in &stations {
                        tr {
                            td { (st.id) }
                            td { (st.location) }
                            td { (st.mode) }
                            td.access { (st.access().who()) }
                            td { (st.kind) @if let Some(p) = st.port.as_ref().or(st.usb.as_ref()) { " " small { (p) } } }
                            td {
                                @if st.connected { span.link.up { "connected" } }
                                @else {
                                    span.link.down { "disconnected" }
                                    @if let Some(e) = &st.link_error { br; small { (e) } }
                                    @if let Some(t) = &st.link_changed_at { br; small { "since " (when(tz, t)) } }
                                }
                            }
                            td { @if let Some(t) = &st.last_scan_at { (when(tz, t)) } @else { "—" } }
                            td { @if st.kind == "http" { a href={ "/scan?station=" (super::url_escape(&st.id)) } { "scan page" } } }
                        }
                    }
                }
            }
            h2 { "Recent refusals" }
            @if refusals.is_empty() { p.empty { "None." } }
            ul.refusals { @for a in &refusals { li { (crate::clock::show(a.at, tz)) " " strong { (a.station) } " " (a.message) } } }
            h2 { "Scanner setup sheets" }
            ul { @for p in &profiles { li { a href={ "/stations/sheet/" (p.id) } { (p.vendor) " " (p.models.join(", ")) } } } }
        },
    ))
}

pub async fn setup_sheet(
    Extension(caller): Extension<Caller>,
    Path(profile): Path<String>,
) -> PageResult {
    let profiles =
        crate::stations::profiles::built_in().map_err(|e| AppError::Internal(e.to_string()))?;
    let p = profiles
        .iter()
        .find(|p| p.id == profile)
        .ok_or_else(|| AppError::NotFound(format!("No scanner profile is called {profile}.")))?;
    let body: Markup =
        crate::stations::sheet::sheet_body(p).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(layout(
        Some(&caller),
        &format!("Setup: {}", p.id),
        html! { section.sheet-page { (body) } },
    ))
}
