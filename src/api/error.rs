//! The API's answer to an [`AppError`]: the caller's mistakes get a 4xx and a clear
//! `{"error"}`; storage trouble gets a 503; bugs get a 500 with a generic message (the detail
//! is logged).

use crate::service::AppError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What was wrong, in words a clerk or an admin can act on.
    pub error: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "sign in or present a valid bearer token".into(),
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m),
            AppError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            AppError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            AppError::UnsupportedMedia(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            AppError::Unavailable(m) => {
                // The writer told the fault once with its cause; each refusal is only counted.
                tracing::debug!(reason = %m, "request refused: storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not recorded: {m}; try again"),
                )
            }
            AppError::Internal(m) => {
                tracing::error!(detail = %m, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; it has been logged".into(),
                )
            }
        };
        (status, Json(ErrorBody { error: msg })).into_response()
    }
}
