//! Clinic appointments (SIU S12, S14, S15, S17) as chart requests: one request for a chart at a
//! clinic, shared by the patient's appointments there, needed by the earliest, cancelled with
//! the last.

use super::*;

/// How many appointments share request `r`.
fn shared_by(c: &Connection, r: i64) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM appointment_request WHERE request_id = ?1")?
            .query_row([r], |row| row.get(0))?,
    )
}

/// The appointment lets go of request `r`.
fn unlink(c: &Connection, sender: &str, id: &str, r: i64) -> Result<()> {
    c.prepare_cached(
        "DELETE FROM appointment_request WHERE sender = ?1 AND appointment_id = ?2 AND request_id = ?3",
    )?
    .execute(params![sender, id, r])?;
    Ok(())
}

/// The active requests an appointment made.
fn appointment_requests(c: &Connection, sender: &str, id: &str) -> Result<Vec<i64>> {
    let mut st = c.prepare_cached(
        "SELECT q.request_id FROM appointment_request a JOIN request q ON q.request_id = a.request_id
         WHERE a.sender = ?1 AND a.appointment_id = ?2 AND q.status IN ('open','pulled') ORDER BY q.request_id",
    )?;
    let rows = st.query_map(params![sender, id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn appointment(
    c: &Connection,
    settings: &Hl7Config,
    sender: &str,
    booking: Booking,
    id: &str,
    mrn: &str,
    clinic: Option<&str>,
    start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> std::result::Result<(Option<String>, Vec<i64>), NotApplied> {
    let mut existing = appointment_requests(c, sender, id)?;
    if booking == Booking::Cancelled {
        let mut cancelled = Vec::new();
        let mut kept = 0;
        for &r in &existing {
            // A request another appointment still needs stays; the last one cancels it.
            unlink(c, sender, id, r)?;
            if shared_by(c, r)? > 0 {
                kept += 1;
            } else {
                requests::cancel(c, r, EndReason::ClinicCancelled, None, None, now)?;
                cancelled.push(r);
            }
        }
        let note = match (existing.is_empty(), kept) {
            (true, _) => Some(format!(
                "no open request for appointment {id}: nothing to cancel"
            )),
            (false, 0) => None,
            (false, _) => Some(format!(
                "{kept} request(s) kept: another appointment at that clinic needs the same chart"
            )),
        };
        return Ok((note, cancelled));
    }
    if booking == Booking::Moved {
        // A request shared with another appointment is not this one's to move: this
        // appointment lets go of it and is booked afresh below.
        let mut own = Vec::new();
        for r in existing {
            if shared_by(c, r)? > 1 {
                unlink(c, sender, id, r)?;
            } else {
                own.push(r);
            }
        }
        existing = own;
    }
    let clinic = clinic
        .filter(|s| !s.is_empty())
        .ok_or_else(|| NotApplied(101, "AIL-3: the appointment's clinic is missing".into()))?;
    let (clinic_id, clinic_code) = location(c, settings, clinic, "AIL-3")?;
    let start =
        start.ok_or_else(|| NotApplied(101, "AIS-4: the appointment's start is missing".into()))?;
    if start < now {
        return Err(NotApplied(
            207,
            format!("the appointment {id} started in the past: no request made"),
        ));
    }
    // Needed by the start less the lead time, but never before now (a late booking).
    let needed_by = (start - chrono::Duration::minutes(settings.lead_minutes.into())).max(now);
    let patient = known_patient(c, mrn, "PID-3")?;
    if !existing.is_empty() {
        if booking == Booking::New {
            // The same appointment booked again (a resend under a new control id).
            return Ok((
                Some(format!("appointment {id} already has its requests")),
                Vec::new(),
            ));
        }
        for &r in &existing {
            c.prepare_cached(
                "UPDATE request SET needed_by = ?2, location_id = ?3 WHERE request_id = ?1",
            )?
            .execute(params![r, stamp(needed_by), clinic_id])?;
        }
        return Ok((None, existing));
    }
    let mut made = Vec::new();
    let mut asked = 0;
    for record_type in &settings.record_types {
        let barcode: Option<String> = c
            .prepare_cached(
                "SELECT barcode FROM volume WHERE patient_id = ?1 AND record_type = ?2
                 ORDER BY volume_no DESC, volume_id DESC LIMIT 1",
            )?
            .query_row(params![patient, record_type], |r| r.get(0))
            .optional()?;
        let Some(barcode) = barcode else { continue };
        let created = requests::create(
            c,
            &NewRequest {
                barcode,
                location: clinic_code.clone(),
                priority: Priority::Routine,
                needed_by: Some(needed_by),
                reason: Some(format!("clinic appointment {}", cut(id, 60))),
            },
            None,
            now,
        )?;
        match created {
            Created::New(r) => {
                c.prepare_cached(
                    "INSERT INTO appointment_request (sender, appointment_id, request_id) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![sender, id, r])?;
                made.push(r);
            }
            // Someone asked for it at this clinic already. Another appointment's request is
            // shared (needed by the earlier of the two; cancelled with the last of them); a
            // person's request stands and is not the appointment's to move or cancel.
            Created::Existing(r) => {
                if shared_by(c, r)? > 0 {
                    c.prepare_cached(
                        "INSERT OR IGNORE INTO appointment_request (sender, appointment_id, request_id) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![sender, id, r])?;
                    c.prepare_cached(
                        "UPDATE request SET needed_by = min(coalesce(needed_by, ?2), ?2) WHERE request_id = ?1",
                    )?
                    .execute(params![r, stamp(needed_by)])?;
                    made.push(r);
                } else {
                    asked += 1;
                }
            }
        }
    }
    let note = match (made.is_empty(), asked) {
        (false, _) => None,
        (true, 0) => Some(format!(
            "no chart ({}) to pull for this patient",
            settings.record_types.join(", ")
        )),
        (true, _) => Some(format!("the charts are already requested at {clinic_code}")),
    };
    Ok((note, made))
}
