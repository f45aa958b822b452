//! Break-glass as the entry points use it: who may open a restricted chart in an emergency (a
//! signed-in user below supervisor; a supervisor already sees it), the alarm it raises in the
//! logs (severity high, naming the user and the opening, never the patient), and whether a
//! caller sees a restricted chart's whereabouts now.

use super::{AppError, AppResult, AppState, Caller};
use crate::store::break_glass;

/// Open `barcode`'s patient for the caller with `reason`; answers until when.
pub async fn open(
    s: &AppState,
    caller: &Caller,
    barcode: &str,
    reason: &str,
) -> AppResult<break_glass::Opened> {
    let Some(user_id) = caller.user_id() else {
        return Err(AppError::Forbidden(
            "break-glass is for a signed-in person".into(),
        ));
    };
    if caller.sees_restricted() {
        return Err(AppError::BadRequest(
            "your role already sees restricted charts: no break-glass needed".into(),
        ));
    }
    let now = s.store.clock().now();
    let access = caller.access("break-glass", crate::domain::Barcode::canonical(barcode));
    let (b, r) = (barcode.to_owned(), reason.to_owned());
    let opened = s
        .store
        .write(move |c| break_glass::open(c, user_id, &b, &r, &access, now))
        .await?;
    tracing::warn!(
        severity = "high",
        user = caller.name(),
        opening = opened.id,
        minutes = break_glass::MINUTES,
        "break-glass: a restricted chart was opened with a reason; a supervisor reviews it"
    );
    Ok(opened)
}

/// Whether the caller sees a chart's whereabouts: always when it is not restricted or the role
/// sees restricted charts; otherwise `Err(None)`, or `Ok(Some(until))` while a break-glass
/// opening of that patient by this user is in force.
pub async fn sees(
    s: &AppState,
    caller: &Caller,
    barcode: &str,
    restricted: bool,
) -> AppResult<Result<Option<String>, ()>> {
    if !restricted || caller.sees_restricted() {
        return Ok(Ok(None));
    }
    let Some(user_id) = caller.user_id() else {
        return Ok(Err(()));
    };
    let (b, now) = (barcode.to_owned(), s.store.clock().now());
    let until = s
        .store
        .read(move |c| break_glass::in_force(c, user_id, &b, now))
        .await?;
    Ok(until.map(Some).ok_or(()))
}

/// Which restricted charts among `barcodes` the caller sees: everything for a role that sees
/// restricted charts; otherwise only those opened by this user's break-glass now. Read only
/// when there is a restricted chart to decide about.
pub async fn seen(
    s: &AppState,
    caller: &Caller,
    restricted: impl IntoIterator<Item = String>,
) -> AppResult<Seen> {
    if caller.sees_restricted() {
        return Ok(Seen::All);
    }
    let mut restricted = restricted.into_iter().peekable();
    let (Some(user_id), Some(_)) = (caller.user_id(), restricted.peek()) else {
        return Ok(Seen::Opened(Default::default()));
    };
    let now = s.store.clock().now();
    let opened = s
        .store
        .read(move |c| break_glass::opened_barcodes(c, user_id, now))
        .await?;
    Ok(Seen::Opened(opened))
}

/// What [`seen`] answers.
pub enum Seen {
    /// The role sees every restricted chart.
    All,
    /// Only these (break-glass openings in force).
    Opened(std::collections::HashSet<String>),
}

impl Seen {
    /// Whether a chart's whereabouts are shown.
    pub fn shows(&self, barcode: &str, restricted: bool) -> bool {
        match self {
            Seen::All => true,
            Seen::Opened(o) => !restricted || o.contains(barcode),
        }
    }

    /// Hide the whereabouts of the restricted search hits the caller does not see.
    pub fn mask(&self, hits: &mut [crate::store::query::SearchHit]) {
        hits.iter_mut()
            .filter(|h| !self.shows(&h.barcode, h.restricted))
            .for_each(crate::store::query::SearchHit::hide_whereabouts);
    }
}

/// The restricted barcodes in `hits` (what [`seen`] needs to decide about).
pub fn restricted_in(hits: &[crate::store::query::SearchHit]) -> Vec<String> {
    hits.iter()
        .filter(|h| h.restricted)
        .map(|h| h.barcode.clone())
        .collect()
}
