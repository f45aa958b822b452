//! The charged-out and overdue reports' pages, read place by place from the index of volumes
//! out by place and since (schema v16): a page stops at its limit whatever the number out.

use super::{Params, Result};
use crate::clock::stamp;
use crate::store::audit::Audited;

/// One place's volumes out (at it or on their way to it), oldest first: `?1` the place, `?2`
/// now, `?3` how many. From the index of volumes out by place and since (schema v16), which
/// SQLite seeks only with the place bound as a value.
pub const OUT_AT: &str = "SELECT v.barcode, p.last_name || ', ' || p.first_name, p.mrn, s.status, s.since,
        CAST(julianday(?2) - julianday(s.since) AS INTEGER)
     FROM volume_state s INDEXED BY volume_state_out
     JOIN volume v ON v.volume_id = s.volume_id JOIN patient p ON p.patient_id = v.patient_id
     WHERE s.status IN ('in_transit','at_location')
       AND (CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END) = ?1
     ORDER BY s.since LIMIT ?3";
/// The same, only those out since before `?4` (overdue there).
pub const OVERDUE_AT_PAGE: &str = "SELECT v.barcode, p.last_name || ', ' || p.first_name, p.mrn, s.status, s.since,
        CAST(julianday(?2) - julianday(s.since) AS INTEGER)
     FROM volume_state s INDEXED BY volume_state_out
     JOIN volume v ON v.volume_id = s.volume_id JOIN patient p ON p.patient_id = v.patient_id
     WHERE s.status IN ('in_transit','at_location')
       AND (CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END) = ?1
       AND s.since < ?4
     ORDER BY s.since LIMIT ?3";

/// Charged out (or only overdue) by holder, one page in the report's own order (holder code,
/// then since): place by place in code order ([`OUT_AT`]), so the page stops at its limit; the
/// total is the kept count (charged out) or the overdue count, never a count of every row.
pub(super) fn out_by_holder(
    c: &Audited,
    only_overdue: bool,
    p: &Params,
) -> Result<(Vec<Vec<String>>, usize)> {
    let limit = p.limit.unwrap_or(usize::MAX >> 1);
    let now = stamp(p.now);
    let places: Vec<(i64, String, String, String)> = c
        .prepare_cached("SELECT location_id, code, name, kind FROM location ORDER BY code")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut page: Vec<Vec<String>> = Vec::new();
    for (id, code, name, kind) in places {
        if page.len() >= limit {
            break;
        }
        let cut = p
            .cutoffs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| t.clone());
        let left = (limit - page.len()) as i64;
        let found: Vec<(String, String, String, String, String, i64)> = match (&cut, only_overdue) {
            (None, true) => continue,
            (Some(cut), true) => c
                .prepare_cached(OVERDUE_AT_PAGE)?
                .query_map(rusqlite::params![id, now, left, cut], out_row)?
                .collect::<rusqlite::Result<_>>()?,
            (_, false) => c
                .prepare_cached(OUT_AT)?
                .query_map(rusqlite::params![id, now, left], out_row)?
                .collect::<rusqlite::Result<_>>()?,
        };
        for (barcode, patient, mrn, status, since, days) in found {
            let overdue = cut.as_ref().is_some_and(|c| since < *c);
            page.push(vec![
                code.clone(),
                name.clone(),
                kind.clone(),
                barcode,
                patient,
                mrn,
                status,
                since,
                days.to_string(),
                if overdue { "yes" } else { "" }.to_owned(),
            ]);
        }
    }
    let total = if only_overdue {
        crate::store::query::overdue(c, &p.cutoffs)?
    } else {
        c.query_row(
            "SELECT coalesce(sum(n), 0) FROM tally WHERE name IN ('status:in_transit', 'status:at_location')",
            [],
            |r| r.get(0),
        )?
    };
    Ok((page, total as usize))
}

type OutRow = (String, String, String, String, String, i64);

fn out_row(r: &rusqlite::Row) -> rusqlite::Result<OutRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}
