//! The station state machine: given what a station remembers, what was scanned and the time,
//! decide what happens. Pure logic, no I/O: the store gathers the facts, calls [`decide`],
//! and commits the [`Decision`]'s effects in one transaction.

use crate::domain::{
    Command, LocationKind, Mode, MoveAction, Mrn, Priority, RequestStatus, Status, TerminalDigit,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

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
}

/// The station's open stocktake, as far as this scan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StocktakeFacts {
    pub id: i64,
    pub scope: Scope,
    /// The last two volumes counted, most recent last (for the terminal-digit order check).
    pub previous: Vec<Counted>,
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
    match scanned {
        Scanned::Command(c) => command(d, station, *c),
        Scanned::Badge(u) => badge(d, station, u, now),
        Scanned::Request(r) => request_slip(d, station, r, now),
        Scanned::Location(l) => location(d, station, l, now),
        Scanned::Container(c, contents) => container(d, station, c, contents, user, now),
        Scanned::Report(r) => report(d, station, r, now),
        Scanned::Volume(v) => volume(d, station, v, user, now, settings),
        Scanned::Unknown { value, misread } => {
            let (kind, msg) = if *misread {
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
                value: value.clone(),
            });
            d
        }
    }
}

fn command(mut d: Decision, station: &StationFacts, c: Command) -> Decision {
    if let Some(mode) = c.mode() {
        d.mode = mode;
        d.memory.clear_work();
        let mut d = d.ok("mode", format!("{}: mode is now {mode}", station.id));
        if let (Mode::Inventory, Some(t)) = (mode, &station.stocktake) {
            d.message += &format!(
                "; the stocktake of {} is still open ({} of {} expected counted)",
                scope_words(&t.scope),
                t.expected_seen,
                t.expected
            );
        }
        return d;
    }
    match c {
        Command::Done => {
            d.memory = Memory::default();
            match &station.stocktake {
                Some(t) => {
                    d.effects
                        .push(Effect::CloseStocktake { stocktake_id: t.id });
                    let not_seen = t.expected - t.expected_seen;
                    d.ok(
                        "stocktake-closed",
                        format!(
                            "stocktake of {} closed: {} of {} expected counted, {} corrected, {} not seen (candidates for missing, not marked)",
                            scope_words(&t.scope),
                            t.expected_seen,
                            t.expected,
                            t.corrected,
                            not_seen
                        ),
                    )
                }
                None => d.ok(
                    "done",
                    "done: badge, destination and pending report cleared",
                ),
            }
        }
        Command::Cancel => {
            d.memory.clear_work();
            d.ok(
                "cancel",
                "cancelled: destination, request and pending report cleared",
            )
        }
        Command::NotFound => match d.memory.request.take() {
            Some(r) => {
                let r = r.value;
                let msg = format!(
                    "request {}: {} NOT FOUND; {} is told, and the volume is a missing candidate",
                    r.barcode, r.volume_barcode, r.location.code
                );
                d.memory.target = None;
                d.effects.push(Effect::Request {
                    request: r,
                    status: RequestStatus::NotFound,
                });
                d.ok("not-found", msg)
            }
            None => d.refuse(
                "not-found",
                "not-found is recorded against a request: scan the request slip first",
            ),
        },
        _ => unreachable!("mode commands handled above"),
    }
}

fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Location(l) => l.code.clone(),
        Scope::Terminal(lo, hi) => format!("terminal digits {lo:02}-{hi:02}"),
    }
}

fn request_slip(
    mut d: Decision,
    station: &StationFacts,
    r: &RequestRef,
    now: DateTime<Utc>,
) -> Decision {
    if !r.status.is_active() {
        return d.refuse(
            "request",
            format!("request {} is already {}", r.barcode, r.status.label()),
        );
    }
    d.memory.request = Some(Remembered {
        value: r.clone(),
        at: now,
    });
    let what = format!(
        "request {}: {} for {} ({})",
        r.barcode,
        r.volume_barcode,
        r.location.code,
        r.priority.label()
    );
    match station.mode {
        Mode::CheckOut | Mode::Transfer => {
            d.memory.target = Some(Remembered {
                value: r.location.clone(),
                at: now,
            });
            d.ok(
                "request",
                format!("{what}; scan the volume, or CMD-NOTFOUND if it is not there"),
            )
        }
        _ => d.ok(
            "request",
            format!("{what}; scan CMD-NOTFOUND if it is not there, or CMD-CHECKOUT to send it"),
        ),
    }
}

fn badge(mut d: Decision, station: &StationFacts, u: &UserRef, now: DateTime<Utc>) -> Decision {
    let giver = d.memory.badge.as_ref().map(|b| b.value.id);
    if station.mode == Mode::Transfer && giver.is_some() && giver != Some(u.id) {
        d.memory.receiver = Some(Remembered {
            value: u.clone(),
            at: now,
        });
        return d.ok(
            "badge",
            format!("receiver: {}; now scan the volumes handed over", u.name),
        );
    }
    d.memory.badge = Some(Remembered {
        value: u.clone(),
        at: now,
    });
    d.memory.receiver = None;
    d.ok("badge", format!("{} is scanning at {}", u.name, station.id))
}

fn location(mut d: Decision, station: &StationFacts, l: &LocRef, now: DateTime<Utc>) -> Decision {
    match station.mode {
        Mode::CheckOut | Mode::Transfer => {
            d.memory.target = Some(Remembered { value: l.clone(), at: now });
            d.memory.request = None;
            d.ok("destination", format!("destination: {} ({}); now scan the volumes", l.name, l.code))
        }
        Mode::Inventory => match &station.stocktake {
            Some(t) => d.refuse(
                "stocktake",
                format!("the stocktake of {} is open: scan CMD-DONE to close it first", scope_words(&t.scope)),
            ),
            None => {
                d.effects.push(Effect::OpenStocktake { location_id: l.id });
                d.ok("stocktake-opened", format!("stocktake of {} ({}) opened: scan the volumes in shelf order, CMD-DONE at the end", l.code, l.name))
            }
        },
        mode => d.refuse(
            "destination",
            format!(
                "a destination is used in check-out or transfer mode; this station is in {mode} mode at {}",
                station.location.code
            ),
        ),
    }
}

fn report(mut d: Decision, station: &StationFacts, r: &ReportRef, now: DateTime<Utc>) -> Decision {
    if r.filed {
        return d.refuse("file", format!("report {} is already filed", r.barcode));
    }
    match station.mode {
        Mode::File => {}
        Mode::Receive | Mode::CheckIn => return receive_report(d, r),
        _ => {
            return d.refuse(
                "file",
                "loose report: receive it (CMD-RECEIVE) or file it into its volume (CMD-FILE)",
            )
        }
    }
    d.memory.report = Some(Remembered {
        value: ReportRef {
            volumes: Vec::new(),
            ..r.clone()
        },
        at: now,
    });
    d.ok(
        "report",
        format!("report {}: now scan the volume to file it into", r.barcode),
    )
}

/// A loose report arrives: its clock starts; it goes where its volume is.
fn receive_report(mut d: Decision, r: &ReportRef) -> Decision {
    let out = |v: &&VolumeWhere| match v.status {
        Status::AtLocation => v.location.kind != LocationKind::Shelf,
        Status::InTransit => v.destination.is_some(),
        _ => false,
    };
    let held = r.volumes.iter().find(out).map(|v| {
        let at = match v.status {
            Status::InTransit => v.destination.clone().unwrap_or_else(|| v.location.clone()),
            _ => v.location.clone(),
        };
        (v, at)
    });
    let started = if r.received { "" } else { " (clock started)" };
    let message = match (
        &held,
        r.volumes.iter().find(|v| v.status == Status::OnShelf),
    ) {
        (Some((v, at)), _) => format!(
            "report {} received{started}: ROUTE TO {} ({}); volume {} is there",
            r.barcode, at.name, at.code, v.barcode
        ),
        (None, Some(v)) => format!(
            "report {} received{started}: file it into {} (on the shelf at {})",
            r.barcode, v.barcode, v.location.code
        ),
        (None, None) => format!(
            "report {} received{started}: waits for its volume (none is on a shelf or a floor)",
            r.barcode
        ),
    };
    d.effects.push(Effect::ReceiveReport {
        report_id: r.id,
        routed_to: held.map(|(_, at)| at.id),
    });
    d.ok("report-received", message)
}

fn user_id(d: &Decision, user: Option<&UserRef>) -> Option<i64> {
    d.memory
        .badge
        .as_ref()
        .map(|b| b.value.id)
        .or(user.map(|u| u.id))
}

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
        Mode::CheckOut => check_out(d, v, uid, now),
        Mode::CheckIn => check_in(d, station, v, uid),
        Mode::Receive => receive(d, station, v, uid),
        Mode::Transfer => transfer(d, station, v, uid, now),
        Mode::File => {
            let Some(r) = d.memory.report.clone() else {
                return found_anyway(
                    d.refuse("file", "scan the loose report first, then its volume"),
                    station,
                    v,
                    uid,
                );
            };
            if r.value.patient_id != v.patient_id {
                d.memory.report = None;
                return found_anyway(
                    d.refuse(
                        "file",
                        format!(
                            "WRONG CHART: report {} belongs to another patient; do not file it into {}",
                            r.value.barcode, v.barcode
                        ),
                    ),
                    station,
                    v,
                    uid,
                );
            }
            d.memory.report = None;
            d.effects.push(Effect::FileReport {
                report_id: r.value.id,
                volume_id: v.id,
            });
            d.ok(
                "file",
                format!("report {} filed into {}", r.value.barcode, v.barcode),
            )
        }
        Mode::Inventory => inventory(d, station, v, uid),
    };
    let mut d = found_anyway(d, station, v, uid);
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

/// Any scan of a missing volume clears the flag and records where it turned up, even a scan
/// that was refused for another reason: the volume was in someone's hands here.
fn found_anyway(
    mut d: Decision,
    station: &StationFacts,
    v: &VolumeFacts,
    uid: Option<i64>,
) -> Decision {
    if v.status != Status::Missing {
        return d;
    }
    let moved = d
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Move(m) if m.volume_id == v.id));
    if !moved {
        let here = &station.location;
        let status = if here.id == v.home.id {
            Status::OnShelf
        } else {
            Status::AtLocation
        };
        d.effects.push(Effect::Move(plain_move(
            v,
            MoveAction::Found,
            here.id,
            status,
            None,
            uid,
        )));
    }
    d.effects.push(Effect::Found { volume_id: v.id });
    d.warnings.insert(
        0,
        format!(
            "{} was MISSING: found here at {}, supervisor notified",
            v.barcode, station.location.code
        ),
    );
    d
}

fn check_out(mut d: Decision, v: &VolumeFacts, uid: Option<i64>, now: DateTime<Utc>) -> Decision {
    // A request slip scanned first: this volume must be the one asked for.
    let slip = d.memory.request.clone().map(|r| r.value);
    if let Some(r) = &slip {
        if r.volume_id != v.id {
            return d.refuse(
                "check-out",
                format!(
                    "WRONG VOLUME: request {} is for {}, not {}; scan that volume or another slip",
                    r.barcode, r.volume_barcode, v.barcode
                ),
            );
        }
    }
    let Some(t) = d.memory.target.clone() else {
        return d.refuse("check-out", "scan a destination or a request slip first");
    };
    d.memory.target = Some(Remembered {
        value: t.value.clone(),
        at: now,
    });
    if t.value.kind == LocationKind::Container {
        let m = plain_move(
            v,
            MoveAction::Pack,
            t.value.id,
            Status::AtLocation,
            None,
            uid,
        );
        d.effects.push(Effect::Move(Move {
            container: ContainerChange::Set(t.value.id),
            ..m
        }));
        return d.ok(
            "pack",
            format!("{} packed into {}", v.barcode, t.value.code),
        );
    }
    let request = slip.or_else(|| request_for(v, t.value.id).cloned());
    let mut m = plain_move(
        v,
        MoveAction::CheckOut,
        t.value.id,
        Status::InTransit,
        Some(t.value.id),
        uid,
    );
    m.location = v.location.id;
    m.request = request.as_ref().map(|r| r.id);
    d.effects.push(Effect::Move(m));
    if v.status == Status::InTransit {
        if let Some(old) = &v.destination {
            d.warnings
                .push(format!("was on its way to {}; now re-routed", old.code));
        }
    }
    other_requests(&mut d, v, request.as_ref().map(|r| r.id));
    let message = match &request {
        Some(r) => {
            d.memory.request = None;
            let msg = format!(
                "{} checked out to {}: request {} pulled ({})",
                v.barcode,
                t.value.code,
                r.barcode,
                r.priority.label()
            );
            if r.status == RequestStatus::Open {
                d.effects.push(Effect::Request {
                    request: r.clone(),
                    status: RequestStatus::Pulled,
                });
            }
            msg
        }
        None => format!("{} checked out to {}", v.barcode, t.value.code),
    };
    d.ok("check-out", message)
}

/// The volume's active request for delivery at this location, if any.
fn request_for(v: &VolumeFacts, location_id: i64) -> Option<&RequestRef> {
    v.requests.iter().find(|r| r.location.id == location_id)
}

/// Say when someone else is waiting for this volume too.
fn other_requests(d: &mut Decision, v: &VolumeFacts, except: Option<i64>) {
    for r in v.requests.iter().filter(|r| Some(r.id) != except) {
        d.warnings.push(format!(
            "also requested by {} ({}), request {}",
            r.location.name,
            r.priority.label(),
            r.barcode
        ));
    }
}

fn deliver(d: &mut Decision, v: &VolumeFacts, here: &LocRef) -> Option<RequestRef> {
    let r = request_for(v, here.id)?.clone();
    d.effects.push(Effect::Request {
        request: r.clone(),
        status: RequestStatus::Delivered,
    });
    Some(r)
}

fn transfer(
    mut d: Decision,
    station: &StationFacts,
    v: &VolumeFacts,
    uid: Option<i64>,
    now: DateTime<Utc>,
) -> Decision {
    if d.memory.target.is_none() && d.memory.receiver.is_none() {
        return d.refuse(
            "transfer",
            "scan the receiver's badge, the new location or a request slip first",
        );
    }
    if let Some(r) = d.memory.request.clone().map(|r| r.value) {
        if r.volume_id != v.id {
            return d.refuse(
                "transfer",
                format!(
                    "WRONG VOLUME: request {} is for {}, not {}",
                    r.barcode, r.volume_barcode, v.barcode
                ),
            );
        }
    }
    let to = d
        .memory
        .target
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| station.location.clone());
    if let Some(t) = d.memory.target.as_mut() {
        t.at = now;
    }
    let receiver = d.memory.receiver.as_ref().map(|r| r.value.clone());
    let mut m = plain_move(
        v,
        MoveAction::Transfer,
        to.id,
        Status::AtLocation,
        None,
        uid,
    );
    m.receiver = receiver.as_ref().map(|r| r.id);
    let delivered = deliver(&mut d, v, &to);
    m.request = delivered.as_ref().map(|r| r.id);
    let filled_id = m.request;
    d.effects.push(Effect::Move(m));
    d.memory.request = None;
    other_requests(&mut d, v, filled_id);
    let to_whom = receiver
        .map(|r| format!(" to {}", r.name))
        .unwrap_or_default();
    let filled = delivered
        .map(|r| format!("; request {} delivered", r.barcode))
        .unwrap_or_default();
    d.ok(
        "transfer",
        format!("{} handed over{to_whom} at {}{filled}", v.barcode, to.code),
    )
}

fn plain_move(
    v: &VolumeFacts,
    action: MoveAction,
    to: i64,
    status: Status,
    destination: Option<i64>,
    user: Option<i64>,
) -> Move {
    Move {
        volume_id: v.id,
        action,
        from: v.location.id,
        to,
        status,
        location: to,
        destination,
        container: ContainerChange::Clear,
        user,
        receiver: None,
        request: None,
    }
}

fn check_in(
    mut d: Decision,
    station: &StationFacts,
    v: &VolumeFacts,
    uid: Option<i64>,
) -> Decision {
    d.effects.push(Effect::Move(plain_move(
        v,
        MoveAction::CheckIn,
        v.home.id,
        Status::OnShelf,
        None,
        uid,
    )));
    let trapped = !v.requests.is_empty();
    let mut d = if trapped {
        d.ok(
            "check-in",
            format!("{} checked in: DO NOT SHELVE, it is requested", v.barcode),
        )
    } else {
        d.ok(
            "check-in",
            format!("{} checked in: shelve at {}", v.barcode, v.home.code),
        )
    };
    // The most urgent first: STAT before routine.
    let mut requests: Vec<&RequestRef> = v.requests.iter().collect();
    requests.sort_by_key(|r| (r.priority != Priority::Stat, r.id));
    for r in requests {
        d.warnings.push(format!(
            "DO NOT SHELVE: requested by {} ({}), request {}",
            r.location.name,
            r.priority.label(),
            r.barcode
        ));
    }
    if !trapped {
        section_warning(&mut d, &station.location, v);
    }
    if v.waiting_reports > 0 {
        d.warnings.push(format!(
            "{} loose report{} wait{} for this patient: file before shelving",
            v.waiting_reports,
            if v.waiting_reports == 1 { "" } else { "s" },
            if v.waiting_reports == 1 { "s" } else { "" }
        ));
    }
    d
}

/// Is the volume being shelved in a section its terminal digits do not belong to?
fn wrong_section(here: &LocRef, v: &VolumeFacts) -> bool {
    if here.kind != LocationKind::Shelf {
        return false;
    }
    let td = TerminalDigit::of(&v.mrn);
    match here.terminal {
        Some((lo, hi)) => td.primary < lo || td.primary > hi,
        None => here.id != v.home.id,
    }
}

/// Warn when a volume is being shelved in a section its terminal digits do not belong to.
fn section_warning(d: &mut Decision, here: &LocRef, v: &VolumeFacts) -> bool {
    let wrong = wrong_section(here, v);
    if wrong {
        d.warnings.push(format!(
            "WRONG SECTION: terminal digits {:02} belong in {}, not {}",
            TerminalDigit::of(&v.mrn).primary,
            v.home.code,
            here.code
        ));
    }
    wrong
}

fn receive(mut d: Decision, station: &StationFacts, v: &VolumeFacts, uid: Option<i64>) -> Decision {
    let here = &station.location;
    let status = if here.id == v.home.id {
        Status::OnShelf
    } else {
        Status::AtLocation
    };
    let mut m = plain_move(v, MoveAction::Receive, here.id, status, None, uid);
    let delivered = deliver(&mut d, v, here);
    m.request = delivered.as_ref().map(|r| r.id);
    let filled_id = m.request;
    d.effects.push(Effect::Move(m));
    if v.status == Status::InTransit {
        if let Some(dest) = v.destination.as_ref().filter(|dest| dest.id != here.id) {
            d.warnings.push(format!(
                "was on its way to {}, received at {} instead",
                dest.code, here.code
            ));
        }
    }
    other_requests(&mut d, v, filled_id);
    match delivered {
        Some(r) => d.ok(
            "receive",
            format!(
                "{} received at {}: request {} delivered",
                v.barcode, here.code, r.barcode
            ),
        ),
        None => d.ok(
            "receive",
            format!("{} received at {}", v.barcode, here.code),
        ),
    }
}

/// Count a volume in the station's stocktake (opening one for the station's location at its
/// first scan): confirm it, or correct its record; flag a wrong section or a break in
/// terminal-digit order at once.
fn inventory(
    mut d: Decision,
    station: &StationFacts,
    v: &VolumeFacts,
    uid: Option<i64>,
) -> Decision {
    let opening = station.stocktake.is_none();
    let scope = match &station.stocktake {
        Some(t) => t.scope.clone(),
        None => Scope::Location(station.location.clone()),
    };
    let td = TerminalDigit::of(&v.mrn);
    // Where the volume is found: the scoped location; in a terminal-digit range, its home
    // section when its digits are in the range, else the station's own place.
    let here = match &scope {
        Scope::Location(l) => l.clone(),
        Scope::Terminal(lo, hi) if (*lo..=*hi).contains(&td.primary) => v.home.clone(),
        Scope::Terminal(..) => station.location.clone(),
    };
    if opening {
        d.effects.push(Effect::OpenStocktake {
            location_id: here.id,
        });
    }
    let (expected, counted) = match &station.stocktake {
        Some(t) => (t.this_expected, t.this_counted),
        // The list frozen by this very scan: what is on the shelf here.
        None => (
            matches!(v.status, Status::OnShelf | Status::AtLocation) && v.location.id == here.id,
            false,
        ),
    };
    if counted {
        return d.ok(
            "inventory",
            format!("{} already counted in this stocktake", v.barcode),
        );
    }
    let confirmed =
        v.location.id == here.id && v.status != Status::Missing && v.status != Status::InTransit;
    let mut d = if confirmed {
        d.effects.push(Effect::Count {
            volume_id: v.id,
            expected,
            result: "confirmed",
        });
        d.ok(
            "inventory",
            format!("{} confirmed at {}", v.barcode, here.code),
        )
    } else {
        let status = if here.id == v.home.id {
            Status::OnShelf
        } else {
            Status::AtLocation
        };
        let m = plain_move(v, MoveAction::Inventory, here.id, status, None, uid);
        d.effects.push(Effect::Move(Move {
            container: ContainerChange::Clear,
            ..m
        }));
        d.effects.push(Effect::Count {
            volume_id: v.id,
            expected,
            result: "corrected",
        });
        d.ok(
            "inventory",
            format!(
                "{} found at {}; was recorded at {} (corrected)",
                v.barcode, here.code, v.location.code
            ),
        )
    };
    if section_warning(&mut d, &here, v) {
        d.effects.push(Effect::Misfile {
            volume_id: v.id,
            location_id: here.id,
            kind: "wrong_section",
        });
    }
    if let Some(t) = &station.stocktake {
        out_of_order(&mut d, &here, v, td, &t.previous);
    }
    for r in &v.requests {
        d.warnings.push(format!(
            "PULL IT: requested by {} ({}), request {}",
            r.location.name,
            r.priority.label(),
            r.barcode
        ));
    }
    d
}

/// Terminal-digit order against the volumes counted just before. When this one sorts before
/// the last one but after the one before that, the last one is the misfile (it sits between
/// two neighbours that are in order); otherwise this one is.
fn out_of_order(
    d: &mut Decision,
    here: &LocRef,
    v: &VolumeFacts,
    key: TerminalDigit,
    previous: &[Counted],
) {
    let Some(last) = previous.last() else { return };
    if key >= last.key {
        return;
    }
    let before = previous.len().checked_sub(2).map(|i| &previous[i]);
    let (culprit, id, words) = match before {
        Some(b) if key >= b.key => (
            &last.barcode,
            last.volume_id,
            format!("it does not belong between {} and {}", b.barcode, v.barcode),
        ),
        _ => (
            &v.barcode,
            v.id,
            format!("it belongs before {}", last.barcode),
        ),
    };
    d.warnings
        .push(format!("OUT OF ORDER: {culprit} is misfiled here; {words}"));
    d.effects.push(Effect::Misfile {
        volume_id: id,
        location_id: here.id,
        kind: "out_of_order",
    });
}

fn container(
    mut d: Decision,
    station: &StationFacts,
    c: &LocRef,
    contents: &[VolumeFacts],
    user: Option<&UserRef>,
    now: DateTime<Utc>,
) -> Decision {
    let uid = user_id(&d, user);
    match station.mode {
        Mode::Receive | Mode::CheckIn => {
            if contents.is_empty() {
                return d.ok("container", format!("{} is empty", c.code));
            }
            let mut sub = Decision::new(station, Memory::default());
            for v in contents {
                sub = if station.mode == Mode::Receive {
                    receive(sub, station, v, uid)
                } else {
                    check_in(sub, station, v, uid)
                };
                sub = found_anyway(sub, station, v, uid);
            }
            d.effects = sub.effects;
            d.warnings = sub.warnings;
            d.effects
                .push(Effect::EmptyContainer { container_id: c.id });
            let verb = if station.mode == Mode::Receive {
                "received"
            } else {
                "checked in"
            };
            d.ok(
                "container",
                format!(
                    "{} volume(s) in {} {verb} at {}",
                    contents.len(),
                    c.code,
                    station.location.code
                ),
            )
        }
        Mode::CheckOut | Mode::Transfer => match d.memory.target.clone() {
            Some(t)
                if t.value.kind != LocationKind::Container && station.mode == Mode::CheckOut =>
            {
                if contents.is_empty() {
                    return d.refuse(
                        "container",
                        format!("{} is empty: nothing to check out", c.code),
                    );
                }
                for v in contents {
                    let mut m = plain_move(
                        v,
                        MoveAction::CheckOut,
                        t.value.id,
                        Status::InTransit,
                        Some(t.value.id),
                        uid,
                    );
                    m.location = v.location.id;
                    m.container = ContainerChange::Keep;
                    if let Some(r) = request_for(v, t.value.id) {
                        m.request = Some(r.id);
                        if r.status == RequestStatus::Open {
                            d.effects.push(Effect::Request {
                                request: r.clone(),
                                status: RequestStatus::Pulled,
                            });
                        }
                    }
                    d.effects.push(Effect::Move(m));
                }
                d.memory.target = Some(Remembered {
                    value: t.value.clone(),
                    at: now,
                });
                d.ok(
                    "container",
                    format!(
                        "{} volume(s) in {} checked out to {}",
                        contents.len(),
                        c.code,
                        t.value.code
                    ),
                )
            }
            _ => {
                d.memory.target = Some(Remembered {
                    value: c.clone(),
                    at: now,
                });
                d.ok(
                    "destination",
                    format!("packing into {}: scan the volumes", c.code),
                )
            }
        },
        mode => d.refuse(
            "container",
            format!("containers are not used in {mode} mode"),
        ),
    }
}
