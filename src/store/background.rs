//! The store's background rounds (the integrity and chain check, the pruning of old answers):
//! one loop for each on a thread of its own that ends with the store.

use super::Store;
use std::sync::Arc;

impl Store {
    /// Run `round` now and then every `every` on a thread of its own named `name`, for as long
    /// as the store lives (the thread holds it only during a round, and ends within half a
    /// second of the store). `what` names the work in the warning if the thread cannot start.
    pub(crate) fn repeat(
        &self,
        name: &str,
        what: &str,
        every: std::time::Duration,
        round: impl Fn(&Store) + Send + 'static,
    ) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || loop {
                let Some(inner) = weak.upgrade() else { return };
                round(&Store { inner });
                // Sleep in short steps so the thread ends soon after the store.
                let until = std::time::Instant::now() + every;
                while std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    if weak.strong_count() == 0 {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "{what} could not start");
        }
    }
}
