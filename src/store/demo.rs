//! The demo's reads: what its simulated clerks and nurses pick to scan next. Nothing here is
//! used outside `chartrack serve --demo`; a patient's identity is read only through [`Audited`].

use super::audit::Audited;
use super::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// A few volumes in a status, pseudo-randomly spread (for the demo's simulated traffic).
pub fn sample_volumes(
    c: &Connection,
    status: &str,
    offset: i64,
    limit: u32,
) -> Result<Vec<(String, Option<String>)>> {
    let mut st = c.prepare_cached(
        "SELECT v.barcode, d.code FROM volume_state s JOIN volume v ON v.volume_id = s.volume_id
         LEFT JOIN location d ON d.location_id = s.destination_id
         WHERE s.status = ?1 ORDER BY (s.volume_id * 7919 + ?2) % 10007 LIMIT ?3",
    )?;
    let rows = st.query_map(params![status, offset, limit], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The demo's file room: the most urgent open request whose volume is on its shelf
/// (slip barcode, volume barcode).
pub fn next_to_pull(c: &Connection) -> Result<Option<(String, String)>> {
    Ok(c.prepare_cached(
        "SELECT q.barcode, v.barcode FROM request q JOIN volume v ON v.volume_id = q.volume_id
         JOIN volume_state s ON s.volume_id = q.volume_id
         WHERE q.status = 'open' AND s.status = 'on_shelf'
         ORDER BY q.priority = 'stat' DESC, q.request_id LIMIT 1",
    )?
    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}

/// The demo's clerk: an unfiled loose report (received or not yet) and, when one of its
/// patient's volumes is on its shelf, that volume's barcode.
pub fn next_report(c: &Connection, received: bool) -> Result<Option<(String, Option<String>)>> {
    Ok(c.prepare_cached(
        "SELECT r.barcode, (SELECT v.barcode FROM volume v JOIN volume_state s ON s.volume_id = v.volume_id
                            WHERE v.patient_id = r.patient_id AND s.status = 'on_shelf' LIMIT 1)
         FROM loose_report r WHERE r.filed_at IS NULL AND (r.received_at IS NOT NULL) = ?1
         ORDER BY r.report_id LIMIT 1",
    )?
    .query_row([received], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}

/// A volume on its shelf and its patient's MRN: the demo registers a loose report for it.
pub fn patient_for_report(c: &Audited, offset: i64) -> Result<Option<(String, String)>> {
    Ok(c.prepare_cached(
        "SELECT v.barcode, p.mrn FROM volume_state s JOIN volume v ON v.volume_id = s.volume_id
         JOIN patient p ON p.patient_id = v.patient_id
         WHERE s.status = 'on_shelf' ORDER BY (s.volume_id * 7919 + ?1) % 10007 LIMIT 1",
    )?
    .query_row([offset], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}
