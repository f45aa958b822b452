//! The HTTP API (JSON under `/api/v1`), `/healthz` and `/metrics`. Handlers read through the
//! store's read pool (patient data through the audited path) and write only through the
//! single writer. Who may call what is decided in `auth`.

pub mod error;
mod openapi;
pub mod workflows;

use crate::auth::Caller;
use crate::domain::{Barcode, Mrn};
use crate::engine::UserRef;
use crate::metrics::Metrics;
use crate::store::admin::{self, NewLocation, NewStation, NewVolume};
use crate::store::query::{self, Principal};
use crate::store::{ScanInput, Store};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use error::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub auth: crate::auth::Settings,
    pub loans: crate::config::LoanDays,
    /// Becomes true when the server begins to shut down (ends the live feeds).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// JSON body whose rejections are `{"error": ...}` 400s like every other error.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Extractors from the request line whose rejections are 400s with `{"error"}`.
macro_rules! parts_extractor {
    ($(#[$doc:meta])* $name:ident wraps $inner:ident) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for $name<T> {
            type Rejection = ApiError;
            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                match $inner::<T>::from_request_parts(parts, state).await {
                    Ok($inner(v)) => Ok($name(v)),
                    Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
                }
            }
        }
    };
}

parts_extractor!(
    /// The query string.
    ApiQuery wraps Query
);
parts_extractor!(
    /// Path parameters (a percent-encoded segment that is not UTF-8 is a 400, not plain text).
    ApiPath wraps Path
);

/// The API's routes (the access policy and state are applied in `web::app`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/scans", post(post_scan))
        .route("/api/v1/volumes", post(post_volume))
        .route("/api/v1/volumes/{barcode}", get(get_volume))
        .route("/api/v1/volumes/{barcode}/movements", get(get_movements))
        .route("/api/v1/search", get(search))
        .route("/api/v1/locations", get(get_locations).post(post_location))
        .route("/api/v1/locations/{code}", get(get_location))
        .route("/api/v1/stations", get(get_stations).post(post_station))
        .route("/api/v1/exceptions", get(get_exceptions))
        .route("/api/v1/reports", post(post_report))
        .merge(workflows::routes())
}

async fn healthz(State(s): State<AppState>) -> ApiResult<&'static str> {
    s.store
        .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await?;
    Ok("ok")
}

async fn metrics(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    let text = s.metrics.render(&s.store).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    /// May be left out with a station token: the token's own station.
    #[serde(default)]
    station: Option<String>,
    barcode: String,
    #[serde(default)]
    id: Option<uuid::Uuid>,
    /// When the scanner read it (agents delivering a queue), RFC 3339.
    #[serde(default)]
    scanned_at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn post_scan(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<ScanBody>,
) -> ApiResult<impl IntoResponse> {
    let station = match (body.station, &who) {
        (Some(s), _) => s,
        (None, Principal::Station { id }) => id.clone(),
        (None, Principal::User { .. }) => {
            return Err(ApiError::BadRequest(
                "station is required (only a station token may leave it out)".into(),
            ))
        }
    };
    if station.is_empty() || station.len() > 64 {
        return Err(ApiError::BadRequest(
            "station must be 1 to 64 characters".into(),
        ));
    }
    if body.barcode.len() > 4096 {
        return Err(ApiError::BadRequest(
            "barcode is far too long to be a scan".into(),
        ));
    }
    let user = match &who {
        Principal::Station { id } if *id != station => {
            return Err(ApiError::Forbidden(format!(
                "this token belongs to station '{id}' and may only scan as it"
            )));
        }
        Principal::Station { .. } => None,
        Principal::User { id, name, .. } => Some(UserRef {
            id: *id,
            name: name.clone(),
        }),
    };
    let started = std::time::Instant::now();
    let answer = s
        .store
        .scan(ScanInput {
            station,
            line: body.barcode.into_bytes(),
            id: body.id,
            scanned_at: body.scanned_at,
            user,
        })
        .await?;
    s.metrics.observe_scan(&answer, started.elapsed());
    Ok(Json(answer))
}

async fn get_volume(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(barcode): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    let access = caller.access("view-volume", crate::domain::Barcode::canonical(&barcode));
    let mut v = s
        .store
        .audited(access, move |c| query::volume(c, &barcode))
        .await?
        .ok_or_else(|| ApiError::NotFound("no volume with that barcode".into()))?;
    if v.restricted && !caller.sees_restricted() {
        v.hide_whereabouts();
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<u32>,
}

async fn get_movements(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(barcode): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 10000".into()));
    }
    let access = caller.access(
        "view-movements",
        crate::domain::Barcode::canonical(&barcode),
    );
    let (restricted, mut moves) = s
        .store
        .audited(access, move |c| {
            let restricted = query::is_restricted(c, &barcode)?;
            Ok(restricted.zip(query::movements(c, &barcode, limit)?))
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("no volume with that barcode".into()))?;
    if restricted && !caller.sees_restricted() {
        for m in &mut moves {
            m.from = None;
            m.to = None;
        }
    }
    Ok(Json(moves))
}

async fn post_volume(
    State(s): State<AppState>,
    ApiJson(v): ApiJson<NewVolume>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let barcode = s
        .store
        .write(move |c| admin::create_volume(c, &v, now))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "barcode": barcode })),
    ))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    limit: Option<u32>,
}

async fn search(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<impl IntoResponse> {
    if q.q.len() > 100 {
        return Err(ApiError::BadRequest(
            "search text is longer than 100 characters".into(),
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let access = caller.access("search", q.q.clone());
    let mut hits = s
        .store
        .audited(access, move |c| query::search(c, &q.q, limit))
        .await?;
    if !caller.sees_restricted() {
        hits.iter_mut()
            .filter(|h| h.restricted)
            .for_each(query::SearchHit::hide_whereabouts);
    }
    Ok(Json(hits))
}

async fn get_locations(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.store.read(query::locations).await?))
}

async fn get_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(500).clamp(1, 10_000);
    let access = caller.access("view-location", code.clone());
    let mut l = s
        .store
        .audited(access, move |c| query::location(c, &code, limit))
        .await?
        .ok_or_else(|| ApiError::NotFound("no location with that code".into()))?;
    if !caller.sees_restricted() {
        // A restricted chart's presence here is itself its whereabouts.
        l.volumes.retain(|h| !h.restricted);
    }
    Ok(Json(l))
}

async fn post_location(
    State(s): State<AppState>,
    ApiJson(l): ApiJson<NewLocation>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let barcode = s
        .store
        .write(move |c| admin::create_location(c, &l, now))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "barcode": barcode })),
    ))
}

async fn get_stations(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.store.read(query::stations).await?))
}

async fn post_station(
    State(s): State<AppState>,
    ApiJson(st): ApiJson<NewStation>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let id = st.id.clone();
    s.store
        .write(move |c| admin::upsert_station(c, &st, now))
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

#[derive(Deserialize)]
struct ExceptionQuery {
    #[serde(default)]
    all: bool,
    limit: Option<u32>,
}

async fn get_exceptions(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ExceptionQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(200).clamp(1, 10_000);
    Ok(Json(
        s.store
            .read(move |c| query::exceptions(c, !q.all, limit))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    #[serde(default)]
    barcode: Option<Barcode>,
    mrn: Mrn,
    description: String,
}

async fn post_report(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(r): ApiJson<ReportBody>,
) -> ApiResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let user = caller.user_id();
    let barcode = s
        .store
        .write(move |c| {
            admin::create_report(c, r.barcode.as_ref(), &r.mrn, &r.description, user, now)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "barcode": barcode })),
    ))
}
