//! The workflows' API: requests and the pull list, missing and found, loose reports waiting,
//! stocktakes. Writes go through the single writer; reads of patient data through the audited
//! path, with restricted charts' whereabouts hidden from those who may not see them.

use super::error::{ApiError, ApiResult};
use super::{ApiJson, ApiPath, ApiQuery, AppState};
use crate::auth::Caller;
use crate::domain::{EndReason, MissingReason, RequestStatus};
use crate::store::requests::{self, Created, Filter, NewRequest, RequestView};
use crate::store::scan::RequestNote;
use crate::store::stocktake::{self, NewStocktake};
use crate::store::{loose, missing};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/requests", get(list_requests).post(post_request))
        .route("/api/v1/requests/{id}", get(get_request))
        .route("/api/v1/requests/{id}/cancel", post(cancel_request))
        .route("/api/v1/pull-list", get(pull_list))
        .route("/api/v1/volumes/{barcode}/missing", post(mark_missing))
        .route("/api/v1/missing", get(get_missing))
        .route("/api/v1/missing/{id}/acknowledge", post(acknowledge_found))
        .route("/api/v1/reports", get(waiting_reports))
        .route(
            "/api/v1/stocktakes",
            get(list_stocktakes).post(open_stocktake),
        )
        .route("/api/v1/stocktakes/{id}", get(get_stocktake))
        .route("/api/v1/stocktakes/{id}/close", post(close_stocktake))
}

/// Hide a restricted chart's whereabouts from a caller who may not see them.
pub fn shown(caller: &Caller, mut r: RequestView) -> RequestView {
    if r.restricted && !caller.sees_restricted() {
        r.hide_whereabouts();
    }
    r
}

/// Create a request and tell the floor pages. Shared with the requests page.
pub async fn create_request(
    s: &AppState,
    caller: &Caller,
    body: NewRequest,
) -> ApiResult<(Created, RequestView)> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    let created = s
        .store
        .write(move |c| requests::create(c, &body, user, now))
        .await?;
    let view = read_request(s, caller, created.id()).await?;
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

pub async fn read_request(s: &AppState, caller: &Caller, id: i64) -> ApiResult<RequestView> {
    let r = s
        .store
        .audited(caller.access("view-request", id.to_string()), move |c| {
            requests::view(c, id)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no request {id}")))?;
    Ok(shown(caller, r))
}

async fn post_request(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewRequest>,
) -> ApiResult<impl IntoResponse> {
    let (created, view) = create_request(&s, &caller, body).await?;
    let status = match created {
        Created::New(_) => StatusCode::CREATED,
        Created::Existing(_) => StatusCode::OK,
    };
    Ok((status, Json(view)))
}

async fn get_request(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(read_request(&s, &caller, id).await?))
}

pub async fn list(s: &AppState, caller: &Caller, f: Filter) -> ApiResult<Vec<RequestView>> {
    let subject = f.location.clone().unwrap_or_else(|| "all".into());
    let rows = s
        .store
        .audited(caller.access("list-requests", subject), move |c| {
            requests::list(c, &f)
        })
        .await?;
    Ok(rows.into_iter().map(|r| shown(caller, r)).collect())
}

async fn list_requests(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(f): ApiQuery<Filter>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(list(&s, &caller, f).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: EndReason,
    #[serde(default)]
    pub note: Option<String>,
}

/// Cancel a request and tell the floor pages. Shared with the requests page.
pub async fn cancel(
    s: &AppState,
    caller: &Caller,
    id: i64,
    body: CancelBody,
) -> ApiResult<RequestView> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    s.store
        .write(move |c| requests::cancel(c, id, body.reason, body.note.as_deref(), user, now))
        .await?;
    let view = read_request(s, caller, id).await?;
    debug_assert_eq!(view.status, RequestStatus::Cancelled);
    s.store.request_changed(note(&view));
    Ok(view)
}

async fn cancel_request(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CancelBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(cancel(&s, &caller, id, body).await?))
}

async fn pull_list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<impl IntoResponse> {
    let (pull, transfer) = s
        .store
        .audited(caller.access("pull-list", "file room"), requests::pull_list)
        .await?;
    let hide = |v: Vec<RequestView>| v.into_iter().map(|r| shown(&caller, r)).collect::<Vec<_>>();
    Ok(Json(
        serde_json::json!({ "pull": hide(pull), "transfer": hide(transfer) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingBody {
    pub reason: MissingReason,
    #[serde(default)]
    pub note: Option<String>,
}

async fn mark_missing(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(barcode): ApiPath<String>,
    ApiJson(body): ApiJson<MissingBody>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    let id = s
        .store
        .write(move |c| missing::mark(c, &barcode, body.reason, body.note.as_deref(), user, now))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "mark_id": id })),
    ))
}

async fn get_missing(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<impl IntoResponse> {
    let (missing, found, candidates) = s
        .store
        .audited(caller.access("missing-list", "all"), missing::overview)
        .await?;
    Ok(Json(serde_json::json!({
        "missing": missing, "found": found, "candidates": candidates
    })))
}

async fn acknowledge_found(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    s.store
        .write(move |c| missing::acknowledge(c, id, user, now))
        .await?;
    Ok(Json(serde_json::json!({ "acknowledged": id })))
}

async fn waiting_reports(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let mut waiting = s
        .store
        .audited(caller.access("loose-reports", "waiting"), move |c| {
            loose::waiting(c, now, 5000)
        })
        .await?;
    if !caller.sees_restricted() {
        waiting
            .iter_mut()
            .filter(|w| w.restricted)
            .for_each(loose::WaitingReport::hide_whereabouts);
    }
    Ok(Json(waiting))
}

async fn open_stocktake(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewStocktake>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    let id = s
        .store
        .write(move |c| stocktake::open(c, &body, user, now))
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

async fn list_stocktakes(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.store.read(|c| stocktake::list(c, 200)).await?))
}

async fn get_stocktake(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<impl IntoResponse> {
    let r = s
        .store
        .audited(caller.access("view-stocktake", id.to_string()), move |c| {
            stocktake::results(c, id)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no stocktake {id}")))?;
    Ok(Json(r))
}

async fn close_stocktake(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    s.store
        .write(move |c| stocktake::close(c, id, user, now))
        .await?;
    Ok(Json(serde_json::json!({ "closed": id })))
}
