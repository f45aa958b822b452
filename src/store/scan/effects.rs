//! Writing a decision's effects, one function per kind, inside the scan's transaction. Each
//! refers to the scan row already written (`Written::seq`).

use super::super::stocktake::freeze_expected;
use super::super::{Result, StoreError};
use super::facts::loc_ref;
use crate::domain::{EndReason, LocationKind, RequestStatus};
use crate::engine::{ContainerChange, Effect, Move, RequestRef, Scope, StationFacts};
use rusqlite::{params, Connection};

/// What every effect of one scan is written with.
pub(super) struct Written<'a> {
    pub c: &'a Connection,
    pub station: &'a StationFacts,
    /// The scan row's `scan_seq`.
    pub seq: i64,
    /// When it happened (as the scanner read it, if the sender knows).
    pub at: String,
    /// When the server received it.
    pub received: String,
    pub user_id: Option<i64>,
    /// A stocktake opened by this scan, for the counts and misfiles that follow it.
    pub opened: Option<i64>,
}

impl Written<'_> {
    /// Write one effect.
    pub(super) fn effect(&mut self, effect: &Effect) -> Result<()> {
        match effect {
            Effect::Move(m) => self.movement(m),
            Effect::FileReport {
                report_id,
                volume_id,
            } => self.file_report(*report_id, *volume_id),
            Effect::EmptyContainer { container_id } => self.empty_container(*container_id),
            Effect::Exception { kind, value } => self.exception(kind, value),
            Effect::Request { request, status } => self.request(request, *status),
            Effect::Found { volume_id } => self.found(*volume_id),
            Effect::ReceiveReport {
                report_id,
                routed_to,
            } => self.receive_report(*report_id, *routed_to),
            Effect::OpenStocktake { location_id } => self.open_stocktake(*location_id),
            Effect::Count {
                volume_id,
                expected,
                result,
            } => self.count(*volume_id, *expected, result),
            Effect::Misfile {
                volume_id,
                location_id,
                kind,
            } => self.misfile(*volume_id, *location_id, kind),
            Effect::CloseStocktake { stocktake_id } => self.close_stocktake(*stocktake_id),
        }
    }

    /// The station's open stocktake, or the one this scan opened.
    fn stocktake(&self) -> Option<i64> {
        self.opened
            .or(self.station.stocktake.as_ref().map(|t| t.id))
    }

    /// A movement, and the volume's current state after it.
    fn movement(&self, m: &Move) -> Result<()> {
        let c = self.c;
        c.prepare_cached(
            "INSERT INTO movement (scan_seq, volume_id, action, from_id, to_id, at, station_id, user_id, receiver_id, request_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![self.seq, m.volume_id, m.action.as_str(), m.from, m.to, self.at, self.station.id, m.user, m.receiver, m.request])?;
        let movement_id = c.last_insert_rowid();
        let (set_container, container) = match m.container {
            ContainerChange::Keep => (false, None),
            ContainerChange::Set(id) => (true, Some(id)),
            ContainerChange::Clear => (true, None),
        };
        c.prepare_cached(
            "UPDATE volume_state SET
                since = CASE WHEN status <> ?2 OR location_id <> ?3 THEN ?8 ELSE since END,
                status = ?2, location_id = ?3, destination_id = ?4,
                container_id = CASE WHEN ?5 THEN ?6 ELSE container_id END,
                last_movement_id = ?7, last_scan_at = ?8, last_station_id = ?9, last_user_id = ?10, last_location_id = ?11
             WHERE volume_id = ?1",
        )?
        .execute(params![
            m.volume_id,
            m.status.as_str(),
            m.location,
            m.destination,
            set_container,
            container,
            movement_id,
            self.at,
            self.station.id,
            m.user,
            self.station.location.id
        ])?;
        Ok(())
    }

    fn file_report(&self, report_id: i64, volume_id: i64) -> Result<()> {
        let n = self
            .c
            .prepare_cached("UPDATE loose_report SET filed_volume_id=?2, filed_at=?3 WHERE report_id=?1 AND filed_at IS NULL")?
            .execute(params![report_id, volume_id, self.at])?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "the report was filed meanwhile".into(),
            ));
        }
        Ok(())
    }

    /// Every volume riding in the container leaves it.
    fn empty_container(&self, container_id: i64) -> Result<()> {
        self.c
            .prepare_cached("UPDATE volume_state SET container_id=NULL WHERE container_id=?")?
            .execute([container_id])?;
        Ok(())
    }

    /// A value kept for a supervisor to resolve.
    fn exception(&self, kind: &str, value: &str) -> Result<()> {
        self.c
            .prepare_cached("INSERT INTO exception (scan_seq, kind, value, station_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![self.seq, kind, value, self.station.id, self.received])?;
        Ok(())
    }

    /// A request moves on: pulled, delivered or not found.
    fn request(&self, request: &RequestRef, status: RequestStatus) -> Result<()> {
        advance_request(
            self.c,
            request.id,
            status,
            &self.at,
            self.user_id,
            self.station,
        )
    }

    /// A missing volume was scanned: its mark is closed with where it turned up.
    fn found(&self, volume_id: i64) -> Result<()> {
        self.c
            .prepare_cached(
                "UPDATE missing_mark SET found_at = ?2, found_scan_seq = ?3, found_location_id = ?4, found_station = ?5, found_by = ?6
                 WHERE volume_id = ?1 AND found_at IS NULL",
            )?
            .execute(params![volume_id, self.at, self.seq, self.station.location.id, self.station.id, self.user_id])?;
        Ok(())
    }

    /// A loose report's receive scan: its clock starts once; where it was routed.
    fn receive_report(&self, report_id: i64, routed_to: Option<i64>) -> Result<()> {
        self.c
            .prepare_cached(
                "UPDATE loose_report SET received_at = coalesce(received_at, ?2),
                    received_station = coalesce(received_station, ?3), routed_to = ?4
                 WHERE report_id = ?1",
            )?
            .execute(params![report_id, self.at, self.station.id, routed_to])?;
        Ok(())
    }

    /// A stocktake of one location, opened by this scan, with its expected list frozen.
    fn open_stocktake(&mut self, location_id: i64) -> Result<()> {
        let c = self.c;
        c.prepare_cached(
            "INSERT INTO stocktake (station_id, location_id, opened_at, opened_by) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![self.station.id, location_id, self.at, self.user_id])?;
        let id = c.last_insert_rowid();
        freeze_expected(c, id, &Scope::Location(loc_ref(c, location_id)?))?;
        self.opened = Some(id);
        Ok(())
    }

    fn count(&self, volume_id: i64, expected: bool, result: &str) -> Result<()> {
        let take = self
            .stocktake()
            .ok_or_else(|| StoreError::Internal("a count without a stocktake".into()))?;
        self.c
            .prepare_cached(
                "INSERT INTO stocktake_item (stocktake_id, volume_id, expected, seen_seq, result) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (stocktake_id, volume_id) DO UPDATE SET seen_seq = excluded.seen_seq, result = excluded.result",
            )?
            .execute(params![take, volume_id, expected, self.seq, result])?;
        Ok(())
    }

    fn misfile(&self, volume_id: i64, location_id: i64, kind: &str) -> Result<()> {
        self.c
            .prepare_cached(
                "INSERT INTO misfile (scan_seq, volume_id, location_id, kind, stocktake_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![self.seq, volume_id, location_id, kind, self.stocktake(), self.at])?;
        Ok(())
    }

    fn close_stocktake(&self, stocktake_id: i64) -> Result<()> {
        self.c
            .prepare_cached(
                "UPDATE stocktake SET closed_at = ?2, closed_by = ?3 WHERE stocktake_id = ?1 AND closed_at IS NULL",
            )?
            .execute(params![stocktake_id, self.at, self.user_id])?;
        Ok(())
    }
}

/// A request moves on: pulled, delivered or not found (only forward: a request already past
/// that point is left as it is). Also how `chartrack generate` writes its requests' history.
pub(in crate::store) fn advance_request(
    c: &Connection,
    id: i64,
    status: RequestStatus,
    at: &str,
    user: Option<i64>,
    station: &StationFacts,
) -> Result<()> {
    let n = match status {
        RequestStatus::Pulled => c
            .prepare_cached(
                "UPDATE request SET status = 'pulled', pulled_at = ?2, pulled_by = ?3, pulled_station = ?4
                 WHERE request_id = ?1 AND status = 'open'",
            )?
            .execute(params![id, at, user, station.id])?,
        RequestStatus::Delivered => c
            .prepare_cached(
                "UPDATE request SET status = 'delivered', delivered_at = ?2, delivered_by = ?3, delivered_station = ?4
                 WHERE request_id = ?1 AND status IN ('open','pulled')",
            )?
            .execute(params![id, at, user, station.id])?,
        RequestStatus::NotFound => {
            // Looked for on a shelf, or where the holder said it was.
            let reason = if station.location.kind == LocationKind::Shelf {
                EndReason::NotOnShelf
            } else {
                EndReason::NotAtHolder
            };
            c.prepare_cached(
                "UPDATE request SET status = 'not_found', ended_at = ?2, ended_by = ?3, end_reason = ?4,
                    end_note = 'scanned not found at ' || ?5
                 WHERE request_id = ?1 AND status IN ('open','pulled')",
            )?
            .execute(params![id, at, user, reason.as_str(), station.id])?
        }
        RequestStatus::Open | RequestStatus::Cancelled => {
            return Err(StoreError::Internal(format!(
                "a scan cannot make a request {status}"
            )))
        }
    };
    debug_assert!(n <= 1);
    Ok(())
}
