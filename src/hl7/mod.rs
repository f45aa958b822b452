//! The hospital's feeds over HL7 v2 (MLLP): a tokio listener (`hl7_listen`) taking several
//! connections at once; each frame ([`mllp`]) read ([`parse`]), applied through the single writer
//! with its control id and access-log entry (`store::hl7::apply`), and answered with an
//! acknowledgement: `AA` applied, `AE` understood but not applicable (with an ERR segment),
//! `AR` unreadable or of a type chartrack does not take. A bad message never closes the
//! connection. [`read_frames`] and [`read_message`] are the fuzz targets' entry points.

pub mod mllp;
pub mod parse;

use crate::config::Hl7Config;
use crate::metrics::Metrics;
use crate::store::hl7::{self as stored, Outcome, Received};
use crate::store::Store;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// At most this many feed connections at once (an interface engine opens one or two).
const MAX_CONNECTIONS: usize = 32;

/// What a message is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    AA,
    AE,
    AR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
        }
    }
}

/// What the listener needs: the store (through its writer), the metrics, `[hl7]`, the zone of
/// times sent without an offset.
#[derive(Clone)]
pub struct Feed {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Hl7Config>,
    pub tz: chrono_tz::Tz,
}

/// The running listener.
pub struct Listener {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Bind `addr` and start accepting.
    pub async fn start(addr: &str, feed: Feed) -> anyhow::Result<Listener> {
        let socket = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for HL7 on {addr}: {e}"))?;
        let local = socket.local_addr()?;
        tracing::info!(address = %local, "HL7 (MLLP) listener started");
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept(socket, feed, stopped));
        Ok(Listener {
            addr: local,
            stop,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let each connection finish the message it is on, and wait for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn accept(socket: tokio::net::TcpListener, feed: Feed, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = socket.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(peer = %peer, "HL7 connection refused: {MAX_CONNECTIONS} already open");
                        continue;
                    };
                    let feed = feed.clone();
                    let stopped = stopped.clone();
                    connections.spawn(async move {
                        connection(stream, peer, feed, stopped).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "HL7 listener: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    while connections.join_next().await.is_some() {}
}

async fn connection(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    feed: Feed,
    mut stopped: watch::Receiver<bool>,
) {
    let mut framer = mllp::Framer::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            _ = stopped.changed() => break,
            read = stream.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tracing::info!(peer = %peer, error = %e, "HL7 connection lost");
                    break;
                }
            },
        };
        for frame in framer.push(&buf[..n]) {
            let ack = match frame {
                mllp::Frame::Message(bytes) => handle(&feed, &bytes, peer).await,
                mllp::Frame::TooLong(head) => too_long(&feed, &head).await,
            };
            if let Err(e) = stream.write_all(&mllp::frame(ack.as_bytes())).await {
                tracing::info!(peer = %peer, error = %e, "HL7 acknowledgement not delivered");
                return;
            }
        }
    }
    if framer.pending() {
        tracing::info!(peer = %peer, "HL7 connection closed inside a message; the partial message was dropped");
    }
}

/// One message: read, apply, record; the acknowledgement's text.
pub async fn handle(feed: &Feed, bytes: &[u8], peer: SocketAddr) -> String {
    let text = text_of(bytes);
    let now = feed.store.clock().now();
    match read_guarded(&text, feed.tz) {
        Err(problem) => {
            let h = (*problem.header).clone();
            let (sender, kind, reason) = (h.sender(), h.kind(), problem.reason.clone());
            let control = h.control_id.clone();
            let recorded = feed
                .store
                .write(move |c| stored::reject(c, &sender, &control, &kind, &reason, &text, now))
                .await;
            if let Err(e) = recorded {
                return unavailable(feed, &h, e, now);
            }
            tracing::info!(kind = %h.kind(), code = problem.code, "HL7 message rejected (AR)");
            feed.metrics.observe_hl7(&h.kind(), AckCode::AR.as_str());
            ack(&h, AckCode::AR, Some((problem.code, problem.reason)), now)
        }
        Ok(read) => {
            let h = read.header;
            let received = Received {
                sender: h.sender(),
                control_id: h.control_id.clone(),
                kind: h.kind(),
                raw: text,
                remote: peer.ip().to_string(),
                change: read.change,
            };
            let settings = feed.settings.clone();
            let outcome = feed
                .store
                .write(move |c| stored::apply(c, &received, &settings, now))
                .await;
            match outcome {
                Ok(Outcome::Applied {
                    resend,
                    note,
                    requests,
                }) => {
                    for r in requests {
                        feed.store.request_changed(r);
                    }
                    let counted = if resend { "resend" } else { "AA" };
                    feed.metrics.observe_hl7(&h.kind(), counted);
                    ack_with_note(&h, note, now)
                }
                Ok(Outcome::NotApplied { code, reason }) => {
                    tracing::info!(kind = %h.kind(), code, "HL7 message not applied (AE)");
                    feed.metrics.observe_hl7(&h.kind(), AckCode::AE.as_str());
                    ack(&h, AckCode::AE, Some((code, reason)), now)
                }
                Err(e) => unavailable(feed, &h, e, now),
            }
        }
    }
}

/// A message longer than a frame may be: answered AR naming it (its header is in the first
/// bytes kept) and listed on the exceptions page with those bytes.
async fn too_long(feed: &Feed, head: &[u8]) -> String {
    let text = text_of(head);
    let now = feed.store.clock().now();
    let h = match read_guarded(&text, feed.tz) {
        Ok(read) => read.header,
        Err(problem) => (*problem.header).clone(),
    };
    let reason = format!(
        "the message is longer than {} bytes; its first {} bytes are kept here",
        mllp::MAX_FRAME,
        head.len()
    );
    let (sender, kind, control, r) = (h.sender(), h.kind(), h.control_id.clone(), reason.clone());
    let recorded = feed
        .store
        .write(move |c| stored::reject(c, &sender, &control, &kind, &r, &text, now))
        .await;
    if let Err(e) = recorded {
        return unavailable(feed, &h, e, now);
    }
    feed.metrics.observe_hl7(&h.kind(), AckCode::AR.as_str());
    ack(&h, AckCode::AR, Some((207, reason)), now)
}

/// A message's text: UTF-8, or else ISO 8859-1 (what most registration systems send when
/// MSH-18 says `8859/1`), byte for character: a name is never replaced by question marks.
pub fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `parse::read`, with a panic in the parsing crate answered as an unreadable message (AR)
/// instead of ending the connection without an answer.
fn read_guarded(text: &str, tz: chrono_tz::Tz) -> Result<parse::Read, parse::Problem> {
    std::panic::catch_unwind(|| parse::read(text, tz)).unwrap_or_else(|_| {
        Err(parse::Problem {
            header: Box::default(),
            code: 207,
            reason: "the message cannot be read".into(),
        })
    })
}

/// The store could not record the message: `AE` asks the sender to send it again (nothing was
/// applied).
fn unavailable(
    feed: &Feed,
    h: &parse::Header,
    e: crate::store::StoreError,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    tracing::error!(error = %e, "HL7 message not recorded: storage failed");
    feed.metrics.observe_hl7(&h.kind(), AckCode::AE.as_str());
    ack(
        h,
        AckCode::AE,
        Some((
            207,
            "chartrack could not record the message now; send it again".into(),
        )),
        now,
    )
}

fn ack_with_note(
    h: &parse::Header,
    note: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut text = ack(h, AckCode::AA, None, now);
    if let Some(note) = note {
        // MSA-3: a word for the sender's log.
        let msa = format!("MSA|AA|{}", escape(&h.control_id));
        text = text.replace(&msa, &format!("{msa}|{}", escape(&note)));
    }
    text
}

static ACK_SEQ: AtomicU64 = AtomicU64::new(1);

/// Escape a value for the standard separators `|^~\&`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The acknowledgement: MSH (chartrack answering as the application the message was sent to),
/// MSA with the code and the message's control id, and for AE/AR an ERR segment with the
/// HL7 table 0357 code and the reason in words (ERR-8, and MSA-3 for older engines).
pub fn ack(
    h: &parse::Header,
    code: AckCode,
    error: Option<(u16, String)>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let seq = ACK_SEQ.fetch_add(1, Ordering::Relaxed);
    let from_app = if h.to_app.is_empty() {
        "CHARTRACK".to_string()
    } else {
        h.to_app.clone()
    };
    let version = if h.version.is_empty() {
        "2.5"
    } else {
        h.version.as_str()
    };
    let event = if h.event.is_empty() {
        String::new()
    } else {
        format!("^{}^ACK", escape(&h.event))
    };
    let mut out = format!(
        "MSH|^~\\&|{}|{}|{}|{}|{}||ACK{event}|CT{}{seq}|P|{}\r",
        escape(&from_app),
        escape(&h.to_facility),
        escape(&h.app),
        escape(&h.facility),
        now.format("%Y%m%d%H%M%S"),
        now.format("%H%M%S"),
        escape(version),
    );
    match error {
        None => out.push_str(&format!(
            "MSA|{}|{}\r",
            code.as_str(),
            escape(&h.control_id)
        )),
        Some((err, reason)) => {
            let reason = escape(&reason);
            out.push_str(&format!(
                "MSA|{}|{}|{reason}\rERR|||{err}^{}^HL70357|E||||{reason}\r",
                code.as_str(),
                escape(&h.control_id),
                error_name(err),
            ));
        }
    }
    out
}

fn error_name(code: u16) -> &'static str {
    match code {
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        204 => "Unknown key identifier",
        _ => "Application internal error",
    }
}

/// Fuzz entry point: frame arbitrary bytes (in arbitrary splits) and read every message.
pub fn read_frames(bytes: &[u8], split: usize) {
    let mut framer = mllp::Framer::new(4096);
    let split = split.clamp(1, bytes.len().max(1));
    for chunk in bytes.chunks(split) {
        for frame in framer.push(chunk) {
            if let mllp::Frame::Message(m) = frame {
                read_message(&m);
            }
        }
    }
}

/// Fuzz entry point: read one message's bytes and build its acknowledgement.
pub fn read_message(bytes: &[u8]) {
    let text = text_of(bytes);
    let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    match parse::read(&text, chrono_tz::UTC) {
        Ok(r) => {
            let _ = ack(&r.header, AckCode::AA, None, now);
        }
        Err(p) => {
            let _ = ack(&p.header, AckCode::AR, Some((p.code, p.reason)), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever arrives, in whatever pieces, the framer and the reader answer without a panic.
        #[test]
        fn any_bytes_are_framed_and_read_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), split in 1usize..64) {
            read_frames(&bytes, split);
        }

        #[test]
        fn messages_near_the_shape_of_hl7_are_read_without_a_panic(
            sep in "[|#^~\\\\&$%*@]{0,6}",
            body in "[A-Z0-9|^~\\\\&\r\n+\\-é.]{0,200}",
        ) {
            read_message(format!("MSH{sep}{body}").as_bytes());
            read_message(format!("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID{sep}{body}").as_bytes());
            read_message(format!("MSH|^~\\&|A|B|C|D|1||SIU^S12|1|P|2.5\rSCH{sep}{body}\rPID|1||1^^^H^MR\rAIS{body}\rAIL{body}").as_bytes());
        }
    }

    #[test]
    fn the_acknowledgement_escapes_what_it_repeats() {
        let h = parse::Header {
            app: "A|B".into(),
            control_id: "C^1".into(),
            event: "A01".into(),
            ..Default::default()
        };
        let t = ack(
            &h,
            AckCode::AE,
            Some((103, "bad | value & more".into())),
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        );
        assert!(t.contains("|A\\F\\B|"), "{t}");
        assert!(
            t.contains("MSA|AE|C\\S\\1|bad \\F\\ value \\T\\ more\r"),
            "{t}"
        );
        assert!(
            t.contains("ERR|||103^Table value not found^HL70357|E||||bad \\F\\ value \\T\\ more\r"),
            "{t}"
        );
        assert!(t.contains("|ACK^A01^ACK|"), "{t}");
    }
}
