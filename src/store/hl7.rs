//! The hospital's HL7 v2 feeds, store side: one message applied inside the writer's transaction
//! with its control id and its access-log entry (`apply`), so a crash never half-applies one and
//! a resend is applied once; the messages not applied, for the supervisors' exceptions page.
//! `crate::hl7` reads the message into a [`Received`]; everything it changes is here.

use super::audit::{self, Access};
use super::requests::{self, Created, NewRequest};
use super::scan::RequestNote;
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::config::Hl7Config;
use crate::domain::{EndReason, Mrn, Priority};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

mod appointments;
mod unapplied;
use appointments::appointment;
pub use unapplied::{count_unapplied, dismiss, unapplied, Unapplied};

/// A patient as a registration message (PID) gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientFacts {
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
}

/// What an appointment message asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booking {
    /// S12: a new appointment.
    New,
    /// S14: the appointment moved (time or clinic).
    Moved,
    /// S15, S17: cancelled or deleted.
    Cancelled,
}

/// What a message asks of chartrack, read from its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A01, A04, A08: create or update the patient; A01 also says where they were admitted.
    Patient {
        patient: PatientFacts,
        unit: Option<String>,
    },
    /// A02: the patient moved to this unit (PV1-3.1).
    Transfer { mrn: String, unit: String },
    /// A03: the patient left this unit (PV1-3.1, may be empty).
    Discharge { mrn: String, unit: Option<String> },
    /// A40: `retired`'s charts become `surviving`'s.
    Merge {
        surviving: PatientFacts,
        retired: String,
    },
    /// SIU S12/S14/S15/S17.
    Appointment {
        booking: Booking,
        id: String,
        mrn: String,
        clinic: Option<String>,
        start: Option<DateTime<Utc>>,
    },
}

/// One message as received and read.
#[derive(Debug, Clone)]
pub struct Received {
    /// MSH-3^MSH-4.
    pub sender: String,
    /// MSH-10.
    pub control_id: String,
    /// `ADT^A01`, `SIU^S12`, ...
    pub kind: String,
    /// The message as received (kept only when it is not applied).
    pub raw: String,
    /// Where from: the peer's address.
    pub remote: String,
    pub change: Change,
}

/// The answer to a message: `AA` applied, `AE` understood but not applied (with the reason).
#[derive(Debug, Clone)]
pub enum Outcome {
    Applied {
        /// The message had been applied before (a resend): nothing was done again.
        resend: bool,
        /// Said in the acknowledgement (MSA-3), e.g. "nothing to cancel".
        note: Option<String>,
        /// Requests created, moved or cancelled: the floor pages are told after the commit.
        requests: Vec<RequestNote>,
    },
    NotApplied {
        /// HL7 table 0357 code for the ERR segment: 204 unknown key, 103 table value not
        /// found, 101 required field missing, 207 application error.
        code: u16,
        reason: String,
    },
}

/// Why a message is not applied: its 0357 code and the reason in words.
struct NotApplied(u16, String);

impl From<StoreError> for NotApplied {
    fn from(e: StoreError) -> Self {
        NotApplied(207, e.to_string())
    }
}

impl From<rusqlite::Error> for NotApplied {
    fn from(e: rusqlite::Error) -> Self {
        NotApplied(207, StoreError::from(e).to_string())
    }
}

/// Raw text kept for a message not applied, at most this many bytes.
const RAW_KEPT: usize = 64 * 1024;

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Apply one message in the writer's transaction: a resend (same sender and control id as an
/// applied one) is answered as before and changes nothing; otherwise its effects, its row and
/// its access-log entry commit together, or (not applicable) only its row with the reason.
pub fn apply(
    c: &Connection,
    m: &Received,
    settings: &Hl7Config,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let done: Option<i64> = c
        .prepare_cached(
            "SELECT message_id FROM hl7_message WHERE sender = ?1 AND control_id = ?2 AND ack_code = 'AA'",
        )?
        .query_row(params![m.sender, m.control_id], |r| r.get(0))
        .optional()?;
    if done.is_some() {
        return Ok(Outcome::Applied {
            resend: true,
            note: None,
            requests: Vec::new(),
        });
    }
    c.prepare_cached(
        "INSERT INTO hl7_message (sender, control_id, kind, received_at, ack_code) VALUES (?1, ?2, ?3, ?4, 'AA')",
    )?
    .execute(params![m.sender, m.control_id, m.kind, stamp(now)])?;
    let message_id = c.last_insert_rowid();
    c.prepare_cached("SAVEPOINT hl7_effects")?.execute([])?;
    match effects(c, m, message_id, settings, now) {
        Ok((subject, note, ids)) => {
            c.prepare_cached("RELEASE hl7_effects")?.execute([])?;
            audit::append(
                c,
                &Access {
                    user_id: None,
                    actor: format!("hl7:{}", m.sender),
                    action: "hl7-apply",
                    subject: format!("{} {} {subject}", m.kind, m.control_id),
                    remote: m.remote.clone(),
                },
                now,
            )?;
            let requests = ids
                .into_iter()
                .map(|id| requests::note(c, id))
                .collect::<Result<_>>()?;
            Ok(Outcome::Applied {
                resend: false,
                note,
                requests,
            })
        }
        Err(NotApplied(code, reason)) => {
            c.prepare_cached("ROLLBACK TO hl7_effects")?.execute([])?;
            c.prepare_cached("RELEASE hl7_effects")?.execute([])?;
            c.prepare_cached(
                "UPDATE hl7_message SET ack_code = 'AE', reason = ?2, raw = ?3 WHERE message_id = ?1",
            )?
            .execute(params![message_id, reason, cut(&m.raw, RAW_KEPT)])?;
            Ok(Outcome::NotApplied { code, reason })
        }
    }
}

/// Record a message that could not be read at all (answered `AR`).
pub fn reject(
    c: &Connection,
    sender: &str,
    control_id: &str,
    kind: &str,
    reason: &str,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO hl7_message (sender, control_id, kind, received_at, ack_code, reason, raw)
         VALUES (?1, ?2, ?3, ?4, 'AR', ?5, ?6)",
    )?
    .execute(params![
        sender,
        control_id,
        kind,
        stamp(now),
        reason,
        cut(raw, RAW_KEPT)
    ])?;
    Ok(())
}

type Effects = (String, Option<String>, Vec<i64>);

fn effects(
    c: &Connection,
    m: &Received,
    message_id: i64,
    settings: &Hl7Config,
    now: DateTime<Utc>,
) -> std::result::Result<Effects, NotApplied> {
    match &m.change {
        Change::Patient { patient, unit } => {
            let id = upsert_patient(c, patient, now)?;
            if let Some(unit) = unit {
                let loc = location(c, settings, unit, "PV1-3")?;
                set_unit(c, id, Some(loc), false, now)?;
            }
            Ok((format!("MRN {}", patient.mrn), None, Vec::new()))
        }
        Change::Transfer { mrn, unit } => {
            let id = known_patient(c, mrn, "PID-3")?;
            let loc = location(c, settings, unit, "PV1-3")?;
            set_unit(c, id, Some(loc), false, now)?;
            Ok((format!("MRN {mrn}"), None, Vec::new()))
        }
        Change::Discharge { mrn, unit } => {
            let id = known_patient(c, mrn, "PID-3")?;
            // The unit left is kept when chartrack knows it; an unknown one does not stop the
            // discharge (the patient is on no unit either way).
            let loc = match unit {
                Some(u) => location(c, settings, u, "PV1-3").ok(),
                None => None,
            };
            set_unit(c, id, loc, true, now)?;
            Ok((format!("MRN {mrn}"), None, Vec::new()))
        }
        Change::Merge { surviving, retired } => {
            merge(c, surviving, retired, message_id, now)?;
            Ok((
                format!("MRN {} into MRN {}", retired, surviving.mrn),
                None,
                Vec::new(),
            ))
        }
        Change::Appointment {
            booking,
            id,
            mrn,
            clinic,
            start,
        } => {
            let (note, ids) = appointment(
                c,
                settings,
                &m.sender,
                *booking,
                id,
                mrn,
                clinic.as_deref(),
                *start,
                now,
            )?;
            Ok((format!("MRN {mrn} appointment {id}"), note, ids))
        }
    }
}

fn mrn(s: &str, field: &str) -> std::result::Result<Mrn, NotApplied> {
    Mrn::parse(s).map_err(|e| NotApplied(102, format!("{field}: {e}")))
}

fn upsert_patient(
    c: &Connection,
    p: &PatientFacts,
    now: DateTime<Utc>,
) -> std::result::Result<i64, NotApplied> {
    let mrn = mrn(&p.mrn, "PID-3")?;
    if p.last_name.trim().is_empty() {
        return Err(NotApplied(
            101,
            "PID-5: the patient's family name is missing".into(),
        ));
    }
    // The same rules as a name typed on a page or imported: 80 printable characters at most.
    for (what, v) in [("family name", &p.last_name), ("given name", &p.first_name)] {
        if v.trim().len() > 80 || v.chars().any(char::is_control) {
            return Err(NotApplied(
                102,
                format!("PID-5: the {what} must be at most 80 printable characters (no tabs or control characters)"),
            ));
        }
    }
    if let Some(problem) = p
        .birth_date
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| super::admin::birth_date_problem(d, now))
    {
        return Err(NotApplied(102, format!("PID-7: {problem}")));
    }
    retired_check(c, mrn.as_str())?;
    let id: i64 = c
        .prepare_cached(
            "INSERT INTO patient (mrn, last_name, first_name, birth_date, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (mrn) DO UPDATE SET last_name = excluded.last_name, first_name = excluded.first_name,
                 birth_date = coalesce(excluded.birth_date, patient.birth_date)
             RETURNING patient_id",
        )?
        .query_row(
            params![
                mrn.as_str(),
                p.last_name.trim(),
                p.first_name.trim(),
                p.birth_date,
                stamp(now)
            ],
            |r| r.get(0),
        )?;
    Ok(id)
}

/// A retired MRN takes no more messages: they belong to the surviving one.
fn retired_check(c: &Connection, mrn: &str) -> std::result::Result<(), NotApplied> {
    let into: Option<String> = c
        .prepare_cached(
            "SELECT s.mrn FROM patient_merge m JOIN patient s ON s.patient_id = m.surviving_id
             WHERE m.retired_mrn = ? ORDER BY m.merge_id DESC LIMIT 1",
        )?
        .query_row([mrn], |r| r.get(0))
        .optional()?;
    match into {
        Some(s) => Err(NotApplied(
            204,
            format!("MRN {mrn} was merged into MRN {s}; send the surviving MRN"),
        )),
        None => Ok(()),
    }
}

fn known_patient(c: &Connection, m: &str, field: &str) -> std::result::Result<i64, NotApplied> {
    let m = mrn(m, field)?;
    retired_check(c, m.as_str())?;
    c.prepare_cached("SELECT patient_id FROM patient WHERE mrn = ?")?
        .query_row([m.as_str()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| {
            NotApplied(
                204,
                format!("unknown patient: no patient has MRN {m} ({field})"),
            )
        })
}

/// A feed's point-of-care code as a chartrack location: through `[hl7.locations]`, else the
/// code itself (upper case).
fn location(
    c: &Connection,
    settings: &Hl7Config,
    code: &str,
    field: &str,
) -> std::result::Result<(i64, String), NotApplied> {
    let mapped = settings
        .locations
        .get(code)
        .cloned()
        .unwrap_or_else(|| code.to_ascii_uppercase());
    let found: Option<i64> = c
        .prepare_cached("SELECT location_id FROM location WHERE code = ?")?
        .query_row([&mapped], |r| r.get(0))
        .optional()?;
    match (found, settings.locations.contains_key(code)) {
        (Some(id), _) => Ok((id, mapped)),
        (None, true) => Err(NotApplied(
            103,
            format!(
                "unknown location {mapped} ({field} {code}, mapped to {mapped} in [hl7.locations]): no chartrack location has the code {mapped}; create it or fix the mapping"
            ),
        )),
        (None, false) => Err(NotApplied(
            103,
            format!(
                "unknown location {code} ({field}): no chartrack location has that code; map it in [hl7.locations] or create the location"
            ),
        )),
    }
}

fn set_unit(
    c: &Connection,
    patient: i64,
    unit: Option<(i64, String)>,
    discharged: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO patient_unit (patient_id, unit_id, discharged, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (patient_id) DO UPDATE SET unit_id = coalesce(excluded.unit_id, patient_unit.unit_id),
             discharged = excluded.discharged, at = excluded.at",
    )?
    .execute(params![
        patient,
        unit.map(|u| u.0),
        discharged,
        stamp(now)
    ])?;
    Ok(())
}

fn merge(
    c: &Connection,
    surviving: &PatientFacts,
    retired: &str,
    message_id: i64,
    now: DateTime<Utc>,
) -> std::result::Result<(), NotApplied> {
    let old = mrn(retired, "MRG-1")?;
    if old.as_str() == surviving.mrn {
        return Err(NotApplied(
            207,
            format!("MRG-1 and PID-3 are the same MRN {old}: nothing to merge"),
        ));
    }
    let retired_id = known_patient(c, old.as_str(), "MRG-1")?;
    let surviving_id = upsert_patient(c, surviving, now)?;
    let volumes = c
        .prepare_cached("UPDATE volume SET patient_id = ?1 WHERE patient_id = ?2")?
        .execute([surviving_id, retired_id])?;
    let reports = c
        .prepare_cached("UPDATE loose_report SET patient_id = ?1 WHERE patient_id = ?2")?
        .execute([surviving_id, retired_id])?;
    // MRNs retired into the one retired now follow it to the survivor.
    c.prepare_cached("UPDATE patient_merge SET surviving_id = ?1 WHERE surviving_id = ?2")?
        .execute([surviving_id, retired_id])?;
    c.prepare_cached(
        "INSERT INTO patient_merge (surviving_id, retired_mrn, retired_id, message_id, merged_at, volumes, reports)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        surviving_id,
        old.as_str(),
        retired_id,
        message_id,
        stamp(now),
        volumes as i64,
        reports as i64
    ])?;
    Ok(())
}
