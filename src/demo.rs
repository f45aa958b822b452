//! `serve --demo`: a synthetic hospital (terminal-digit shelf sections, units, clinics, carts,
//! users, thousands of volumes with made-up names) and simulated stations whose scans take the
//! same path as a real scanner's. All names and MRNs are synthetic.

use crate::domain::{LocationCode, LocationKind, MissingReason, Mode, Mrn, Priority, Role};
use crate::stations::simulator::SimulatedScanner;
use crate::store::admin::{self, NewLocation, NewStation, NewVolume};
use crate::store::missing;
use crate::store::requests::{self, NewRequest};
use crate::store::{demo, query, ScanInput, Store};
use std::time::Duration;

/// Who the simulated stations scan and request as (they have no password: nobody signs in as them).
pub const SIM_CLERK: &str = "simulated-clerk";
pub const SIM_NURSE: &str = "simulated-nurse";
/// The simulated clerk's badge: the demo's serial scanner reads it before its scans, as a clerk
/// badges in at a station, so those scans are the simulated clerk's too.
pub const SIM_BADGE: &str = "BADGE-SIMCLERK";

const LAST: [&str; 20] = [
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
];
const FIRST: [&str; 16] = [
    "Ada", "Bram", "Cleo", "Dario", "Edie", "Fenn", "Greta", "Hugo", "Iris", "Jude", "Kit", "Lena",
    "Milo", "Nell", "Otto", "Pia",
];
const UNITS: [(&str, &str, LocationKind); 8] = [
    ("4W", "4 West (Medicine)", LocationKind::Unit),
    ("5E", "5 East (Surgery)", LocationKind::Unit),
    ("ICU", "Intensive Care", LocationKind::Unit),
    ("ED", "Emergency Department", LocationKind::Unit),
    ("CARD", "Cardiology Clinic", LocationKind::Clinic),
    ("ORTHO", "Orthopaedic Clinic", LocationKind::Clinic),
    ("ONC", "Oncology Clinic", LocationKind::Clinic),
    ("HIM", "HIM Office", LocationKind::Office),
];

/// A tiny deterministic generator (xorshift64*); the demo needs variety, not cryptography.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn code(s: &str) -> LocationCode {
    LocationCode::parse(s).expect("demo codes are valid")
}

/// Seed the demo hospital once (skipped when locations exist). Returns the demo users' password.
pub fn seed(store: &Store, volumes: u32) -> anyhow::Result<Option<String>> {
    if store.read_blocking(query::location_count)? > 0 {
        return Ok(None);
    }
    let password = format!("demo-{}", admin::random_secret(6));
    let hash = crate::passwords::hash(&password)?;
    let now = store.clock().now();
    store.write_blocking(move |c| {
        for lo in (0..100u8).step_by(20) {
            let hi = lo + 19;
            let l = NewLocation {
                code: code(&format!("FR-{lo:02}-{hi:02}")),
                name: format!("File room, terminal digits {lo:02}-{hi:02}"),
                kind: LocationKind::Shelf,
                barcode: None,
                terminal: Some((lo, hi)),
            };
            admin::create_location(c, &l, now)?;
        }
        for (c_, name, kind) in UNITS {
            admin::create_location(
                c,
                &NewLocation {
                    code: code(c_),
                    name: name.into(),
                    kind,
                    barcode: None,
                    terminal: None,
                },
                now,
            )?;
        }
        // The file room's check-in desk: charts come back here and are shelved at home.
        admin::create_location(
            c,
            &NewLocation {
                code: code("FR-DESK"),
                name: "File room check-in desk".into(),
                kind: LocationKind::Desk,
                barcode: None,
                terminal: None,
            },
            now,
        )?;
        admin::create_location(
            c,
            &NewLocation {
                code: code("OFFSITE"),
                name: "Off-site storage".into(),
                kind: LocationKind::Offsite,
                barcode: None,
                terminal: None,
            },
            now,
        )?;
        for i in 1..=3 {
            admin::create_location(
                c,
                &NewLocation {
                    code: code(&format!("CART-{i}")),
                    name: format!("Delivery cart {i}"),
                    kind: LocationKind::Container,
                    barcode: None,
                    terminal: None,
                },
                now,
            )?;
        }
        let mut users = Vec::new();
        for (name, role) in [
            ("clerk1", Role::Clerk),
            ("nurse1", Role::Nurse),
            ("supervisor1", Role::Supervisor),
        ] {
            users.push(admin::create_user(
                c,
                name,
                role,
                Some(&hash),
                None,
                false,
                now,
            )?);
        }
        // The simulated stations scan as simulated people, never as a demo user a person
        // signs in as: without a password they cannot sign in.
        for (name, role) in [(SIM_CLERK, Role::Clerk), (SIM_NURSE, Role::Nurse)] {
            admin::create_user(c, name, role, None, None, false, now)?;
        }
        let (nurse, supervisor) = (Some(users[1]), Some(users[2]));
        // nurse1 works on 4 West: her request form delivers there, and its floor page is hers.
        admin::set_home(c, "nurse1", Some(&code("4W")))?;
        let mut made = Vec::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for i in 0..volumes {
            let mrn = format!(
                "{:06}",
                100_000 + (i as u64 * 7_919 + rng.below(7)) % 900_000
            );
            let mrn = Mrn::parse(&mrn).expect("digits");
            let td = crate::domain::TerminalDigit::of(&mrn).primary;
            let lo = td / 20 * 20;
            let v = NewVolume {
                barcode: None,
                last_name: LAST[rng.below(LAST.len() as u64) as usize].into(),
                first_name: FIRST[rng.below(FIRST.len() as u64) as usize].into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(
                    1930 + rng.below(90) as i32,
                    1 + rng.below(12) as u32,
                    1 + rng.below(28) as u32,
                ),
                volume: 1,
                record_type: "medical".into(),
                home: code(&format!("FR-{lo:02}-{:02}", lo + 19)),
                // A few VIP / behavioural-health charts, shown as "location restricted".
                restricted: i % 50 == 7,
                mrn,
            };
            let mrn = v.mrn.clone();
            match admin::create_volume(c, &v, now) {
                Ok(barcode) => made.push((barcode, mrn)),
                // A repeated synthetic MRN drew another name: skip it.
                Err(crate::store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let mut stations = vec![
            NewStation {
                id: "demo-fileroom-out".into(),
                location: code("FR-00-19"),
                mode: Mode::CheckOut,
                port: None,
                usb: None,
                roles: vec![Role::Clerk, Role::Supervisor],
                locations: vec![],
            },
            NewStation {
                id: "demo-fileroom-in".into(),
                location: code("FR-DESK"),
                mode: Mode::CheckIn,
                port: None,
                usb: None,
                roles: vec![Role::Clerk, Role::Supervisor],
                locations: vec![],
            },
            NewStation {
                id: SERIAL_STATION.into(),
                location: code("FR-DESK"),
                mode: Mode::CheckIn,
                port: Some("(simulated scanner on a pseudo-terminal)".into()),
                usb: None,
                roles: vec![],
                locations: vec![],
            },
        ];
        for (c_, _, _) in UNITS {
            stations.push(NewStation {
                id: format!("demo-{}", c_.to_lowercase()),
                location: code(c_),
                mode: Mode::Receive,
                port: None,
                usb: None,
                roles: vec![],
                locations: vec![],
            });
        }
        stations.push(NewStation {
            id: "demo-fileroom-file".into(),
            location: code("FR-00-19"),
            mode: Mode::File,
            port: None,
            usb: None,
            roles: vec![Role::Clerk, Role::Supervisor],
            locations: vec![],
        });
        for s in &stations {
            admin::upsert_station(c, s, now)?;
        }
        // The day's work already waiting: requests (one STAT), loose reports, two missing charts.
        for (i, (barcode, mrn)) in made.iter().take(60).enumerate() {
            match i {
                0..=2 => {
                    let r = NewRequest {
                        barcode: barcode.clone(),
                        location: UNITS[i].0.into(),
                        priority: if i == 0 {
                            Priority::Stat
                        } else {
                            Priority::Routine
                        },
                        needed_by: None,
                        reason: Some("demo: clinic visit".into()),
                    };
                    requests::create(c, &r, nurse, now)?;
                }
                5 => {
                    missing::mark(c, barcode, MissingReason::NotOnShelf, None, supervisor, now)?;
                }
                11 => {
                    missing::mark(
                        c,
                        barcode,
                        MissingReason::NotReturned,
                        Some("demo: 5E says it was sent back"),
                        supervisor,
                        now,
                    )?;
                }
                i if i % 5 == 3 => {
                    admin::create_report(c, None, mrn, "Lab result (demo)", nurse, now)?;
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    Ok(Some(password))
}

/// The demo's serial station: a simulated scanner on a pseudo-terminal, read by a real serial
/// station reader (check-in at the file room).
pub const SERIAL_STATION: &str = "demo-fileroom-scanner";

/// Plug in the demo's simulated scanner and describe its station for the server to read.
#[cfg(unix)]
pub fn serial_scanner() -> anyhow::Result<(SimulatedScanner, crate::stations::SerialStation)> {
    let link = std::env::temp_dir().join(format!("chartrack-demo-scanner-{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    let scanner = SimulatedScanner::plug_in(&link)?;
    let keys = crate::stations::SerialKeys {
        port: Some(link.display().to_string()),
        profile: Some("honeywell-xenon".into()),
        ..Default::default()
    };
    let station = crate::stations::SerialStation::resolve(
        SERIAL_STATION,
        &keys,
        &crate::stations::profiles::built_in()?,
    )?
    .ok_or_else(|| anyhow::anyhow!("demo scanner without a port"))?;
    Ok((scanner, station))
}

/// Simulated stations: check charts out to units and clinics, receive them there, bring them
/// back. Every scan goes through `Store::scan`, like a real scanner's; returns to the file room
/// go through the simulated serial scanner when there is one, so the demo exercises the serial
/// path too.
/// The simulator's own stations, beside the people's: a station remembers who scans and
/// where things go, so a simulated clerk sharing a person's station would change its
/// destination between the person's slip and chart. Set up (again) at every start.
fn sim_stations(c: &rusqlite::Connection) -> crate::store::Result<()> {
    let now = chrono::Utc::now();
    let mut stations = vec![
        ("sim-fileroom-out".to_owned(), "FR-00-19", Mode::CheckOut),
        ("sim-fileroom-in".to_owned(), "FR-DESK", Mode::CheckIn),
        ("sim-fileroom-file".to_owned(), "FR-00-19", Mode::File),
    ];
    for (unit, _, _) in UNITS {
        stations.push((format!("sim-{}", unit.to_lowercase()), unit, Mode::Receive));
    }
    for (id, place, mode) in stations {
        let s = NewStation {
            id,
            location: code(place),
            mode,
            port: None,
            usb: None,
            roles: vec![Role::Clerk, Role::Nurse],
            locations: vec![],
        };
        admin::upsert_station(c, &s, now)?;
    }
    let badge = crate::domain::Barcode::parse(SIM_BADGE).expect("a valid barcode");
    crate::store::users::set_badge(c, SIM_CLERK, Some(&badge))
}

pub async fn simulate(store: Store, pace: Duration, scanner: Option<SimulatedScanner>) {
    let scanner = scanner.map(|s| std::sync::Arc::new(std::sync::Mutex::new(s)));
    let mut rng = Rng(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1);
    let user = store
        .read(|c| query::user_by_name(c, SIM_CLERK))
        .await
        .ok()
        .flatten();
    if let Err(e) = store.write(sim_stations).await {
        tracing::warn!(error = %e, "the demo's simulated stations could not be set up");
    }
    // When the serial scanner last read the simulated clerk's badge (a station remembers it
    // for `station_memory_seconds`, 300 by default).
    let mut badged: Option<std::time::Instant> = None;
    loop {
        tokio::time::sleep(pace).await;
        let scan = |station: String, value: String| ScanInput {
            station,
            line: value.into_bytes(),
            id: None,
            scanned_at: None,
            user: user.clone(),
        };
        if rng.below(40) == 0 {
            // Now and then a label nobody registered: an exception for the supervisor.
            let value = format!("LEGACY-{:05}", rng.below(100_000));
            let _ = store.scan(scan("sim-ed".into(), value)).await;
            continue;
        }
        let offset = rng.below(10_000) as i64;
        if rng.below(4) == 0 {
            if let Err(e) = workflow(&store, &mut rng, offset, &scan).await {
                tracing::warn!(error = %e, "demo workflow step not recorded");
            }
            continue;
        }
        let roll = rng.below(10);
        let result = if roll < 5 {
            let Ok(mut v) = store
                .read(move |c| demo::sample_volumes(c, "on_shelf", offset, 1))
                .await
            else {
                continue;
            };
            let Some((barcode, _)) = v.pop() else {
                continue;
            };
            let (unit, _, _) = UNITS[rng.below(UNITS.len() as u64) as usize];
            let loc_barcode = store
                .read(move |c| Ok(query::location_summary(c, unit)?.map(|l| l.barcode)))
                .await
                .ok()
                .flatten();
            let Some(dest) = loc_barcode else { continue };
            let _ = store.scan(scan("sim-fileroom-out".into(), dest)).await;
            store.scan(scan("sim-fileroom-out".into(), barcode)).await
        } else if roll < 8 {
            let Ok(mut v) = store
                .read(move |c| demo::sample_volumes(c, "in_transit", offset, 1))
                .await
            else {
                continue;
            };
            let Some((barcode, Some(dest))) = v.pop() else {
                continue;
            };
            store
                .scan(scan(format!("sim-{}", dest.to_lowercase()), barcode))
                .await
        } else {
            let Ok(mut v) = store
                .read(move |c| demo::sample_volumes(c, "at_location", offset, 1))
                .await
            else {
                continue;
            };
            let Some((barcode, _)) = v.pop() else {
                continue;
            };
            if let Some(sc) = &scanner {
                // As a clerk would: scan, then hear the answer (the feedback is read off the line).
                let sc = sc.clone();
                let badge_due = badged
                    .is_none_or(|t: std::time::Instant| t.elapsed() > Duration::from_secs(120));
                if badge_due {
                    badged = Some(std::time::Instant::now());
                }
                let _ = tokio::task::spawn_blocking(move || {
                    let mut sc = sc.lock().expect("demo scanner");
                    if badge_due && sc.scan(SIM_BADGE).is_ok() {
                        let _ = sc.read_back(64, Duration::from_millis(300));
                    }
                    if sc.scan(&barcode).is_ok() {
                        let _ = sc.read_back(64, Duration::from_millis(300));
                    }
                })
                .await;
                continue;
            }
            store.scan(scan("sim-fileroom-in".into(), barcode)).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "demo scan not recorded");
        }
    }
}

/// The records department's other work, now and then: a nurse requests a chart, the file room
/// works the pull list (slip, then volume), loose reports are registered, received and filed.
async fn workflow(
    store: &Store,
    rng: &mut Rng,
    offset: i64,
    scan: &(dyn Fn(String, String) -> ScanInput + Sync),
) -> crate::store::Result<()> {
    let out = || "sim-fileroom-out".to_string();
    match rng.below(5) {
        0 => {
            let Some((barcode, _)) = store
                .read(move |c| demo::sample_volumes(c, "on_shelf", offset, 1))
                .await?
                .pop()
            else {
                return Ok(());
            };
            let (unit, _, _) = UNITS[rng.below(UNITS.len() as u64) as usize];
            let r = NewRequest {
                barcode,
                location: unit.into(),
                priority: if rng.below(4) == 0 {
                    Priority::Stat
                } else {
                    Priority::Routine
                },
                needed_by: None,
                reason: None,
            };
            let (now, nurse) = (
                store.clock().now(),
                store.read(|c| query::user_by_name(c, SIM_NURSE)).await?,
            );
            let (created, note) = store
                .write(move |c| {
                    let created = requests::create(c, &r, nurse.map(|u| u.id), now)?;
                    Ok((created, requests::note(c, created.id())?))
                })
                .await?;
            if let requests::Created::New(_) = created {
                store.request_changed(note);
            }
        }
        1 | 2 => {
            if let Some((slip, volume)) = store.read(demo::next_to_pull).await? {
                store.scan(scan(out(), slip)).await?;
                store.scan(scan(out(), volume)).await?;
            }
        }
        3 => {
            // The simulated clerk reads a patient's MRN like anyone else: through the access log.
            let access = crate::store::audit::Access {
                user_id: None,
                actor: "demo-simulator".into(),
                action: "demo-register-report",
                subject: "a volume on its shelf".into(),
                remote: "local".into(),
            };
            let Some((_, mrn)) = store
                .audited(access, move |c| demo::patient_for_report(c, offset))
                .await?
            else {
                return Ok(());
            };
            let mrn =
                Mrn::parse(&mrn).map_err(|e| crate::store::StoreError::Internal(e.to_string()))?;
            let now = store.clock().now();
            store
                .write(move |c| {
                    admin::create_report(c, None, &mrn, "Transcribed report (demo)", None, now)
                })
                .await?;
        }
        _ => {
            // Receive the oldest report not yet received; or file one whose volume is on a shelf.
            if let Some((report, _)) = store.read(|c| demo::next_report(c, false)).await? {
                store.scan(scan("sim-fileroom-in".into(), report)).await?;
            } else if let Some((report, Some(volume))) =
                store.read(|c| demo::next_report(c, true)).await?
            {
                store.scan(scan("sim-fileroom-file".into(), report)).await?;
                store.scan(scan("sim-fileroom-file".into(), volume)).await?;
            }
        }
    }
    Ok(())
}
