//! Stocktake (inventory): count the volumes on a shelf against its frozen expected list,
//! correct what is found recorded elsewhere, and flag misfiles: a wrong section, or a chart
//! out of terminal-digit order on the shelf.

use super::moves::{plain_move, section_warning};
use super::order::shortfall;
use super::{
    ContainerChange, Counted, Decision, Effect, LocRef, Move, Scope, StationFacts, StocktakeFacts,
    VolumeFacts,
};
use crate::domain::{LocationKind, MoveAction, Status, TerminalDigit};

pub(super) fn scope_words(scope: &Scope) -> String {
    match scope {
        Scope::Location(l) => l.code.clone(),
        Scope::Terminal(lo, hi) => format!("terminal digits {lo:02}-{hi:02}"),
    }
}

/// Why a stocktake is not opened at a desk: charts pass through it, none is kept there.
pub(super) fn desk_holds_nothing(desk: &LocRef) -> String {
    format!(
        "{} is a desk: no charts are kept there to count; scan the shelf section's barcode to count it",
        desk.code
    )
}

/// Count a volume in the station's stocktake (opening one for the station's location at its
/// first scan): confirm it, or correct its record; flag a wrong section at once, and a break in
/// terminal-digit order as soon as the run counted so far shows which chart is out of place.
pub(super) fn inventory(
    mut d: Decision,
    station: &StationFacts,
    v: &VolumeFacts,
    uid: Option<i64>,
) -> Decision {
    let opening = station.stocktake.is_none();
    if opening && station.location.kind == LocationKind::Desk {
        return d.refuse("inventory", desk_holds_nothing(&station.location));
    }
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
        // Named for its section; it takes no part in the order of the charts that belong here.
        d.effects.push(Effect::Misfile {
            volume_id: v.id,
            location_id: here.id,
            kind: "wrong_section",
        });
    } else if let Some(t) = &station.stocktake {
        out_of_order(&mut d, &here, v, td, t);
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

/// A chart out of terminal-digit order is named when the run counted so far shows it is the
/// one out of place, not its neighbours. The run is judged whole (`order::shortfall`: how
/// many charts short of a longest run in order the best run through a chart is):
/// - the chart just scanned is named at once when it is two or more short (the other reading,
///   that the charts around it are the displaced ones, needs at least two more misfiles);
/// - a chart counted earlier is named as soon as the run shows it: two or more short now, or
///   one short for three scans running (one short for a moment is how the chart after two
///   charts displaced side by side looks, until the next scans put it back in the run);
/// - a chart already named is not named again.
///
/// When the chart just scanned sorts before the one before it and the run cannot yet tell which
/// of them is out of place, the station says so without naming either.
fn out_of_order(
    d: &mut Decision,
    here: &LocRef,
    v: &VolumeFacts,
    key: TerminalDigit,
    t: &StocktakeFacts,
) {
    let mut run: Vec<Counted> = t.run.clone();
    run.push(Counted {
        volume_id: v.id,
        barcode: v.barcode.clone(),
        key,
        misfiled: false,
    });
    let keys: Vec<TerminalDigit> = run.iter().map(|c| c.key).collect();
    let n = keys.len();
    let now = shortfall(&keys);
    let one_scan_ago = shortfall(&keys[..n - 1]);
    let two_scans_ago = shortfall(&keys[..n.saturating_sub(2)]);
    let current = n - 1;
    let mut named_current = false;
    for (i, c) in run.iter().enumerate() {
        let shown = if i == current {
            now[i] >= 2
        } else {
            now[i] >= 2
                || (i + 3 <= n && now[i] >= 1 && one_scan_ago[i] >= 1 && two_scans_ago[i] >= 1)
        };
        if c.misfiled || !shown {
            continue;
        }
        named_current |= i == current;
        let when = if i == current {
            String::new()
        } else {
            format!(
                " (counted {} chart{} back)",
                current - i,
                if current - i == 1 { "" } else { "s" }
            )
        };
        d.warnings.push(format!(
            "OUT OF ORDER: {}{when} is misfiled here{}",
            c.barcode,
            belongs(&run, &now, i)
        ));
        d.effects.push(Effect::Misfile {
            volume_id: c.volume_id,
            location_id: here.id,
            kind: "out_of_order",
        });
    }
    // Against the last chart before it not already named.
    let before = run[..current].iter().rev().find(|c| !c.misfiled);
    if let (Some(before), Some(this)) = (before, run.last()) {
        if !named_current && this.key < before.key {
            d.warnings.push(format!(
                "OUT OF ORDER here: {} and {} are not in terminal-digit order; the charts that follow tell which one is misfiled",
                before.barcode, this.barcode
            ));
        }
    }
}

/// Where chart `i` files, in words: between the charts in their place whose keys are next to
/// its own.
fn belongs(run: &[Counted], shortfall: &[usize], i: usize) -> String {
    let key = run[i].key;
    let placed = || {
        run.iter()
            .zip(shortfall)
            .enumerate()
            .filter(move |(j, (c, s))| *j != i && **s == 0 && !c.misfiled)
            .map(|(_, (c, _))| c)
    };
    let after = placed().filter(|c| c.key <= key).max_by_key(|c| c.key);
    let before = placed().filter(|c| c.key >= key).min_by_key(|c| c.key);
    match (after, before) {
        (Some(a), Some(b)) => format!("; it files between {} and {}", a.barcode, b.barcode),
        (Some(a), None) => format!("; it files after {}", a.barcode),
        (None, Some(b)) => format!("; it files before {}", b.barcode),
        (None, None) => String::new(),
    }
}

/// At the end of a stocktake the run is judged whole: any chart not yet named that a longest
/// run in order leaves out is named now.
fn out_of_order_at_close(d: &mut Decision, location_id: i64, t: &StocktakeFacts) {
    let keys: Vec<TerminalDigit> = t.run.iter().map(|c| c.key).collect();
    let now = shortfall(&keys);
    for (i, c) in t.run.iter().enumerate() {
        if c.misfiled || now[i] == 0 {
            continue;
        }
        d.warnings.push(format!(
            "OUT OF ORDER: {} is misfiled here{}",
            c.barcode,
            belongs(&t.run, &now, i)
        ));
        d.effects.push(Effect::Misfile {
            volume_id: c.volume_id,
            location_id,
            kind: "out_of_order",
        });
    }
}

/// CMD-DONE with a stocktake open: it closes; what was expected and not seen stays a
/// candidate for missing, never marked.
pub(super) fn close_stocktake(
    mut d: Decision,
    station: &StationFacts,
    t: &StocktakeFacts,
) -> Decision {
    let location_id = match &t.scope {
        Scope::Location(l) => l.id,
        Scope::Terminal(..) => station.location.id,
    };
    out_of_order_at_close(&mut d, location_id, t);
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
