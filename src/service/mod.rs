//! The application layer: the state every entry point shares ([`AppState`]), who is calling
//! ([`Caller`]), one error type ([`AppError`]), and the operations that more than one entry
//! point performs (a scan, a request's creation and cancellation). `api`, `web`, the scanner
//! stations, the command line and the coming HL7 listener call these; none of them calls another.

pub mod break_glass;
mod caller;
mod error;
pub mod feed;
pub mod requests;
pub mod scans;

pub use caller::{Caller, SessionRef};
pub use error::{AppError, AppResult};

use crate::config::{LoanDays, Sessions, TrustedProxy};
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub sessions: Sessions,
    pub loans: LoanDays,
    /// Proxies whose `X-Forwarded-For` is believed (`auth::client_address`).
    pub trusted_proxies: Arc<[TrustedProxy]>,
    /// The zone times are shown and entered in on the pages (`timezone`; stored in UTC).
    pub tz: chrono_tz::Tz,
    /// Becomes true when the server begins to shut down (ends the live feeds).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The label templates and printers.
    pub labels: Arc<crate::labels::Setup>,
}

/// Search text as typed in a page or sent to the API, trimmed: at most 100 characters and no
/// control characters (a paste or scanner artefact: it would be searched for, written to the
/// access log and shown on its page as it is).
pub fn search_text(q: &str) -> AppResult<String> {
    let text = q.trim();
    if text.chars().count() > 100 {
        return Err(AppError::BadRequest(
            "Search for at most 100 characters.".into(),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "The search contains a control character (often a paste or scanner artefact): type it again."
                .into(),
        ));
    }
    Ok(text.to_owned())
}
