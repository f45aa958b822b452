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
    pub token: String,
    pub station: SerialStation,
    /// The outbox file.
    pub queue: std::path::PathBuf,
    /// How long the scanner waits for the server's answer before it is told "queued".
    pub answer_wait: Duration,
}

type Waiters = Arc<Mutex<HashMap<uuid::Uuid, mpsc::Sender<bool>>>>;

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
        self.waiters.lock().expect("waiters").insert(id, tx);
        if let Err(e) = self.outbox.push(id, &value, chrono::Utc::now()) {
            self.waiters.lock().expect("waiters").remove(&id);
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
        self.waiters.lock().expect("waiters").remove(&id);
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
        .bearer_auth(&opts.token)
        .json(&body)
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => return Outcome::Retry(format!("server unreachable: {e}")),
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

/// Deliver the outbox in order until `stop`; never drops a scan the server has not answered.
async fn deliverer(
    opts: Arc<AgentOptions>,
    outbox: Arc<Outbox>,
    wake: Arc<tokio::sync::Notify>,
    waiters: Waiters,
    online: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let mut backoff = Duration::from_millis(200);
    let mut outage: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        let q = outbox.clone();
        let next = match tokio::task::spawn_blocking(move || q.oldest()).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "agent queue unreadable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => return,
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
        if let Ok(Err(e)) = removed {
            tracing::error!(error = %e, "answered scan not removed from the queue; it will be resent (once, by its id)");
        }
        if let Some(tx) = waiters.lock().expect("waiters").remove(&p.scan_id) {
            let _ = tx.send(answer);
        }
    }
}

/// Run until `shutdown` resolves: read the scanner, queue, deliver.
pub async fn run(
    opts: AgentOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
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
    let delivering = tokio::spawn(deliverer(
        opts.clone(),
        outbox,
        wake,
        waiters,
        online,
        stop.clone(),
    ));
    shutdown.await;
    stop.store(true, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || reader.join())
        .await?
        .ok();
    delivering.await?;
    Ok(())
}
