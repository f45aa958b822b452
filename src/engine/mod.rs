//! The station state machine: given what a station remembers, what was scanned and the time,
//! decide what happens. Pure logic, no I/O: the store gathers the facts, calls [`decide`],
//! and commits the [`Decision`]'s effects in one transaction.

use crate::domain::{Command, LocationKind, Mode, MoveAction, Mrn, Status, TerminalDigit};
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
        self
    }
}

#[derive(Debug, Clone)]
pub struct StationFacts {
    pub id: String,
    pub location: LocRef,
    pub mode: Mode,
    pub memory: Memory,
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
        d.memory.target = None;
        d.memory.report = None;
        d.memory.receiver = None;
        return d.ok("mode", format!("{}: mode is now {mode}", station.id));
    }
    match c {
        Command::Done => {
            d.memory = Memory::default();
            d.ok(
                "done",
                "done: badge, destination and pending report cleared",
            )
        }
        Command::Cancel => {
            d.memory.target = None;
            d.memory.report = None;
            d.memory.receiver = None;
            d.ok(
                "cancel",
                "cancelled: destination and pending report cleared",
            )
        }
        Command::NotFound => d.refuse(
            "not-found",
            "not-found is recorded against a pulled request: scan the request slip first",
        ),
        _ => unreachable!("mode commands handled above"),
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
            d.ok("destination", format!("destination: {} ({}); now scan the volumes", l.name, l.code))
        }
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
    if station.mode != Mode::File {
        return d.refuse(
            "file",
            "loose report: switch to file mode (CMD-FILE) to file it into its volume",
        );
    }
    if r.filed {
        return d.refuse("file", format!("report {} is already filed", r.barcode));
    }
    d.memory.report = Some(Remembered {
        value: r.clone(),
        at: now,
    });
    d.ok(
        "report",
        format!("report {}: now scan the volume to file it into", r.barcode),
    )
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
    let was_missing = v.status == Status::Missing;
    let d = match station.mode {
        Mode::CheckOut => match d.memory.target.clone() {
            None => return d.refuse("check-out", "scan a destination first"),
            Some(t) if t.value.kind == LocationKind::Container => {
                d.memory.target = Some(Remembered {
                    value: t.value.clone(),
                    at: now,
                });
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
                d.ok(
                    "pack",
                    format!("{} packed into {}", v.barcode, t.value.code),
                )
            }
            Some(t) => {
                d.memory.target = Some(Remembered {
                    value: t.value.clone(),
                    at: now,
                });
                let mut m = plain_move(
                    v,
                    MoveAction::CheckOut,
                    t.value.id,
                    Status::InTransit,
                    Some(t.value.id),
                    uid,
                );
                m.location = v.location.id;
                d.effects.push(Effect::Move(m));
                if v.status == Status::InTransit {
                    if let Some(old) = &v.destination {
                        d.warnings
                            .push(format!("was on its way to {}; now re-routed", old.code));
                    }
                }
                d.ok(
                    "check-out",
                    format!("{} checked out to {}", v.barcode, t.value.code),
                )
            }
        },
        Mode::CheckIn => check_in(d, station, v, uid),
        Mode::Receive => receive(d, station, v, uid),
        Mode::Transfer => {
            let to = d
                .memory
                .target
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_else(|| station.location.clone());
            if d.memory.target.is_none() && d.memory.receiver.is_none() {
                return d.refuse(
                    "transfer",
                    "scan the receiver's badge or the new location first",
                );
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
            d.effects.push(Effect::Move(m));
            let to_whom = receiver
                .map(|r| format!(" to {}", r.name))
                .unwrap_or_default();
            d.ok(
                "transfer",
                format!("{} handed over{to_whom} at {}", v.barcode, to.code),
            )
        }
        Mode::File => {
            let Some(r) = d.memory.report.clone() else {
                return d.refuse("file", "scan the loose report first, then its volume");
            };
            if r.value.patient_id != v.patient_id {
                d.memory.report = None;
                return d.refuse(
                    "file",
                    format!(
                        "WRONG CHART: report {} belongs to another patient; do not file it into {}",
                        r.value.barcode, v.barcode
                    ),
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
        Mode::Inventory => {
            let here = &station.location;
            if v.location.id == here.id
                && v.status != Status::Missing
                && v.status != Status::InTransit
            {
                let mut d = d.ok(
                    "inventory",
                    format!("{} confirmed at {}", v.barcode, here.code),
                );
                section_warning(&mut d, here, v);
                d
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
                let mut d = d.ok(
                    "inventory",
                    format!(
                        "{} found at {}; was recorded at {} (corrected)",
                        v.barcode, here.code, v.location.code
                    ),
                );
                section_warning(&mut d, here, v);
                d
            }
        }
    };
    let mut d = d;
    if d.accepted {
        d.memory.last_volume = Some(Remembered {
            value: v.id,
            at: now,
        });
        if let Some(b) = d.memory.badge.as_mut() {
            b.at = now;
        }
        if was_missing {
            d.warnings.insert(
                0,
                format!("{} was MISSING: found here, supervisor notified", v.barcode),
            );
        }
    }
    d
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
    let mut d = d.ok(
        "check-in",
        format!("{} checked in: shelve at {}", v.barcode, v.home.code),
    );
    section_warning(&mut d, &station.location, v);
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

/// Warn when a volume is being shelved in a section its terminal digits do not belong to.
fn section_warning(d: &mut Decision, here: &LocRef, v: &VolumeFacts) {
    if here.kind != LocationKind::Shelf {
        return;
    }
    let td = TerminalDigit::of(&v.mrn);
    let wrong = match here.terminal {
        Some((lo, hi)) => td.primary < lo || td.primary > hi,
        None => here.id != v.home.id,
    };
    if wrong {
        d.warnings.push(format!(
            "WRONG SECTION: terminal digits {:02} belong in {}, not {}",
            td.primary, v.home.code, here.code
        ));
    }
}

fn receive(mut d: Decision, station: &StationFacts, v: &VolumeFacts, uid: Option<i64>) -> Decision {
    let here = &station.location;
    let status = if here.id == v.home.id {
        Status::OnShelf
    } else {
        Status::AtLocation
    };
    d.effects.push(Effect::Move(plain_move(
        v,
        MoveAction::Receive,
        here.id,
        status,
        None,
        uid,
    )));
    if v.status == Status::InTransit {
        if let Some(dest) = v.destination.as_ref().filter(|dest| dest.id != here.id) {
            d.warnings.push(format!(
                "was on its way to {}, received at {} instead",
                dest.code, here.code
            ));
        }
    }
    d.ok(
        "receive",
        format!("{} received at {}", v.barcode, here.code),
    )
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
