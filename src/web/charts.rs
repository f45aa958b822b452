//! Finding charts: the dashboard (one search box, counts, the live feed), a volume's page with
//! its whole timeline, the live feed itself (Server-Sent Events) and the wall display.

use super::{born, layout, masked, status_words, today, when, PageResult};
use crate::service::AppError;
use crate::service::AppState;
use crate::service::{break_glass, feed, Caller};
use crate::store::query::{self, SearchHit};
use crate::store::ScanAnswer;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use chrono_tz::Tz;
use futures_util::stream::{self, Stream, StreamExt};
use maud::{html, Markup};
use serde::Deserialize;
use std::convert::Infallible;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    /// The page of results, from 1 (anything else reads as the first page).
    #[serde(default)]
    page: Option<String>,
    /// `counts`: only the counts (the dashboard refreshes them live).
    #[serde(default)]
    part: Option<String>,
}

/// Results shown on one page of the dashboard.
const PAGE: u32 = 100;

pub async fn dashboard(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<SearchQuery>,
) -> PageResult {
    let text = crate::service::search_text(&q.q)?;
    let tz = s.tz;
    let cutoffs = s.loans.cutoffs(s.store.clock().now());
    let counts = s.store.read(move |c| query::counts(c, &cutoffs)).await?;
    let tiles = tiles(&counts, caller.role());
    if q.part.as_deref() == Some("counts") {
        return Ok(tiles);
    }
    let feed = feed::recent(&s, &caller, None, false, 15).await?;
    let hits = if text.is_empty() {
        None
    } else {
        let t = text.clone();
        let page = q.page.as_deref().and_then(|p| p.trim().parse::<u64>().ok());
        let offset = (page.unwrap_or(1).clamp(1, 100_000) - 1) * u64::from(PAGE);
        let mut found = s
            .store
            .audited(caller.access("search", text.clone()), move |c| {
                query::search_page(c, &t, PAGE, offset)
            })
            .await?;
        let seen = break_glass::seen(&s, &caller, break_glass::restricted_in(&found.hits)).await?;
        seen.mask(&mut found.hits);
        Some(found)
    };
    Ok(layout(
        Some(&caller),
        "Find a chart",
        html! {
            form.search method="get" action="/" role="search" {
                label for="q" { "Where is this chart?" }
                div.row {
                    input #q name="q" value=(text) placeholder="Volume barcode, MRN, or patient name (Last, First 1970-01-31)"
                        maxlength="100" autofocus autocomplete="off";
                    button type="submit" { "Find" }
                }
            }
            (tiles)
            @if let Some(found) = &hits {
                (how_many(&text, found))
                @if !found.hits.is_empty() || found.total == 0 {
                    (results(tz, today(&s), &text, &found.hits))
                }
            }
            (feed_list(tz, &feed, "/events"))
        },
    ))
}

/// The counts, each a link to its list; the page refetches them (`?part=counts`) as scans
/// arrive and every half minute.
fn tiles(counts: &query::Counts, role: Option<crate::domain::Role>) -> Markup {
    let supervisor = role.is_some_and(|r| r.at_least(crate::domain::Role::Supervisor));
    let clerk = role.is_some_and(|r| r.at_least(crate::domain::Role::Clerk));
    // A count whose list the reader may not open is shown without a link (a link to a page
    // that refuses them, or to one without that list, is a dead end).
    let tile = |n: i64, label: &str, href: Option<&str>| match href {
        Some(href) => html! { a.tile href=(href) { span.n { (n) } span.l { (label) } } },
        None => html! { div.tile { span.n { (n) } span.l { (label) } } },
    };
    html! {
            section.tiles #counts aria-label="Counts" data-counts="/?part=counts" {
                (tile(counts.at_location + counts.in_transit, "out", Some(if supervisor { "/reports/charged-out" } else { "/locations" })))
                (tile(counts.in_transit, "in transit", Some("/locations")))
                (tile(counts.overdue, "overdue", Some(if supervisor { "/reports/overdue" } else { "/locations" })))
                (tile(counts.missing, "missing", supervisor.then_some("/missing")))
                @if counts.found > 0 { (tile(counts.found, "found: tell the supervisor", supervisor.then_some("/missing"))) }
                (tile(counts.open_requests, &format!("requests open ({} STAT)", counts.stat_requests), Some(if clerk { "/pull-list" } else { "/requests" })))
                (tile(counts.loose_waiting, "loose reports to file", clerk.then_some("/loose-reports")))
                (tile(counts.open_exceptions, "exceptions", supervisor.then_some("/exceptions")))
            }
    }
}

/// "Showing 1–100 of 156", a hint to narrow it, and the way to the other pages.
fn how_many(text: &str, found: &query::SearchPage) -> Markup {
    let shown = found.hits.len() as u64;
    let (first, last) = (found.offset + 1, found.offset + shown);
    let page = found.offset / u64::from(PAGE) + 1;
    let link = |p: u64| format!("/?q={}&page={p}", super::url_escape(text));
    html! {
        @if found.total > shown || found.offset > 0 {
            div.how-many role="status" {
                @if shown > 0 {
                    "Showing " (first) "–" (last) " of "
                    @if found.capped { "more than " (found.total) } @else { (found.total) }
                }
                @else if found.capped { "More than " (found.total) " found; only the first " (found.total) " are listed: " a href=(link(1)) { "back to the first page" } }
                @else { (found.total) " found; this page is past the end: " a href=(link(1)) { "back to the first page" } }
                @if !text.contains(',') || !text.chars().any(|c| c.is_ascii_digit()) {
                    " — add a first name or date of birth (Last, First 1970-01-31) to narrow it"
                }
                nav.pages {
                    @if page > 1 { a.prev href=(link(page - 1)) { "← Previous " (PAGE) } " " }
                    @if found.offset + shown < found.total { a.next href=(link(page + 1)) { "Next " (PAGE) " →" } }
                }
            }
        } @else if shown > 1 {
            div.how-many role="status" { (shown) " found" }
        }
    }
}

fn results(tz: Tz, today: chrono::NaiveDate, text: &str, hits: &[SearchHit]) -> Markup {
    html! {
        section.results {
            @if hits.is_empty() {
                p.empty { "Nothing matches “" (text) "”. Check the spelling, or search by MRN or barcode." }
            } @else {
                table {
                    thead { tr { th { "Patient" } th { "MRN" } th { "Volume" } th { "Status" } th { "Where" } th { "Last scan" } } }
                    tbody {
                        @for h in hits {
                            tr {
                                td { a href={ "/volumes/" (h.barcode) } { (h.last_name) ", " (h.first_name) } br; small { (born(h.birth_date.as_deref(), today)) } }
                                td { (h.mrn) }
                                td { (h.record_type) " " (h.volume) br; small { (h.barcode) } }
                                td { span class={ "status " (h.status) } { (status_words(&h.status)) } }
                                td {
                                    (h.location.name)
                                    @if let Some(d) = &h.destination { br; small { "→ " (d.name) } }
                                }
                                td {
                                    @if let Some(at) = &h.last_scan_at {
                                        (when(tz, at))
                                        br;
                                        small {
                                            @if let Some(st) = &h.last_station { "at " (st) }
                                            @if let Some(u) = &h.last_user { " by " (u) }
                                        }
                                    } @else { "never scanned" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One line of the live feed (no patient names: barcodes, places and what happened).
fn feed_item(tz: Tz, a: &ScanAnswer) -> Markup {
    html! {
        li class=(if a.accepted { "ok" } else { "refused" }) {
            time datetime=(a.at.to_rfc3339()) { (a.at.with_timezone(&tz).format("%H:%M:%S %Z")) }
            " " strong { (a.station) } " " (a.message)
        }
    }
}

fn feed_list(tz: Tz, feed: &[ScanAnswer], source: &str) -> Markup {
    html! {
        section.feed {
            h2 { "Live scans" span.live data-state="connecting" { "connecting" } }
            ul #feed data-feed=(source) {
                @for a in feed { (feed_item(tz, a)) }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct FeedQuery {
    station: Option<String>,
}

/// The live feed: every committed scan's answer as an SSE `scan` event whose data is the HTML of
/// its feed line (escaped by maud). Ends when the server shuts down, or with `signed-out` when
/// the caller's session ends (`web::live`).
pub async fn events(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<FeedQuery>,
) -> PageResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let rx = feed::follow(&s, &caller, q.station.as_deref()).await?;
    let tz = s.tz;
    let mut shutdown = s.shutdown.clone();
    let station = q.station;
    let who = caller.clone();
    let answers = stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(a) => Some((Some(a), rx)),
            // A slow reader missed some: say so, carry on from the newest.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some((None, rx)),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    let stream = answers
        .filter_map(move |a| {
            // A lag notice passes; an answer only for the station asked, and as the caller may
            // see it (a restricted chart's, below supervisor, not at all).
            let a = match a {
                None => Some(None),
                Some(a) if station.as_ref().is_some_and(|st| a.station != *st) => None,
                Some(a) => feed::shown(&who, a).map(Some),
            };
            async move { a }
        })
        .map(move |a| {
            Ok(match a {
                Some(a) => Event::default()
                    .event("scan")
                    .data(feed_item(tz, &a).into_string()),
                None => Event::default()
                    .event("lagged")
                    .data("some scans were skipped"),
            })
        })
        .take_until(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        });
    let stream = super::live::while_access_holds(s, caller, stream);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub async fn volume_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(barcode): Path<String>,
) -> PageResult {
    let (b, tz) = (barcode.clone(), s.tz);
    let found = s
        .store
        .audited(
            caller.access("view-volume", crate::domain::Barcode::canonical(&barcode)),
            move |c| Ok(query::volume(c, &b)?.zip(query::movements(c, &b, 1000)?)),
        )
        .await?;
    let Some((mut v, mut moves)) = found else {
        return Err(AppError::NotFound(format!("No volume has the barcode {barcode}.")).into());
    };
    // Below supervisor a restricted chart's whereabouts are hidden, unless this user opened it by
    // break-glass and the opening is still in force (`until`).
    let (hidden, until) =
        match crate::service::break_glass::sees(&s, &caller, &v.barcode, v.restricted).await? {
            Ok(until) => (false, until),
            Err(()) => (true, None),
        };
    if hidden {
        v.hide_whereabouts();
        moves
            .iter_mut()
            .for_each(query::MovementView::hide_whereabouts);
    }
    Ok(layout(
        Some(&caller),
        &v.barcode,
        html! {
            section.volume {
                h1 { (v.last_name) ", " (v.first_name) }
                p.sub { "MRN " (v.mrn) " · " (v.record_type) " volume " (v.volume) " · " code { (v.barcode) }
                    @if v.restricted { " · " span.badge { "restricted" } }
                    @if caller.role().is_some_and(|r| r.at_least(crate::domain::Role::Clerk)) {
                        " · " a href={ "/labels/volume/" (super::url_escape(&v.barcode)) } { "Print label" }
                    } }
                div.where {
                    span class={ "status big " (v.status) } { (status_words(&v.status)) }
                    span.place { (v.location.name) }
                    @if let Some(d) = &v.destination { span.dest { "→ " (d.name) } }
                }
                @if let Some(u) = &v.patient_unit {
                    p.patient-unit { "Patient on " strong { (u.code) } " (" (u.name) "), from the hospital's registration feed: the chart may be wanted there." }
                }
                @if let Some(until) = &until {
                    p.error role="status" { "Emergency access until " (when(tz, until)) ": it is logged and a supervisor reviews it." }
                }
                @if hidden && caller.user_id().is_some() {
                    section.break-glass {
                        h2 { "Emergency access" }
                        p { "This chart is restricted. If a patient's care needs it now, open it with a reason: access lasts "
                            (crate::store::break_glass::MINUTES) " minutes, is logged at high severity and is reviewed by a supervisor." }
                        form method="post" action={ "/volumes/" (super::url_escape(&v.barcode)) "/break-glass" }
                            data-confirm="Open a restricted chart? Your name and your reason go to the supervisors." {
                            input type="hidden" name="csrf" value=(caller.csrf());
                            label { "Reason (10 to 500 characters)"
                                input name="reason" required minlength="10" maxlength="500" autocomplete="off"; }
                            button type="submit" { "Open with this reason" }
                        }
                    }
                }
                dl {
                    dt { "Last scan" }
                    dd {
                        @match &v.last_scan {
                            Some(l) => {
                                (when(tz, &l.at))
                                @if let Some(loc) = &l.location { " at " (loc.name) }
                                @if let Some(st) = &l.station { " (station " (st) ")" }
                                @if let Some(u) = &l.user { " by " (u) }
                            }
                            None => { "never scanned" }
                        }
                    }
                    dt { "Since" } dd { (when(tz, &v.since)) }
                    dt { "Home" } dd { (v.home.name) " (" (v.home.code) ")" }
                    @if let Some(cn) = &v.container { dt { "In container" } dd { (cn.name) } }
                    dt { "Loose reports waiting" } dd { (v.waiting_reports) }
                }
            }
            section.timeline {
                h2 { "Movements" }
                @if moves.is_empty() { p.empty { "No movements yet." } }
                @else {
                    table {
                        thead { tr { th { "When" } th { "What" } th { "From" } th { "To" } th { "Station" } th { "Who" } } }
                        tbody {
                            @for m in &moves {
                                tr {
                                    td { (when(tz, &m.at)) }
                                    td { (m.action) }
                                    td { (m.from.as_deref().unwrap_or("—")) }
                                    td { (m.to.as_deref().unwrap_or("—")) }
                                    td { (m.station) }
                                    td {
                                        (m.user.as_deref().unwrap_or("—"))
                                        @if let Some(r) = &m.receiver { " → " (r) }
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

#[derive(Deserialize, Default)]
pub struct WallQuery {
    /// `list`: only the list (the page's script refreshes it after each scan).
    part: Option<String>,
}

/// What a wall shows of a location: the charts here and on their way, masked, restricted ones
/// left off. The read is in the access log under the caller (a person, or `display:<label>`).
pub(super) async fn wall_list(
    s: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<(query::LocationView, Markup), AppError> {
    let c2 = code.to_owned();
    let detail = s
        .store
        .audited(caller.access("view-wall", code), move |c| {
            query::location(c, &c2, 500, None)
        })
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No location has the code {code}.")))?;
    let (here, coming): (Vec<_>, Vec<_>) = detail
        .volumes
        .iter()
        .filter(|h| !h.restricted)
        .partition(|h| h.status != "in_transit");
    let l = &detail.location;
    // The list stops at 500 (a wall cannot show more). A complete list counts what it shows
    // (restricted charts are left off, and so is their number: a wall is read by passers-by);
    // a cut one says so and gives the place's own counts.
    let cut = (l.here + l.incoming) as usize > detail.volumes.len();
    let (n_here, n_coming) = if cut {
        (l.here as usize, l.incoming as usize)
    } else {
        (here.len(), coming.len())
    };
    let list = html! {
        div #wall-list {
            @if cut {
                p.how-many { "Showing " (here.len() + coming.len()) " of " (n_here + n_coming) "." }
            }
            section { h2 { "Here (" (n_here) ")" }
                ul.wall { @for h in &here { li { span.mask { (masked(&h.last_name, &h.first_name, &h.mrn)) } " " small { (h.record_type) " " (h.volume) } } } } }
            section { h2 { "On the way (" (n_coming) ")" }
                ul.wall { @for h in &coming { li { span.mask { (masked(&h.last_name, &h.first_name, &h.mrn)) } " " small { (h.record_type) " " (h.volume) } } } } }
        }
    };
    Ok((detail.location, list))
}

#[derive(Deserialize)]
pub struct BreakGlassForm {
    reason: String,
}

/// Break-glass from the chart's page: opened with the reason, then back to the chart.
pub async fn break_glass(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(barcode): Path<String>,
    super::PageForm(f): super::PageForm<BreakGlassForm>,
) -> PageResult<axum::response::Response> {
    use axum::response::IntoResponse;
    crate::service::break_glass::open(&s, &caller, &barcode, &f.reason).await?;
    Ok(
        axum::response::Redirect::to(&format!("/volumes/{}", super::url_escape(&barcode)))
            .into_response(),
    )
}

/// The wall display for a floor or the file room, for a signed-in person: what is here and on
/// its way, with masked identifiers, refreshed live. Restricted charts are left off. (A screen
/// left on a wall uses a display of its own instead: `web::display`.)
pub async fn wall(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    Query(q): Query<WallQuery>,
) -> PageResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (l, list) = wall_list(&s, &caller, &code).await?;
    if q.part.as_deref() == Some("list") {
        return Ok(list.into_response());
    }
    Ok(layout(
        Some(&caller),
        &format!("Wall: {}", l.name),
        html! {
            section.wallpage data-wall=(format!("/wall/{}?part=list", super::url_escape(&l.code))) {
                h1 { (l.name) }
                (list)
                (feed_list(s.tz, &[], "/events"))
            }
        },
    )
    .into_response())
}
