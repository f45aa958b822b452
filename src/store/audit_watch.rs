//! The database watched in the background: SQLite's quick check of every table, then the
//! access log's whole chain, at start and then daily, so damage or a broken chain raises an
//! alarm (an error in the log, `/healthz`, `/metrics`) without anyone opening the access-log
//! page, and without holding up the start (at a million charts the file is gigabytes).

use super::{audit, integrity, Store};

/// What the background check found, and when it finished.
#[derive(Debug, Clone)]
pub struct Checked {
    pub at: chrono::DateTime<chrono::Utc>,
    /// The chain as verified, or what breaks it (or why it could not be read).
    pub finding: Result<audit::Verified, String>,
}

impl Store {
    /// The access log's chain as last checked in the background (`None`: not checked yet).
    pub fn audit_intact(&self) -> Option<bool> {
        match self
            .inner
            .audit_state
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// SQLite's quick check of the whole file, as last run in the background (`None`: not yet).
    pub fn integrity_ok(&self) -> Option<bool> {
        match self
            .inner
            .integrity_state
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// The background check's last finding (`None`: the first is still running).
    pub fn audit_checked(&self) -> Option<Checked> {
        self.inner
            .audit_checked
            .lock()
            .expect("audit finding")
            .clone()
    }

    /// Check the whole access log in the background now and then every `every` (the server: at
    /// start, then daily), so a broken chain raises an alarm (an error in the log, `/healthz`,
    /// `/metrics`) without anyone opening the access-log page. Ends with the store.
    pub fn watch_audit(&self, every: std::time::Duration) {
        self.repeat(
            "chartrack-audit",
            "the background access-log check",
            every,
            |store| {
                let started = std::time::Instant::now();
                let alive = || store.health().writer;
                let (integrity, problem) = match integrity::quick_check(store.path(), &alive) {
                    Ok(found) => {
                        if found.problem.is_none() {
                            tracing::info!(
                                seconds = started.elapsed().as_secs(),
                                tables = found.tables,
                                stepped_aside = found.stepped_aside,
                                "the database passes SQLite's quick check"
                            );
                        }
                        (if found.problem.is_some() { 2 } else { 1 }, found.problem)
                    }
                    Err(e) if !alive() => {
                        tracing::debug!(error = %e, "the quick check ended with the store");
                        return;
                    }
                    Err(e) => (2, Some(format!("{e:#}"))),
                };
                let before = store
                    .inner
                    .integrity_state
                    .swap(integrity, std::sync::atomic::Ordering::SeqCst);
                if let Some(problem) = problem {
                    if before != 2 {
                        tracing::error!(path = %store.path().display(), %problem, "the database fails SQLite's quick check: stop chartrack, run `chartrack check`, and restore from a backup (`chartrack restore`)");
                    }
                }
                let finding = match store.verify_audit_blocking() {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(broken)) => Err(broken.to_string()),
                    Err(e) => Err(format!("{e:#}")),
                };
                let (state, told) = match &finding {
                    Ok(v) => (1, format!("{} entries", v.entries)),
                    Err(problem) => (2, problem.clone()),
                };
                *store.inner.audit_checked.lock().expect("audit finding") = Some(Checked {
                    at: store.clock().now(),
                    finding,
                });
                let before = store
                    .inner
                    .audit_state
                    .swap(state, std::sync::atomic::Ordering::SeqCst);
                if state == 2 && before != 2 {
                    tracing::error!(problem = %told, "the access log is not intact: run `chartrack audit verify`; a supervisor sees it on the access-log page");
                } else if state == 1 {
                    tracing::info!(checked = %told, seconds = started.elapsed().as_secs(), "the access log's chain is intact");
                }
            },
        );
    }
}
