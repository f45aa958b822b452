//! Reads of volumes: one volume with its whereabouts and last scan, its movements, and the one
//! search box (barcode, MRN, name). All of them show patients, so all take an [`Audited`]
//! connection.

use crate::store::audit::Audited;
use crate::store::scan::{loc_ref, LocBrief};
use crate::store::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LastScan {
    #[schema(format = DateTime)]
    pub at: String,
    pub station: Option<String>,
    pub user: Option<String>,
    pub location: Option<LocBrief>,
}

/// A volume: who it belongs to, where it is and its last scan (`GET /api/v1/volumes/{barcode}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Volume)]
pub struct VolumeView {
    pub barcode: String,
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    pub volume: u32,
    pub record_type: String,
    #[schema(value_type = crate::domain::Status)]
    pub status: String,
    #[schema(format = DateTime)]
    pub since: String,
    pub home: LocBrief,
    pub location: LocBrief,
    pub destination: Option<LocBrief>,
    pub container: Option<LocBrief>,
    pub last_scan: Option<LastScan>,
    pub waiting_reports: u32,
    /// A restricted chart (VIP, behavioural health): its whereabouts are shown only to roles
    /// that may see them; to others its location shows as `restricted`.
    pub restricted: bool,
    /// The unit the patient is on, from the hospital's registration feed (HL7 A01/A02): where
    /// the chart will be wanted. `null` when not known or after a discharge (A03).
    pub patient_unit: Option<LocBrief>,
}

/// What a restricted chart shows in place of a location.
pub fn restricted_place() -> LocBrief {
    LocBrief {
        code: "restricted".into(),
        name: "location restricted".into(),
    }
}

impl VolumeView {
    /// For someone whose role may not see a restricted chart's whereabouts.
    pub fn hide_whereabouts(&mut self) {
        self.location = restricted_place();
        self.destination = self.destination.as_ref().map(|_| restricted_place());
        self.container = None;
        self.patient_unit = None;
        if let Some(l) = &mut self.last_scan {
            l.location = Some(restricted_place());
            l.station = None;
            // Who scanned it is where it was too (the clerk of a ward, the nurse of a clinic).
            l.user = None;
        }
    }
}

fn brief(c: &Connection, id: i64) -> Result<LocBrief> {
    let l = loc_ref(c, id)?;
    Ok(LocBrief {
        code: l.code,
        name: l.name,
    })
}

fn user_name(c: &Connection, id: Option<i64>) -> Result<Option<String>> {
    match id {
        None => Ok(None),
        Some(id) => Ok(c
            .prepare_cached("SELECT name FROM app_user WHERE user_id=?")?
            .query_row([id], |r| r.get(0))
            .optional()?),
    }
}

pub fn volume(c: &Audited, barcode: &str) -> Result<Option<VolumeView>> {
    let row = c
        .prepare_cached(
            "SELECT v.barcode, p.mrn, p.last_name, p.first_name, v.volume_no, v.record_type, s.status, s.since, v.home_id,
                    s.location_id, s.destination_id, s.container_id, s.last_scan_at, s.last_station_id, s.last_user_id, s.last_location_id,
                    (SELECT count(*) FROM loose_report r WHERE r.patient_id = v.patient_id AND r.filed_at IS NULL), p.restricted,
                    (SELECT u.unit_id FROM patient_unit u WHERE u.patient_id = v.patient_id AND u.discharged = 0)
             FROM volume v JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
             WHERE v.barcode = ?",
        )?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                (r.get::<_, u32>(4)?, r.get::<_, String>(5)?, r.get::<_, String>(6)?, r.get::<_, String>(7)?),
                (r.get::<_, i64>(8)?, r.get::<_, i64>(9)?, r.get::<_, Option<i64>>(10)?, r.get::<_, Option<i64>>(11)?),
                (r.get::<_, Option<String>>(12)?, r.get::<_, Option<String>>(13)?, r.get::<_, Option<i64>>(14)?, r.get::<_, Option<i64>>(15)?),
                (r.get::<_, u32>(16)?, r.get::<_, bool>(17)?, r.get::<_, Option<i64>>(18)?),
            ))
        })
        .optional()?;
    let Some((
        (barcode, mrn, last_name, first_name),
        (volume, record_type, status, since),
        (home, loc, dest, cont),
        (at, station, user, last_loc),
        (waiting, restricted, unit),
    )) = row
    else {
        return Ok(None);
    };
    let last_scan = match at {
        None => None,
        Some(at) => Some(LastScan {
            at,
            station,
            user: user_name(c, user)?,
            location: last_loc.map(|l| brief(c, l)).transpose()?,
        }),
    };
    Ok(Some(VolumeView {
        barcode,
        mrn,
        last_name,
        first_name,
        volume,
        record_type,
        status,
        since,
        home: brief(c, home)?,
        location: brief(c, loc)?,
        destination: dest.map(|d| brief(c, d)).transpose()?,
        container: cont.map(|d| brief(c, d)).transpose()?,
        last_scan,
        waiting_reports: waiting,
        restricted,
        patient_unit: unit.map(|u| brief(c, u)).transpose()?,
    }))
}

/// Whether a volume's patient is restricted; `None` when the volume is unknown.
pub fn is_restricted(c: &Audited, barcode: &str) -> Result<Option<bool>> {
    Ok(c
        .prepare_cached(
            "SELECT p.restricted FROM volume v JOIN patient p ON p.patient_id = v.patient_id WHERE v.barcode = ?",
        )?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| r.get(0))
        .optional()?)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Movement)]
pub struct MovementView {
    pub scan_id: String,
    pub seq: i64,
    #[schema(value_type = crate::domain::MoveAction)]
    pub action: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub station: String,
    pub user: Option<String>,
    pub receiver: Option<String>,
}

impl MovementView {
    /// A restricted chart's movement as those below supervisor see it: what and when, not
    /// where from or to, nor the station or the people (each of them is a place).
    pub fn hide_whereabouts(&mut self) {
        self.from = None;
        self.to = None;
        self.station = "restricted".into();
        self.user = None;
        self.receiver = None;
    }
}

/// A volume's movements, newest first; `None` when the volume is unknown.
pub fn movements(c: &Audited, barcode: &str, limit: u32) -> Result<Option<Vec<MovementView>>> {
    let id: Option<i64> = c
        .prepare_cached("SELECT volume_id FROM volume WHERE barcode=?")?
        .query_row([crate::domain::Barcode::canonical(barcode)], |r| r.get(0))
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let mut st = c.prepare_cached(
        "SELECT s.scan_id, m.movement_id, m.action, m.at, lf.code, lt.code, m.station_id, u.name, rv.name
         FROM movement m JOIN scan s ON s.scan_seq = m.scan_seq
         LEFT JOIN location lf ON lf.location_id = m.from_id LEFT JOIN location lt ON lt.location_id = m.to_id
         LEFT JOIN app_user u ON u.user_id = m.user_id LEFT JOIN app_user rv ON rv.user_id = m.receiver_id
         WHERE m.volume_id = ? ORDER BY m.movement_id DESC LIMIT ?",
    )?;
    let rows = st.query_map(params![id, limit], |r| {
        Ok(MovementView {
            scan_id: r.get(0)?,
            seq: r.get(1)?,
            action: r.get(2)?,
            at: r.get(3)?,
            from: r.get(4)?,
            to: r.get(5)?,
            station: r.get(6)?,
            user: r.get(7)?,
            receiver: r.get(8)?,
        })
    })?;
    Ok(Some(rows.collect::<rusqlite::Result<_>>()?))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub barcode: String,
    pub mrn: String,
    pub last_name: String,
    pub first_name: String,
    pub volume: u32,
    pub record_type: String,
    #[schema(value_type = crate::domain::Status)]
    pub status: String,
    pub location: LocBrief,
    pub destination: Option<LocBrief>,
    /// When, where (station) and by whom it was last scanned.
    #[schema(format = DateTime)]
    pub last_scan_at: Option<String>,
    pub last_station: Option<String>,
    pub last_user: Option<String>,
    pub restricted: bool,
    /// The patient's date of birth (YYYY-MM-DD), to tell same-name patients apart.
    #[schema(format = Date)]
    pub birth_date: Option<String>,
}

impl SearchHit {
    /// For someone whose role may not see a restricted chart's whereabouts.
    pub fn hide_whereabouts(&mut self) {
        self.location = restricted_place();
        self.destination = self.destination.as_ref().map(|_| restricted_place());
        self.last_station = None;
        self.last_user = None;
    }
}

/// The columns `hit_row` reads, after `FROM volume v JOIN patient p JOIN volume_state s JOIN
/// location l` (the current location) and the joins in [`HIT_JOINS`].
pub(super) const HIT_COLS: &str = "v.barcode, p.mrn, p.last_name, p.first_name, v.volume_no, v.record_type, s.status, l.code, l.name,
    d.code, d.name, s.last_scan_at, s.last_station_id, u.name, p.restricted, p.birth_date";
pub(super) const HIT_JOINS: &str = "LEFT JOIN location d ON d.location_id = s.destination_id
    LEFT JOIN app_user u ON u.user_id = s.last_user_id";

/// Volumes by barcode, MRN, or patient name ("last", "last, first" or "first last" prefixes).
pub fn search(c: &Audited, q: &str, limit: u32) -> Result<Vec<SearchHit>> {
    Ok(search_page(c, q, limit, 0)?.hits)
}

/// One page of a search and how many match in all.
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Every volume the search matches (the page shows `hits`, from `offset`).
    pub total: u64,
    pub offset: u64,
    /// More than [`COUNTED`] match: `total` is [`COUNTED`], and no page starts past it (a
    /// common surname among a million charts is narrowed, not paged through).
    pub capped: bool,
}

/// How many matches a search counts and pages through at most.
pub const COUNTED: u64 = 1_000;

/// [`search`]'s matches from `offset`, at most `limit`, and how many match in all.
pub fn search_page(c: &Audited, q: &str, limit: u32, offset: u64) -> Result<SearchPage> {
    let q = q.trim();
    let empty = SearchPage {
        hits: vec![],
        total: 0,
        offset,
        capped: false,
    };
    if q.is_empty() {
        return Ok(empty);
    }
    // A name followed by a date of birth (YYYY-MM-DD): the name's matches born that day.
    if let Some((name, dob)) = q.rsplit_once(' ') {
        if let Ok(dob) = chrono::NaiveDate::parse_from_str(dob.trim(), "%Y-%m-%d") {
            let name = name.trim().trim_end_matches(',').trim();
            if !name.is_empty() {
                return search_born(c, name, Some(dob.to_string()), limit, offset);
            }
        }
    }
    search_born(c, q, None, limit, offset)
}

/// [`search_page`], of patients born on `dob` when it is given.
fn search_born(
    c: &Audited,
    q: &str,
    dob: Option<String>,
    limit: u32,
    offset: u64,
) -> Result<SearchPage> {
    let code = crate::domain::Barcode::canonical(q);
    let from = format!("FROM volume v JOIN patient p ON p.patient_id = v.patient_id JOIN volume_state s ON s.volume_id = v.volume_id
        JOIN location l ON l.location_id = s.location_id {HIT_JOINS}");
    let born = "AND (?3 IS NULL OR p.birth_date = ?3)";
    let (filter, a, b) = if q.bytes().all(|b| b.is_ascii_digit()) {
        (
            // An MRN retired in a merge (HL7 A40) finds the surviving patient's charts.
            // (Its barcode was looked up first, below: an OR across the two tables would read
            // every volume.)
            "WHERE (p.mrn = ?1 OR p.patient_id IN (SELECT m.surviving_id FROM patient_merge m WHERE m.retired_mrn = ?1))",
            q.to_owned(),
            q.to_owned(),
        )
    } else if let Some((last, first)) = q.split_once(',') {
        (
            "WHERE p.last_name LIKE ?1 ESCAPE '\\' AND p.first_name LIKE ?2 ESCAPE '\\'",
            like_prefix(last.trim()),
            like_prefix(first.trim()),
        )
    } else if let Some((first, last)) = q.split_once(' ') {
        (
            // "first last", "last first", or a surname of more than one word ("Van der Berg",
            // ?6): each a range of the name index.
            "WHERE ((p.last_name LIKE ?1 ESCAPE '\\' AND p.first_name LIKE ?2 ESCAPE '\\') OR (p.last_name LIKE ?2 ESCAPE '\\' AND p.first_name LIKE ?1 ESCAPE '\\')
                    OR p.last_name LIKE ?6 ESCAPE '\\')",
            like_prefix(last.trim()),
            like_prefix(first.trim()),
        )
    } else {
        (
            // A barcode typed in the box was looked up first, below.
            "WHERE p.last_name LIKE ?1 ESCAPE '\\'",
            like_prefix(q),
            code.clone(),
        )
    };
    if !q.contains([' ', ',']) && dob.is_none() {
        // A scanned or typed barcode: its unique index answers at once (an OR with the name
        // LIKE would read every patient).
        let exact = format!("SELECT {HIT_COLS} {from} WHERE v.barcode = ?1");
        if let Some(hit) = c
            .prepare_cached(&exact)?
            .query_row([&code], hit_row)
            .optional()?
        {
            let shown = offset == 0;
            return Ok(SearchPage {
                hits: if shown { vec![hit] } else { vec![] },
                total: 1,
                offset,
                capped: false,
            });
        }
    }
    let order = "ORDER BY p.last_name COLLATE NOCASE, p.first_name COLLATE NOCASE, p.mrn, v.volume_no LIMIT ?4 OFFSET ?5";
    let sql = format!("SELECT {HIT_COLS} {from} {filter} {born} {order}");
    // Never a page past the counted matches: reading to it would read them all.
    let limit = if offset >= COUNTED { 0 } else { limit };
    // The whole text as a surname, for the filter that names ?6.
    let whole = filter.contains("?6").then(|| like_prefix(q));
    let bound = |fourth: i64, fifth: Option<i64>| {
        let mut v: Vec<rusqlite::types::Value> = vec![
            a.clone().into(),
            b.clone().into(),
            dob.clone().into(),
            fourth.into(),
        ];
        if fifth.is_some() || whole.is_some() {
            v.push(fifth.into());
        }
        if let Some(w) = &whole {
            v.push(w.clone().into());
        }
        rusqlite::params_from_iter(v)
    };
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(bound(i64::from(limit), Some(offset as i64)), hit_row)?;
    let hits: Vec<SearchHit> = rows.collect::<rusqlite::Result<_>>()?;
    // The count is read only when the page is full or does not start at the top (a search that
    // fits on its page already knows its total), and only up to one past COUNTED.
    let total = if offset == 0 && hits.len() < limit as usize {
        hits.len() as u64
    } else {
        let count = format!(
            "SELECT count(*) FROM (SELECT 1 FROM volume v JOIN patient p ON p.patient_id = v.patient_id {filter} {born} LIMIT ?4)"
        );
        c.prepare_cached(&count)?
            .query_row(bound(COUNTED as i64 + 1, None), |r| r.get::<_, i64>(0))? as u64
    };
    Ok(SearchPage {
        hits,
        total: total.min(COUNTED),
        offset,
        capped: total > COUNTED,
    })
}

/// A `SearchHit` from [`HIT_COLS`].
pub(super) fn hit_row(r: &rusqlite::Row) -> rusqlite::Result<SearchHit> {
    let dest: Option<String> = r.get(9)?;
    Ok(SearchHit {
        barcode: r.get(0)?,
        mrn: r.get(1)?,
        last_name: r.get(2)?,
        first_name: r.get(3)?,
        volume: r.get(4)?,
        record_type: r.get(5)?,
        status: r.get(6)?,
        location: LocBrief {
            code: r.get(7)?,
            name: r.get(8)?,
        },
        destination: match dest {
            Some(code) => Some(LocBrief {
                code,
                name: r.get(10)?,
            }),
            None => None,
        },
        last_scan_at: r.get(11)?,
        last_station: r.get(12)?,
        last_user: r.get(13)?,
        restricted: r.get(14)?,
        birth_date: r.get(15)?,
    })
}

fn like_prefix(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| {
            if matches!(c, '%' | '_' | '\\') {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect();
    format!("{escaped}%")
}
