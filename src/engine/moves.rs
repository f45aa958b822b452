//! Volumes and containers moving: check-out (or packing into a container), receive, check-in,
//! transfer (re-charge), a container moving everything inside it, and a missing volume that
//! turns up.

use super::requests::{deliver, do_not_shelve, other_requests, request_for, still_requested};
use super::user_id;
use super::{
    ContainerChange, Decision, Effect, LocRef, Memory, Move, Remembered, StationFacts, UserRef,
    VolumeFacts,
};
use crate::domain::{LocationKind, Mode, MoveAction, RequestStatus, Status, TerminalDigit};
use chrono::{DateTime, Utc};

/// Any scan of a missing volume clears the flag and records where it turned up, even a scan
/// that was refused for another reason: the volume was in someone's hands here.
pub(super) fn found_anyway(
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
    // Someone waiting for it is told, whatever this scan was for.
    still_requested(d, v)
}

pub(super) fn check_out(
    mut d: Decision,
    v: &VolumeFacts,
    uid: Option<i64>,
    now: DateTime<Utc>,
) -> Decision {
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

pub(super) fn transfer(
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

pub(super) fn plain_move(
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

pub(super) fn check_in(
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
        do_not_shelve(
            d.ok(
                "check-in",
                format!("{} checked in: DO NOT SHELVE, it is requested", v.barcode),
            ),
            v,
        )
    } else {
        let mut d = d.ok(
            "check-in",
            format!("{} checked in: shelve at {}", v.barcode, v.home.code),
        );
        d.shelve_at = Some(v.home.code.clone());
        d
    };
    // At a shelf section the clerk shelves where the station is, so a chart of other digits is
    // worth a word; at a desk (or anywhere else) nothing is being shelved here: the answer says
    // where it goes.
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
pub(super) fn wrong_section(here: &LocRef, v: &VolumeFacts) -> bool {
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
pub(super) fn section_warning(d: &mut Decision, here: &LocRef, v: &VolumeFacts) -> bool {
    let wrong = wrong_section(here, v);
    if wrong {
        let td = TerminalDigit::of(&v.mrn).primary;
        d.warnings.push(if here.id == v.home.id {
            // Its registered home is this section, whose range does not hold its digits: the
            // record is wrong, not the clerk.
            format!(
                "HOME NEEDS CHECKING: terminal digits {td:02} are not filed in {}, yet it is this chart's home; tell a supervisor",
                here.code
            )
        } else {
            format!(
                "WRONG SECTION: terminal digits {td:02} belong in {}, not {}",
                v.home.code, here.code
            )
        });
    }
    wrong
}

pub(super) fn receive(
    mut d: Decision,
    station: &StationFacts,
    v: &VolumeFacts,
    uid: Option<i64>,
) -> Decision {
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

pub(super) fn container(
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
            // Checked in from a cart, a requested volume must not be shelved with the rest.
            let trapped: Vec<&str> = contents
                .iter()
                .filter(|v| station.mode == Mode::CheckIn && !v.requests.is_empty())
                .map(|v| v.barcode.as_str())
                .collect();
            let trapped = if trapped.is_empty() {
                String::new()
            } else {
                format!(": DO NOT SHELVE {}, requested", trapped.join(", "))
            };
            d.ok(
                "container",
                format!(
                    "{} volume(s) in {} {verb} at {}{trapped}",
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
        mode @ (Mode::File | Mode::Inventory) => d.refuse(
            "container",
            format!("containers are not used in {mode} mode"),
        ),
    }
}
