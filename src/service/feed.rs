//! The live feed of scan answers (the dashboard, the wall displays, the stations page) as a
//! caller may see it. A scan's answer names a chart and where it went, so reading the feed is a
//! read of patient data: it is written to the access log (once per page or stream opened), and
//! a restricted chart's answer shows only that a restricted chart was scanned to anyone below
//! supervisor, as the chart pages do.

use super::{AppResult, AppState, Caller};
use crate::store::query;
use crate::store::ScanAnswer;
use tokio::sync::broadcast;

/// An answer as `caller` may see it: a restricted chart's whereabouts (the station, the message
/// and warnings naming places, where it is and is going, the requests it moved) hidden from
/// those who may not see them.
pub fn shown(caller: &Caller, mut a: ScanAnswer) -> ScanAnswer {
    if a.restricted && !caller.sees_restricted() {
        a.message = "A restricted chart was scanned; where it is shows only to supervisors.".into();
        a.warnings.clear();
        a.station = "restricted".into();
        a.requests.clear();
        if let Some(v) = &mut a.volume {
            v.location = query::restricted_place();
            v.destination = None;
        }
    }
    a
}

/// The most recent answers, newest first (all, or a station's; or only the refused ones).
pub async fn recent(
    s: &AppState,
    caller: &Caller,
    station: Option<String>,
    only_refused: bool,
    limit: u32,
) -> AppResult<Vec<ScanAnswer>> {
    let subject = station.clone().unwrap_or_else(|| "all stations".into());
    let rows = s
        .store
        .audited(caller.access("live-feed", subject), move |c| {
            query::recent_answers(c, station.as_deref(), only_refused, limit)
        })
        .await?;
    Ok(rows.into_iter().map(|a| shown(caller, a)).collect())
}

/// Follow the feed from now on: the access log records that `caller` watched it (and from
/// when); each answer received must be passed through [`shown`].
pub async fn follow(
    s: &AppState,
    caller: &Caller,
    station: Option<&str>,
) -> AppResult<broadcast::Receiver<ScanAnswer>> {
    let subject = station.unwrap_or("all stations").to_owned();
    s.store
        .audited(caller.access("live-feed-follow", subject), |_| Ok(()))
        .await?;
    Ok(s.store.subscribe())
}
