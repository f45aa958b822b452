//! One scan, from whatever entry point: the one scan path (`Store::scan`), then the metrics.
//! The API (and with it the browser scan page and the agent) and the serial stations call it.

use super::AppResult;
use crate::metrics::Metrics;
use crate::stations::Sink;
use crate::store::{admin, ScanAnswer, ScanInput, Store};
use std::sync::Arc;
use std::time::Instant;

/// Record one scan and count it.
pub async fn scan(store: &Store, metrics: &Metrics, input: ScanInput) -> AppResult<ScanAnswer> {
    let started = Instant::now();
    let answer = store.scan(input).await?;
    metrics.observe_scan(&answer, started.elapsed());
    Ok(answer)
}

/// The server's sink for serial and USB scanners: each line through [`scan`], and the
/// scanner's link state saved as it changes.
pub struct ScanSink {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub rt: tokio::runtime::Handle,
}

impl ScanSink {
    pub fn new(state: &super::AppState) -> ScanSink {
        ScanSink {
            store: state.store.clone(),
            metrics: state.metrics.clone(),
            rt: tokio::runtime::Handle::current(),
        }
    }
}

impl Sink for ScanSink {
    fn submit(&self, station: &str, line: Vec<u8>) -> bool {
        let input = ScanInput {
            station: station.to_owned(),
            line,
            id: Some(uuid::Uuid::new_v4()),
            scanned_at: None,
            user: None,
        };
        match self.rt.block_on(scan(&self.store, &self.metrics, input)) {
            Ok(answer) => answer.accepted,
            Err(e) => {
                tracing::error!(station, error = %e, "scan not recorded");
                false
            }
        }
    }

    fn link(&self, station: &str, connected: bool, error: Option<String>) {
        let (id, now) = (station.to_owned(), self.store.clock().now());
        let r = self.rt.block_on(
            self.store
                .write(move |c| admin::set_station_link(c, &id, connected, error.as_deref(), now)),
        );
        if let Err(e) = r {
            tracing::warn!(station, error = %e, "station link state not saved");
        }
    }
}
