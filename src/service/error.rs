//! One error type for every operation of the application: the caller's mistakes, access
//! refusals, storage trouble and bugs. The HTTP layers turn it into their own answer: `api`
//! into a status and `{"error"}`, `web` into an error page.

use crate::store::StoreError;

#[derive(Debug)]
pub enum AppError {
    BadRequest(String),
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    Unprocessable(String),
    /// The body is larger than the route takes (413).
    TooLarge(String),
    /// The body is not of a kind the route takes (415).
    UnsupportedMedia(String),
    Unavailable(String),
    Internal(String),
}

impl AppError {
    /// An extractor's rejection: 413 when the body is over the limit, else 400; its words kept.
    pub fn rejected(status: axum::http::StatusCode, text: String) -> AppError {
        if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge(format!(
                "{text}: the body is larger than this request takes"
            ))
        } else {
            AppError::BadRequest(text)
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => AppError::Unprocessable(m),
            StoreError::NotFound(m) => AppError::NotFound(m),
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::Forbidden(m) => AppError::Forbidden(m),
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            StoreError::Internal(m) => AppError::Internal(m),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Unauthorized => f.write_str("sign in or present a valid bearer token"),
            AppError::BadRequest(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::Conflict(m)
            | AppError::Unprocessable(m)
            | AppError::TooLarge(m)
            | AppError::UnsupportedMedia(m)
            | AppError::Unavailable(m)
            | AppError::Internal(m) => f.write_str(m),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
