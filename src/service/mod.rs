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
