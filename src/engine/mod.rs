//! The station state machine: given what a station remembers, what was scanned and the time,
//! decide what happens. Pure logic, no I/O: the store gathers the facts, calls [`decide`],
//! and commits the [`Decision`]'s effects in one transaction.
//!
//! This file holds the public types and [`decide`], which dispatches by what was scanned and,
//! for a volume, by the station's mode. The workflows live beside it:
//! - `memory`: modes and memory (badge, destination, mode commands, cancel, done);
//! - `moves`: check-out (and packing), receive, check-in, transfer, containers, found;
//! - `requests`: request slips, pull, deliver, not found, do-not-shelve;
//! - `reports`: loose reports received (routed) and filed;
//! - `stocktake`: inventory counting and misfiles (wrong section, out of order), with `order`
//!   judging terminal-digit order over the run counted so far.

use crate::domain::{
    Command, LocationKind, Mode, MoveAction, Mrn, Priority, RequestStatus, Status, TerminalDigit,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod audit_tests;
#[cfg(test)]
mod desk_tests;
mod memory;
mod moves;
mod order;
#[cfg(test)]
mod proptests;
mod reports;
mod requests;
mod stocktake;
#[cfg(test)]
mod tests;

/// How long a station remembers, and the duplicate window.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Badge, destination and pending report are forgotten after this long without use.
    pub memory: Duration,
    /// The same volume scanned again at the same station within this is one movement.
    pub duplicate_window: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory: Duration::seconds(300),
            duplicate_window: Duration::seconds(5),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocRef {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    /// For a shelf section: the inclusive range of terminal (last-two) digits filed there.
    pub terminal: Option<(u8, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRef {
    pub id: i64,
    pub barcode: String,
    pub patient_id: i64,
    pub filed: bool,
    /// Its clock has started (a receive scan in the records department).
    #[serde(default)]
    pub received: bool,
    /// Where the patient's volumes are, for routing the report (not kept in memory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeWhere>,
    /// The patient is restricted (VIP, behavioural health). The engine does not look at it;
    /// the answer carries it so the live feeds hide the report's routing from the unauthorised.
    #[serde(default)]
    pub restricted: bool,
}

/// Where one of a patient's volumes is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeWhere {
    pub barcode: String,
    pub status: Status,
    pub location: LocRef,
    pub destination: Option<LocRef>,
}

/// An open or pulled request: someone wants this volume at `location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRef {
    pub id: i64,
    /// The slip's barcode.
    pub barcode: String,
    pub volume_id: i64,
    pub volume_barcode: String,
    pub location: LocRef,
    pub priority: Priority,
    pub status: RequestStatus,
}

/// What a stocktake covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One location (a shelf section, usually).
    Location(LocRef),
    /// Every shelf holding these terminal digits (inclusive).
    Terminal(u8, u8),
}

/// A volume already counted in a stocktake, with its filing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub volume_id: i64,
    pub barcode: String,
    pub key: TerminalDigit,
    /// Already named out of terminal-digit order in this stocktake.
    pub misfiled: bool,
}

/// The station's open stocktake, as far as this scan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StocktakeFacts {
    pub id: i64,
    pub scope: Scope,
    /// The run judged for terminal-digit order: the volumes counted so far in this stocktake,
    /// in scan order, less those named for a wrong section (the store bounds it, see
    /// `store::scan::RUN_LIMIT`).
    pub run: Vec<Counted>,
    /// Whether the scanned volume is on the frozen expected list, and already counted.
    pub this_expected: bool,
    pub this_counted: bool,
    pub expected: u32,
    pub expected_seen: u32,
    pub corrected: u32,
}

/// What the store knows about a volume at the moment of the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFacts {
    pub id: i64,
    pub barcode: String,
    pub patient_id: i64,
    pub mrn: Mrn,
    pub home: LocRef,
    pub status: Status,
    pub location: LocRef,
    pub destination: Option<LocRef>,
    pub container: Option<i64>,
    /// Loose reports registered for this patient and not yet filed.
    pub waiting_reports: u32,
    /// Requests for this volume still open or pulled.
    pub requests: Vec<RequestRef>,
    /// The patient is restricted (VIP, behavioural health). The engine does not look at it;
    /// the answer carries it so the live feeds hide the chart's whereabouts from the unauthorised.
    pub restricted: bool,
}

/// A value remembered by a station, with when it was last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered<T> {
    pub value: T,
    pub at: DateTime<Utc>,
}

/// A station's short memory; persisted with the station in the same transaction as the scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    pub badge: Option<Remembered<UserRef>>,
    /// In transfer mode, the second badge: who receives the volume.
    pub receiver: Option<Remembered<UserRef>>,
    /// Where volumes go (a location) or what they are packed into (a container).
    pub target: Option<Remembered<LocRef>>,
    /// In file mode, the loose report waiting for its volume.
    pub report: Option<Remembered<ReportRef>>,
    /// The last volume scanned, for the duplicate window.
    pub last_volume: Option<Remembered<i64>>,
    /// A request slip scanned: the next volume fills it, or CMD-NOTFOUND ends it.
    #[serde(default)]
    pub request: Option<Remembered<RequestRef>>,
}

impl Memory {
    /// Forget what is older than `ttl` (the duplicate marker has its own window).
    pub fn expire(mut self, now: DateTime<Utc>, ttl: Duration) -> Self {
        fn keep<T>(
            r: Option<Remembered<T>>,
            now: DateTime<Utc>,
            ttl: Duration,
        ) -> Option<Remembered<T>> {
            r.filter(|r| now - r.at <= ttl && r.at <= now + Duration::seconds(60))
        }
        self.badge = keep(self.badge, now, ttl);
        self.receiver = keep(self.receiver, now, ttl);
        self.target = keep(self.target, now, ttl);
        self.report = keep(self.report, now, ttl);
        self.request = keep(self.request, now, ttl);
        self
    }

    /// Forget where volumes were going and what was half done (a mode change, CMD-CANCEL).
    fn clear_work(&mut self) {
        self.target = None;
        self.report = None;
        self.receiver = None;
        self.request = None;
    }
}

#[derive(Debug, Clone)]
pub struct StationFacts {
    pub id: String,
    pub location: LocRef,
    pub mode: Mode,
    pub memory: Memory,
    /// The station's open stocktake (gathered in inventory mode and for CMD-DONE).
    pub stocktake: Option<StocktakeFacts>,
}

/// What a scanned value turned out to be.
#[derive(Debug, Clone)]
pub enum Scanned {
    Volume(VolumeFacts),
    Report(ReportRef),
    Location(LocRef),
    /// A container and the volumes riding in it.
    Container(LocRef, Vec<VolumeFacts>),
    Badge(UserRef),
    /// A request slip.
    Request(RequestRef),
    Command(Command),
    /// Nothing known has this value. `misread` when it has the shape of a barcode chartrack
    /// issues but its check character is wrong.
    Unknown {
        value: String,
        misread: bool,
    },
}

/// Whether a move changes the container a volume rides in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerChange {
    Keep,
    Set(i64),
    Clear,
}

/// One movement of one volume and the volume's new current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub volume_id: i64,
    pub action: MoveAction,
    pub from: i64,
    pub to: i64,
    pub status: Status,
    /// The volume's current location afterwards (for a check-out: where it left from).
    pub location: i64,
    pub destination: Option<i64>,
    pub container: ContainerChange,
    pub user: Option<i64>,
    /// In a transfer, who received it.
    pub receiver: Option<i64>,
    /// The request this move pulls or delivers.
    pub request: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Move(Move),
    FileReport {
        report_id: i64,
        volume_id: i64,
    },
    /// Every volume riding in the container leaves it.
    EmptyContainer {
        container_id: i64,
    },
    /// Keep the value for a supervisor to resolve.
    Exception {
        kind: &'static str,
        value: String,
    },
    /// The request moves on: pulled (checked out toward its location), delivered, or not found.
    Request {
        request: RequestRef,
        status: RequestStatus,
    },
    /// A volume marked missing has been scanned: the mark is closed with where it turned up.
    Found {
        volume_id: i64,
    },
    /// A loose report's receive scan: its clock starts (once); routed to its volume's floor.
    ReceiveReport {
        report_id: i64,
        routed_to: Option<i64>,
    },
    /// Open a stocktake of this location for the station and freeze its expected list.
    OpenStocktake {
        location_id: i64,
    },
    /// Count a volume in the station's stocktake (the one open, or opened by this scan).
    Count {
        volume_id: i64,
        expected: bool,
        result: &'static str,
    },
    /// A misfile found on the shelves.
    Misfile {
        volume_id: i64,
        location_id: i64,
        kind: &'static str,
    },
    /// End the stocktake: what was expected and not seen stays a candidate, never marked missing.
    CloseStocktake {
        stocktake_id: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub accepted: bool,
    pub action: &'static str,
    pub message: String,
    pub warnings: Vec<String>,
    pub effects: Vec<Effect>,
    pub memory: Memory,
    pub mode: Mode,
    /// A volume checked in to go back on its shelf: the home section's code, which the station
    /// shows large ("Shelve at FR-20-39"); none when it must not be shelved.
    pub shelve_at: Option<String>,
}

impl Decision {
    fn new(station: &StationFacts, memory: Memory) -> Self {
        Decision {
            accepted: true,
            action: "",
            message: String::new(),
            warnings: Vec::new(),
            effects: Vec::new(),
            memory,
            mode: station.mode,
            shelve_at: None,
        }
    }
    fn ok(mut self, action: &'static str, message: impl Into<String>) -> Self {
        self.accepted = true;
        self.action = action;
        self.message = message.into();
        self
    }
    fn refuse(mut self, action: &'static str, message: impl Into<String>) -> Self {
        self.accepted = false;
        self.action = action;
        self.message = message.into();
        self.effects.clear();
        self.shelve_at = None;
        self
    }
}

/// Decide what a scan does. `user` is the signed-in user behind the request, when there is one
/// (a browser page or a user token); a badge scanned at the station takes precedence.
pub fn decide(
    station: &StationFacts,
    scanned: &Scanned,
    user: Option<&UserRef>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Decision {
    let memory = station.memory.clone().expire(now, settings.memory);
    let d = Decision::new(station, memory);
    let d = match scanned {
        Scanned::Command(c) => memory::command(d, station, *c),
        Scanned::Badge(u) => memory::badge(d, station, u, now),
        Scanned::Request(r) => requests::request_slip(d, station, r, now),
        Scanned::Location(l) => memory::location(d, station, l, now),
        Scanned::Container(c, contents) => moves::container(d, station, c, contents, user, now),
        Scanned::Report(r) => reports::report(d, station, r, now),
        Scanned::Volume(v) => volume(d, station, v, user, now, settings),
        Scanned::Unknown { value, misread } => unknown(d, value, *misread),
    };
    forget_filled_slip(d)
}

/// A remembered request slip is used up once this scan has moved its request on (pulled,
/// delivered, not found): a later CMD-NOTFOUND must not end it again.
fn forget_filled_slip(mut d: Decision) -> Decision {
    let filled = d.memory.request.as_ref().is_some_and(|slip| {
        d.effects
            .iter()
            .any(|e| matches!(e, Effect::Request { request, .. } if request.id == slip.value.id))
    });
    if filled {
        d.memory.request = None;
    }
    d
}

/// Nothing known has this value: refused, and kept for a supervisor to resolve.
fn unknown(d: Decision, value: &str, misread: bool) -> Decision {
    let (kind, msg) = if misread {
        (
            "misread",
            "misread: the check character is wrong; scan again or type it carefully",
        )
    } else {
        (
            "unknown_barcode",
            "unknown barcode: kept for a supervisor to resolve",
        )
    };
    let mut d = d.refuse("unknown", msg);
    d.effects.push(Effect::Exception {
        kind,
        value: value.to_owned(),
    });
    d
}

/// Who is moving the volume: the badge scanned at the station, else the signed-in user.
fn user_id(d: &Decision, user: Option<&UserRef>) -> Option<i64> {
    d.memory
        .badge
        .as_ref()
        .map(|b| b.value.id)
        .or(user.map(|u| u.id))
}

/// A volume scanned: one movement by the station's mode (a repeat within the duplicate window
/// is one movement); any scan of a missing volume also records where it turned up.
fn volume(
    mut d: Decision,
    station: &StationFacts,
    v: &VolumeFacts,
    user: Option<&UserRef>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Decision {
    if let Some(last) = &d.memory.last_volume {
        if last.value == v.id && now >= last.at && now - last.at <= settings.duplicate_window {
            d.memory.last_volume = Some(Remembered {
                value: v.id,
                at: now,
            });
            return d.ok(
                "duplicate",
                format!("{} already recorded (scanned twice)", v.barcode),
            );
        }
    }
    let uid = user_id(&d, user);
    let d = match station.mode {
        Mode::CheckOut => moves::check_out(d, v, uid, now),
        Mode::CheckIn => moves::check_in(d, station, v, uid),
        Mode::Receive => moves::receive(d, station, v, uid),
        Mode::Transfer => moves::transfer(d, station, v, uid, now),
        Mode::File => reports::file_into(d, v),
        Mode::Inventory => stocktake::inventory(d, station, v, uid),
    };
    let mut d = moves::found_anyway(d, station, v, uid);
    if d.accepted {
        d.memory.last_volume = Some(Remembered {
            value: v.id,
            at: now,
        });
        if let Some(b) = d.memory.badge.as_mut() {
            b.at = now;
        }
    }
    d
}
