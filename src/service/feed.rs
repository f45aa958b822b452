//! The live feed of scan answers (the dashboard, the wall displays, the stations page) as a
//! caller may see it. A scan's answer names a chart and where it went, so reading the feed is a
//! read of patient data: it is written to the access log (once per page or stream opened), and
//! a restricted chart's answer is left out of the feed of anyone below supervisor: even a line
//! saying "a restricted chart was scanned" would tie it, by its time, to the line before it
//! (a destination scanned at the same station).

use super::{AppResult, AppState, Caller};
use crate::store::query;
use crate::store::ScanAnswer;
use tokio::sync::broadcast;

/// An answer as `caller` may see it: none for a restricted chart's answer below supervisor.
pub fn shown(caller: &Caller, a: ScanAnswer) -> Option<ScanAnswer> {
    (!a.restricted || caller.sees_restricted()).then_some(a)
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
    Ok(rows.into_iter().filter_map(|a| shown(caller, a)).collect())
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
