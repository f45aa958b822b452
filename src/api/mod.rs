//! The HTTP API (JSON under `/api/v1`), `/healthz` and `/metrics`. Handlers read through the
//! store's read pool (patient data through the audited path) and write only through the
//! single writer. Who may call what is decided in `auth`.

pub mod bodies;
mod error;
pub mod openapi;
mod photo;
mod service;
pub mod workflows;

pub use error::ErrorBody;

use crate::auth::Policy::{Any, Public, Scan, User};
use crate::auth::Routes;
use crate::domain::Role::{Admin, Clerk, Nurse, Supervisor};
use crate::domain::{Barcode, Mrn};
use crate::engine::UserRef;
use crate::service::{break_glass, scans, AppError, AppResult, AppState, Caller};
use crate::store::admin::{self, NewLocation, NewStation, NewVolume};
use crate::store::query::{self, Principal};
use crate::store::ScanInput;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// JSON body whose rejections are `{"error": ...}` 400s (413 when too large) like every other error.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(AppError::rejected(
                rejection.status(),
                rejection.body_text(),
            )),
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
        .get("/healthz", Public, service::healthz)
        .get("/metrics", Any, service::metrics)
        .get("/api/v1/openapi.json", Public, openapi::document)
        .post("/api/v1/scans", Scan, post_scan)
        .post(
            "/api/v1/scans/image",
            Scan,
            axum::handler::Handler::layer(
                photo::post_scan_image,
                axum::extract::DefaultBodyLimit::max(photo::MAX_BYTES),
            ),
        )
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

/// One scan, as a station sends it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScanRequest)]
struct ScanBody {
    /// The station's id, 1 to 64 characters. Required with a user token; with a station token
    /// it may be left out (the token's own station).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    station: Option<String>,
    /// The line as the scanner read it (terminator and AIM symbology prefix may still be on it).
    #[schema(max_length = 4096)]
    barcode: String,
    /// Unique per scan: a repeat is answered with the first answer and recorded once; the same
    /// id from another station, or with another barcode, is a 409.
    #[serde(default)]
    id: Option<uuid::Uuid>,
    /// When the scanner read it (agents delivering a queue), RFC 3339.
    #[serde(default)]
    scanned_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ScanBody {
    /// The body's own limits, before the scan path: a station named is 1 to 64 characters, the
    /// barcode at most 4096 bytes (the scan path refuses a line over 128 as too long, recorded).
    fn check(&self) -> Result<(), AppError> {
        if self
            .station
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.len() > 64)
        {
            return Err(AppError::BadRequest(
                "station must be 1 to 64 characters".into(),
            ));
        }
        if self.barcode.len() > 4096 {
            return Err(AppError::BadRequest(
                "barcode is far too long to be a scan".into(),
            ));
        }
        Ok(())
    }
}

/// Record a scan from a station
///
/// The scan goes through the one scan path (the same as a serial scanner's). A refused scan
/// (unknown barcode, wrong patient) is a 200 with `accepted: false`: the scan itself was
/// recorded. A signed-in user a station does not allow (its `roles` and `locations`) is
/// refused with a 403 naming who may use it, and nothing is recorded.
#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", request_body = ScanBody, responses(
    (status = 200, description = "the station's answer, accepted or refused", body = crate::store::ScanAnswer),
    (status = 400, description = "a malformed request", body = ErrorBody),
    (status = 403, description = "the station names who may use it and this user is not among them (or a station token scanning as another station); nothing is recorded", body = ErrorBody),
    (status = 404, description = "no such station", body = ErrorBody),
    (status = 409, description = "this scan id was recorded by another station or for another barcode; nothing is recorded", body = ErrorBody),
))]
async fn post_scan(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<ScanBody>,
) -> AppResult<impl IntoResponse> {
    body.check()?;
    let (station, user) = scanner(&who, body.station)?;
    let input = ScanInput {
        station,
        line: body.barcode.into_bytes(),
        id: body.id,
        scanned_at: body.scanned_at,
        user,
    };
    Ok(Json(scans::scan(&s.store, &s.metrics, input).await?))
}

/// The station a scan is for and the user scanning, from the caller and the station it names.
fn scanner(who: &Principal, station: Option<String>) -> AppResult<(String, Option<UserRef>)> {
    let station = match (station, who) {
        // The gate lets no display this far; said again where it would matter.
        (_, Principal::Display { .. }) => {
            return Err(AppError::Forbidden("a wall display cannot scan".into()))
        }
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
    let user = match who {
        Principal::Station { id } if *id != station => {
            return Err(AppError::Forbidden(format!(
                "this token belongs to station '{id}' and may only scan as it"
            )));
        }
        Principal::Station { .. } | Principal::Display { .. } => None,
        Principal::User { id, name, .. } => Some(UserRef {
            id: *id,
            name: name.clone(),
        }),
    };
    Ok((station, user))
}

/// Where a volume is
///
/// Status, location, destination, the last scan. A restricted chart's whereabouts show as
/// "location restricted" to roles that may not see them. The view is written to the access log.
#[utoipa::path(get, path = "/api/v1/volumes/{barcode}", tag = "volumes",
    params(("barcode" = String, Path, description = "the volume's barcode (case-insensitive)")),
    responses(
        (status = 200, description = "the volume", body = query::VolumeView),
        (status = 400, description = "a path that is not UTF-8 text", body = ErrorBody),
        (status = 404, description = "no volume with that barcode", body = ErrorBody),
    ))]
async fn get_volume(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(barcode): ApiPath<String>,
) -> AppResult<impl IntoResponse> {
    let access = caller.access("view-volume", crate::domain::Barcode::canonical(&barcode));
    let mut v = s
        .store
        .audited(access, move |c| query::volume(c, &barcode))
        .await?
        .ok_or_else(|| AppError::NotFound("no volume with that barcode".into()))?;
    // Below supervisor a restricted chart's whereabouts are hidden, unless this user opened it
    // by break-glass and the opening is still in force.
    if crate::service::break_glass::sees(&s, &caller, &v.barcode, v.restricted)
        .await?
        .is_err()
    {
        v.hide_whereabouts();
    }
    Ok(Json(v))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LimitQuery {
    /// At most this many (the operation says its default).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// At most this many (the operation says its default).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
    /// Go on after this: the `next` of the page before.
    after: Option<String>,
}

/// A volume's movements, newest first
///
/// `limit` is 1 to 10,000 (default 100); outside that range is a 400.
#[utoipa::path(get, path = "/api/v1/volumes/{barcode}/movements", tag = "volumes",
    params(("barcode" = String, Path, description = "the volume's barcode (case-insensitive)"), LimitQuery),
    responses(
        (status = 200, description = "its movements, newest first", body = Vec<query::MovementView>),
        (status = 400, description = "limit out of range", body = ErrorBody),
        (status = 404, description = "no volume with that barcode", body = ErrorBody),
    ))]
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
    let access = caller.access(
        "view-movements",
        crate::domain::Barcode::canonical(&barcode),
    );
    let b = barcode.clone();
    let (restricted, mut moves) = s
        .store
        .audited(access, move |c| {
            let restricted = query::is_restricted(c, &b)?;
            Ok(restricted.zip(query::movements(c, &b, limit)?))
        })
        .await?
        .ok_or_else(|| AppError::NotFound("no volume with that barcode".into()))?;
    if crate::service::break_glass::sees(&s, &caller, &barcode, restricted)
        .await?
        .is_err()
    {
        moves
            .iter_mut()
            .for_each(query::MovementView::hide_whereabouts);
    }
    Ok(Json(moves))
}

/// What a registration answers: the new thing's barcode.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Registered {
    /// The barcode given, or the one issued (with its check character).
    pub barcode: String,
}

/// Register a volume (and its patient, when the MRN is new)
#[utoipa::path(post, path = "/api/v1/volumes", tag = "admin", request_body = NewVolume, responses(
    (status = 201, description = "registered", body = Registered),
    (status = 400, description = "a malformed request", body = ErrorBody),
    (status = 409, description = "the barcode is taken, or the MRN belongs to another name", body = ErrorBody),
    (status = 422, description = "invalid (e.g. home is not a shelf)", body = ErrorBody),
))]
async fn post_volume(
    State(s): State<AppState>,
    ApiJson(v): ApiJson<NewVolume>,
) -> AppResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let barcode = s
        .store
        .write(move |c| admin::create_volume(c, &v, now))
        .await?;
    Ok((StatusCode::CREATED, Json(Registered { barcode })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// A barcode, an MRN, or a patient's name ("last", "last, first" or "first last"
    /// prefixes); at most 100 characters.
    #[param(max_length = 100)]
    q: String,
    /// At most this many, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Volumes by barcode, MRN or patient name
///
/// Written to the access log. Restricted charts' whereabouts are hidden from roles that may not
/// see them.
#[utoipa::path(get, path = "/api/v1/search", tag = "volumes", params(SearchQuery), responses(
    (status = 200, description = "the volumes found", body = Vec<query::SearchHit>),
    (status = 400, description = "no `q`, or longer than 100 characters", body = ErrorBody),
))]
async fn search(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> AppResult<impl IntoResponse> {
    let text = crate::service::search_text(&q.q)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let access = caller.access("search", text.clone());
    let mut hits = s
        .store
        .audited(access, move |c| query::search(c, &text, limit))
        .await?;
    let seen = break_glass::seen(&s, &caller, break_glass::restricted_in(&hits)).await?;
    seen.mask(&mut hits);
    Ok(Json(hits))
}

/// All locations with their counts
#[utoipa::path(get, path = "/api/v1/locations", tag = "locations", responses(
    (status = 200, description = "every location", body = Vec<query::LocationView>),
))]
async fn get_locations(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    Ok(Json(s.store.read(query::locations).await?))
}

/// A location and what is there now
///
/// The volumes at it or on their way to it, newest first (`limit`: 1 to 10,000, default 500);
/// when there are more, `next` is given: pass it as `after` for the next ones. Written to the
/// access log; restricted charts are left out for roles that may not see them.
#[utoipa::path(get, path = "/api/v1/locations/{code}", tag = "locations",
    params(("code" = String, Path, description = "the location's code"), PageQuery),
    responses(
        (status = 200, description = "the location and its volumes", body = query::LocationDetail),
        (status = 400, description = "a malformed `limit` or `after`, or a path that is not UTF-8 text", body = ErrorBody),
        (status = 404, description = "no location with that code", body = ErrorBody),
    ))]
async fn get_location(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> AppResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(500).clamp(1, 10_000);
    let after = match q.after.as_deref() {
        None => None,
        Some(a) => Some(query::parse_cursor(a).ok_or_else(|| {
            AppError::BadRequest("`after` is not a `next` this server gave".into())
        })?),
    };
    let access = caller.access("view-location", code.clone());
    let mut l = s
        .store
        .audited(access, move |c| query::location(c, &code, limit, after))
        .await?
        .ok_or_else(|| AppError::NotFound("no location with that code".into()))?;
    // A restricted chart's presence here is itself its whereabouts: listed only for a role
    // that sees restricted charts or a break-glass opening in force.
    let seen = break_glass::seen(&s, &caller, break_glass::restricted_in(&l.volumes)).await?;
    l.volumes.retain(|h| seen.shows(&h.barcode, h.restricted));
    Ok(Json(l))
}

/// Create a location
///
/// Without a barcode, one is issued (with a check character).
#[utoipa::path(post, path = "/api/v1/locations", tag = "admin", request_body = NewLocation, responses(
    (status = 201, description = "created", body = Registered),
    (status = 400, description = "a malformed request", body = ErrorBody),
    (status = 409, description = "the code or barcode is taken", body = ErrorBody),
    (status = 422, description = "invalid", body = ErrorBody),
))]
async fn post_location(
    State(s): State<AppState>,
    ApiJson(l): ApiJson<NewLocation>,
) -> AppResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let barcode = s
        .store
        .write(move |c| admin::create_location(c, &l, now))
        .await?;
    Ok((StatusCode::CREATED, Json(Registered { barcode })))
}

/// Stations and their state
#[utoipa::path(get, path = "/api/v1/stations", tag = "stations", responses(
    (status = 200, description = "every station", body = Vec<query::StationView>),
))]
async fn get_stations(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    Ok(Json(s.store.read(query::stations).await?))
}

/// What saving a station answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StationSaved {
    /// The station's id.
    pub id: String,
}

/// Create or update a station
#[utoipa::path(post, path = "/api/v1/stations", tag = "admin", request_body = NewStation, responses(
    (status = 201, description = "saved", body = StationSaved),
    (status = 400, description = "a malformed request", body = ErrorBody),
    (status = 422, description = "invalid id, port or USB ids, or no location with that code", body = ErrorBody),
))]
async fn post_station(
    State(s): State<AppState>,
    ApiJson(st): ApiJson<NewStation>,
) -> AppResult<impl IntoResponse> {
    let now = s.store.clock().now();
    let id = st.id.clone();
    s.store
        .write(move |c| admin::upsert_station(c, &st, now))
        .await?;
    Ok((StatusCode::CREATED, Json(StationSaved { id })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ExceptionQuery {
    /// Resolved ones too (default: only those still open).
    #[serde(default)]
    all: bool,
    /// At most this many, 1 to 10,000 (default 200).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

/// Unknown barcodes and misreads to resolve, newest first
#[utoipa::path(get, path = "/api/v1/exceptions", tag = "scans", params(ExceptionQuery), responses(
    (status = 200, description = "the exceptions", body = Vec<query::ExceptionView>),
    (status = 400, description = "a malformed query", body = ErrorBody),
))]
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

/// A loose report to register.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReport)]
struct ReportBody {
    /// Its barcode; without one, one is issued (with a check character).
    #[serde(default)]
    barcode: Option<Barcode>,
    /// The patient it belongs to.
    mrn: Mrn,
    /// 1 to 200 characters, on one line.
    #[schema(min_length = 1, max_length = 200)]
    description: String,
}

/// Register a loose report
///
/// A document not yet filed into its chart; it is tracked until it is filed into one of its
/// patient's volumes.
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", request_body = ReportBody, responses(
    (status = 201, description = "registered", body = Registered),
    (status = 400, description = "a malformed request", body = ErrorBody),
    (status = 404, description = "no patient with that MRN", body = ErrorBody),
    (status = 409, description = "the barcode is taken", body = ErrorBody),
    (status = 422, description = "invalid description", body = ErrorBody),
))]
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
    Ok((StatusCode::CREATED, Json(Registered { barcode })))
}
