//! Prometheus text metrics: scan counts and latency, the writer's commits, volumes by status,
//! stations connected. Counters are plain atomics; gauges are read from the store on demand.

use crate::store::{query, ScanAnswer, Store, StoreError};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the scan latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
pub struct Metrics {
    accepted: AtomicU64,
    refused: AtomicU64,
    buckets: [AtomicU64; 10],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    pub fn observe_scan(&self, answer: &ScanAnswer, took: Duration) {
        if answer.accepted {
            &self.accepted
        } else {
            &self.refused
        }
        .fetch_add(1, Relaxed);
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(took.as_micros() as u64, Relaxed);
    }

    pub async fn render(&self, store: &Store) -> Result<String, StoreError> {
        let (statuses, stations) = store
            .read(|c| Ok((query::status_counts(c)?, query::stations(c)?)))
            .await?;
        let (scans, accepted_total, open_exceptions) = store.read(query::scan_counts).await?;
        let w = store.writer_stats();
        let mut o = String::new();
        let _ = writeln!(o, "# HELP chartrack_scans_total Scans answered by this process, by outcome.\n# TYPE chartrack_scans_total counter");
        let _ = writeln!(
            o,
            "chartrack_scans_total{{outcome=\"accepted\"}} {}",
            self.accepted.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "chartrack_scans_total{{outcome=\"refused\"}} {}",
            self.refused.load(Relaxed)
        );
        let _ = writeln!(o, "# HELP chartrack_scan_seconds Time from receiving a scan to its committed answer.\n# TYPE chartrack_scan_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "chartrack_scan_seconds_bucket{{le=\"{b}\"}} {}",
                self.buckets[i].load(Relaxed)
            );
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(o, "chartrack_scan_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            o,
            "chartrack_scan_seconds_sum {}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "chartrack_scan_seconds_count {count}");
        let _ = writeln!(o, "# HELP chartrack_scans_recorded Scans in the database.\n# TYPE chartrack_scans_recorded gauge");
        let _ = writeln!(
            o,
            "chartrack_scans_recorded{{outcome=\"accepted\"}} {accepted_total}"
        );
        let _ = writeln!(
            o,
            "chartrack_scans_recorded{{outcome=\"refused\"}} {}",
            scans - accepted_total
        );
        let _ = writeln!(o, "# HELP chartrack_exceptions_open Unresolved exceptions.\n# TYPE chartrack_exceptions_open gauge\nchartrack_exceptions_open {open_exceptions}");
        let _ = writeln!(o, "# HELP chartrack_writer_commits_total Write transactions committed.\n# TYPE chartrack_writer_commits_total counter");
        let _ = writeln!(
            o,
            "chartrack_writer_commits_total {}",
            w.commits.load(Relaxed)
        );
        let _ = writeln!(o, "# HELP chartrack_writer_jobs_total Writes committed (scans and others).\n# TYPE chartrack_writer_jobs_total counter");
        let _ = writeln!(o, "chartrack_writer_jobs_total {}", w.jobs.load(Relaxed));
        let _ = writeln!(o, "# HELP chartrack_writer_failed_commits_total Write transactions that failed; none of their writes were acknowledged.\n# TYPE chartrack_writer_failed_commits_total counter");
        let _ = writeln!(
            o,
            "chartrack_writer_failed_commits_total {}",
            w.failed_commits.load(Relaxed)
        );
        let _ = writeln!(o, "# HELP chartrack_writer_panicked_jobs_total Writes that panicked (a bug); each was rolled back and its caller told.\n# TYPE chartrack_writer_panicked_jobs_total counter");
        let _ = writeln!(
            o,
            "chartrack_writer_panicked_jobs_total {}",
            w.panicked_jobs.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP chartrack_volumes Volumes by status.\n# TYPE chartrack_volumes gauge"
        );
        for status in crate::domain::Status::ALL {
            let n = statuses
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let _ = writeln!(o, "chartrack_volumes{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(o, "# HELP chartrack_station_connected 1 when the station's scanner is connected.\n# TYPE chartrack_station_connected gauge");
        for s in stations {
            let _ = writeln!(
                o,
                "chartrack_station_connected{{station=\"{}\"}} {}",
                s.id,
                u8::from(s.connected)
            );
        }
        Ok(o)
    }
}
