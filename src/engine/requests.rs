//! Requests: a request slip scanned, the request pulled by its check-out, delivered where it
//! was asked for, ended not found, and the do-not-shelve warning at check-in.

use super::{Decision, Effect, LocRef, Remembered, RequestRef, StationFacts, VolumeFacts};
use crate::domain::{Mode, Priority, RequestStatus};
use chrono::{DateTime, Utc};

pub(super) fn request_slip(
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
        Mode::CheckIn | Mode::Receive | Mode::File | Mode::Inventory => d.ok(
            "request",
            format!("{what}; scan CMD-NOTFOUND if it is not there, or CMD-CHECKOUT to send it"),
        ),
    }
}

/// The volume's active request for delivery at this location, if any.
pub(super) fn request_for(v: &VolumeFacts, location_id: i64) -> Option<&RequestRef> {
    v.requests.iter().find(|r| r.location.id == location_id)
}

/// Say when someone else is waiting for this volume too.
pub(super) fn other_requests(d: &mut Decision, v: &VolumeFacts, except: Option<i64>) {
    for r in v.requests.iter().filter(|r| Some(r.id) != except) {
        d.warnings.push(format!(
            "also requested by {} ({}), request {}",
            r.location.name,
            r.priority.label(),
            r.barcode
        ));
    }
}

pub(super) fn deliver(d: &mut Decision, v: &VolumeFacts, here: &LocRef) -> Option<RequestRef> {
    let r = request_for(v, here.id)?.clone();
    d.effects.push(Effect::Request {
        request: r.clone(),
        status: RequestStatus::Delivered,
    });
    Some(r)
}

/// CMD-NOTFOUND: the request slip scanned before it ends not found (its location is told; the
/// volume becomes a candidate for missing, never marked by this).
pub(super) fn not_found(mut d: Decision) -> Decision {
    match d.memory.request.take() {
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
    }
}

/// A requested volume checked in must not go back on the shelf: one warning per request, the
/// most urgent first (STAT before routine).
pub(super) fn do_not_shelve(mut d: Decision, v: &VolumeFacts) -> Decision {
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
    d
}

/// A missing volume turned up: each request for it not already spoken of in this answer is
/// named, most urgent first, so that it is not shelved (or left) without a word.
pub(super) fn still_requested(mut d: Decision, v: &VolumeFacts) -> Decision {
    let mut requests: Vec<&RequestRef> = v
        .requests
        .iter()
        .filter(|r| {
            !d.message.contains(&r.barcode) && !d.warnings.iter().any(|w| w.contains(&r.barcode))
        })
        .collect();
    requests.sort_by_key(|r| (r.priority != Priority::Stat, r.id));
    for r in requests {
        d.warnings.push(format!(
            "DO NOT SHELVE: requested by {} ({}), request {}: send it there",
            r.location.name,
            r.priority.label(),
            r.barcode
        ));
    }
    d
}
