//! The HTTP API (JSON under `/api/v1`), `/healthz` and `/metrics`. Handlers read through the
//! store's read pool (patient data through the audited path) and write only through the
//! single writer. Who may call what is decided in `auth`.

mod error;
mod openapi;
pub mod workflows;

use crate::auth::Policy::{Any, Public, Scan, User};
use crate::auth::Routes;
use crate::domain::Role::{Admin, Clerk, Nurse, Supervisor};
use crate::domain::{Barcode, Mrn};
use crate::engine::UserRef;
use crate::service::{scans, AppError, AppResult, AppState, Caller};
use crate::store::admin::{self, NewLocation, NewStation, NewVolume};
use crate::store::query::{self, Principal};
use crate::store::ScanInput;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// JSON body whose rejections are `{"error": ...}` 400s like every other error.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(AppError::BadRequest(rejection.body_text())),
        }
    }
}

/// Extractors from the request line whose rejections are 400s with `{"error"}`.
macro_rules! parts_extractor {
    ($(#[$doc:meta])* $name:ident wraps $inner:ident) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for $name<T> {
            type Rejection = AppError;
            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                match $inner::<T>::from_request_parts(parts, state).await {
                    Ok($inner(v)) => Ok($name(v)),
                    Err(rejection) => Err(AppError::BadRequest(rejection.body_text())),
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

/// The API's routes, each with who may call it (`auth::Policy`).
pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", Public, healthz)
        .get("/metrics", Any, metrics)
        .get("/api/v1/openapi.json", Public, openapi::document)
        .post("/api/v1/scans", Scan, post_scan)
        .post("/api/v1/volumes", User(Admin), post_volume)
        .get("/api/v1/volumes/{barcode}", User(Nurse), get_volume)
        .get(
            "/api/v1/volumes/{barcode}/movements",
            User(Nurse),
            get_movements,
        )
        .get("/api/v1/search", User(Nurse), search)
        .get("/api/v1/locations", User(Nurse), get_locations)
        .post("/api/v1/locations", User(Admin), post_location)
        .get("/api/v1/locations/{code}", User(Nurse), get_location)
        .get("/api/v1/stations", Any, get_stations)
        .post("/api/v1/stations", User(Admin), post_station)
        .get("/api/v1/exceptions", User(Supervisor), get_exceptions)
        .post("/api/v1/reports", User(Clerk), post_report)
        .merge(workflows::routes())
}

/// 200 `{"status": "ok", ...}` when the database answers and the writer and checkpoint
/// threads run; 503 with `"down"` naming what does not, so a monitor sees a stopped writer.
async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let health = s.store.health();
    let database = s
        .store
        .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
        .is_ok();
    let mut down = health.down();
    if !database {
        down.push("database");
    }
    let state = |up: bool| if up { "running" } else { "stopped" };
    let body = serde_json::json!({
        "status": if down.is_empty() { "ok" } else { "unavailable" },
        "writer": state(health.writer),
        "checkpoint": state(health.checkpoint),
        "database": if database { "ok" } else { "unreadable" },
        "down": down,
    });
    let status = if down.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn metrics(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    let text = s.metrics.render(&s.store).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
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
) -> AppResult<impl IntoResponse> {
    let station = match (body.station, &who) {
        (Some(s), _) => s,
        (None, Principal::Station { id }) => id.clone(),
        (None, Principal::User { .. }) => {
            return Err(AppError::BadRequest(
                "station is required (only a station token may leave it out)".into(),
            ))
        }
    };
    if station.is_empty() || station.len() > 64 {
        return Err(AppError::BadRequest(
            "station must be 1 to 64 characters".into(),
        ));
    }
    if body.barcode.len() > 4096 {
        return Err(AppError::BadRequest(
            "barcode is far too long to be a scan".into(),
        ));
    }
    let user = match &who {
        Principal::Station { id } if *id != station => {
            return Err(AppError::Forbidden(format!(
                "this token belongs to station '{id}' and may only scan as it"
            )));
        }
        Principal::Station { .. } => None,
        Principal::User { id, name, .. } => Some(UserRef {
            id: *id,
            name: name.clone(),
        }),
    };
    let input = ScanInput {
        station,
        line: body.barcode.into_bytes(),
        id: body.id,
        scanned_at: body.scanned_at,
        user,
    };
    Ok(Json(scans::scan(&s.store, &s.metrics, input).await?))
}

async fn get_volume(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(barcode): ApiPath<String>,
) -> AppResult<impl IntoResponse> {
    let access = caller.access("view-volume", barcode.clone());
    let mut v = s
        .store
        .audited(access, move |c| query::volume(c, &barcode))
        .await?
        .ok_or_else(|| AppError::NotFound("no volume with that barcode".into()))?;
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
) -> AppResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(AppError::BadRequest("limit must be 1 to 10000".into()));
    }
    let access = caller.access("view-movements", barcode.clone());
    let (restricted, mut moves) = s
        .store
        .audited(access, move |c| {
            let restricted = query::is_restricted(c, &barcode)?;
            Ok(restricted.zip(query::movements(c, &barcode, limit)?))
        })
        .await?
        .ok_or_else(|| AppError::NotFound("no volume with that barcode".into()))?;
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
) -> AppResult<impl IntoResponse> {
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
) -> AppResult<impl IntoResponse> {
    if q.q.len() > 100 {
        return Err(AppError::BadRequest(
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

async fn get_locations(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    Ok(Json(s.store.read(query::locations).await?))
}

async fn get_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> AppResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(500).clamp(1, 10_000);
    let access = caller.access("view-location", code.clone());
    let mut l = s
        .store
        .audited(access, move |c| query::location(c, &code, limit))
        .await?
        .ok_or_else(|| AppError::NotFound("no location with that code".into()))?;
    if !caller.sees_restricted() {
        // A restricted chart's presence here is itself its whereabouts.
        l.volumes.retain(|h| !h.restricted);
    }
    Ok(Json(l))
}

async fn post_location(
    State(s): State<AppState>,
    ApiJson(l): ApiJson<NewLocation>,
) -> AppResult<impl IntoResponse> {
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

async fn get_stations(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    Ok(Json(s.store.read(query::stations).await?))
}

async fn post_station(
    State(s): State<AppState>,
    ApiJson(st): ApiJson<NewStation>,
) -> AppResult<impl IntoResponse> {
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
) -> AppResult<impl IntoResponse> {
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
) -> AppResult<impl IntoResponse> {
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
