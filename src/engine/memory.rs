//! Modes and memory: who is scanning (badge, receiver), where volumes go (a destination or a
//! container), and the commands that switch mode, cancel, finish or report a request not found.

use super::requests::not_found;
use super::stocktake::{close_stocktake, desk_holds_nothing, scope_words};
use super::{Decision, Effect, LocRef, Memory, Remembered, StationFacts, UserRef};
use crate::domain::{Command, LocationKind, Mode};
use chrono::{DateTime, Utc};

/// A command barcode: switch mode, finish (closing an open stocktake), cancel what is half
/// done, or end the remembered request as not found.
pub(super) fn command(mut d: Decision, station: &StationFacts, c: Command) -> Decision {
    match c {
        Command::CheckOut => switch_mode(d, station, Mode::CheckOut),
        Command::CheckIn => switch_mode(d, station, Mode::CheckIn),
        Command::Receive => switch_mode(d, station, Mode::Receive),
        Command::File => switch_mode(d, station, Mode::File),
        Command::Inventory => switch_mode(d, station, Mode::Inventory),
        Command::Done => {
            d.memory = Memory::default();
            match &station.stocktake {
                Some(t) => close_stocktake(d, station, t),
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
        Command::NotFound => not_found(d),
    }
}

/// A mode command: the station's mode changes and half-done work is forgotten.
fn switch_mode(mut d: Decision, station: &StationFacts, mode: Mode) -> Decision {
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
    d
}

pub(super) fn badge(
    mut d: Decision,
    station: &StationFacts,
    u: &UserRef,
    now: DateTime<Utc>,
) -> Decision {
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

pub(super) fn location(
    mut d: Decision,
    station: &StationFacts,
    l: &LocRef,
    now: DateTime<Utc>,
) -> Decision {
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
            None if l.kind == LocationKind::Desk => d.refuse("stocktake", desk_holds_nothing(l)),
            None => {
                d.effects.push(Effect::OpenStocktake { location_id: l.id });
                d.ok("stocktake-opened", format!("stocktake of {} ({}) opened: scan the volumes in shelf order, CMD-DONE at the end", l.code, l.name))
            }
        },
        mode @ (Mode::CheckIn | Mode::Receive | Mode::File) => d.refuse(
            "destination",
            format!(
                "a destination is used in check-out or transfer mode; this station is in {mode} mode at {}",
                station.location.code
            ),
        ),
    }
}
