//! The scan path inside the writer's transaction, in named steps (`apply`): replay a repeated
//! scan id; read the station and what was scanned (`facts`), ask the engine; write the scan row
//! with its answer, then each effect (`effects`), the volume's last scan and the station's
//! memory, all in the one transaction.

mod effects;
pub(super) use effects::advance_request;
mod facts;

pub(crate) use facts::{classify, loc_ref};

use super::stocktake::stocktake_facts;
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{normalise_line, Mode, RequestStatus, Status};
use crate::engine::{self, Decision, Effect, LocRef, Scanned, StationFacts, UserRef, VolumeFacts};
use chrono::{DateTime, Utc};
use effects::Written;
use facts::{may_drive, needs_stocktake, station_facts};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// One scan as it arrives, from any source.
#[derive(Debug, Clone)]
pub struct ScanInput {
    pub station: String,
    /// The line as read (terminator and AIM prefix may still be on it).
    pub line: Vec<u8>,
    /// The sender's unique id for this scan; a repeat is answered with the first answer.
    pub id: Option<uuid::Uuid>,
    /// When the scanner read it, if the sender knows (an agent delivering a queue).
    pub scanned_at: Option<DateTime<Utc>>,
    /// The signed-in user behind the request, if any.
    pub user: Option<UserRef>,
}

/// A location as answers name it: its code and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Location)]
pub struct LocBrief {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VolumeBrief {
    pub barcode: String,
    pub status: Status,
    pub location: LocBrief,
    pub destination: Option<LocBrief>,
}

/// The station's answer to a scan (the body of `POST /api/v1/scans`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanAnswer {
    pub scan_id: String,
    pub accepted: bool,
    pub action: String,
    pub message: String,
    pub warnings: Vec<String>,
    pub station: String,
    pub mode: Mode,
    pub at: DateTime<Utc>,
    /// Volumes moved by this scan.
    pub moved: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeBrief>,
    /// Requests this scan pulled, delivered or found missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestNote>,
    /// What was scanned belongs to a restricted patient (VIP, behavioural health): the live
    /// feeds show this answer's whereabouts only to those who may see them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restricted: bool,
    /// A volume checked in to go back on its shelf: its home section's code, shown large at
    /// the station ("Shelve at FR-20-39"). Absent when it must not be shelved (requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelve_at: Option<String>,
}

/// A request's new state, as told in a scan's answer and to the live feeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestNote {
    pub id: i64,
    pub barcode: String,
    pub status: RequestStatus,
    /// The requesting location's code.
    pub location: String,
}

/// What the station shows about the scanned volume afterwards, worked out from its facts and
/// the engine's decision (so the scan row can be written once, with its answer, before the
/// movements that refer to it).
fn volume_brief(
    c: &Connection,
    v: &VolumeFacts,
    decision: &Decision,
    station: &StationFacts,
) -> Result<VolumeBrief> {
    let brief = |l: &LocRef| LocBrief {
        code: l.code.clone(),
        name: l.name.clone(),
    };
    let Some(m) = decision.effects.iter().find_map(|e| match e {
        Effect::Move(m) if m.volume_id == v.id => Some(m),
        _ => None,
    }) else {
        return Ok(VolumeBrief {
            barcode: v.barcode.clone(),
            status: v.status,
            location: brief(&v.location),
            destination: v.destination.as_ref().map(brief),
        });
    };
    // The locations a move can name are ones the engine was given; look up any other.
    let known = [
        Some(&v.location),
        Some(&v.home),
        v.destination.as_ref(),
        Some(&station.location),
        decision.memory.target.as_ref().map(|t| &t.value),
        station.memory.target.as_ref().map(|t| &t.value),
    ];
    let resolve = |id: i64| -> Result<LocBrief> {
        match known.iter().flatten().find(|l| l.id == id) {
            Some(l) => Ok(brief(l)),
            None => Ok(brief(&loc_ref(c, id)?)),
        }
    };
    Ok(VolumeBrief {
        barcode: v.barcode.clone(),
        status: m.status,
        location: resolve(m.location)?,
        destination: m.destination.map(resolve).transpose()?,
    })
}

/// A printable, bounded rendering of a line that could not be read, for the scan record.
fn printable(line: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(line).escape_debug().collect();
    s.chars().take(160).collect()
}

/// How far ahead of the server a scanner's clock may be (skew) before its time is not believed.
pub const CLOCK_AHEAD: chrono::Duration = chrono::Duration::minutes(5);
/// How old a queued scan may be (an agent cut off over a long weekend) before its time is not
/// believed.
pub const CLOCK_BEHIND: chrono::Duration = chrono::Duration::days(30);

/// When a scan's movements happened: the scanner's own time when the sender gives one (an
/// agent's queued scan) and it is plausible. A time in the future or older than a queue could
/// hold is kept on the scan row as sent, but the movements are dated when the scan was received
/// and the answer says so. History is ordered by commit, never by these times.
fn movement_time(
    scanned_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, Option<String>) {
    match scanned_at {
        None => (now, None),
        Some(t) if t > now + CLOCK_AHEAD || t < now - CLOCK_BEHIND => (
            now,
            Some(format!(
                "the scanner's clock said {}; recorded as scanned when received ({}): check its clock",
                stamp(t),
                stamp(now)
            )),
        ),
        Some(t) => (t, None),
    }
}

/// The whole scan path; runs inside the writer's transaction.
pub fn apply(
    c: &Connection,
    input: &ScanInput,
    now: DateTime<Utc>,
    settings: &engine::Settings,
) -> Result<ScanAnswer> {
    // A user the station does not allow is refused before anything, a replay included:
    // nothing is recorded and the station's memory is untouched.
    may_drive(c, &input.station, input.user.as_ref())?;
    let scan_id = input.id.unwrap_or_else(uuid::Uuid::new_v4).to_string();
    if let Some(answer) = replay(c, input, &scan_id)? {
        return Ok(answer);
    }
    let mut station = station_facts(c, &input.station)?;
    let (value, scanned, decision) = decide_line(c, input, &mut station, now, settings)?;
    let user_id = decision
        .memory
        .badge
        .as_ref()
        .map(|b| b.value.id)
        .or(input.user.as_ref().map(|u| u.id));
    let mut answer = answer(c, scan_id, &station, scanned.as_ref(), &decision, now)?;
    let (at, clock_off) = movement_time(input.scanned_at, now);
    if let Some(warning) = clock_off {
        answer.warnings.push(warning);
    }

    // The scan row first, with its answer: movements and exceptions refer to it.
    let seq = record_scan(c, input, user_id, &value, &answer, now)?;
    let mut written = Written {
        c,
        station: &station,
        seq,
        at: stamp(at),
        received: stamp(now),
        user_id,
        opened: None,
    };
    for effect in &decision.effects {
        written.effect(effect)?;
    }
    if let Some(Scanned::Volume(v)) = &scanned {
        last_scan_without_move(&written, v, &decision)?;
    }
    persist_station(c, &station, &decision, now)?;
    Ok(answer)
}

/// A scan id already recorded: the answer it got, the same again; from another station, a
/// conflict.
fn replay(c: &Connection, input: &ScanInput, scan_id: &str) -> Result<Option<ScanAnswer>> {
    let earlier = c
        .prepare_cached(
            "SELECT s.station_id, s.value, a.response, s.scan_seq, s.accepted, s.action, s.received_at
             FROM scan s LEFT JOIN scan_answer a ON a.scan_seq = s.scan_seq WHERE s.scan_id=?",
        )?
        .query_row([scan_id], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                r.get::<_, Option<String>>(2)?,
                (r.get::<_, i64>(3)?, r.get::<_, bool>(4)?),
                (r.get::<_, String>(5)?, r.get::<_, String>(6)?),
            ))
        })
        .optional()?;
    let Some(((station, value), response, (seq, accepted), (action, received))) = earlier else {
        return Ok(None);
    };
    if station != input.station {
        return Err(StoreError::Conflict(format!(
            "scan id {scan_id} was already used by another station"
        )));
    }
    // The same id is the same scan delivered again only if it carries the same value (as it
    // was recorded: normalised, or as printed when it could not be read).
    let this = normalise_line(&input.line).unwrap_or_else(|_| printable(&input.line));
    if this != value {
        return Err(StoreError::Conflict(format!(
            "scan id {scan_id} was already used for another barcode"
        )));
    }
    match response {
        Some(response) => Ok(Some(serde_json::from_str(&response)?)),
        None => {
            let recorded = Recorded {
                scan_id,
                seq,
                station: &station,
                value: &value,
                accepted,
                action,
                received: &received,
            };
            Ok(Some(recorded.answer_again(c)?))
        }
    }
}

/// A scan whose whole answer was dropped ([`ANSWER_KEPT`]), as its row tells it.
struct Recorded<'a> {
    scan_id: &'a str,
    seq: i64,
    station: &'a str,
    value: &'a str,
    accepted: bool,
    action: String,
    received: &'a str,
}

impl Recorded<'_> {
    /// Its answer told again from what is kept: the outcome, when, and what moved (its
    /// volume's movements by this scan, from the volume's index); the words of the first
    /// answer are gone.
    fn answer_again(self, c: &Connection) -> Result<ScanAnswer> {
        let mode: String = c
            .prepare_cached("SELECT mode FROM station WHERE station_id = ?1")?
            .query_row([self.station], |r| r.get(0))?;
        let moved: i64 = c
            .prepare_cached(
                "SELECT count(*) FROM volume v JOIN movement m ON m.volume_id = v.volume_id
                 WHERE v.barcode = ?1 AND m.scan_seq = ?2",
            )?
            .query_row(params![self.value, self.seq], |r| r.get(0))?;
        let at = DateTime::parse_from_rfc3339(self.received)
            .map_err(|e| StoreError::Internal(format!("a scan's time: {e}")))?
            .with_timezone(&Utc);
        Ok(ScanAnswer {
            scan_id: self.scan_id.to_owned(),
            accepted: self.accepted,
            message: format!(
                "this scan was recorded on {} ({}); nothing more was done",
                stamp(at),
                if self.accepted { "accepted" } else { "refused" }
            ),
            action: self.action,
            warnings: vec![],
            station: self.station.to_owned(),
            mode: mode.parse().map_err(|_| {
                StoreError::Internal(format!("station {} has an unknown mode", self.station))
            })?,
            at,
            moved: moved as usize,
            volume: None,
            requests: vec![],
            restricted: false,
            shelve_at: None,
        })
    }
}

/// Read the line and decide it: a line that cannot be read is refused as it is; otherwise it
/// is classified, the station's open stocktake read when deciding needs it, and the engine
/// asked. Returns the value recorded, what it was, and the decision.
fn decide_line(
    c: &Connection,
    input: &ScanInput,
    station: &mut StationFacts,
    now: DateTime<Utc>,
    settings: &engine::Settings,
) -> Result<(String, Option<Scanned>, Decision)> {
    let value = match normalise_line(&input.line) {
        Ok(value) => value,
        Err(refusal) => {
            let d = Decision {
                accepted: false,
                action: "unreadable",
                message: format!("not read: {refusal}"),
                warnings: vec![],
                effects: vec![],
                memory: station.memory.clone(),
                mode: station.mode,
                shelve_at: None,
            };
            return Ok((printable(&input.line), None, d));
        }
    };
    let scanned = classify(c, &value)?;
    if needs_stocktake(station.mode, &scanned) {
        let volume = match &scanned {
            Scanned::Volume(v) => Some(v.id),
            _ => None,
        };
        station.stocktake = stocktake_facts(c, &station.id, volume)?;
    }
    let d = engine::decide(station, &scanned, input.user.as_ref(), now, settings);
    Ok((value, Some(scanned), d))
}

/// The station's answer, worked out from the decision (nothing is read back).
fn answer(
    c: &Connection,
    scan_id: String,
    station: &StationFacts,
    scanned: Option<&Scanned>,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<ScanAnswer> {
    let moved = decision
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Move(_)))
        .count();
    let volume = match scanned {
        Some(Scanned::Volume(v)) => Some(volume_brief(c, v, decision, station)?),
        _ => None,
    };
    let requests = decision
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Request { request, status } => Some(RequestNote {
                id: request.id,
                barcode: request.barcode.clone(),
                status: *status,
                location: request.location.code.clone(),
            }),
            _ => None,
        })
        .collect();
    let restricted = match scanned {
        Some(Scanned::Volume(v)) => v.restricted,
        Some(Scanned::Report(r)) => r.restricted,
        Some(Scanned::Container(_, inside)) => inside.iter().any(|v| v.restricted),
        _ => false,
    };
    Ok(ScanAnswer {
        requests,
        restricted,
        scan_id,
        accepted: decision.accepted,
        action: decision.action.to_owned(),
        message: decision.message.clone(),
        warnings: decision.warnings.clone(),
        station: station.id.clone(),
        mode: decision.mode,
        at: now,
        moved,
        volume,
        shelve_at: decision.shelve_at.clone(),
    })
}

/// The scan row, with its answer. Returns its `scan_seq`.
fn record_scan(
    c: &Connection,
    input: &ScanInput,
    user_id: Option<i64>,
    value: &str,
    answer: &ScanAnswer,
    now: DateTime<Utc>,
) -> Result<i64> {
    c.prepare_cached(
        "INSERT INTO scan (scan_id, station_id, user_id, value, received_at, scanned_at, accepted, action)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        answer.scan_id,
        answer.station,
        user_id,
        value,
        stamp(now),
        input.scanned_at.map(stamp),
        answer.accepted,
        answer.action,
    ])?;
    let seq = c.last_insert_rowid();
    c.prepare_cached("INSERT INTO scan_answer (scan_seq, response) VALUES (?1, ?2)")?
        .execute(params![seq, serde_json::to_string(answer)?])?;
    Ok(seq)
}

/// How long a scan's whole answer is kept for a resend of its id: an agent's queue is believed
/// for [`CLOCK_BEHIND`]; a day more for one delivered at the edge of it.
pub const ANSWER_KEPT: chrono::Duration = chrono::Duration::days(31);

/// Drop at most `limit` answers of scans received before `before` (the scans themselves stay);
/// returns how many went. Called in small batches so no batch of scans waits behind it.
pub fn prune_answers(c: &Connection, before: DateTime<Utc>, limit: u32) -> Result<usize> {
    // None: every scan is older, and all their answers may go.
    let cut = first_received_since(c, &stamp(before))?.unwrap_or(i64::MAX);
    Ok(c.prepare_cached(
        "DELETE FROM scan_answer WHERE scan_seq IN
            (SELECT scan_seq FROM scan_answer WHERE scan_seq < ?1 ORDER BY scan_seq LIMIT ?2)",
    )?
    .execute(params![cut, limit])?)
}

/// The first scan (by `scan_seq`) received at or after `at`: scans are numbered as the writer
/// receives them, so a search by halves over the numbers finds it in about 25 reads, without an
/// index on the time (39 bytes a movement at a million charts). A clock set back makes the
/// answer a little early or late, never wrong by more than the step.
fn first_received_since(c: &Connection, at: &str) -> Result<Option<i64>> {
    let mut at_or_after = c.prepare_cached(
        "SELECT scan_seq, received_at FROM scan WHERE scan_seq >= ?1 ORDER BY scan_seq LIMIT 1",
    )?;
    let mut seq_at = |seq: i64| -> Result<Option<(i64, String)>> {
        Ok(at_or_after
            .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    };
    // f(x): the time of the first scan numbered x or more; it grows with x. The answer is the
    // first scan at or after the smallest x with f(x) >= at.
    let Some((first, when)) = seq_at(i64::MIN)? else {
        return Ok(None);
    };
    if when.as_str() >= at {
        return Ok(Some(first));
    }
    let newest: i64 = c.query_row("SELECT max(scan_seq) FROM scan", [], |r| r.get(0))?;
    let (mut lo, mut hi) = (first, newest + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match seq_at(mid)? {
            Some((_, when)) if when.as_str() < at => lo = mid,
            _ => hi = mid,
        }
    }
    Ok(if hi > newest {
        None
    } else {
        seq_at(hi)?.map(|(seq, _)| seq)
    })
}

/// Any accepted scan of a volume is its last scan, even one that moved nothing (a movement
/// already said so).
fn last_scan_without_move(w: &Written, v: &VolumeFacts, decision: &Decision) -> Result<()> {
    let moved_it = decision
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Move(m) if m.volume_id == v.id));
    if decision.accepted && !moved_it {
        w.c.prepare_cached(
            "UPDATE volume_state SET last_scan_at=?2, last_station_id=?3, last_user_id=?4, last_location_id=?5 WHERE volume_id=?1",
        )?
        .execute(params![v.id, w.at, w.station.id, w.user_id, w.station.location.id])?;
    }
    Ok(())
}

/// The station's mode and memory after the scan, in the same transaction.
fn persist_station(
    c: &Connection,
    station: &StationFacts,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<()> {
    c.prepare_cached("UPDATE station SET mode=?2, memory=?3, last_scan_at=?4 WHERE station_id=?1")?
        .execute(params![
            station.id,
            decision.mode.as_str(),
            serde_json::to_string(&decision.memory)?,
            stamp(now)
        ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cut, in a numbering with gaps (rolled-back batches leave them): the first scan at
    /// or after it, as a read of every row would say.
    #[test]
    fn the_search_by_halves_finds_the_first_scan_at_or_after_a_time() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE scan (scan_seq INTEGER PRIMARY KEY, received_at TEXT NOT NULL)",
        )
        .unwrap();
        assert_eq!(first_received_since(&c, "2026-01-01").unwrap(), None);
        let mut seq = 0;
        for day in 1..=28 {
            for hour in [3, 9, 15] {
                seq += if (day + hour) % 5 == 0 { 4 } else { 1 };
                c.execute(
                    "INSERT INTO scan VALUES (?1, ?2)",
                    params![seq, format!("2026-02-{day:02}T{hour:02}:00:00Z")],
                )
                .unwrap();
            }
        }
        for day in 0..=30 {
            for hour in [0, 3, 4, 15, 23] {
                let at = format!("2026-02-{day:02}T{hour:02}:00:00Z");
                let every: Option<i64> = c
                    .query_row(
                        "SELECT min(scan_seq) FROM scan WHERE received_at >= ?1",
                        [&at],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(first_received_since(&c, &at).unwrap(), every, "{at}");
            }
        }
    }
}
