//! The lists of requests: each picks its requests' ids from the request table's indexes
//! (active ones from the status index, ended ones since a time from the indexes on when they
//! ended, the pull order from the open requests and their volumes' states with the filing key
//! the database keeps), then reads the full row (`VIEW_SELECT`) only for what it shows.

use super::{view_row, Filter, RequestView, VIEW_SELECT};
use crate::store::audit::Audited;
use crate::store::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// The requests `ids` (in that order), each read with its volume, patient and places. A list
/// picks its ids from the request table's indexes first, then reads only the rows it shows.
fn rows_of(c: &Audited, ids: &[i64]) -> Result<Vec<RequestView>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("{VIEW_SELECT} WHERE q.request_id = ?1"));
    let mut st = c.prepare_cached(sql)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = st.query_row([id], view_row).optional()? {
            out.push(r);
        }
    }
    Ok(out)
}

fn ids(c: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<i64>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(args, |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The active (open or pulled) requests, newest first, for one place or all: read from the
/// status index (`+location_id`: never the place's index, which walks all its history).
fn active_ids(
    c: &Connection,
    location: Option<&str>,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<i64>> {
    let before = before.unwrap_or(i64::MAX);
    match location {
        None => ids(
            c,
            "SELECT request_id FROM request WHERE status IN ('open','pulled') AND request_id < ?2
             ORDER BY request_id DESC LIMIT ?1",
            params![limit, before],
        ),
        Some(code) => ids(
            c,
            "SELECT q.request_id FROM request q
             WHERE q.status IN ('open','pulled') AND q.request_id < ?3
               AND +q.location_id = (SELECT location_id FROM location WHERE code = ?1)
             ORDER BY q.request_id DESC LIMIT ?2",
            params![code, limit, before],
        ),
    }
}

/// How many requests are under way (open or pulled), from the status index.
pub fn active_count(c: &Connection) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM request WHERE status IN ('open','pulled')")?
            .query_row([], |r| r.get(0))?,
    )
}

/// Requests newest first. Active ones come from the status index; ended ones since a time
/// from the indexes on `delivered_at` and `ended_at`; all of them (no `since`) newest first
/// along the request id (or the place's index), stopping at the limit.
pub fn list(c: &Audited, f: &Filter) -> Result<Vec<RequestView>> {
    let limit = f.limit.unwrap_or(200).clamp(1, 5000);
    let location = f.location.as_deref();
    let mut chosen = if f.active {
        active_ids(c, location, limit, f.before)?
    } else if let Some(since) = &f.since {
        let mut all = active_ids(c, location, limit, None)?;
        all.extend(ids(
            c,
            "SELECT q.request_id FROM request q WHERE q.delivered_at >= ?1
               AND (?2 IS NULL OR +q.location_id = (SELECT location_id FROM location WHERE code = ?2))
             UNION ALL
             SELECT q.request_id FROM request q WHERE q.ended_at >= ?1
               AND (?2 IS NULL OR +q.location_id = (SELECT location_id FROM location WHERE code = ?2))",
            params![since, location],
        )?);
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.dedup();
        all
    } else {
        let before = f.before.unwrap_or(i64::MAX);
        match location {
            None => ids(
                c,
                "SELECT request_id FROM request WHERE request_id < ?2 ORDER BY request_id DESC LIMIT ?1",
                params![limit, before],
            )?,
            Some(code) => ids(
                c,
                "SELECT q.request_id FROM request q
                 WHERE q.location_id = (SELECT location_id FROM location WHERE code = ?1) AND q.request_id < ?3
                 ORDER BY q.request_id DESC LIMIT ?2",
                params![code, limit, before],
            )?,
        }
    };
    chosen.truncate(limit as usize);
    rows_of(c, &chosen)
}

/// The open requests asked of whoever holds the volume at `code` (it is there, or on its way
/// there), newest first: the floor page's "asked of us".
pub fn asked_of(c: &Audited, code: &str) -> Result<Vec<RequestView>> {
    let chosen = ids(
        c,
        "SELECT q.request_id FROM request q JOIN volume_state s ON s.volume_id = q.volume_id
         WHERE q.status = 'open' AND s.status <> 'on_shelf'
           AND CASE WHEN s.status = 'in_transit' THEN coalesce(s.destination_id, s.location_id) ELSE s.location_id END
               = (SELECT location_id FROM location WHERE code = ?1)
         ORDER BY q.request_id DESC LIMIT 5000",
        params![code],
    )?;
    rows_of(c, &chosen)
}

/// Where an open request stands in the pull order, read without its patient's name: enough
/// to sort and split the pull list before reading the rows one page shows.
#[derive(Debug, Clone)]
struct PullKey {
    id: i64,
    stat: bool,
    needed_by: Option<String>,
    on_shelf: bool,
    /// `request.filing_key`: the terminal-digit order as text (schema v19).
    filing_key: Option<String>,
}

/// The open requests' pull order, read from the status index: on the shelf (to pull) STAT
/// first, then by needed-by time (none last), then terminal-digit order; the rest (transfer
/// requests: the volume is out) STAT first, then oldest first.
fn pull_order(c: &Connection) -> Result<(Vec<i64>, Vec<i64>)> {
    let mut st = c.prepare_cached(
        "SELECT q.request_id, q.priority = 'stat', q.needed_by, s.status = 'on_shelf', q.filing_key
         FROM request q JOIN volume_state s ON s.volume_id = q.volume_id
         WHERE q.status = 'open'",
    )?;
    let keys = st
        .query_map([], |r| {
            Ok(PullKey {
                id: r.get(0)?,
                stat: r.get(1)?,
                needed_by: r.get(2)?,
                on_shelf: r.get(3)?,
                filing_key: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (mut pull, mut transfer): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| k.on_shelf);
    pull.sort_by(|a, b| {
        let key = |k: &PullKey| {
            (
                !k.stat,
                k.needed_by.is_none(),
                k.needed_by.clone(),
                k.filing_key.clone(),
                k.id,
            )
        };
        key(a).cmp(&key(b))
    });
    transfer.sort_by_key(|k| (!k.stat, k.id));
    Ok((
        pull.into_iter().map(|k| k.id).collect(),
        transfer.into_iter().map(|k| k.id).collect(),
    ))
}

/// One page of the pull list: `limit` requests to pull from position `offset` (0-based) in
/// pull order, how many there are in all, and (on the first page) every transfer request.
#[derive(Debug, Clone)]
pub struct PullPage {
    pub pull: Vec<RequestView>,
    /// Requests to pull in all (every page).
    pub total: usize,
    /// Where this page starts in the pull order (0-based).
    pub offset: usize,
    pub transfer: Vec<RequestView>,
}

/// A page of the pull list (see [`pull_list`] for the order): the order is read narrowly for
/// every open request; the full rows only for this page.
pub fn pull_page(c: &Audited, offset: usize, limit: usize) -> Result<PullPage> {
    let (pull, transfer) = pull_order(c)?;
    let total = pull.len();
    let offset = offset.min(total);
    let end = offset.saturating_add(limit).min(total);
    if offset == 0 && end == total && total > BULK {
        let (pull, transfer) = open_rows_in(c, &pull, &transfer)?;
        return Ok(PullPage {
            pull,
            total,
            offset,
            transfer,
        });
    }
    Ok(PullPage {
        pull: rows_of(c, &pull[offset..end])?,
        total,
        offset,
        transfer: if offset == 0 {
            rows_of(c, &transfer)?
        } else {
            Vec::new()
        },
    })
}

/// Past this many rows, every open request is read in one pass (as `VIEW_SELECT` joins them)
/// rather than one by one.
const BULK: usize = 200;

/// Every open request's row, in the orders given: one pass over the status index.
fn open_rows_in(
    c: &Audited,
    pull: &[i64],
    transfer: &[i64],
) -> Result<(Vec<RequestView>, Vec<RequestView>)> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| format!("{VIEW_SELECT} WHERE q.status = 'open'"));
    let mut by_id: std::collections::HashMap<i64, RequestView> = c
        .prepare_cached(sql)?
        .query_map([], view_row)?
        .map(|r| r.map(|r| (r.id, r)))
        .collect::<rusqlite::Result<_>>()?;
    let mut take = |ids: &[i64]| -> Vec<RequestView> {
        ids.iter().filter_map(|id| by_id.remove(id)).collect()
    };
    Ok((take(pull), take(transfer)))
}

/// The file room's pull list: open requests for volumes on their shelves, STAT first, then by
/// needed-by time (none last), then in terminal-digit order so one walk of the shelves pulls
/// them all. Also the open requests that wait on someone else (transfer requests). All of
/// them (the API, and the page's "print all").
pub fn pull_list(c: &Audited) -> Result<(Vec<RequestView>, Vec<RequestView>)> {
    let page = pull_page(c, 0, usize::MAX)?;
    Ok((page.pull, page.transfer))
}

#[cfg(test)]
mod tests {
    use crate::domain::{Mrn, TerminalDigit};
    use rusqlite::{params, Connection};

    /// The key the database keeps on an active request sorts as `TerminalDigit` does, for
    /// short, padded and long MRNs; and follows a volume moved to another patient (a merge)
    /// and a patient's corrected MRN.
    #[test]
    fn the_kept_filing_key_sorts_in_terminal_digit_order() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO location (location_id, code, name, kind, barcode, created_at)
             VALUES (1, '4W', '4 West', 'unit', 'L4W', 't')",
        )
        .unwrap();
        let mrns = [
            "5",
            "12",
            "123",
            "1234",
            "01234",
            "001234",
            "99",
            "100",
            "456789",
            "456788",
            "1456789",
            "9999999",
            "10000000",
            "0000",
            "000100",
            "123456789012",
            "7",
            "00000012",
            "300000",
            "200001",
        ];
        for (i, mrn) in mrns.iter().enumerate() {
            let id = i as i64 + 1;
            c.execute(
                "INSERT INTO patient (patient_id, mrn, last_name, first_name, created_at) VALUES (?1, ?2, 'A', 'B', 't')",
                params![id, mrn],
            )
            .unwrap();
            c.execute(
                "INSERT INTO volume (volume_id, barcode, patient_id, home_id, created_at) VALUES (?1, ?2, ?1, 1, 't')",
                params![id, format!("V{id}")],
            )
            .unwrap();
            c.execute(
                "INSERT INTO request (request_id, barcode, volume_id, location_id, priority, status, created_at)
                 VALUES (?1, ?2, ?1, 1, 'routine', 'open', 't')",
                params![id, format!("Q{id}")],
            )
            .unwrap();
        }
        let keyed = |c: &Connection| -> Vec<(String, String)> {
            let mut st = c
                .prepare(
                    "SELECT q.filing_key, p.mrn FROM request q JOIN volume v ON v.volume_id = q.volume_id
                     JOIN patient p ON p.patient_id = v.patient_id ORDER BY q.request_id",
                )
                .unwrap();
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let check = |rows: &[(String, String)]| {
            for a in rows {
                for b in rows {
                    let td = |m: &str| TerminalDigit::of(&Mrn::parse(m).unwrap());
                    assert_eq!(a.0.cmp(&b.0), td(&a.1).cmp(&td(&b.1)), "{a:?} {b:?}");
                }
            }
        };
        check(&keyed(&c));
        // A merge moves a volume to another patient; a corrected MRN: the key follows.
        c.execute("UPDATE volume SET patient_id = 9 WHERE volume_id = 1", [])
            .unwrap();
        c.execute("UPDATE patient SET mrn = '880001' WHERE patient_id = 2", [])
            .unwrap();
        let rows = keyed(&c);
        assert_eq!(rows[0].1, "456789");
        assert_eq!(rows[1].1, "880001");
        check(&rows);
    }
}
