//! Prometheus metrics at `/metrics`, with the Prometheus project's own client
//! (`prometheus-client`, OpenMetrics text): scan counts and latency counted by this process;
//! the writer's commits, volumes by status, recorded scans, open exceptions and stations
//! connected and the access log's newest anchor read from the store at each scrape.

use crate::store::{query, ScanAnswer, Store, StoreError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Upper bounds (seconds) of the scan latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Hl7Label {
    /// `ADT^A01`, `SIU^S12`, ...; `other` for a type chartrack does not take.
    message_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Hl7Answer {
    message_type: String,
    /// `AE` (understood, not applicable) or `AR` (unreadable or not taken).
    code: &'static str,
}

/// The HL7 message types chartrack takes (others are counted as `other`, so a sender cannot
/// grow the label set).
const HL7_TYPES: [&str; 10] = [
    "ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A40", "SIU^S12", "SIU^S14",
    "SIU^S15", "SIU^S17",
];

/// What this process counts itself; the rest is read from the store when scraped.
pub struct Metrics {
    registry: Registry,
    scans: Family<Outcome, Counter>,
    scan_seconds: Histogram,
    hl7_received: Family<Hl7Label, Counter>,
    hl7_applied: Family<Hl7Label, Counter>,
    hl7_rejected: Family<Hl7Answer, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("chartrack");
        let scans = Family::<Outcome, Counter>::default();
        // Both outcomes from the start, so a rate is defined before the first refusal.
        for outcome in ["accepted", "refused"] {
            let _ = scans.get_or_create(&Outcome { outcome });
        }
        registry.register(
            "scans",
            "Scans answered by this process, by outcome",
            scans.clone(),
        );
        let scan_seconds = Histogram::new(BUCKETS);
        registry.register(
            "scan_seconds",
            "Time from receiving a scan to its committed answer",
            scan_seconds.clone(),
        );
        let hl7_received = Family::<Hl7Label, Counter>::default();
        registry.register(
            "hl7_messages_received",
            "HL7 messages received over MLLP by this process, by message type",
            hl7_received.clone(),
        );
        let hl7_applied = Family::<Hl7Label, Counter>::default();
        registry.register(
            "hl7_messages_applied",
            "HL7 messages applied (AA; resends not counted again), by message type",
            hl7_applied.clone(),
        );
        let hl7_rejected = Family::<Hl7Answer, Counter>::default();
        registry.register(
            "hl7_messages_rejected",
            "HL7 messages not applied, by message type and answer (AE, AR)",
            hl7_rejected.clone(),
        );
        Metrics {
            registry,
            scans,
            scan_seconds,
            hl7_received,
            hl7_applied,
            hl7_rejected,
        }
    }
}

impl Metrics {
    pub fn observe_scan(&self, answer: &ScanAnswer, took: Duration) {
        let outcome = if answer.accepted {
            "accepted"
        } else {
            "refused"
        };
        self.scans.get_or_create(&Outcome { outcome }).inc();
        self.scan_seconds.observe(took.as_secs_f64());
    }

    /// One HL7 message answered: `"AA"` applied, `"AE"`/`"AR"` not applied, `"resend"` a resend
    /// of one applied before (received, not applied again).
    pub fn observe_hl7(&self, kind: &str, code: &'static str) {
        let message_type = if HL7_TYPES.contains(&kind) {
            kind.to_owned()
        } else {
            "other".to_owned()
        };
        self.hl7_received
            .get_or_create(&Hl7Label {
                message_type: message_type.clone(),
            })
            .inc();
        if code == "AA" {
            self.hl7_applied
                .get_or_create(&Hl7Label { message_type })
                .inc();
        } else if code == "AE" || code == "AR" {
            self.hl7_rejected
                .get_or_create(&Hl7Answer { message_type, code })
                .inc();
        }
    }

    /// The OpenMetrics text of every metric.
    pub async fn render(&self, store: &Store) -> Result<String, StoreError> {
        let (statuses, stations, (scans, accepted, open_exceptions)) = store
            .read(|c| {
                Ok((
                    query::status_counts(c)?,
                    query::stations(c)?,
                    query::scan_counts(c)?,
                ))
            })
            .await?;
        let w = store.writer_stats();
        // The newest anchor of the access log; an unreadable anchor file reads as none (the
        // access-log page and `audit verify` say why).
        let anchor = store.newest_anchor().ok().flatten();
        let anchored_at = anchor
            .as_ref()
            .and_then(|a| crate::clock::parse_stamp(&a.at))
            .map_or(0, |t| t.timestamp());
        let snapshot = StoreSnapshot {
            checks: [
                (
                    "audit_anchor_entries",
                    "Access log entries covered by the newest anchor written outside the database",
                    anchor.as_ref().map_or(0, |a| a.entries),
                ),
                (
                    "audit_anchor_timestamp_seconds",
                    "When the newest access log anchor was written (Unix time; 0: none yet)",
                    anchored_at,
                ),
                (
                    "database_integrity_ok",
                    "SQLite's quick check of the whole file, run in the background (at start, then daily): 1 ok, 0 damaged, -1 not checked yet",
                    match store.integrity_ok() {
                        Some(true) => 1,
                        Some(false) => 0,
                        None => -1,
                    },
                ),
                (
                    "audit_chain_intact",
                    "The access log's chain as last checked in the background (at start, then daily): 1 intact, 0 broken, -1 not checked yet",
                    match store.audit_intact() {
                        Some(true) => 1,
                        Some(false) => 0,
                        None => -1,
                    },
                ),
            ],
            volumes: crate::domain::Status::ALL
                .iter()
                .map(|s| {
                    let n = statuses
                        .iter()
                        .find(|(name, _)| name == s.as_str())
                        .map(|(_, n)| *n)
                        .unwrap_or(0);
                    (s.as_str(), n)
                })
                .collect(),
            stations: stations
                .into_iter()
                .map(|s| (s.id, i64::from(s.connected)))
                .collect(),
            recorded: [("accepted", accepted), ("refused", scans - accepted)],
            open_exceptions,
            writer: [
                (
                    "writer_commits",
                    "Write transactions committed",
                    w.commits.load(Relaxed),
                ),
                (
                    "writer_jobs",
                    "Writes committed (scans and others)",
                    w.jobs.load(Relaxed),
                ),
                (
                    "writer_failed_commits",
                    "Write transactions that failed; none of their writes were acknowledged",
                    w.failed_commits.load(Relaxed),
                ),
                (
                    "writer_panicked_jobs",
                    "Writes that panicked (a bug); each was rolled back and its caller told",
                    w.panicked_jobs.load(Relaxed),
                ),
                (
                    "writer_slow_commits",
                    "Write transactions that took over 100 ms from their first statement to the end of their commit",
                    w.slow_commits.load(Relaxed),
                ),
                (
                    "writer_slow_log_cuts",
                    "Cuts of the write-ahead log between two batches that held the writer over 100 ms",
                    w.slow_log_cuts.load(Relaxed),
                ),
            ],
        };
        let mut scrape = Registry::with_prefix("chartrack");
        scrape.register_collector(Box::new(snapshot));
        let mut o = String::new();
        let fail = |e: std::fmt::Error| StoreError::Internal(format!("metrics text: {e}"));
        encode_registry(&mut o, &self.registry).map_err(fail)?;
        encode_registry(&mut o, &scrape).map_err(fail)?;
        encode_eof(&mut o).map_err(fail)?;
        Ok(o)
    }
}

/// The store's figures at one scrape.
#[derive(Debug)]
struct StoreSnapshot {
    volumes: Vec<(&'static str, i64)>,
    stations: Vec<(String, i64)>,
    recorded: [(&'static str, i64); 2],
    open_exceptions: i64,
    writer: [(&'static str, &'static str, u64); 6],
    /// The anchor, the integrity check and the chain check.
    checks: [(&'static str, &'static str, i64); 4],
}

impl Collector for StoreSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in self.writer {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        gauge_family(
            &mut encoder,
            "volumes",
            "Volumes by status",
            "status",
            self.volumes.iter().map(|(s, n)| (s.to_string(), *n)),
        )?;
        gauge_family(
            &mut encoder,
            "scans_recorded",
            "Scans in the database",
            "outcome",
            self.recorded.iter().map(|(s, n)| (s.to_string(), *n)),
        )?;
        for (name, help, value) in self.checks {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let g = ConstGauge::new(self.open_exceptions);
        g.encode(encoder.encode_descriptor(
            "exceptions_open",
            "Unresolved exceptions",
            None,
            g.metric_type(),
        )?)?;
        gauge_family(
            &mut encoder,
            "station_connected",
            "1 when the station's scanner is connected",
            "station",
            self.stations.iter().cloned(),
        )
    }
}

fn gauge_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl Iterator<Item = (String, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (value, n) in values {
        let labels = [(label, value)];
        ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}
