//! Loose reports: received (its clock starts, routed to where its volume is) and filed into
//! its patient's volume (refused for another patient's).

use super::{Decision, Effect, Remembered, ReportRef, StationFacts, VolumeFacts, VolumeWhere};
use crate::domain::{LocationKind, Mode, Status};
use chrono::{DateTime, Utc};

/// A loose report scanned: received in the records department (receive or check-in mode), or
/// remembered in file mode until its volume is scanned.
pub(super) fn report(
    mut d: Decision,
    station: &StationFacts,
    r: &ReportRef,
    now: DateTime<Utc>,
) -> Decision {
    if r.filed {
        return d.refuse("file", format!("report {} is already filed", r.barcode));
    }
    match station.mode {
        Mode::File => {}
        Mode::Receive | Mode::CheckIn => return receive_report(d, r),
        Mode::CheckOut | Mode::Transfer | Mode::Inventory => {
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
pub(super) fn receive_report(mut d: Decision, r: &ReportRef) -> Decision {
    let out = |v: &&VolumeWhere| match v.status {
        Status::AtLocation => v.location.kind != LocationKind::Shelf,
        Status::InTransit => v.destination.is_some(),
        Status::OnShelf | Status::Missing => false,
    };
    let held = r.volumes.iter().find(out).map(|v| {
        let at = match v.status {
            Status::InTransit => v.destination.clone().unwrap_or_else(|| v.location.clone()),
            Status::OnShelf | Status::AtLocation | Status::Missing => v.location.clone(),
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

/// File mode, a volume scanned: the remembered loose report is filed into it, refused when it
/// belongs to another patient (and then forgotten).
pub(super) fn file_into(mut d: Decision, v: &VolumeFacts) -> Decision {
    let Some(r) = d.memory.report.clone() else {
        return d.refuse("file", "scan the loose report first, then its volume");
    };
    d.memory.report = None;
    if r.value.patient_id != v.patient_id {
        return d.refuse(
            "file",
            format!(
                "WRONG CHART: report {} belongs to another patient; do not file it into {}",
                r.value.barcode, v.barcode
            ),
        );
    }
    d.effects.push(Effect::FileReport {
        report_id: r.value.id,
        volume_id: v.id,
    });
    d.ok(
        "file",
        format!("report {} filed into {}", r.value.barcode, v.barcode),
    )
}
