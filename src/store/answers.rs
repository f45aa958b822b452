//! Scan answers dropped once no sender could resend their scan (`scan::ANSWER_KEPT`), in small
//! batches through the writer, at start and then hourly: the scans, their movements and the
//! access log stay for good; the answer's words were only for a resend.

use super::{scan, Result, Store};

/// Answers dropped per write: a batch of scans queued behind it waits milliseconds, not seconds.
const BATCH: u32 = 2_000;

impl Store {
    /// Drop every answer past keeping, batch by batch; how many went.
    pub fn prune_answers_blocking(&self) -> Result<usize> {
        let before = self.clock().now() - scan::ANSWER_KEPT;
        let mut dropped = 0;
        loop {
            let n = self.write_blocking(move |c| scan::prune_answers(c, before, BATCH))?;
            dropped += n;
            if n < BATCH as usize {
                return Ok(dropped);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// [`Store::prune_answers_blocking`] now and then every `every`, on its own thread; ends
    /// with the store.
    pub fn watch_answers(&self, every: std::time::Duration) {
        self.repeat(
            "chartrack-answers",
            "the background pruning of old scan answers",
            every,
            |store| match store.prune_answers_blocking() {
                Ok(0) => {}
                Ok(n) => tracing::info!(answers = n, "dropped the stored answers of scans past the month a resend is answered word for word (the scans stay)"),
                Err(e) => tracing::warn!(error = %e, "old scan answers could not be dropped; tried again in an hour"),
            },
        );
    }
}
