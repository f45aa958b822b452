//! Stocktake (inventory): count the volumes on a shelf against its frozen expected list,
//! correct what is found recorded elsewhere, and flag misfiles: a wrong section, or a chart
//! out of terminal-digit order on the shelf.

use super::moves::{plain_move, section_warning};
use super::{
    ContainerChange, Counted, Decision, Effect, LocRef, Move, Scope, StationFacts, StocktakeFacts,
    VolumeFacts,
};
use crate::domain::{MoveAction, Status, TerminalDigit};

pub(super) fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Location(l) => l.code.clone(),
        Scope::Terminal(lo, hi) => format!("terminal digits {lo:02}-{hi:02}"),
    }
}

/// Count a volume in the station's stocktake (opening one for the station's location at its
/// first scan): confirm it, or correct its record; flag a wrong section or a break in
/// terminal-digit order at once.
pub(super) fn inventory(
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
pub(super) fn out_of_order(
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

/// CMD-DONE with a stocktake open: it closes; what was expected and not seen stays a
/// candidate for missing, never marked.
pub(super) fn close_stocktake(mut d: Decision, t: &StocktakeFacts) -> Decision {
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
