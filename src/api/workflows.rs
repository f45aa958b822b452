//! The workflows' API: requests and the pull list, missing and found, loose reports waiting,
//! stocktakes. Writes go through the single writer; reads of patient data through the audited
//! path, with restricted charts' whereabouts hidden from those who may not see them.

use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Policy::User;
use crate::auth::Routes;
use crate::domain::MissingReason;
use crate::domain::Role::{Clerk, Nurse, Supervisor};
use crate::service::requests::{self as requests_op, CancelBody};
use crate::service::{AppError, AppResult};
use crate::service::{AppState, Caller};
use crate::store::requests::{Created, Filter, NewRequest, RequestView};
use crate::store::stocktake::{self, NewStocktake};
use crate::store::{loose, missing};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/requests", User(Nurse), list_requests)
        .post("/api/v1/requests", User(Nurse), post_request)
        .get("/api/v1/requests/{id}", User(Nurse), get_request)
        .post("/api/v1/requests/{id}/cancel", User(Nurse), cancel_request)
        .get("/api/v1/pull-list", User(Clerk), pull_list)
        .post(
            "/api/v1/volumes/{barcode}/missing",
            User(Supervisor),
            mark_missing,
        )
        .get("/api/v1/missing", User(Supervisor), get_missing)
        .post(
            "/api/v1/missing/{id}/acknowledge",
            User(Supervisor),
            acknowledge_found,
        )
        .get("/api/v1/reports", User(Clerk), waiting_reports)
        .get("/api/v1/stocktakes", User(Clerk), list_stocktakes)
        .post("/api/v1/stocktakes", User(Clerk), open_stocktake)
        .get("/api/v1/stocktakes/{id}", User(Clerk), get_stocktake)
        .post(
            "/api/v1/stocktakes/{id}/close",
            User(Clerk),
            close_stocktake,
        )
}

async fn post_request(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewRequest>,
) -> AppResult<impl IntoResponse> {
    let (created, view) = requests_op::create(&s, &caller, body).await?;
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
) -> AppResult<impl IntoResponse> {
    Ok(Json(requests_op::read(&s, &caller, id).await?))
}

async fn list_requests(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(f): ApiQuery<Filter>,
) -> AppResult<impl IntoResponse> {
    Ok(Json(requests_op::list(&s, &caller, f).await?))
}

async fn cancel_request(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CancelBody>,
) -> AppResult<impl IntoResponse> {
    Ok(Json(requests_op::cancel(&s, &caller, id, body).await?))
}

async fn pull_list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> AppResult<impl IntoResponse> {
    let (pull, transfer) = s
        .store
        .audited(
            caller.access("pull-list", "file room"),
            crate::store::requests::pull_list,
        )
        .await?;
    let hide = |v: Vec<RequestView>| {
        v.into_iter()
            .map(|r| requests_op::shown(&caller, r))
            .collect::<Vec<_>>()
    };
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
) -> AppResult<impl IntoResponse> {
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
) -> AppResult<impl IntoResponse> {
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
) -> AppResult<impl IntoResponse> {
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
) -> AppResult<impl IntoResponse> {
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
) -> AppResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    let id = s
        .store
        .write(move |c| stocktake::open(c, &body, user, now))
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

async fn list_stocktakes(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    Ok(Json(s.store.read(|c| stocktake::list(c, 200)).await?))
}

async fn get_stocktake(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<impl IntoResponse> {
    let r = s
        .store
        .audited(caller.access("view-stocktake", id.to_string()), move |c| {
            stocktake::results(c, id)
        })
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no stocktake {id}")))?;
    Ok(Json(r))
}

async fn close_stocktake(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    s.store
        .write(move |c| stocktake::close(c, id, user, now))
        .await?;
    Ok(Json(serde_json::json!({ "closed": id })))
}
