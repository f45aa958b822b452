//! The workflows' API: requests and the pull list, missing and found, loose reports waiting,
//! stocktakes. Writes go through the single writer; reads of patient data through the audited
//! path, with restricted charts' whereabouts hidden from those who may not see them.

use super::ErrorBody;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Policy::User;
use crate::auth::Routes;
use crate::domain::MissingReason;
use crate::domain::Role::{Clerk, Nurse, Supervisor};
use crate::service::requests::{self as requests_op, CancelBody};
use crate::service::{AppError, AppResult};
use crate::service::{AppState, Caller};
use crate::store::missing::{Candidate, FoundView, MissingView};
use crate::store::requests::{Created, Filter, NewRequest, RequestView};
use crate::store::stocktake::{self, NewStocktake};
use crate::store::stocktake::{ResultsJson, StocktakeSummary};
use crate::store::{loose, missing};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

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

/// Request a volume for a location
///
/// 201 with a new request; 200 with the one already open for that volume and place (asking
/// twice does not make two slips).
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = NewRequest, responses(
    (status = 201, description = "a new request", body = RequestView),
    (status = 200, description = "the request already open for that volume and place", body = RequestView),
    (status = 400, description = "a malformed request", body = ErrorBody),
    (status = 404, description = "no such volume or location", body = ErrorBody),
    (status = 422, description = "invalid (e.g. a location that cannot receive)", body = ErrorBody),
))]
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

/// One request and where it stands
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = i64, Path, description = "the request's id")),
    responses(
        (status = 200, description = "the request", body = RequestView),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no such request", body = ErrorBody),
    ))]
async fn get_request(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<impl IntoResponse> {
    Ok(Json(requests_op::read(&s, &caller, id).await?))
}

/// Requests, newest first
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(Filter), responses(
    (status = 200, description = "the requests", body = Vec<RequestView>),
    (status = 400, description = "a malformed query", body = ErrorBody),
))]
async fn list_requests(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(f): ApiQuery<Filter>,
) -> AppResult<impl IntoResponse> {
    Ok(Json(requests_op::list(&s, &caller, f).await?))
}

/// Cancel an open or pulled request, with a coded reason
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests",
    params(("id" = i64, Path, description = "the request's id")),
    request_body = CancelBody,
    responses(
        (status = 200, description = "the request, cancelled", body = RequestView),
        (status = 400, description = "a malformed request", body = ErrorBody),
        (status = 404, description = "no such request", body = ErrorBody),
        (status = 409, description = "the request has already ended", body = ErrorBody),
        (status = 422, description = "invalid note", body = ErrorBody),
    ))]
async fn cancel_request(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CancelBody>,
) -> AppResult<impl IntoResponse> {
    Ok(Json(requests_op::cancel(&s, &caller, id, body).await?))
}

/// The file room's pull list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PullList {
    /// Open requests for volumes on their shelves: STAT first, then by needed-by time (none
    /// last), then in terminal-digit order.
    pub pull: Vec<RequestView>,
    /// Open requests that wait on whoever holds the volume.
    pub transfer: Vec<RequestView>,
    /// Requests to pull in all (`pull` holds them all, or the page asked for).
    pub total: usize,
}

/// A page of the pull list; without `limit`, all of it.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// At most this many requests to pull, 1 to 5000, from `offset` in the pull order (the
    /// transfer requests come whole with every page). Without it, every one.
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
    /// Where the page starts in the pull order, from 0.
    #[serde(default)]
    pub offset: u32,
}

/// The file room's pull list and the transfer requests
#[utoipa::path(get, path = "/api/v1/pull-list", tag = "requests", params(PullQuery), responses(
    (status = 200, description = "what to pull, and what others must hand over", body = PullList),
    (status = 400, description = "a limit out of range", body = ErrorBody),
))]
async fn pull_list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PullQuery>,
) -> AppResult<impl IntoResponse> {
    let access = caller.access("pull-list", "file room");
    let (pull, transfer, total) = match q.limit {
        None => {
            let (pull, transfer) = s
                .store
                .audited(access, crate::store::requests::pull_list)
                .await?;
            let total = pull.len();
            (pull, transfer, total)
        }
        Some(limit) if (1..=5000).contains(&limit) => {
            let offset = q.offset as usize;
            let page = s
                .store
                .audited(access, move |c| {
                    crate::store::requests::pull_page(c, offset, limit as usize)
                })
                .await?;
            (page.pull, page.transfer, page.total)
        }
        Some(_) => return Err(AppError::BadRequest("limit must be 1 to 5000".into())),
    };
    let hide = |v: Vec<RequestView>| {
        v.into_iter()
            .map(|r| requests_op::shown(&caller, r))
            .collect::<Vec<_>>()
    };
    Ok(Json(PullList {
        pull: hide(pull),
        transfer: hide(transfer),
        total,
    }))
}

/// Why a volume is marked missing.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MarkMissing)]
pub struct MissingBody {
    pub reason: MissingReason,
    /// Required when the reason is `other`; at most 200 characters, on one line.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// What marking a volume missing answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MarkedMissing {
    /// The mark's id (to acknowledge it once the volume is found).
    pub mark_id: i64,
}

/// Mark a volume missing
///
/// Its last known location stays on record; any later scan of it clears the flag and says
/// where it turned up.
#[utoipa::path(post, path = "/api/v1/volumes/{barcode}/missing", tag = "missing",
    params(("barcode" = String, Path, description = "the volume's barcode (case-insensitive)")),
    request_body = MissingBody,
    responses(
        (status = 201, description = "marked", body = MarkedMissing),
        (status = 400, description = "a malformed request", body = ErrorBody),
        (status = 404, description = "no volume with that barcode", body = ErrorBody),
        (status = 409, description = "already missing", body = ErrorBody),
        (status = 422, description = "no note with `other`, or an invalid note", body = ErrorBody),
    ))]
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
    Ok((StatusCode::CREATED, Json(MarkedMissing { mark_id: id })))
}

/// The supervisor's missing list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MissingOverview {
    /// Volumes marked missing, with where to look.
    pub missing: Vec<MissingView>,
    /// Missing volumes that turned up, until acknowledged.
    pub found: Vec<FoundView>,
    /// Looked for and not found, but not marked missing (never marked by a machine).
    pub candidates: Vec<Candidate>,
}

/// Missing volumes with where to look, found ones to acknowledge, candidates
#[utoipa::path(get, path = "/api/v1/missing", tag = "missing", responses(
    (status = 200, description = "the missing list", body = MissingOverview),
))]
async fn get_missing(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> AppResult<impl IntoResponse> {
    let (missing, found, candidates) = s
        .store
        .audited(caller.access("missing-list", "all"), missing::overview)
        .await?;
    Ok(Json(MissingOverview {
        missing,
        found,
        candidates,
    }))
}

/// What acknowledging a found volume answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Acknowledged {
    /// The mark acknowledged.
    pub acknowledged: i64,
}

/// Acknowledge that a missing volume turned up
#[utoipa::path(post, path = "/api/v1/missing/{id}/acknowledge", tag = "missing",
    params(("id" = i64, Path, description = "the missing mark's id (`mark_id`)")),
    responses(
        (status = 200, description = "acknowledged", body = Acknowledged),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 409, description = "not a found volume waiting to be acknowledged", body = ErrorBody),
    ))]
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
    Ok(Json(Acknowledged { acknowledged: id }))
}

/// Loose reports waiting to be filed, oldest first
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", responses(
    (status = 200, description = "the reports waiting, with their age", body = Vec<loose::WaitingReport>),
))]
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

/// What opening a stocktake answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StocktakeOpened {
    /// The stocktake's id.
    pub id: i64,
}

/// Open a stocktake at a station, over a location or a terminal-digit range
///
/// A range scope freezes what is expected there (volumes known to be out are excluded).
#[utoipa::path(post, path = "/api/v1/stocktakes", tag = "stocktakes", request_body = NewStocktake, responses(
    (status = 201, description = "opened", body = StocktakeOpened),
    (status = 400, description = "a malformed request", body = ErrorBody),
    (status = 404, description = "no such station or location", body = ErrorBody),
    (status = 409, description = "a stocktake is already open at that station", body = ErrorBody),
    (status = 422, description = "neither or both of location and terminal, or a bad range", body = ErrorBody),
))]
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
    Ok((StatusCode::CREATED, Json(StocktakeOpened { id })))
}

/// Stocktakes, newest first
#[utoipa::path(get, path = "/api/v1/stocktakes", tag = "stocktakes", responses(
    (status = 200, description = "the last 200 stocktakes", body = Vec<StocktakeSummary>),
))]
async fn list_stocktakes(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    Ok(Json(s.store.read(|c| stocktake::list(c, 200)).await?))
}

/// A stocktake's results: corrected, not seen, misfiles
#[utoipa::path(get, path = "/api/v1/stocktakes/{id}", tag = "stocktakes",
    params(("id" = i64, Path, description = "the stocktake's id")),
    responses(
        (status = 200, description = "its results", body = ResultsJson),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no such stocktake", body = ErrorBody),
    ))]
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

/// What closing a stocktake answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Closed {
    /// The stocktake closed.
    pub closed: i64,
}

/// Close a stocktake
///
/// Volumes expected and not seen become candidates for missing; none is marked missing.
#[utoipa::path(post, path = "/api/v1/stocktakes/{id}/close", tag = "stocktakes",
    params(("id" = i64, Path, description = "the stocktake's id")),
    responses(
        (status = 200, description = "closed", body = Closed),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 409, description = "not open", body = ErrorBody),
    ))]
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
    Ok(Json(Closed { closed: id }))
}
