//! `chartrack generate`: a synthetic history at hospital scale, written into an empty database
//! through the same schema and invariants as the scan path, for the scale benchmark
//! (`benches/scale/`) and for trying the pages on a large file. Synthetic data only.
//!
//! What it writes, in commit order (so `movement_id` and `scan_seq` follow time, as the writer's
//! do): file-room shelf sections by terminal digit, 24 wards and 16 clinics, the check-in desk and
//! off-site storage, stations at each, users; patients and volumes in rowid order; then about
//! five years of volume lives, denser recently: checked out from the file room (in transit to a
//! unit), received there, sometimes sent onwards (in transit, received), checked in at the desk,
//! often received back on the shelf. Each scan is decided by the real engine (`engine::decide`)
//! from the volume's state kept in memory, and written as the scan path writes it: the scan row
//! with its `ScanAnswer` JSON, then its movement. About 2 % of scans are refused (a check-out with
//! no destination scanned; now and then an unknown barcode, kept as an exception). Roughly one
//! chart view per ten movements goes into the access log through `audit::append` on the writer,
//! so the chain is keyed and `chartrack audit verify` passes. Lives still under way at the end
//! leave about 5 % of volumes out (the long stays overdue); `volume_state` is written once at the
//! end, in rowid order, as the movements leave it (`chartrack check` agrees); a few requests are
//! opened through `requests::create`. Besides, about one check-out in twelve (one request per
//! ~50 movements) fills a request made shortly before by a nurse of the unit: the engine pulls it
//! at the check-out and delivers it at the receive, written as the scan path writes them
//! (`scan::advance_request`); about one in sixteen of those is cancelled instead
//! (`requests::cancel`) and one in fifty ends not found, so the request table holds years of
//! closed requests, as a hospital's does, behind today's open ones.
//!
//! Speed: one writer job per ~100,000 scans (big transactions), cached statements, rows appended
//! in rowid order, scan ids that sort by time (so the unique index grows at its end), a large
//! page cache while generating, restored afterwards.
//!
//! `life` is the simulation: each day's lives begun, each step's scan decided and written.

mod life;

use super::admin::{self, NewLocation, NewStation};
use super::audit::{self, Access};
use super::requests::{self, NewRequest};
use super::scan::advance_request;
use super::scan::{LocBrief, ScanAnswer, VolumeBrief};
use super::{Result, Store, StoreError};
use crate::clock::stamp;
use crate::domain::{
    issue_barcode, EndReason, LocationCode, LocationKind, Mode, Mrn, Priority, RequestStatus, Role,
    Status,
};
use crate::engine::{self, Effect, LocRef, Memory, Remembered, Scanned, StationFacts, UserRef};
use crate::engine::{RequestRef, Settings, VolumeFacts};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub volumes: u32,
    pub movements: u64,
    /// The generator's seed: the same spec and seed give the same history.
    pub seed: u64,
    /// The end of the history (usually now).
    pub now: DateTime<Utc>,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub volumes: u64,
    pub patients: u64,
    pub movements: u64,
    pub scans: u64,
    pub refused: u64,
    pub exceptions: u64,
    pub access_entries: u64,
    pub requests: u64,
    /// Requests of the history: delivered, cancelled or not found (and a few still pulled).
    pub past_requests: u64,
    /// Volumes not on their shelf at the end.
    pub out: u64,
}

/// Years of history behind `now`.
const YEARS: i64 = 5;
/// Scans per writer job (one transaction).
const JOB_SCANS: u64 = 100_000;
/// The page cache while generating (KiB, as `PRAGMA cache_size` takes it negated).
const GENERATE_CACHE_KIB: i64 = 1_000_000;

const LAST: [&str; 32] = [
    "Ashdown",
    "Brightwater",
    "Calloway",
    "Dunmore",
    "Ellery",
    "Fairbanks",
    "Galloway",
    "Hartwell",
    "Ingram",
    "Jessop",
    "Kilbride",
    "Lockhart",
    "Merriweather",
    "Northcote",
    "Oakhurst",
    "Pemberton",
    "Quill",
    "Redfern",
    "Stanhope",
    "Thornbury",
    "Underhill",
    "Varley",
    "Whitlock",
    "Yardley",
    "Ashcombe",
    "Blakemore",
    "Cresswell",
    "Draycott",
    "Eversley",
    "Fenwick",
    "Gresham",
    "Holloway",
];
const FIRST: [&str; 24] = [
    "Ada", "Bram", "Cleo", "Dario", "Edie", "Fenn", "Greta", "Hugo", "Iris", "Jude", "Kit", "Lena",
    "Milo", "Nell", "Otto", "Pia", "Rosa", "Sami", "Tess", "Umar", "Vera", "Wren", "Yusuf", "Zora",
];
const CLINICS: [&str; 16] = [
    "CARD", "ORTHO", "ONC", "DERM", "ENT", "NEURO", "RHEUM", "ENDO", "GASTRO", "URO", "OPHTH",
    "RENAL", "RESP", "HAEM", "PAED", "OBGYN",
];

/// xorshift64*: variety, not cryptography.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Exponentially distributed, of mean `mean`.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

/// A place with the stations that scan there.
struct Place {
    loc: LocRef,
    /// Receive station (charts arrive); check-out station (charts leave).
    receive: usize,
    check_out: usize,
}

struct Station {
    id: String,
    location: usize,
    mode: Mode,
    last_scan: Option<DateTime<Utc>>,
}

/// One volume as the movements leave it.
#[derive(Clone)]
struct Vol {
    home: u16,
    status: Status,
    location: u16,
    destination: Option<u16>,
    since: DateTime<Utc>,
    last_movement: Option<i64>,
    last_scan_at: Option<String>,
    last_station: Option<u16>,
    last_user: Option<u32>,
    last_location: Option<u16>,
    /// A life under way (its plan), or none when it sits on its shelf.
    busy: bool,
    onward: Option<u16>,
    shelve: bool,
    patient: u32,
    /// The active request this life fills: its id, the place it is for, its priority, and
    /// whether its check-out has pulled it.
    request: Option<OpenRequest>,
}

/// A generated request under way (the engine pulls and delivers it).
#[derive(Clone, Copy)]
struct OpenRequest {
    id: i64,
    place: u16,
    priority: Priority,
    pulled: bool,
}

/// The steps of a life, in order; each is one scan.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Step {
    CheckOut,
    Receive,
    SendOnward,
    ReceiveOnward,
    CheckIn,
    Shelve,
}

/// Everything the generation keeps between writer jobs.
struct World {
    rng: Rng,
    settings: Settings,
    places: Vec<Place>,
    stations: Vec<Station>,
    /// Indexes into `places`: the check-in desk, off-site storage.
    desk: usize,
    offsite: usize,
    /// Units and clinics (indexes into `places`).
    floors: Vec<usize>,
    clerks: Vec<UserRef>,
    nurses: Vec<UserRef>,
    vols: Vec<Vol>,
    /// MRN and barcode of each volume (index = volume_id - 1).
    mrns: Vec<Mrn>,
    restricted: Vec<bool>,
    events: BinaryHeap<Reverse<(i64, u32, Step)>>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    /// Lives begun per day, by day.
    day: i64,
    days: i64,
    lives_left: f64,
    weight_left: f64,
    growth: f64,
    /// Mean stay out (days) of the short and long stays, and the share of long ones.
    short_stay: f64,
    long_stay: f64,
    long_share: f64,
    seq: u64,
    /// The last request id written.
    last_request: i64,
    /// The writer's page cache before generating, restored at the end.
    cache: i64,
    done: Generated,
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("in range")
}

/// A scan id that sorts by time (UUID version 7 layout): the unique index grows at its end.
fn scan_id(t: DateTime<Utc>, seq: u64) -> String {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&(millis(t) as u64).to_be_bytes()[2..]);
    b[6] = 0x70;
    b[8..].copy_from_slice(&seq.to_be_bytes());
    b[8] = 0x80 | (b[8] & 0x3f);
    uuid::Uuid::from_bytes(b).to_string()
}

fn barcode(volume: usize) -> String {
    issue_barcode('V', volume as u64 + 1)
}

fn code(s: &str) -> Result<LocationCode> {
    LocationCode::parse(s).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Refuse unless the database holds no volume (`generate` writes into a new database only).
fn refuse_if_not_empty(c: &Connection) -> Result<()> {
    let any: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM volume)", [], |r| r.get(0))?;
    if any {
        return Err(StoreError::Invalid(
            "the database already holds volumes: generate writes a synthetic history into a new, empty database only".into(),
        ));
    }
    Ok(())
}

/// Generate the history described by `spec` into the store's database. `progress` is told
/// after each writer job.
pub fn generate(
    store: &Store,
    spec: &Spec,
    progress: &mut dyn FnMut(&Generated),
) -> Result<Generated> {
    if spec.volumes == 0 || spec.movements == 0 {
        return Err(StoreError::Invalid(
            "--volumes and --movements must each be at least 1".into(),
        ));
    }
    if spec.volumes > 9_999_999 {
        return Err(StoreError::Invalid(
            "at most 9,999,999 volumes (barcodes have seven digits)".into(),
        ));
    }
    let settings = store.inner.options.engine;
    let spec2 = spec.clone();
    let mut world = store.write_blocking(move |c| {
        refuse_if_not_empty(c)?;
        let cache: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        c.pragma_update(None, "cache_size", -GENERATE_CACHE_KIB)?;
        let mut w = setup(c, &spec2, settings)?;
        w.cache = cache;
        Ok(w)
    })?;
    progress(&world.done);
    loop {
        let (w, more) = store.write_blocking(move |c| {
            let more = world.run(c, JOB_SCANS)?;
            Ok((world, more))
        })?;
        world = w;
        progress(&world.done);
        if !more {
            break;
        }
    }
    store.write_blocking(move |c| {
        world.finish(c)?;
        c.pragma_update(None, "cache_size", world.cache)?;
        Ok(world.done)
    })
}

/// A location by code: created when missing; its id and name.
fn place(c: &Connection, l: NewLocation, now: DateTime<Utc>) -> Result<LocRef> {
    let find = |c: &Connection| -> Result<Option<(i64, String)>> {
        Ok(
            c.prepare_cached("SELECT location_id, name FROM location WHERE code = ?")?
                .query_row([l.code.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
        )
    };
    if find(c)?.is_none() {
        admin::create_location(c, &l, now)?;
    }
    let (id, name) = find(c)?.ok_or_else(|| StoreError::Internal("location vanished".into()))?;
    Ok(LocRef {
        id,
        code: l.code.to_string(),
        name,
        kind: l.kind,
        terminal: l.terminal,
    })
}

fn user(c: &Connection, name: &str, role: Role, now: DateTime<Utc>) -> Result<UserRef> {
    let id: Option<i64> = c
        .prepare_cached("SELECT user_id FROM app_user WHERE name = ?")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    let id = match id {
        Some(id) => id,
        None => admin::create_user(c, name, role, None, None, false, now)?,
    };
    Ok(UserRef {
        id,
        name: name.to_owned(),
    })
}

/// Locations, stations, users, patients and volumes; the plan of the lives.
fn setup(c: &Connection, spec: &Spec, settings: Settings) -> Result<World> {
    let now = spec.now;
    let start = now - Duration::days(365 * YEARS);
    let mut rng = Rng(spec.seed | 1);
    let mut places: Vec<Place> = Vec::new();
    let mut stations: Vec<Station> = Vec::new();
    let mut add = |c: &Connection, l: NewLocation, modes: (Mode, Mode)| -> Result<usize> {
        let loc = place(c, l, start - Duration::days(3650))?;
        let i = places.len();
        let base = format!("gen-{}", loc.code.to_lowercase());
        let mut ids = [0usize; 2];
        for (k, (suffix, mode)) in [("in", modes.0), ("out", modes.1)].into_iter().enumerate() {
            let s = NewStation {
                id: format!("{base}-{suffix}"),
                location: code(&loc.code)?,
                mode,
                port: None,
                usb: None,
                roles: vec![],
                locations: vec![],
            };
            admin::upsert_station(c, &s, start)?;
            ids[k] = stations.len();
            stations.push(Station {
                id: s.id,
                location: i,
                mode,
                last_scan: None,
            });
        }
        places.push(Place {
            loc,
            receive: ids[0],
            check_out: ids[1],
        });
        Ok(i)
    };
    let mut section_of = [0u16; 100];
    for lo in (0..100u8).step_by(10) {
        let l = NewLocation {
            code: code(&format!("FR-{lo:02}-{:02}", lo + 9))?,
            name: format!("File room, terminal digits {lo:02}-{:02}", lo + 9),
            kind: LocationKind::Shelf,
            barcode: None,
            terminal: Some((lo, lo + 9)),
        };
        let i = add(c, l, (Mode::Receive, Mode::CheckOut))?;
        for d in lo..lo + 10 {
            section_of[d as usize] = i as u16;
        }
    }
    let desk = add(
        c,
        NewLocation {
            code: code("FR-DESK")?,
            name: "File room check-in desk".into(),
            kind: LocationKind::Desk,
            barcode: None,
            terminal: None,
        },
        (Mode::CheckIn, Mode::CheckOut),
    )?;
    let offsite = add(
        c,
        NewLocation {
            code: code("OFFSITE")?,
            name: "Off-site storage".into(),
            kind: LocationKind::Offsite,
            barcode: None,
            terminal: None,
        },
        (Mode::Receive, Mode::CheckOut),
    )?;
    let mut floors = Vec::new();
    for floor in 2..=9 {
        for (wing, name) in [("E", "East"), ("W", "West"), ("N", "North")] {
            floors.push(add(
                c,
                NewLocation {
                    code: code(&format!("{floor}{wing}"))?,
                    name: format!("{floor} {name}"),
                    kind: LocationKind::Unit,
                    barcode: None,
                    terminal: None,
                },
                (Mode::Receive, Mode::CheckOut),
            )?);
        }
    }
    for clinic in CLINICS {
        floors.push(add(
            c,
            NewLocation {
                code: code(clinic)?,
                name: format!("{clinic} Clinic"),
                kind: LocationKind::Clinic,
                barcode: None,
                terminal: None,
            },
            (Mode::Receive, Mode::CheckOut),
        )?);
    }
    let mut clerks = Vec::new();
    for i in 1..=20 {
        clerks.push(user(c, &format!("gen-clerk-{i:02}"), Role::Clerk, start)?);
    }
    let mut nurses = Vec::new();
    for i in 1..=80 {
        nurses.push(user(c, &format!("gen-nurse-{i:03}"), Role::Nurse, start)?);
    }
    for i in 1..=3 {
        user(c, &format!("gen-supervisor-{i}"), Role::Supervisor, start)?;
    }

    // Patients and volumes, in rowid order; one patient in ten has a second volume.
    let n = spec.volumes as usize;
    let mut vols = Vec::with_capacity(n);
    let mut mrns = Vec::with_capacity(n);
    let mut restricted = Vec::with_capacity(n);
    let mut patients = 0u64;
    let mut patient_id = 0i64;
    let mut second = false;
    let mut mrn = Mrn::parse("0").expect("digits");
    let mut secret = false;
    let mut created = start;
    for i in 0..n {
        if i == 0 || second || !rng.chance(0.1) {
            // A new patient.
            second = false;
            let number = 10_000_000 + (patients * 7_919) % 90_000_000;
            mrn = Mrn::parse(&format!("{number:08}")).expect("digits");
            secret = rng.chance(0.005);
            created = start - Duration::days(1 + rng.below(3650) as i64);
            let birth = chrono::NaiveDate::from_ymd_opt(
                1930 + rng.below(90) as i32,
                1 + rng.below(12) as u32,
                1 + rng.below(28) as u32,
            );
            c.prepare_cached("INSERT INTO patient (mrn, last_name, first_name, birth_date, restricted, created_at) VALUES (?1,?2,?3,?4,?5,?6)")?
                .execute(params![
                    mrn.as_str(),
                    LAST[rng.below(LAST.len() as u64) as usize],
                    FIRST[rng.below(FIRST.len() as u64) as usize],
                    birth.map(|d| d.to_string()),
                    secret,
                    stamp(created)
                ])?;
            patient_id = c.last_insert_rowid();
            patients += 1;
        } else {
            second = true;
        }
        let home = section_of[crate::domain::TerminalDigit::of(&mrn).primary as usize % 100];
        c.prepare_cached("INSERT INTO volume (barcode, patient_id, volume_no, record_type, home_id, created_at) VALUES (?1,?2,?3,'medical',?4,?5)")?
            .execute(params![barcode(i), patient_id, if second { 2 } else { 1 }, places[home as usize].loc.id, stamp(created)])?;
        if c.last_insert_rowid() != i as i64 + 1 {
            return Err(StoreError::Internal(
                "volumes are not numbered from 1".into(),
            ));
        }
        vols.push(Vol {
            home,
            status: Status::OnShelf,
            location: home,
            destination: None,
            since: created,
            last_movement: None,
            last_scan_at: None,
            last_station: None,
            last_user: None,
            last_location: None,
            busy: false,
            onward: None,
            shelve: false,
            patient: patient_id as u32,
            request: None,
        });
        mrns.push(mrn.clone());
        restricted.push(secret);
    }

    // Lives: about four movements each (check-out, receive, check-in; a fifth of them sent
    // onwards, three in five received back on the shelf), begun more often as the years pass
    // (four times as many a day at the end as at the start).
    let days = 365 * YEARS;
    let growth = 4f64.ln() / days as f64;
    let weight: f64 = (0..days).map(|d| (growth * d as f64).exp()).sum();
    let lives = spec.movements as f64 / 4.0;
    let per_day_at_end = lives * (growth * (days - 1) as f64).exp() / weight;
    // Out at the end ≈ lives begun a day × days out: about 5 % of volumes.
    let mean_out = (0.05 * n as f64 / per_day_at_end.max(1e-9)).max(0.2);
    let (short_stay, long_share, long_stay) = if mean_out <= 1.5 {
        (mean_out, 0.0, 0.0)
    } else {
        (1.2, 0.15, (mean_out - 0.85 * 1.2) / 0.15)
    };
    let done = Generated {
        volumes: n as u64,
        patients,
        ..Default::default()
    };
    Ok(World {
        rng,
        settings,
        places,
        stations,
        desk,
        offsite,
        floors,
        clerks,
        nurses,
        vols,
        mrns,
        restricted,
        events: BinaryHeap::new(),
        start,
        now,
        day: 0,
        days,
        lives_left: lives,
        weight_left: weight,
        growth,
        short_stay,
        long_stay,
        long_share,
        seq: 0,
        last_request: 0,
        cache: 0,
        done,
    })
}
