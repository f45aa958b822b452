//! Many volumes registered in one transaction (the CSV import): each as `admin::create_volume`
//! registers one (its patient found by MRN or created, its state on its home shelf), with the
//! homes looked up once and every statement prepared once. Run inside the writer's transaction
//! (through `Store::write`); the caller rolls everything back by returning an error.
//!
//! A barcode twice in the file is found by the volume table's own UNIQUE index: a barcode
//! already taken by a volume this import wrote is "twice in the file", one taken before is
//! "already exists". Barcodes of rows refused before they reach here (a file with any is refused,
//! but every row is still checked) are kept in a temporary table, on disk, not in memory: a file
//! with a million bad rows is refused in bounded memory, and a later row with one of their
//! barcodes is named too.

use super::admin::{insert_volume, NewVolume};
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::Barcode;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;

/// The write connection's page cache while an import runs (KiB, SQLite's negative form): the
/// indexes a million volumes touch at random (MRN, names, barcodes) stay in memory instead of
/// being spilled to the log and read back. Put back when the import ends.
const IMPORT_CACHE_KIB: i64 = 64 * 1024;

/// An import in progress on the writer's connection.
pub struct Volumes<'c> {
    c: &'c Connection,
    /// Shelf and other locations by code: (location id, kind).
    homes: HashMap<String, (i64, String)>,
    /// The first volume id this import writes: a barcode held by a volume from here on was
    /// written by this import.
    first_new: i64,
    /// Whether a row was refused before the database (its barcode is in `temp.import_refused`).
    any_refused: bool,
    now: DateTime<Utc>,
    created: String,
    cache_before: i64,
    written: u64,
}

impl<'c> Volumes<'c> {
    pub fn start(c: &'c Connection, now: DateTime<Utc>) -> Result<Volumes<'c>> {
        let homes = {
            let mut st = c.prepare_cached("SELECT code, location_id, kind FROM location")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let first_new = c.query_row(
            "SELECT coalesce(max(volume_id), 0) + 1 FROM volume",
            [],
            |r| r.get(0),
        )?;
        let cache_before: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        c.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS import_refused (barcode TEXT PRIMARY KEY) WITHOUT ROWID;
             DELETE FROM temp.import_refused;",
        )?;
        c.pragma_update(None, "cache_size", -IMPORT_CACHE_KIB)?;
        Ok(Volumes {
            c,
            homes,
            first_new,
            any_refused: false,
            now,
            created: stamp(now),
            cache_before,
            written: 0,
        })
    }

    /// Volumes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether a volume this import wrote has the barcode.
    fn written_here(&self, barcode: &str) -> Result<bool> {
        let id: Option<i64> = self
            .c
            .prepare_cached("SELECT volume_id FROM volume WHERE barcode = ?")?
            .query_row([barcode], |r| r.get(0))
            .optional()?;
        Ok(id.is_some_and(|id| id >= self.first_new))
    }

    /// Register one volume. `Ok(Some(problem))`: the row is refused (a duplicate barcode, a
    /// patient registered under another name, ...), and nothing of it was written; `Err`: the
    /// database failed and the import cannot go on.
    pub fn add(&mut self, v: &NewVolume) -> Result<Option<String>> {
        if let Some(b) = v.barcode.as_ref().filter(|_| self.any_refused) {
            let refused = self
                .c
                .prepare_cached("SELECT 1 FROM temp.import_refused WHERE barcode = ?")?
                .exists([b.as_str()])?;
            if refused {
                return Ok(Some(twice(b)));
            }
        }
        let Some((id, kind)) = self.homes.get(v.home.as_str()) else {
            return Ok(Some(format!("home location {} does not exist", v.home)));
        };
        match insert_volume(self.c, v, (*id, kind), self.now, &self.created) {
            Ok(_) => {
                self.written += 1;
                Ok(None)
            }
            Err(StoreError::Conflict(e)) => match &v.barcode {
                Some(b) if self.written_here(b.as_str())? => Ok(Some(twice(b))),
                _ => Ok(Some(e)),
            },
            Err(e @ (StoreError::Invalid(_) | StoreError::NotFound(_))) => Ok(Some(e.to_string())),
            Err(e) => Err(e),
        }
    }

    /// A row refused for its own fields still has a barcode another row may share: the
    /// problem if one did before it; kept for the rows after it.
    pub fn refused(&mut self, b: &Barcode) -> Result<Option<String>> {
        self.any_refused = true;
        let new = self
            .c
            .prepare_cached("INSERT OR IGNORE INTO temp.import_refused (barcode) VALUES (?)")?
            .execute([b.as_str()])?;
        if new == 0 || self.written_here(b.as_str())? {
            return Ok(Some(twice(b)));
        }
        Ok(None)
    }
}

impl Drop for Volumes<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.c.execute("DELETE FROM temp.import_refused", []) {
            tracing::warn!(error = %e, "the refused barcodes of an import could not be cleared");
        }
        if let Err(e) = self.c.pragma_update(None, "cache_size", self.cache_before) {
            tracing::warn!(error = %e, "the page cache size could not be put back after an import");
        }
    }
}

fn twice(b: &Barcode) -> String {
    format!("barcode {b} appears twice in the file")
}
