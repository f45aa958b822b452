//! What a label shows, read for printing (each read written to the access log first, in the same
//! transaction: a label carries a patient's name), a badge issued to a user who has none, and the
//! record of every print and reprint (who, what, which printer, why), append-only.

use super::audit::{self, Access};
use super::{Result, StoreError};
use crate::clock::stamp;
use crate::domain::{issue_barcode, Barcode};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

/// A label's barcode and its values, by field name (`labels::Kind::fields`).
#[derive(Debug, Clone)]
pub struct LabelData {
    pub barcode: String,
    pub fields: Vec<(&'static str, String)>,
}

/// What to read a label of.
#[derive(Debug, Clone)]
pub enum What {
    /// A volume by barcode.
    Volume(String),
    /// A location by code or barcode (not a container).
    Location(String),
    /// A container (cart, box) by code or barcode.
    Container(String),
    /// A user by name: their badge, issued now if they have none.
    Badge(String),
    /// A loose report by barcode.
    Report(String),
    /// A request's slip by its barcode.
    Slip(String),
}

/// Every volume barcode in a patient's chart (for "print all of a patient's volumes").
pub fn patient_volumes(c: &Connection, barcode: &str) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT v2.barcode FROM volume v JOIN volume v2 ON v2.patient_id = v.patient_id
         WHERE v.barcode = ?1 ORDER BY v2.volume_no, v2.volume_id",
    )?;
    let rows = st.query_map([Barcode::canonical(barcode)], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The codes of the locations from `from` to `to` (inclusive, by code), containers left out;
/// at most `limit`.
pub fn location_range(c: &Connection, from: &str, to: &str, limit: u32) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT code FROM location WHERE code >= ?1 AND code <= ?2 AND kind <> 'container'
         ORDER BY code LIMIT ?3",
    )?;
    let rows = st.query_map(params![from, to, limit], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The volumes registered from `since` on, oldest first; at most `limit`.
pub fn volumes_since(c: &Connection, since: &str, limit: u32) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT barcode FROM volume WHERE created_at >= ?1 ORDER BY volume_id LIMIT ?2",
    )?;
    let rows = st.query_map(params![since, limit], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Read one label, on the writer (a badge may be issued), after writing `access` (action
/// `label`) to the access log in the same transaction.
pub fn read(c: &Connection, what: &What, access: &Access, now: DateTime<Utc>) -> Result<LabelData> {
    audit::append(c, access, now)?;
    read_unaudited(c, what, now)
}

fn read_unaudited(c: &Connection, what: &What, now: DateTime<Utc>) -> Result<LabelData> {
    match what {
        What::Volume(b) => volume(c, b),
        What::Location(code) => location(c, code, false),
        What::Container(code) => location(c, code, true),
        What::Badge(user) => badge(c, user, now),
        What::Report(b) => report(c, b),
        What::Slip(b) => slip(c, b),
    }
}

fn name(last: &str, first: &str) -> String {
    if first.is_empty() {
        last.to_uppercase()
    } else {
        format!("{}, {first}", last.to_uppercase())
    }
}

fn volume(c: &Connection, barcode: &str) -> Result<LabelData> {
    c.prepare_cached(
        "SELECT v.barcode, p.last_name, p.first_name, p.mrn, coalesce(p.birth_date, ''),
                v.volume_no, v.record_type, l.code
         FROM volume v JOIN patient p ON p.patient_id = v.patient_id
         JOIN location l ON l.location_id = v.home_id WHERE v.barcode = ?1",
    )?
    .query_row([Barcode::canonical(barcode)], |r| {
        let (last, first): (String, String) = (r.get(1)?, r.get(2)?);
        Ok(LabelData {
            barcode: r.get(0)?,
            fields: vec![
                ("barcode", r.get(0)?),
                ("name", name(&last, &first)),
                ("last_name", last),
                ("first_name", first),
                ("mrn", r.get(3)?),
                ("birth_date", r.get(4)?),
                ("volume", r.get::<_, i64>(5)?.to_string()),
                ("record_type", r.get(6)?),
                ("home", r.get(7)?),
            ],
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no volume has the barcode {barcode}")))
}

fn location(c: &Connection, code: &str, container: bool) -> Result<LabelData> {
    let found: Option<(String, String, String, String)> = c
        .prepare_cached(
            "SELECT code, name, kind, barcode FROM location WHERE code = upper(?1) OR barcode = ?2",
        )?
        .query_row(params![code, Barcode::canonical(code)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let (code_, name, kind, barcode) = found.ok_or_else(|| {
        StoreError::NotFound(format!(
            "no {} has the code or barcode {code}",
            if container { "container" } else { "location" }
        ))
    })?;
    match (container, kind == "container") {
        (true, false) => Err(StoreError::Invalid(format!(
            "{code_} is a {kind}, not a container: print it as a location"
        ))),
        (false, true) => Err(StoreError::Invalid(format!(
            "{code_} is a container: print it as a container"
        ))),
        _ => Ok(LabelData {
            barcode: barcode.clone(),
            fields: vec![
                ("barcode", barcode),
                ("code", code_),
                ("name", name),
                ("kind", kind),
            ],
        }),
    }
}

fn badge(c: &Connection, user: &str, _now: DateTime<Utc>) -> Result<LabelData> {
    let found: Option<(i64, String, Option<String>, bool)> = c
        .prepare_cached("SELECT user_id, role, badge, active FROM app_user WHERE name = ?1")?
        .query_row([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (id, role, badge, active) =
        found.ok_or_else(|| StoreError::NotFound(format!("no user {user}")))?;
    if !active {
        return Err(StoreError::Invalid(format!(
            "{user} is disabled: a badge is not printed for them"
        )));
    }
    let badge = match badge {
        Some(b) => b,
        None => {
            // Issued with a check character; a clash with a badge typed in by hand is a clear
            // error, not a second holder.
            let b = issue_barcode('B', id as u64);
            c.prepare_cached("UPDATE app_user SET badge = ?2 WHERE user_id = ?1")?
                .execute(params![id, b])
                .map_err(|e| super::admin::constraint(e, &format!("the badge of {user}")))?;
            b
        }
    };
    Ok(LabelData {
        barcode: badge.clone(),
        fields: vec![
            ("barcode", badge),
            ("user", user.to_owned()),
            ("role", role),
        ],
    })
}

fn report(c: &Connection, barcode: &str) -> Result<LabelData> {
    c.prepare_cached(
        "SELECT r.barcode, p.last_name, p.first_name, p.mrn, r.description
         FROM loose_report r JOIN patient p ON p.patient_id = r.patient_id WHERE r.barcode = ?1",
    )?
    .query_row([Barcode::canonical(barcode)], |r| {
        Ok(LabelData {
            barcode: r.get(0)?,
            fields: vec![
                ("barcode", r.get(0)?),
                (
                    "name",
                    name(&r.get::<_, String>(1)?, &r.get::<_, String>(2)?),
                ),
                ("mrn", r.get(3)?),
                ("description", r.get(4)?),
            ],
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no loose report has the barcode {barcode}")))
}

fn slip(c: &Connection, barcode: &str) -> Result<LabelData> {
    c.prepare_cached(
        "SELECT q.barcode, p.last_name, p.first_name, p.mrn, v.barcode, l.code, l.name,
                q.priority, coalesce(q.needed_by, ''), coalesce(u.name, '')
         FROM request q JOIN volume v ON v.volume_id = q.volume_id
         JOIN patient p ON p.patient_id = v.patient_id
         JOIN location l ON l.location_id = q.location_id
         LEFT JOIN app_user u ON u.user_id = q.requested_by
         WHERE q.barcode = ?1",
    )?
    .query_row([Barcode::canonical(barcode)], |r| {
        let priority: String = r.get(7)?;
        Ok(LabelData {
            barcode: r.get(0)?,
            fields: vec![
                ("barcode", r.get(0)?),
                (
                    "name",
                    name(&r.get::<_, String>(1)?, &r.get::<_, String>(2)?),
                ),
                ("mrn", r.get(3)?),
                ("volume_barcode", r.get(4)?),
                ("destination", r.get(5)?),
                ("destination_name", r.get(6)?),
                (
                    "priority",
                    if priority == "stat" {
                        "STAT".into()
                    } else {
                        "Routine".into()
                    },
                ),
                ("needed_by", r.get(8)?),
                ("requested_by", r.get(9)?),
            ],
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no request slip has the barcode {barcode}")))
}

/// One print or reprint, as recorded.
#[derive(Debug, Clone)]
pub struct PrintJob {
    /// Who printed: a user's name, or `cli` with the operating-system user.
    pub actor: String,
    pub user_id: Option<i64>,
    /// `volume`, `location`, `badge`, `container`, `report`, `slip` or `sheet`.
    pub kind: String,
    /// What was printed: barcodes, comma-separated for a sheet (at most a few hundred).
    pub items: String,
    pub count: u32,
    /// The printer's name, or `sheet:letter`/`file` for what was not sent to a printer.
    pub printer: String,
    pub copies: u32,
    /// Why it was printed again (a reprint); None for a first print.
    pub reason: Option<String>,
}

/// Record a print (after the printer took it); returns its id.
pub fn record(c: &Connection, job: &PrintJob, now: DateTime<Utc>) -> Result<i64> {
    if let Some(r) = &job.reason {
        let n = r.trim().chars().count();
        if !(3..=300).contains(&n) || r.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a reprint's reason is one line of 3 to 300 characters".into(),
            ));
        }
    }
    c.prepare_cached(
        "INSERT INTO print_job (at, actor, user_id, kind, items, item_count, printer, copies, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        stamp(now),
        job.actor,
        job.user_id,
        job.kind,
        job.items,
        job.count,
        job.printer,
        job.copies,
        job.reason.as_deref().map(str::trim)
    ])?;
    Ok(c.last_insert_rowid())
}

/// A recorded print, for the supervisors' report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrintRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub items: String,
    pub count: u32,
    pub printer: String,
    pub copies: u32,
    pub reason: Option<String>,
}

/// Newest first.
pub fn recent(c: &Connection, limit: u32) -> Result<Vec<PrintRow>> {
    let mut st = c.prepare_cached(
        "SELECT print_id, at, actor, kind, items, item_count, printer, copies, reason
         FROM print_job ORDER BY print_id DESC LIMIT ?1",
    )?;
    let rows = st.query_map([limit], |r| {
        Ok(PrintRow {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            kind: r.get(3)?,
            items: r.get(4)?,
            count: r.get(5)?,
            printer: r.get(6)?,
            copies: r.get(7)?,
            reason: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When and by whom `item` (a barcode or user, one label of `kind`) was last printed.
pub fn printed_before(
    c: &Connection,
    kind: &str,
    item: &str,
) -> Result<Option<(String, String, String)>> {
    Ok(c.prepare_cached(
        "SELECT at, actor, printer FROM print_job WHERE kind = ?1 AND items = ?2
         ORDER BY print_id DESC LIMIT 1",
    )?
    .query_row(params![kind, item], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .optional()?)
}
