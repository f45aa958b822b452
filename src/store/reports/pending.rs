//! The pending-requests report: open and pulled requests, most urgent first. A page in the
//! report's own order reads only its requests' rows.

use super::{listing, rows, Params};
use crate::store::audit::Audited;
use crate::store::Result;
use rusqlite::types::Value;

/// The pending-requests report's columns, for the requests its inner query picks (`k`).
const PENDING_SELECT: &str =
    "SELECT q.barcode, q.priority, q.needed_by, l.code, v.barcode, p.last_name || ', ' || p.first_name, q.status,
            s.status || ' ' || hl.code, q.created_at, (SELECT name FROM app_user WHERE user_id = q.requested_by)
     FROM request q JOIN volume v ON v.volume_id = q.volume_id JOIN patient p ON p.patient_id = v.patient_id
     JOIN volume_state s ON s.volume_id = v.volume_id JOIN location l ON l.location_id = q.location_id
     JOIN location hl ON hl.location_id = s.location_id";
const PENDING_ORDER: &str =
    "ORDER BY q.priority = 'stat' DESC, q.needed_by IS NULL, q.needed_by, q.request_id";

/// Open and pulled requests, most urgent first. In its own order, a page picks its requests
/// from the request table alone (the status index: only the active ones) and reads their
/// volumes and patients for that page only; the count is the index's. Ordered by a column,
/// or the CSV: every active request read in full.
pub(super) fn pending_requests(c: &Audited, p: &Params) -> Result<(Vec<Vec<String>>, usize)> {
    match (p.sort, p.limit) {
        (None, Some(limit)) => {
            let page = rows(
                c,
                &format!(
                    "{PENDING_SELECT} WHERE q.request_id IN (
                        SELECT q.request_id FROM request q WHERE q.status IN ('open','pulled')
                        {PENDING_ORDER} LIMIT ?1)
                     {PENDING_ORDER}"
                ),
                vec![Value::Integer(limit as i64)],
            )?;
            let total: i64 = c.query_row(
                "SELECT count(*) FROM request WHERE status IN ('open','pulled')",
                [],
                |r| r.get(0),
            )?;
            Ok((page, total as usize))
        }
        _ => listing(
            c,
            &format!("{PENDING_SELECT} WHERE q.status IN ('open','pulled') {PENDING_ORDER}"),
            vec![],
            p,
        ),
    }
}
