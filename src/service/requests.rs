//! Requests as the API and the pages share them: create one (and tell the floor pages), read
//! one or a list through the audited path with restricted charts' whereabouts hidden from those
//! who may not see them, cancel one (and tell the floor pages).

use super::{AppError, AppResult, AppState, Caller};
use crate::domain::{EndReason, RequestStatus, Role};
use crate::store::query;
use crate::store::requests::{self, Created, Filter, NewRequest, RequestView};
use crate::store::scan::RequestNote;
use serde::Deserialize;

/// Hide a restricted chart's whereabouts from a caller who may not see them.
pub fn shown(caller: &Caller, mut r: RequestView) -> RequestView {
    if r.restricted && !caller.sees_restricted() {
        r.hide_whereabouts();
    }
    r
}

/// Create a request and tell the floor pages. Shared with the requests page.
pub async fn create(
    s: &AppState,
    caller: &Caller,
    body: NewRequest,
) -> AppResult<(Created, RequestView)> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    let created = s
        .store
        .write(move |c| requests::create(c, &body, user, now))
        .await?;
    let view = read(s, caller, created.id()).await?;
    if let Created::New(_) = created {
        s.store.request_changed(note(&view));
    }
    Ok((created, view))
}

pub fn note(r: &RequestView) -> RequestNote {
    RequestNote {
        id: r.id,
        barcode: r.barcode.clone(),
        status: r.status,
        location: r.location.code.clone(),
    }
}

pub async fn read(s: &AppState, caller: &Caller, id: i64) -> AppResult<RequestView> {
    let r = s
        .store
        .audited(caller.access("view-request", id.to_string()), move |c| {
            requests::view(c, id)
        })
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no request {id}")))?;
    Ok(shown(caller, r))
}

pub async fn list(s: &AppState, caller: &Caller, f: Filter) -> AppResult<Vec<RequestView>> {
    let subject = f.location.clone().unwrap_or_else(|| "all".into());
    let rows = s
        .store
        .audited(caller.access("list-requests", subject), move |c| {
            requests::list(c, &f)
        })
        .await?;
    Ok(rows.into_iter().map(|r| shown(caller, r)).collect())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = Cancel)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: EndReason,
    /// Required when the reason is `other`; at most 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// Cancel a request and tell the floor pages. Shared with the requests page.
pub async fn cancel(
    s: &AppState,
    caller: &Caller,
    id: i64,
    body: CancelBody,
) -> AppResult<RequestView> {
    // A nurse cancels her own unit's requests (or the ones she made), not another floor's.
    // (Who it is for and who made it are read without the patient: no access-log entry.)
    if let (Some(Role::Nurse), Some(uid)) = (caller.role(), caller.user_id()) {
        let (owner, home) = s
            .store
            .read(move |c| Ok((requests::owner(c, id)?, query::home_of(c, uid)?)))
            .await?;
        let (place, made_by) =
            owner.ok_or_else(|| AppError::NotFound(format!("no request {id}")))?;
        if home.as_deref() != Some(place.as_str()) && made_by != Some(uid) {
            return Err(AppError::Forbidden(format!(
                "A nurse may cancel only her own unit's requests ({}); this one is for {place}. Ask its unit or the file room.",
                home.as_deref().unwrap_or("no home unit set"),
            )));
        }
    }
    let now = s.store.clock().now();
    let user = caller.user_id();
    s.store
        .write(move |c| requests::cancel(c, id, body.reason, body.note.as_deref(), user, now))
        .await?;
    let view = read(s, caller, id).await?;
    debug_assert_eq!(view.status, RequestStatus::Cancelled);
    s.store.request_changed(note(&view));
    Ok(view)
}
