//! `chartrack check`: each volume's current state (`volume_state`) recomputed from the ledger
//! and compared with what is stored. The movements are the truth; `volume_state` is a cache the
//! scan path keeps in the same transaction. A difference means the cache was changed around the
//! scan path (by hand, or by a bug), and the volume is named with each field that differs.
//!
//! How each field is recomputed, as the scan path writes it (`scan::effects::movement`,
//! `scan::last_scan_without_move`, `missing::mark`, `admin::create_volume`):
//! - A new volume is on its home shelf since it was registered.
//! - Each movement, in commit order (`movement_id`), sets status, location, destination and
//!   container by its action: a check-out is in transit from where it was (`from_id`) to
//!   `to_id`, keeping its container when the scan was of the container, else leaving it; a
//!   pack is at the container, inside it; a check-in is on its shelf; a transfer is at `to_id`;
//!   a receive, an inventory correction and a found volume are on the shelf when `to_id` is
//!   their home, else at that location. `since` moves to the movement's time when status or
//!   location changed. The `last_*` fields are the movement's.
//! - A supervisor's missing mark sets status `missing` and `since` to when it was marked. It
//!   is placed in the order by its found scan (before it), else by time: before the first
//!   movement whose scan was received after it was marked.
//! - An accepted scan of the volume that moved nothing (a duplicate, a stocktake count, a
//!   chart scanned at a filing station) is its last scan when it is newer than its last
//!   movement: `last_scan_at`, `last_station_id`, `last_user_id` are the scan's.
//!
//! Not checked: `last_location_id`, the location of the station *when* it scanned. Neither the
//! scan nor the movement records it, and a station moved since would make an honest database
//! differ.
//!
//! One read transaction, four streams read in volume order side by side (volumes with their
//! state; movements by the `movement_volume` index; missing marks; each volume's newest
//! accepted scan): no query per volume.

use super::Result;
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::iter::Peekable;

/// A field of one volume whose stored value is not what its movements say.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub barcode: String,
    pub field: &'static str,
    pub stored: String,
    pub recomputed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} is {}, its movements say {}",
            self.barcode, self.field, self.stored, self.recomputed
        )
    }
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub volumes: u64,
    pub movements: u64,
    /// Volumes with at least one difference.
    pub differing: u64,
    /// The differences, the first [`MAX_LISTED`] of them.
    pub differences: Vec<Difference>,
}

/// At most this many differences are listed (the count is always whole).
pub const MAX_LISTED: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
struct State {
    status: String,
    location: Option<i64>,
    destination: Option<i64>,
    container: Option<i64>,
    since: String,
    last_movement: Option<i64>,
    last_scan_at: Option<String>,
    last_station: Option<String>,
    last_user: Option<i64>,
}

struct VolumeRow {
    id: i64,
    barcode: String,
    home: i64,
    created_at: String,
    stored: Option<State>,
}

struct MovementRow {
    volume: i64,
    id: i64,
    scan_seq: i64,
    action: String,
    from: Option<i64>,
    to: Option<i64>,
    at: String,
    station: String,
    user: Option<i64>,
    /// What the scan that made it read (a container's barcode, for a container's contents).
    value: String,
    received_at: String,
}

struct MarkRow {
    volume: i64,
    marked_at: String,
    found_seq: Option<i64>,
}

struct ScanRow {
    volume: i64,
    seq: i64,
    at: String,
    station: String,
    user: Option<i64>,
}

/// Take the rows of `it` that belong to `volume` (the streams are ordered by volume).
fn take_for<T>(
    it: &mut Peekable<impl Iterator<Item = rusqlite::Result<T>>>,
    volume: i64,
    of: impl Fn(&T) -> i64,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    loop {
        match it.peek() {
            Some(Ok(r)) if of(r) < volume => {
                // Rows for a volume that does not exist: the foreign keys forbid it; skip.
                it.next();
            }
            Some(Ok(r)) if of(r) == volume => out.push(it.next().expect("peeked")?),
            Some(Err(_)) => {
                it.next().expect("peeked")?;
            }
            _ => return Ok(out),
        }
    }
}

/// Recompute every volume's state from the ledger and compare it with the stored state.
pub fn volumes(c: &Connection) -> Result<Checked> {
    let tx = c.unchecked_transaction()?;
    let places = names(c, "SELECT location_id, code FROM location")?;
    let people = names(c, "SELECT user_id, name FROM app_user")?;
    let mut vols = c.prepare(
        "SELECT v.volume_id, v.barcode, v.home_id, v.created_at, s.volume_id IS NOT NULL, s.status,
                s.location_id, s.destination_id, s.container_id, s.since, s.last_movement_id,
                s.last_scan_at, s.last_station_id, s.last_user_id
         FROM volume v LEFT JOIN volume_state s ON s.volume_id = v.volume_id ORDER BY v.volume_id",
    )?;
    let mut vols = vols
        .query_map([], |r| {
            Ok(VolumeRow {
                id: r.get(0)?,
                barcode: r.get(1)?,
                home: r.get(2)?,
                created_at: r.get(3)?,
                stored: if r.get(4)? {
                    Some(State {
                        status: r.get(5)?,
                        location: r.get(6)?,
                        destination: r.get(7)?,
                        container: r.get(8)?,
                        since: r.get(9)?,
                        last_movement: r.get(10)?,
                        last_scan_at: r.get(11)?,
                        last_station: r.get(12)?,
                        last_user: r.get(13)?,
                    })
                } else {
                    None
                },
            })
        })?
        .peekable();
    let mut moves = c.prepare(
        "SELECT m.volume_id, m.movement_id, m.scan_seq, m.action, m.from_id, m.to_id, m.at,
                m.station_id, m.user_id, s.value, s.received_at
         FROM movement m INDEXED BY movement_volume JOIN scan s ON s.scan_seq = m.scan_seq
         ORDER BY m.volume_id, m.movement_id",
    )?;
    let mut moves = moves
        .query_map([], |r| {
            Ok(MovementRow {
                volume: r.get(0)?,
                id: r.get(1)?,
                scan_seq: r.get(2)?,
                action: r.get(3)?,
                from: r.get(4)?,
                to: r.get(5)?,
                at: r.get(6)?,
                station: r.get(7)?,
                user: r.get(8)?,
                value: r.get(9)?,
                received_at: r.get(10)?,
            })
        })?
        .peekable();
    let mut marks = c.prepare(
        "SELECT volume_id, marked_at, found_scan_seq FROM missing_mark ORDER BY volume_id, mark_id",
    )?;
    let mut marks = marks
        .query_map([], |r| {
            Ok(MarkRow {
                volume: r.get(0)?,
                marked_at: r.get(1)?,
                found_seq: r.get(2)?,
            })
        })?
        .peekable();
    // Each volume's newest accepted scan of its own barcode (SQLite takes the other columns
    // from the row that has the max).
    let mut scans = c.prepare(
        "SELECT v.volume_id, max(s.scan_seq), coalesce(s.scanned_at, s.received_at), s.station_id, s.user_id
         FROM scan s JOIN volume v ON v.barcode = s.value
         WHERE s.accepted GROUP BY v.volume_id ORDER BY v.volume_id",
    )?;
    let mut scans = scans
        .query_map([], |r| {
            Ok(ScanRow {
                volume: r.get(0)?,
                seq: r.get(1)?,
                at: r.get(2)?,
                station: r.get(3)?,
                user: r.get(4)?,
            })
        })?
        .peekable();

    let mut out = Checked::default();
    let place = |id: Option<i64>| match id {
        None => "none".to_owned(),
        Some(id) => places
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("location {id}")),
    };
    let person = |id: Option<i64>| match id {
        None => "none".to_owned(),
        Some(id) => people
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("user {id}")),
    };
    let text = |t: &Option<String>| t.clone().unwrap_or_else(|| "none".to_owned());
    for v in vols.by_ref() {
        let v = v?;
        out.volumes += 1;
        let ms = take_for(&mut moves, v.id, |m| m.volume)?;
        let mk = take_for(&mut marks, v.id, |m| m.volume)?;
        let sc = take_for(&mut scans, v.id, |s| s.volume)?;
        out.movements += ms.len() as u64;
        let (want, bad) = recompute(&v, &ms, &mk, sc.first());
        let mut found: Vec<Difference> = bad
            .into_iter()
            .map(|(field, stored, recomputed)| Difference {
                barcode: v.barcode.clone(),
                field,
                stored,
                recomputed,
            })
            .collect();
        let diff = |field: &'static str, stored: String, recomputed: String| Difference {
            barcode: v.barcode.clone(),
            field,
            stored,
            recomputed,
        };
        match &v.stored {
            None => found.push(diff(
                "state",
                "missing (no volume_state row)".into(),
                want.status.clone(),
            )),
            Some(s) => {
                if s.status != want.status {
                    found.push(diff("status", s.status.clone(), want.status.clone()));
                }
                if s.location != want.location {
                    found.push(diff("location", place(s.location), place(want.location)));
                }
                if s.destination != want.destination {
                    found.push(diff(
                        "destination",
                        place(s.destination),
                        place(want.destination),
                    ));
                }
                if s.container != want.container {
                    found.push(diff("container", place(s.container), place(want.container)));
                }
                if s.since != want.since {
                    found.push(diff("since", s.since.clone(), want.since.clone()));
                }
                if s.last_movement != want.last_movement {
                    let id = |m: Option<i64>| m.map_or("none".into(), |m| format!("movement {m}"));
                    found.push(diff(
                        "last_movement_id",
                        id(s.last_movement),
                        id(want.last_movement),
                    ));
                }
                if s.last_scan_at != want.last_scan_at {
                    found.push(diff(
                        "last_scan_at",
                        text(&s.last_scan_at),
                        text(&want.last_scan_at),
                    ));
                }
                if s.last_station != want.last_station {
                    found.push(diff(
                        "last_station_id",
                        text(&s.last_station),
                        text(&want.last_station),
                    ));
                }
                if s.last_user != want.last_user {
                    found.push(diff(
                        "last_user_id",
                        person(s.last_user),
                        person(want.last_user),
                    ));
                }
            }
        }
        if !found.is_empty() {
            out.differing += 1;
            let room = MAX_LISTED.saturating_sub(out.differences.len());
            out.differences.extend(found.into_iter().take(room));
        }
    }
    drop((vols, moves, marks, scans));
    tx.commit()?;
    Ok(out)
}

fn names(c: &Connection, sql: &str) -> Result<HashMap<i64, String>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One volume's state from its movements, marks and newest accepted scan; and the rows that
/// could not be read as the scan path writes them (field, what is there, what was expected).
fn recompute(
    v: &VolumeRow,
    moves: &[MovementRow],
    marks: &[MarkRow],
    newest_scan: Option<&ScanRow>,
) -> (State, Vec<(&'static str, String, String)>) {
    let mut s = State {
        status: "on_shelf".into(),
        location: Some(v.home),
        destination: None,
        container: None,
        since: v.created_at.clone(),
        last_movement: None,
        last_scan_at: None,
        last_station: None,
        last_user: None,
    };
    let mut bad = Vec::new();
    let mut marks = marks.iter().peekable();
    let mark = |s: &mut State, m: &MarkRow| {
        s.status = "missing".into();
        s.since = m.marked_at.clone();
    };
    let mut last_move_seq = None;
    for m in moves {
        while let Some(k) = marks.next_if(|k| {
            k.found_seq.is_some_and(|f| f <= m.scan_seq) || k.marked_at < m.received_at
        }) {
            mark(&mut s, k);
        }
        let Some(to) = m.to else {
            bad.push((
                "movement",
                format!("movement {} without a destination", m.id),
                "one".into(),
            ));
            continue;
        };
        let at_home = |to: i64| {
            if to == v.home {
                "on_shelf"
            } else {
                "at_location"
            }
        };
        // (status, location, destination, container: None = keep, Some(c) = set to c)
        let (status, location, destination, container) = match m.action.as_str() {
            "check-out" => {
                let keep = m.value != v.barcode;
                let container = if keep { None } else { Some(None) };
                ("in_transit", m.from, Some(to), container)
            }
            "pack" => ("at_location", Some(to), None, Some(Some(to))),
            "check-in" => ("on_shelf", Some(to), None, Some(None)),
            "transfer" => ("at_location", Some(to), None, Some(None)),
            "receive" | "inventory" | "found" => (at_home(to), Some(to), None, Some(None)),
            other => {
                bad.push((
                    "movement",
                    format!("movement {} with the action '{other}'", m.id),
                    "an action chartrack writes".into(),
                ));
                continue;
            }
        };
        if s.status != status || s.location != location {
            s.since = m.at.clone();
        }
        s.status = status.into();
        s.location = location;
        s.destination = destination;
        if let Some(c) = container {
            s.container = c;
        }
        s.last_movement = Some(m.id);
        s.last_scan_at = Some(m.at.clone());
        s.last_station = Some(m.station.clone());
        s.last_user = m.user;
        last_move_seq = Some(m.scan_seq);
    }
    for k in marks {
        mark(&mut s, k);
    }
    if let Some(sc) = newest_scan {
        if last_move_seq.is_none_or(|seq| sc.seq > seq) {
            s.last_scan_at = Some(sc.at.clone());
            s.last_station = Some(sc.station.clone());
            s.last_user = sc.user;
        }
    }
    (s, bad)
}
