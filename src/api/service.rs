//! The service's own routes, for monitors: `/healthz` (what runs, what is down) and `/metrics`.

use crate::service::{AppResult, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

/// What `/healthz` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// `ok`, or `unavailable` when something is down.
    #[schema(pattern = "^(ok|unavailable)$")]
    status: &'static str,
    /// The single writer thread: `running`, `failing` (running, but its last write failed: a
    /// full or failing disk; nothing is being recorded) or `stopped`.
    #[schema(pattern = "^(running|failing|stopped)$")]
    writer: &'static str,
    /// The WAL checkpoint thread: `running` or `stopped`.
    #[schema(pattern = "^(running|stopped)$")]
    checkpoint: &'static str,
    /// `ok` or `unreadable`.
    #[schema(pattern = "^(ok|unreadable)$")]
    database: &'static str,
    /// The access log's chain, checked in the background at start and daily: `checking` (not
    /// yet), `intact`, or `broken` (run `chartrack audit verify`). It does not make the service
    /// unavailable: scans go on being recorded.
    #[schema(pattern = "^(checking|intact|broken)$")]
    audit: &'static str,
    /// SQLite's quick check of the whole file, run in the background at start and daily (not
    /// before serving: at a million charts it reads gigabytes): `checking` (not yet), `ok`, or
    /// `damaged` (the service is then unavailable: restore from a backup).
    #[schema(pattern = "^(checking|ok|damaged)$")]
    integrity: &'static str,
    /// What is down: `writer`, `checkpoint`, `writes` (the last write failed), `database`,
    /// `integrity` (the file is damaged).
    down: Vec<&'static str>,
}

/// Health, for monitors (no credentials needed)
///
/// 200 when the database answers and the writer and checkpoint threads run; 503 with `down`
/// naming what does not, so a monitor sees a stopped writer.
#[utoipa::path(get, path = "/healthz", tag = "service", responses(
    (status = 200, description = "everything runs", body = Health),
    (status = 503, description = "something is down: `down` names it", body = Health),
))]
pub(super) async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
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
    let integrity = s.store.integrity_ok();
    if integrity == Some(false) {
        down.push("integrity");
    }
    let state = |up: bool| if up { "running" } else { "stopped" };
    let status = if down.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: if down.is_empty() { "ok" } else { "unavailable" },
        writer: match (health.writer, health.writes) {
            (false, _) => "stopped",
            (true, false) => "failing",
            (true, true) => "running",
        },
        checkpoint: state(health.checkpoint),
        database: if database { "ok" } else { "unreadable" },
        audit: match s.store.audit_intact() {
            None => "checking",
            Some(true) => "intact",
            Some(false) => "broken",
        },
        integrity: match integrity {
            None => "checking",
            Some(true) => "ok",
            Some(false) => "damaged",
        },
        down,
    };
    (status, Json(body))
}

/// Metrics in the Prometheus (OpenMetrics) text format
///
/// Scans by outcome, scan latency, volumes by status, requests, exceptions, stations.
#[utoipa::path(get, path = "/metrics", tag = "service", responses(
    (status = 200, description = "OpenMetrics text, ended by `# EOF`",
     content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
))]
pub(super) async fn metrics(State(s): State<AppState>) -> AppResult<impl IntoResponse> {
    let text = s.metrics.render(&s.store).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}
