//! Start-up and shut-down: open the store, apply the configured stations, bind the listener
//! (port 0 gives a free port: tests use that), serve until told to stop, then drain the writer.
//! The composition root: [`app`] puts the API and the pages behind one gate (`auth::check`),
//! answering refusals in each one's language.

use crate::auth::{self, PolicyTable, Routes};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::service::scans::ScanSink;
use crate::service::{AppError, AppState};
use crate::stations::Stations;
use crate::store::{self, admin, Store};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub mod tls;

pub struct Application {
    listener: tokio::net::TcpListener,
    /// Set when chartrack serves HTTPS itself (`tls_cert`, `tls_key`).
    tls: Option<(Arc<tls::Certificate>, tls::Hangup)>,
    state: AppState,
    stations: Stations,
    /// The HL7 (MLLP) listener, when `hl7_listen` is set.
    hl7: Option<crate::hl7::Listener>,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Read the TLS certificate if configured, open the database (creating and migrating it),
    /// apply the configured stations, bind.
    pub async fn build(config: &Config, options: store::Options) -> anyhow::Result<Application> {
        // The certificate is read first: a server that cannot serve HTTPS does not start.
        let tls = match config.tls() {
            Some((cert, key)) => Some((tls::Certificate::load(cert, key)?, tls::Hangup::listen())),
            None => None,
        };
        // So are the label templates: a bad one is named (file and line) before anything is made.
        let labels = Arc::new(crate::labels::Setup::load(config)?);
        let path = config.database.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&path, options)).await??;
        let now = store.clock().now();
        let configured: Vec<admin::NewStation> = config.stations.iter().map(Into::into).collect();
        let waiting = store
            .write(move |c| admin::apply_configured_stations(c, &configured, now))
            .await?;
        for (station, location) in &waiting {
            tracing::warn!(
                station = %station,
                location = %location,
                "configured station waits for its location, which does not exist yet; it is applied when the location is created (chartrack import locations, or the admin page)"
            );
        }
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let metrics = Arc::new(Metrics::default());
        let (stopping, shutdown) = tokio::sync::watch::channel(false);
        let state = AppState {
            store,
            metrics,
            sessions: config.sessions(),
            loans: config.loan_days,
            trusted_proxies: config.trusted_proxies.clone().into(),
            tz: config.timezone,
            shutdown,
            labels,
        };
        let stations = Stations::start(config, || ScanSink::new(&state))?;
        let hl7 = match &config.hl7_listen {
            Some(addr) => Some(
                crate::hl7::Listener::start(
                    addr,
                    crate::hl7::Feed {
                        store: state.store.clone(),
                        metrics: state.metrics.clone(),
                        settings: Arc::new(config.hl7.clone()),
                        tz: config.timezone,
                    },
                )
                .await?,
            ),
            None => None,
        };
        Ok(Application {
            listener,
            tls,
            state,
            stations,
            hl7,
            stopping,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// `https` when chartrack serves HTTPS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Where the HL7 (MLLP) listener listens, when `hl7_listen` is set.
    pub fn hl7_addr(&self) -> Option<SocketAddr> {
        self.hl7.as_ref().map(|l| l.local_addr())
    }

    /// Read one more serial station besides the configured ones.
    pub fn add_serial_station(&mut self, station: crate::stations::SerialStation) {
        self.stations.add(station, ScanSink::new(&self.state));
    }

    /// Serve until `shutdown` resolves; in-flight requests finish (their scans commit or are
    /// refused), then the writer drains its queue and stops.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        // The whole access log checked now and daily: a broken chain raises an alarm.
        store.watch_audit(std::time::Duration::from_secs(24 * 3600));
        // Answers kept for a resend are dropped once no sender could resend (a month).
        store.watch_answers(std::time::Duration::from_secs(3600));
        let stopped = self.state.shutdown.clone();
        let app = app(self.state);
        let stopping = self.stopping;
        let shutdown = async move {
            shutdown.await;
            // Live feeds end so the open connections close and the drain can finish.
            let _ = stopping.send(true);
        };
        match self.tls {
            None => {
                axum::serve(
                    self.listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown)
                .await?
            }
            Some((certificate, hangup)) => {
                use axum::serve::ListenerExt;
                let app = app.layer(axum::middleware::map_response(strict_transport));
                tokio::spawn(tls::watch(certificate.clone(), hangup, stopped));
                let listener = tls::TlsListener::new(self.listener, certificate.acceptor()?)?
                    // `tap_io` gives the listener's address type the connect info the gate
                    // reads (the client address, as over plain HTTP).
                    .tap_io(|_| {});
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown)
                .await?
            }
        }
        // The feed stops taking messages (one being applied finishes and is acknowledged),
        // scanner readers stop (a line being committed finishes), then the writer drains.
        if let Some(hl7) = self.hl7 {
            hl7.stop().await;
        }
        let stations = self.stations;
        tokio::task::spawn_blocking(move || {
            stations.stop();
            store.shutdown()
        })
        .await?;
        Ok(())
    }
}

/// Over HTTPS, every answer tells the browser to come back over HTTPS only.
async fn strict_transport(mut res: Response) -> Response {
    res.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static(tls::HSTS),
    );
    res
}

/// Every route the server has: the API's and the pages', each with its policy.
pub fn routes() -> Routes {
    crate::api::routes().merge(crate::web::routes())
}

/// The whole application: the API and the pages behind one gate.
pub fn app(state: AppState) -> Router {
    let (router, table) = routes().into_parts();
    let gate = Gate {
        state: state.clone(),
        table,
    };
    let router = router
        .route_layer(axum::middleware::from_fn_with_state(gate, authorize))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(plain_rejections))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(auth::security_headers))
        .with_state(state);
    with_conventions(router)
}

/// An extractor's refusal (a query string, a path segment or a body the handler cannot read:
/// `?page=abc`, a field given twice, `/requests/abc`) comes from axum as plain text, "Failed to
/// deserialize query string: …". The API answers it as every other error, `{"error": …}`; the
/// pages with a page that says what could not be read, as their other refusals do.
async fn plain_rejections(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let plain = res.status() == axum::http::StatusCode::BAD_REQUEST
        && res
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/plain"));
    if !plain {
        return res;
    }
    let (parts, body) = res.into_parts();
    let status = parts.status;
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    // A handler's own plain answer (a CSV import's list of bad lines) is passed on as it is.
    const REJECTIONS: [&str; 3] = ["Failed to deserialize", "Invalid URL", "Failed to parse"];
    if !REJECTIONS.iter().any(|r| text.starts_with(r)) {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let said = text.as_str();
    if api {
        return (status, axum::Json(serde_json::json!({ "error": said }))).into_response();
    }
    let detail = said.split_once(": ").map_or(said, |(_, d)| d);
    crate::web::error_page(
        status,
        &format!(
            "This address has a value the page cannot read ({detail}). Go back and try again."
        ),
    )
}

/// How long a request may take to be answered (a live feed's stream, once started, is not
/// limited; a CSV import of a whole hospital belongs on the command line).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What every HTTP service is expected to have, outermost first: a request id (the caller's
/// `X-Request-Id`, or a new UUID) echoed in the answer and named in every log line of the
/// request's span; a span per request naming the route pattern (never the URL: paths and query
/// strings carry barcodes and names); a panicking handler answered with a 500 and a log line,
/// not a dropped connection; and a timeout.
pub fn with_conventions(router: Router) -> Router {
    use axum::http::StatusCode;
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str())
                .unwrap_or("(no route)");
            tracing::info_span!("request", id = %id, method = %req.method(), route = %route)
        })
        .on_request(())
        .on_response(
            |res: &Response, latency: std::time::Duration, _: &tracing::Span| {
                let status = res.status().as_u16();
                let ms = latency.as_millis() as u64;
                if status >= 500 {
                    tracing::warn!(status, ms, "answered");
                } else {
                    tracing::debug!(status, ms, "answered");
                }
            },
        )
        .on_failure(());
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(answer_panic))
        .layer(trace)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// A handler panicked: a 500 in JSON (the panic's own message went to standard error with its
/// place in the code; it is not repeated here, where it could carry a scanned value).
fn answer_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked; answered 500");
    AppError::Internal("a handler panicked".into()).into_response()
}

#[derive(Clone)]
struct Gate {
    state: AppState,
    table: PolicyTable,
}

/// `auth::check` on every matched route; a refusal in the caller's language (a page for the
/// pages, JSON for the API).
async fn authorize(
    State(gate): State<Gate>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let page = path.as_deref().is_some_and(auth::is_page);
    let full_path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    // A page's script asking for part of a page: refused with a bare status, never the sign-in
    // page (which would land inside the list it meant to refresh).
    let fragment = page && auth::is_background(&full_path, req.headers());
    match auth::check(&gate.state, &gate.table, path.as_deref(), req).await {
        Ok(req) => next.run(req).await,
        Err(r) if page => crate::web::refusal(r, &full_path, fragment),
        Err(r) => r.error.into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if auth::is_page(uri.path()) {
        crate::web::error_page(axum::http::StatusCode::NOT_FOUND, "There is no such page.")
    } else {
        AppError::NotFound("no such route".into()).into_response()
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight scans");
}

/// On a database with no users, create `admin` with a one-time password and return it.
pub fn bootstrap_admin(store: &Store) -> anyhow::Result<Option<String>> {
    if store.read_blocking(admin::user_count)? > 0 {
        return Ok(None);
    }
    let password = admin::random_secret(9);
    let hash = crate::passwords::hash(&password)?;
    let now = store.clock().now();
    let created = store.write_blocking(move |c| {
        // Another process may have raced us; only the first creates the admin.
        if admin::user_count(c)? > 0 {
            return Ok(false);
        }
        admin::create_user(
            c,
            "admin",
            crate::domain::Role::Admin,
            Some(&hash),
            None,
            true,
            now,
        )?;
        Ok(true)
    })?;
    Ok(created.then_some(password))
}
