//! `POST /api/v1/scans/image`: the camera fallback. A photo of a label (PNG or JPEG, at most
//! 8 MB) is read by rxing on the blocking pool within a time limit, then the barcode goes down
//! exactly the same scan path, with the same answer, as a typed scan.

use super::{scanner, ApiQuery, ErrorBody};
use crate::labels::photo::{self, PhotoError};
use crate::service::{scans, AppError, AppResult, AppState};
use crate::store::query::Principal;
use crate::store::ScanInput;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use std::time::Duration;

/// The largest photo taken.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// How long reading one photo may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(2);

/// At most two photos are read at once; the others wait (within the time limit).
static READERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    /// The station's id (required with a user token; a station token may leave it out).
    station: Option<String>,
    /// Unique per scan, as for `POST /api/v1/scans`.
    id: Option<uuid::Uuid>,
}

/// Record a scan from a photo of a label
///
/// For places without a scanner: the body is a PNG or JPEG picture (at most 8 MB) of the label;
/// the barcode read from it (Code 128, Code 39 or DataMatrix, at any of the four right-angle
/// rotations) is recorded exactly as `POST /api/v1/scans` records a typed one, with the same
/// answer. No barcode found, or a body that is not a picture, is a 4xx and records nothing.
#[utoipa::path(post, path = "/api/v1/scans/image", tag = "scans", params(ImageQuery),
    request_body(content = Vec<u8>, content_type = "image/png", description = "a PNG or JPEG photo of the label (Content-Type image/png or image/jpeg)"),
    responses(
        (status = 200, description = "the station's answer, as for a typed scan", body = crate::store::ScanAnswer),
        (status = 400, description = "a malformed request", body = ErrorBody),
        (status = 403, description = "the station does not allow this user; nothing is recorded", body = ErrorBody),
        (status = 404, description = "no such station", body = ErrorBody),
        (status = 413, description = "the photo is larger than 8 MB", body = ErrorBody),
        (status = 415, description = "the body is not a PNG or JPEG picture", body = ErrorBody),
        (status = 422, description = "no barcode could be read from the picture in time; nothing is recorded", body = ErrorBody),
    ))]
pub async fn post_scan_image(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ImageQuery>,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<impl IntoResponse> {
    let (station, user) = scanner(&who, q.station)?;
    let kind = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if !matches!(kind.as_deref(), Some("image/png" | "image/jpeg")) {
        return Err(AppError::UnsupportedMedia(
            "send the photo as image/png or image/jpeg".into(),
        ));
    }
    let body = body.map_err(|e| AppError::rejected(e.status(), e.body_text()))?;
    if body.is_empty() {
        return Err(AppError::BadRequest("the photo is empty".into()));
    }
    let read = async {
        let _permit = READERS.acquire().await.expect("never closed");
        tokio::task::spawn_blocking(move || photo::read(&body))
            .await
            .map_err(|_| AppError::Internal("reading the photo failed".into()))
    };
    let text = match tokio::time::timeout(TIME_LIMIT, read).await {
        Err(_) => {
            return Err(AppError::Unprocessable(
                "no barcode was read from the picture in time: take it closer, with the label filling the frame".into(),
            ))
        }
        Ok(r) => match r? {
            Ok(t) => t,
            Err(e @ PhotoError::NotAnImage) => return Err(AppError::UnsupportedMedia(e.to_string())),
            Err(e) => return Err(AppError::Unprocessable(e.to_string())),
        },
    };
    let input = ScanInput {
        station,
        line: text.into_bytes(),
        id: q.id,
        scanned_at: None,
        user,
    };
    Ok(Json(scans::scan(&s.store, &s.metrics, input).await?))
}
