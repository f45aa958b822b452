//! `chartrack agent`: a scanner on a machine far from the server. A serial reader (the same as
//! the server's) hands each line to the agent, which checks it, keeps it in the durable outbox
//! (`store::outbox`) with a fresh scan id and its scan time, and wakes the deliverer. The
//! deliverer posts the outbox oldest first with the station token; the server's scan-id
//! idempotency makes a retried delivery count once. The scanner hears the server's answer when
//! it comes within a moment, and a good beep when the scan is safely queued for later.

use crate::domain::normalise_line;
use crate::stations::serial::{self, Sink};
use crate::stations::SerialStation;
use crate::store::outbox::{Outbox, Pending};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub struct AgentOptions {
    /// The server's base URL, e.g. `https://chartrack.hospital.example`.
    pub server: String,
    pub token: crate::domain::Secret,
    pub station: SerialStation,
    /// The outbox file.
    pub queue: std::path::PathBuf,
    /// How long the scanner waits for the server's answer before it is told "queued".
    pub answer_wait: Duration,
    /// A CA certificate file (PEM, one or more) trusted for the server's certificate besides
    /// the system's trust store. There is no way to skip verification.
    pub ca_file: Option<std::path::PathBuf>,
}

/// The HTTP client: the server's certificate verified against the system's trust store and
/// the CA file, if any.
pub fn http_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("--ca-file {}: cannot read it: {e}", path.display()))?;
        let cas = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            anyhow::anyhow!(
                "--ca-file {}: not a PEM certificate file: {e}",
                path.display()
            )
        })?;
        if cas.is_empty() {
            anyhow::bail!(
                "--ca-file {}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)",
                path.display()
            );
        }
        for ca in cas {
            builder = builder.add_root_certificate(ca);
        }
    }
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))
}

/// A request's error with its causes (reqwest's own says only "error sending request"), and
/// what to do when it is the server's certificate that was not trusted.
fn explain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if text.contains("certificate") {
        text.push_str(
            " (the server's certificate is not trusted: give the agent the CA that signed it with --ca-file)",
        );
    }
    text
}

type Waiters = Arc<Mutex<HashMap<uuid::Uuid, mpsc::Sender<bool>>>>;

/// The waiters, even if a thread panicked while holding them (the map stays valid: a missing
/// or stale entry only means a scanner hears "queued" instead of the server's answer).
fn waiting(w: &Waiters) -> std::sync::MutexGuard<'_, HashMap<uuid::Uuid, mpsc::Sender<bool>>> {
    w.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Consecutive failures of the agent's own queue (reading it, or taking a delivered scan out)
/// before the agent gives up and exits non-zero, rather than go on queueing scans it can
/// never deliver while the scanner beeps good.
pub const QUEUE_FAILURES: u32 = 5;

struct AgentSink {
    outbox: Arc<Outbox>,
    wake: Arc<tokio::sync::Notify>,
    waiters: Waiters,
    answer_wait: Duration,
    /// False while the server cannot be reached: the scanner is then told "queued" at once.
    online: Arc<AtomicBool>,
}

impl Sink for AgentSink {
    fn submit(&self, _station: &str, line: Vec<u8>) -> bool {
        let value = match normalise_line(&line) {
            Ok(v) => v,
            Err(refusal) => {
                tracing::warn!(reason = %refusal, "scan line refused");
                return false;
            }
        };
        let id = uuid::Uuid::new_v4();
        let (tx, rx) = mpsc::channel();
        waiting(&self.waiters).insert(id, tx);
        if let Err(e) = self.outbox.push(id, &value, chrono::Utc::now()) {
            waiting(&self.waiters).remove(&id);
            tracing::error!(error = %e, "scan could not be queued");
            return false;
        }
        self.wake.notify_one();
        let wait = if self.online.load(Ordering::SeqCst) {
            self.answer_wait
        } else {
            Duration::ZERO
        };
        let answer = rx.recv_timeout(wait);
        waiting(&self.waiters).remove(&id);
        // No answer yet: the scan is durable in the outbox and will be delivered.
        answer.unwrap_or(true)
    }

    fn link(&self, station: &str, connected: bool, error: Option<String>) {
        match (connected, error) {
            (true, _) => tracing::info!(station, "scanner connected"),
            (false, Some(e)) => tracing::warn!(station, error = %e, "scanner not connected"),
            (false, None) => tracing::warn!(station, "scanner not connected"),
        }
    }
}

/// What the server made of one delivery.
enum Outcome {
    Answered(bool),
    /// Refused for good (a 4xx other than authentication): set aside, not retried.
    Refused(String),
    /// Try again later (server unreachable, 5xx, token not accepted yet).
    Retry(String),
}

async fn deliver(http: &reqwest::Client, opts: &AgentOptions, p: &Pending) -> Outcome {
    let body = serde_json::json!({
        "barcode": p.value,
        "id": p.scan_id,
        "scanned_at": p.scanned_at,
    });
    let r = http
        .post(format!(
            "{}/api/v1/scans",
            opts.server.trim_end_matches('/')
        ))
        .bearer_auth(opts.token.expose())
        .json(&body)
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => return Outcome::Retry(format!("server unreachable: {}", explain(&e))),
    };
    let status = r.status();
    let json: serde_json::Value = r.json().await.unwrap_or_default();
    if status.is_success() {
        return Outcome::Answered(json["accepted"].as_bool().unwrap_or(false));
    }
    let reason = json["error"]
        .as_str()
        .unwrap_or("no reason given")
        .to_owned();
    if status.is_client_error() && status.as_u16() != 401 && status.as_u16() != 429 {
        Outcome::Refused(format!("{status}: {reason}"))
    } else {
        Outcome::Retry(format!("{status}: {reason}"))
    }
}

/// Counts consecutive failures of the queue; the error once there are too many.
struct QueueTrouble {
    what: &'static str,
    failures: u32,
}

impl QueueTrouble {
    fn new(what: &'static str) -> Self {
        QueueTrouble { what, failures: 0 }
    }
    fn ok(&mut self) {
        self.failures = 0;
    }
    fn failed(
        &mut self,
        queue: &std::path::Path,
        e: &dyn std::fmt::Display,
    ) -> anyhow::Result<Duration> {
        self.failures += 1;
        tracing::error!(error = %e, attempt = self.failures, of = QUEUE_FAILURES, "agent queue: {} failed", self.what);
        if self.failures >= QUEUE_FAILURES {
            anyhow::bail!(
                "the agent queue {} failed {} times in a row ({}: {e}); scans can no longer be delivered",
                queue.display(),
                self.failures,
                self.what
            );
        }
        Ok(Duration::from_millis(200) * 2u32.pow(self.failures - 1))
    }
}

/// Deliver the outbox in order until `stop`; never drops a scan the server has not answered.
/// Returns an error when it cannot go on (the queue keeps failing): the agent then exits.
async fn deliverer(
    http: reqwest::Client,
    opts: Arc<AgentOptions>,
    outbox: Arc<Outbox>,
    wake: Arc<tokio::sync::Notify>,
    waiters: Waiters,
    online: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(200);
    let mut outage: Option<String> = None;
    let mut reading = QueueTrouble::new("reading the oldest scan");
    let mut removing = QueueTrouble::new("taking an answered scan out");
    while !stop.load(Ordering::SeqCst) {
        let q = outbox.clone();
        let next = match tokio::task::spawn_blocking(move || q.oldest()).await {
            Ok(Ok(n)) => {
                reading.ok();
                n
            }
            Ok(Err(e)) => {
                let pause = reading.failed(&opts.queue, &e)?;
                tokio::time::sleep(pause).await;
                continue;
            }
            Err(e) => anyhow::bail!("reading the agent queue failed: {e}"),
        };
        let Some(p) = next else {
            // Nothing waiting: sleep until a scan arrives (or check the stop flag now and then).
            let _ = tokio::time::timeout(Duration::from_millis(200), wake.notified()).await;
            continue;
        };
        let outcome = deliver(&http, &opts, &p).await;
        let answer = match &outcome {
            Outcome::Retry(reason) => {
                if outage.is_none() {
                    tracing::warn!(%reason, "cannot deliver scans; they stay queued");
                }
                online.store(false, Ordering::SeqCst);
                outage = Some(reason.clone());
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = wake.notified() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Outcome::Answered(accepted) => *accepted,
            Outcome::Refused(reason) => {
                tracing::error!(%reason, "the server refused a scan; it is kept in the queue's rejected table");
                false
            }
        };
        if outage.take().is_some() {
            tracing::info!("server reachable again; delivering queued scans");
        }
        online.store(true, Ordering::SeqCst);
        backoff = Duration::from_millis(200);
        // The scan leaves `pending`: delivered, or set aside with the server's reason. If that
        // fails it is sent again, and the server answers a repeated scan id with its first answer.
        let (q, p2) = (outbox.clone(), p.clone());
        let now = chrono::Utc::now();
        let removed = tokio::task::spawn_blocking(move || match &outcome {
            Outcome::Refused(reason) => q.reject(&p2, reason, now),
            _ => q.delivered(p2.seq),
        })
        .await;
        match removed {
            Ok(Ok(())) => removing.ok(),
            // It will be sent again (once, by its id: the server answers with its first answer).
            Ok(Err(e)) => {
                let pause = removing.failed(&opts.queue, &e)?;
                tokio::time::sleep(pause).await;
            }
            Err(e) => anyhow::bail!("updating the agent queue failed: {e}"),
        }
        if let Some(tx) = waiting(&waiters).remove(&p.scan_id) {
            let _ = tx.send(answer);
        }
    }
    Ok(())
}

/// Run until `shutdown` resolves: read the scanner, queue, deliver.
pub async fn run(
    opts: AgentOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    // A CA file that cannot be used stops the agent before it reads a scan.
    let http = http_client(opts.ca_file.as_deref())?;
    let outbox = Arc::new(Outbox::open(&opts.queue)?);
    let (waiting, rejected) = outbox.counts()?;
    tracing::info!(
        waiting,
        rejected,
        queue = %opts.queue.display(),
        "agent started"
    );
    let opts = Arc::new(opts);
    let wake = Arc::new(tokio::sync::Notify::new());
    let waiters: Waiters = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let online = Arc::new(AtomicBool::new(true));
    let sink = AgentSink {
        outbox: outbox.clone(),
        wake: wake.clone(),
        waiters: waiters.clone(),
        answer_wait: opts.answer_wait,
        online: online.clone(),
    };
    let reader = serial::spawn(opts.station.clone(), sink, stop.clone());
    let mut reading = tokio::task::spawn_blocking(move || reader.join());
    let mut delivering = tokio::spawn(deliverer(
        http,
        opts.clone(),
        outbox,
        wake,
        waiters,
        online,
        stop.clone(),
    ));
    // Run until asked to stop, or until either half ends by itself: a reader or deliverer that
    // is gone must not leave the other half running as if all were well.
    let shutdown = std::pin::pin!(shutdown);
    let (failure, reader_done, deliverer_done) = tokio::select! {
        _ = shutdown => (None, false, false),
        r = &mut delivering => {
            let e = match r {
                Ok(Ok(())) => anyhow::anyhow!("the deliverer stopped by itself"),
                Ok(Err(e)) => e,
                Err(e) => anyhow::anyhow!("the deliverer failed: {e}"),
            };
            (Some(e), false, true)
        }
        r = &mut reading => {
            let e = match r {
                Ok(Ok(())) => anyhow::anyhow!("the scanner reader stopped by itself"),
                Ok(Err(_)) => anyhow::anyhow!("the scanner reader failed (it panicked)"),
                Err(e) => anyhow::anyhow!("the scanner reader failed: {e}"),
            };
            (Some(e), true, false)
        }
    };
    if let Some(e) = &failure {
        tracing::error!(error = %format!("{e:#}"), "agent stopping: scans can no longer be read or delivered");
    }
    stop.store(true, Ordering::SeqCst);
    if !reader_done {
        if let Ok(Err(_)) = reading.await {
            tracing::error!("the scanner reader failed (it panicked)");
        }
    }
    if !deliverer_done {
        match delivering.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "the deliverer failed while stopping")
            }
            Err(e) => tracing::error!(error = %e, "the deliverer failed while stopping"),
        }
    }
    match failure {
        Some(e) => Err(e.context("the agent stopped")),
        None => Ok(()),
    }
}
