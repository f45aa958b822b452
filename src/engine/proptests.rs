//! Properties of `decide` over generated sequences of scans. A small world (a few volumes,
//! locations, requests, loose reports and one station) stands in for the store: each scan is
//! classified from it the way `store::scan` would, decided, and the decision's effects applied
//! to it, checking after every scan that
//! - every volume has one place: at most one movement per volume per scan, starting where the
//!   volume is; in transit exactly when it has a destination; on the shelf only at home;
//! - a refused scan changes nothing but what a refusal records (the unknown value kept as an
//!   exception; a missing volume's found mark and where it turned up), and not the mode;
//! - a volume with an open STAT request is never shelved silently: a check-in answers
//!   DO NOT SHELVE naming the request, and any scan that puts it on a shelf names the request;
//! - a report is filed only into its own patient's volume, and a request moves only forward.

use super::*;
use proptest::prelude::*;

const SHELF_LO: usize = 0;
const SHELF_HI: usize = 1;
const CART: usize = 4;

fn locations() -> Vec<LocRef> {
    let loc = |id, code: &str, kind, terminal| LocRef {
        id,
        code: code.into(),
        name: code.into(),
        kind,
        terminal,
    };
    vec![
        loc(1, "FR-00-19", LocationKind::Shelf, Some((0, 19))),
        loc(3, "FR-20-99", LocationKind::Shelf, Some((20, 99))),
        loc(10, "4W", LocationKind::Unit, None),
        loc(11, "CARD", LocationKind::Clinic, None),
        loc(20, "CART-1", LocationKind::Container, None),
    ]
}

/// Volumes: (MRN, home, patient). The first two are one patient's.
const VOLUMES: [(&str, usize, i64); 4] = [
    ("123405", SHELF_LO, 7),
    ("123405", SHELF_LO, 7),
    ("223445", SHELF_HI, 8),
    ("323477", SHELF_HI, 9),
];
/// Loose reports: the patient each belongs to.
const REPORTS: [i64; 2] = [7, 8];

#[derive(Debug, Clone)]
struct Vol {
    status: Status,
    location: usize,
    destination: Option<usize>,
    container: Option<i64>,
}

#[derive(Debug, Clone)]
struct Req {
    volume: usize,
    location: usize,
    priority: Priority,
    status: RequestStatus,
}

#[derive(Debug, Clone)]
struct Take {
    id: i64,
    location: usize,
    counted: Vec<Counted>,
    wrong_section: Vec<i64>,
    out_of_order: Vec<i64>,
}

#[derive(Debug, Clone)]
struct World {
    locs: Vec<LocRef>,
    vols: Vec<Vol>,
    reqs: Vec<Req>,
    reports: Vec<(bool, bool)>, // (filed, received)
    station: StationFacts,
    take: Option<Take>,
    takes: i64,
}

#[derive(Debug, Clone)]
enum Step {
    Volume(usize),
    Location(usize),
    Badge(i64),
    Slip(usize),
    Command(Command),
    Report(usize),
    Unknown(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..VOLUMES.len()).prop_map(Step::Volume),
        3 => (0..5usize).prop_map(Step::Location),
        1 => (1..3i64).prop_map(Step::Badge),
        2 => (0..3usize).prop_map(Step::Slip),
        3 => proptest::sample::select(Command::ALL.to_vec()).prop_map(Step::Command),
        1 => (0..REPORTS.len()).prop_map(Step::Report),
        1 => any::<bool>().prop_map(Step::Unknown),
    ]
}

fn request() -> impl Strategy<Value = Req> {
    (
        0..VOLUMES.len(),
        prop_oneof![Just(2usize), Just(3usize)],
        prop_oneof![Just(Priority::Stat), Just(Priority::Routine)],
        prop_oneof![Just(RequestStatus::Open), Just(RequestStatus::Pulled)],
    )
        .prop_map(|(volume, location, priority, status)| Req {
            volume,
            location,
            priority,
            status,
        })
}

fn world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(any::<bool>(), VOLUMES.len()),
        proptest::collection::vec(request(), 3),
        0..4usize,
        proptest::sample::select(Mode::ALL.to_vec()),
    )
        .prop_map(|(missing, reqs, at, mode)| {
            let locs = locations();
            let vols = VOLUMES
                .iter()
                .zip(missing)
                .map(|((_, home, _), missing)| Vol {
                    status: if missing {
                        Status::Missing
                    } else {
                        Status::OnShelf
                    },
                    location: *home,
                    destination: None,
                    container: None,
                })
                .collect();
            World {
                station: StationFacts {
                    id: "s1".into(),
                    location: locs[at].clone(),
                    mode,
                    memory: Memory::default(),
                    stocktake: None,
                },
                locs,
                vols,
                reqs,
                reports: vec![(false, false); REPORTS.len()],
                take: None,
                takes: 0,
            }
        })
}

impl World {
    fn loc_index(&self, id: i64) -> usize {
        self.locs
            .iter()
            .position(|l| l.id == id)
            .expect("a known location")
    }

    fn request_ref(&self, i: usize) -> RequestRef {
        let r = &self.reqs[i];
        RequestRef {
            id: i as i64 + 1,
            barcode: format!("Q{:07}", i + 1),
            volume_id: r.volume as i64 + 100,
            volume_barcode: format!("V{:07}", r.volume + 100),
            location: self.locs[r.location].clone(),
            priority: r.priority,
            status: r.status,
        }
    }

    fn volume_facts(&self, i: usize) -> VolumeFacts {
        let (mrn, home, patient_id) = VOLUMES[i];
        let v = &self.vols[i];
        VolumeFacts {
            id: i as i64 + 100,
            barcode: format!("V{:07}", i + 100),
            patient_id,
            mrn: Mrn::parse(mrn).unwrap(),
            home: self.locs[home].clone(),
            status: v.status,
            location: self.locs[v.location].clone(),
            destination: v.destination.map(|d| self.locs[d].clone()),
            container: v.container,
            waiting_reports: REPORTS
                .iter()
                .zip(&self.reports)
                .filter(|(p, (filed, _))| **p == patient_id && !filed)
                .count() as u32,
            requests: (0..self.reqs.len())
                .filter(|&r| self.reqs[r].volume == i && self.reqs[r].status.is_active())
                .map(|r| self.request_ref(r))
                .collect(),
            restricted: false,
        }
    }

    fn report_ref(&self, i: usize) -> ReportRef {
        ReportRef {
            id: i as i64 + 1,
            barcode: format!("R{:07}", i + 1),
            patient_id: REPORTS[i],
            filed: self.reports[i].0,
            received: self.reports[i].1,
            restricted: false,
            volumes: (0..VOLUMES.len())
                .filter(|&v| VOLUMES[v].2 == REPORTS[i])
                .map(|v| {
                    let f = self.volume_facts(v);
                    VolumeWhere {
                        barcode: f.barcode,
                        status: f.status,
                        location: f.location,
                        destination: f.destination,
                    }
                })
                .collect(),
        }
    }

    /// What the scanned value is, as `store::scan::classify` would find it.
    fn classify(&self, s: &Step) -> Scanned {
        match s {
            Step::Volume(i) => Scanned::Volume(self.volume_facts(*i)),
            Step::Location(CART) => Scanned::Container(
                self.locs[CART].clone(),
                (0..VOLUMES.len())
                    .filter(|&v| self.vols[v].container == Some(self.locs[CART].id))
                    .map(|v| self.volume_facts(v))
                    .collect(),
            ),
            Step::Location(i) => Scanned::Location(self.locs[*i].clone()),
            Step::Badge(id) => Scanned::Badge(UserRef {
                id: *id,
                name: format!("user{id}"),
            }),
            Step::Slip(i) => Scanned::Request(self.request_ref(*i)),
            Step::Command(c) => Scanned::Command(*c),
            Step::Report(i) => Scanned::Report(self.report_ref(*i)),
            Step::Unknown(misread) => Scanned::Unknown {
                value: "ZZ-UNKNOWN".into(),
                misread: *misread,
            },
        }
    }

    /// The open stocktake, as `store::stocktake::stocktake_facts` would give it.
    fn stocktake_facts(&self, scanned: &Scanned) -> Option<StocktakeFacts> {
        let t = self.take.as_ref()?;
        let volume = match scanned {
            Scanned::Volume(v) => Some(v.id),
            _ => None,
        };
        let seen = |id: i64| t.counted.iter().any(|c| c.volume_id == id);
        Some(StocktakeFacts {
            id: t.id,
            scope: Scope::Location(self.locs[t.location].clone()),
            run: t
                .counted
                .iter()
                .filter(|c| !t.wrong_section.contains(&c.volume_id))
                .map(|c| Counted {
                    misfiled: t.out_of_order.contains(&c.volume_id),
                    ..c.clone()
                })
                .collect(),
            this_expected: false,
            this_counted: volume.is_some_and(seen),
            expected: 0,
            expected_seen: 0,
            corrected: 0,
        })
    }

    /// Decide one scan and apply it, checking the properties. Returns why it failed, if it did.
    fn scan(&mut self, s: &Step, now: DateTime<Utc>) -> Result<(), TestCaseError> {
        let scanned = self.classify(s);
        self.station.stocktake = self.stocktake_facts(&scanned);
        let d = decide(&self.station, &scanned, None, now, &Settings::default());
        let said = |needle: &str| {
            d.message.contains(needle) || d.warnings.iter().any(|w| w.contains(needle))
        };

        // The volumes this scan was about, before it.
        let about: Vec<VolumeFacts> = match &scanned {
            Scanned::Volume(v) => vec![v.clone()],
            Scanned::Container(_, inside) => inside.clone(),
            _ => vec![],
        };

        // At most one movement per volume, starting where it is.
        let moves: Vec<&Move> = d
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::Move(m) => Some(m),
                _ => None,
            })
            .collect();
        for m in &moves {
            prop_assert_eq!(
                moves.iter().filter(|o| o.volume_id == m.volume_id).count(),
                1,
                "two movements of one volume: {:?}",
                d.effects
            );
            let i = (m.volume_id - 100) as usize;
            prop_assert!(
                about.iter().any(|v| v.id == m.volume_id),
                "moved a volume not scanned: {:?}",
                m
            );
            prop_assert_eq!(m.from, self.locs[self.vols[i].location].id);
        }

        if !d.accepted {
            prop_assert_eq!(d.mode, self.station.mode, "a refusal changed the mode");
            for e in &d.effects {
                let allowed = match e {
                    Effect::Exception { .. } => matches!(scanned, Scanned::Unknown { .. }),
                    Effect::Found { volume_id } => about
                        .iter()
                        .any(|v| v.id == *volume_id && v.status == Status::Missing),
                    Effect::Move(m) => {
                        m.action == MoveAction::Found
                            && about
                                .iter()
                                .any(|v| v.id == m.volume_id && v.status == Status::Missing)
                    }
                    _ => false,
                };
                prop_assert!(
                    allowed,
                    "a refused scan had an effect: {:?} ({})",
                    e,
                    d.message
                );
            }
        }

        // A STAT request is never shelved silently.
        for v in &about {
            let shelved = moves
                .iter()
                .any(|m| m.volume_id == v.id && m.status == Status::OnShelf);
            for r in v.requests.iter().filter(|r| r.priority == Priority::Stat) {
                if shelved && d.accepted && self.station.mode == Mode::CheckIn {
                    prop_assert!(
                        d.warnings.iter().any(|w| w.starts_with("DO NOT SHELVE")
                            && w.contains("(STAT)")
                            && w.contains(&r.barcode)),
                        "checked in without DO NOT SHELVE: {} {:?}",
                        d.message,
                        d.warnings
                    );
                    prop_assert!(d.message.contains("DO NOT SHELVE"), "{}", d.message);
                }
                if shelved {
                    prop_assert!(
                        said(&r.barcode) && said("STAT"),
                        "a STAT-requested volume put on the shelf silently: {} {:?}",
                        d.message,
                        d.warnings
                    );
                }
            }
        }

        self.apply(&d, &about)?;

        // Every volume has one place, consistent with its status.
        for (i, v) in self.vols.iter().enumerate() {
            prop_assert_eq!(
                v.status == Status::InTransit,
                v.destination.is_some(),
                "volume {} {:?}",
                i,
                v
            );
            if v.status == Status::OnShelf {
                prop_assert_eq!(
                    v.location,
                    VOLUMES[i].1,
                    "on a shelf away from home: {:?}",
                    v
                );
            }
        }
        self.station.memory = d.memory;
        self.station.mode = d.mode;
        Ok(())
    }

    fn apply(&mut self, d: &Decision, about: &[VolumeFacts]) -> Result<(), TestCaseError> {
        for e in &d.effects {
            match e {
                Effect::Move(m) => {
                    let to = self.loc_index(m.location);
                    let destination = m.destination.map(|id| self.loc_index(id));
                    let v = &mut self.vols[(m.volume_id - 100) as usize];
                    prop_assert!(m.status != Status::Missing, "a movement to missing");
                    v.status = m.status;
                    v.location = to;
                    v.destination = destination;
                    match m.container {
                        ContainerChange::Keep => {}
                        ContainerChange::Set(c) => v.container = Some(c),
                        ContainerChange::Clear => v.container = None,
                    }
                }
                Effect::FileReport {
                    report_id,
                    volume_id,
                } => {
                    let r = (*report_id - 1) as usize;
                    let v = (*volume_id - 100) as usize;
                    prop_assert_eq!(REPORTS[r], VOLUMES[v].2, "filed into another patient's");
                    prop_assert!(!self.reports[r].0, "filed twice");
                    self.reports[r].0 = true;
                }
                Effect::EmptyContainer { container_id } => {
                    for v in &mut self.vols {
                        if v.container == Some(*container_id) {
                            v.container = None;
                        }
                    }
                }
                Effect::Exception { .. } | Effect::Misfile { .. } => {}
                Effect::Request { request, status } => {
                    let r = &mut self.reqs[(request.id - 1) as usize];
                    let forward = match status {
                        RequestStatus::Pulled => r.status == RequestStatus::Open,
                        RequestStatus::Delivered | RequestStatus::NotFound => r.status.is_active(),
                        RequestStatus::Open | RequestStatus::Cancelled => false,
                    };
                    prop_assert!(forward, "request {:?} -> {:?}", r.status, status);
                    r.status = *status;
                }
                Effect::Found { volume_id } => {
                    prop_assert!(
                        about.iter().any(|v| v.id == *volume_id),
                        "found a volume not scanned"
                    );
                    prop_assert!(
                        self.vols[(*volume_id - 100) as usize].status != Status::Missing,
                        "found without a movement"
                    );
                }
                Effect::ReceiveReport { report_id, .. } => {
                    self.reports[(*report_id - 1) as usize].1 = true;
                }
                Effect::OpenStocktake { location_id } => {
                    prop_assert!(self.take.is_none(), "a second stocktake opened");
                    self.takes += 1;
                    self.take = Some(Take {
                        id: self.takes,
                        location: self.loc_index(*location_id),
                        counted: vec![],
                        wrong_section: vec![],
                        out_of_order: vec![],
                    });
                }
                Effect::Count { volume_id, .. } => {
                    let t = self.take.as_mut();
                    prop_assert!(t.is_some(), "a count without a stocktake");
                    let t = t.unwrap();
                    prop_assert!(!t.counted.iter().any(|c| c.volume_id == *volume_id));
                    let v = (*volume_id - 100) as usize;
                    t.counted.push(Counted {
                        volume_id: *volume_id,
                        barcode: format!("V{:07}", v + 100),
                        key: TerminalDigit::of(&Mrn::parse(VOLUMES[v].0).unwrap()),
                        misfiled: false,
                    });
                }
                Effect::CloseStocktake { stocktake_id } => {
                    prop_assert_eq!(self.take.as_ref().map(|t| t.id), Some(*stocktake_id));
                    self.take = None;
                }
            }
        }
        for e in &d.effects {
            if let (
                Effect::Misfile {
                    volume_id, kind, ..
                },
                Some(t),
            ) = (e, self.take.as_mut())
            {
                let named = if *kind == "wrong_section" {
                    &mut t.wrong_section
                } else {
                    &mut t.out_of_order
                };
                prop_assert!(!named.contains(volume_id), "named twice: {}", volume_id);
                named.push(*volume_id);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_sequence_of_scans_keeps_the_ledger_whole(
        mut w in world(),
        steps in proptest::collection::vec((step(), 0u8..40), 1..40),
    ) {
        let mut now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for (s, secs) in &steps {
            now += Duration::seconds(i64::from(*secs));
            w.scan(s, now)?;
        }
    }
}
