//! Shelf audits through `decide`: a stocktake station counts a shelf chart by chart, the way the
//! store feeds it (`Audit` stands in for `store::scan`'s facts), and every misfile named is
//! checked against where the charts really were put.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

fn shelf(id: i64, code: &str, terminal: (u8, u8)) -> LocRef {
    LocRef {
        id,
        code: code.into(),
        name: code.into(),
        kind: LocationKind::Shelf,
        terminal: Some(terminal),
    }
}

/// The section audited: terminal digits 00-19.
fn here() -> LocRef {
    shelf(1, "FR-00-19", (0, 19))
}

/// A section elsewhere, where wrong-section charts belong.
fn elsewhere() -> LocRef {
    shelf(3, "FR-20-99", (20, 99))
}

fn chart(id: i64, mrn: &str) -> VolumeFacts {
    let mrn = Mrn::parse(mrn).unwrap();
    let home = if TerminalDigit::of(&mrn).primary <= 19 {
        here()
    } else {
        elsewhere()
    };
    VolumeFacts {
        id,
        barcode: format!("V{id:07}"),
        patient_id: id,
        mrn,
        location: here(),
        home,
        status: Status::OnShelf,
        destination: None,
        container: None,
        waiting_reports: 0,
        requests: vec![],
        restricted: false,
    }
}

/// One stocktake at one station, with what the store would remember between scans.
struct Audit {
    station: StationFacts,
    /// Every chart counted, in scan order.
    counted: Vec<Counted>,
    /// Charts named as misfiled, and by which kind, with the number of the scan that named them.
    named: BTreeMap<(i64, &'static str), usize>,
    /// Named more than once.
    renamed: Vec<i64>,
    scans: usize,
}

impl Audit {
    fn new() -> Self {
        Audit {
            station: StationFacts {
                id: "count".into(),
                location: here(),
                mode: Mode::Inventory,
                memory: Memory::default(),
                stocktake: None,
            },
            counted: Vec::new(),
            named: BTreeMap::new(),
            renamed: Vec::new(),
            scans: 0,
        }
    }

    /// What the store gives the engine about the open stocktake: the run counted so far, less
    /// the charts named for a wrong section, each marked when already named out of order.
    fn facts(&self, v: Option<&VolumeFacts>) -> StocktakeFacts {
        let run = self
            .counted
            .iter()
            .filter(|c| !self.named.contains_key(&(c.volume_id, "wrong_section")))
            .map(|c| Counted {
                misfiled: self.named.contains_key(&(c.volume_id, "out_of_order")),
                ..c.clone()
            })
            .collect();
        StocktakeFacts {
            id: 9,
            scope: Scope::Location(here()),
            run,
            this_expected: true,
            this_counted: v.is_some_and(|v| self.counted.iter().any(|c| c.volume_id == v.id)),
            expected: 0,
            expected_seen: 0,
            corrected: 0,
        }
    }

    fn decide(&mut self, scanned: Scanned, v: Option<&VolumeFacts>) -> Decision {
        self.station.stocktake = Some(self.facts(v));
        self.scans += 1;
        let now = DateTime::from_timestamp(1_800_000_000 + 10 * self.scans as i64, 0).unwrap();
        let d = decide(&self.station, &scanned, None, now, &Settings::default());
        self.station.memory = d.memory.clone();
        self.station.mode = d.mode;
        for e in &d.effects {
            match e {
                Effect::Count { volume_id, .. } => {
                    let v = v.expect("a count is of the volume scanned");
                    assert_eq!(*volume_id, v.id);
                    self.counted.push(Counted {
                        volume_id: v.id,
                        barcode: v.barcode.clone(),
                        key: TerminalDigit::of(&v.mrn),
                        misfiled: false,
                    });
                }
                Effect::Misfile {
                    volume_id, kind, ..
                } => {
                    let earlier = self.named.insert((*volume_id, *kind), self.scans);
                    self.renamed.extend(earlier.map(|_| *volume_id));
                }
                _ => {}
            }
        }
        d
    }

    fn scan(&mut self, v: &VolumeFacts) -> Decision {
        self.decide(Scanned::Volume(v.clone()), Some(v))
    }

    fn done(&mut self) -> Decision {
        self.decide(Scanned::Command(Command::Done), None)
    }

    /// Count a whole shelf and close the stocktake.
    fn shelf(charts: &[VolumeFacts]) -> Audit {
        let mut a = Audit::new();
        for v in charts {
            let d = a.scan(v);
            assert!(d.accepted, "{}", d.message);
        }
        a.done();
        a
    }

    fn out_of_order(&self) -> BTreeSet<i64> {
        self.kind("out_of_order")
    }

    fn kind(&self, kind: &str) -> BTreeSet<i64> {
        self.named
            .keys()
            .filter(|(_, k)| *k == kind)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The scan (1-based) that named this chart out of order.
    fn named_at(&self, id: i64) -> Option<usize> {
        self.named.get(&(id, "out_of_order")).copied()
    }
}

fn misfiles(d: &Decision) -> Vec<i64> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Misfile { volume_id, .. } => Some(*volume_id),
            _ => None,
        })
        .collect()
}

/// `n` charts of this section in terminal-digit order, numbered 1.. in shelf order.
fn in_order(n: i64) -> Vec<VolumeFacts> {
    (1..=n)
        .map(|i| chart(i, &format!("{:04}{:02}", 1000 + i, i % 20)))
        .collect::<Vec<_>>()
        .tap_sort()
}

trait TapSort {
    fn tap_sort(self) -> Self;
}
impl TapSort for Vec<VolumeFacts> {
    /// Sorted by terminal digit, ids renumbered 1.. in shelf order.
    fn tap_sort(mut self) -> Self {
        self.sort_by_key(|v| TerminalDigit::of(&v.mrn));
        for (i, v) in self.iter_mut().enumerate() {
            v.id = i as i64 + 1;
            v.patient_id = v.id;
            v.barcode = format!("V{:07}", v.id);
        }
        self
    }
}

/// Move the chart at `from` so that it sits at `to` on the shelf.
fn displace(shelf: &mut Vec<VolumeFacts>, from: usize, to: usize) -> i64 {
    let v = shelf.remove(from);
    let id = v.id;
    shelf.insert(to, v);
    id
}

#[test]
fn a_shelf_in_order_names_nothing() {
    let a = Audit::shelf(&in_order(40));
    assert!(a.named.is_empty(), "{:?}", a.named);
}

#[test]
fn a_chart_displaced_to_the_start_is_named_once_the_run_shows_it_not_its_neighbour() {
    let mut charts = in_order(12);
    let x = displace(&mut charts, 8, 0);
    let mut a = Audit::new();
    for (i, v) in charts.iter().enumerate() {
        let d = a.scan(v);
        // No chart after it is ever blamed.
        assert!(
            misfiles(&d).iter().all(|id| *id == x),
            "scan {i}: {:?} {:?}",
            misfiles(&d),
            d.warnings
        );
        if misfiles(&d) == [x] {
            assert!(
                d.warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("OUT OF ORDER: {}", charts[0].barcode))),
                "the earlier chart is named in words too: {:?}",
                d.warnings
            );
        }
    }
    a.done();
    assert_eq!(a.out_of_order(), BTreeSet::from([x]));
    // Recognisable once two charts after it are in order below it: the fourth scan at the latest.
    assert!(a.named_at(x).unwrap() <= 4, "{:?}", a.named);
}

#[test]
fn a_chart_displaced_forward_in_the_middle_is_named_as_it_is_scanned() {
    let mut charts = in_order(20);
    // Its place is 5th; it was put 13th.
    let x = displace(&mut charts, 4, 12);
    let mut a = Audit::new();
    for v in &charts {
        let d = a.scan(v);
        if v.id == x {
            assert_eq!(misfiles(&d), [x], "{:?}", d.warnings);
            assert!(
                d.warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("OUT OF ORDER: {}", v.barcode))),
                "{:?}",
                d.warnings
            );
        }
    }
    a.done();
    assert_eq!(a.out_of_order(), BTreeSet::from([x]));
}

#[test]
fn a_chart_displaced_backward_in_the_middle_is_named_later_not_the_ones_after_it() {
    let mut charts = in_order(20);
    // Its place is 15th; it was put 6th.
    let x = displace(&mut charts, 14, 5);
    let a = Audit::shelf(&charts);
    assert_eq!(a.out_of_order(), BTreeSet::from([x]), "{:?}", a.named);
    // Named a few scans after it (the 6th), well before the end of the shelf.
    assert!(a.named_at(x).unwrap() <= 9, "{:?}", a.named);
}

#[test]
fn a_chart_displaced_to_the_end_is_named_as_it_is_scanned() {
    let mut charts = in_order(15);
    let last = charts.len() - 1;
    let x = displace(&mut charts, 3, last);
    let mut a = Audit::new();
    for v in &charts {
        let d = a.scan(v);
        let expect: &[i64] = if v.id == x { &[x] } else { &[] };
        assert_eq!(misfiles(&d), expect, "{}: {:?}", v.barcode, d.warnings);
    }
    a.done();
    assert_eq!(a.out_of_order(), BTreeSet::from([x]));
}

#[test]
fn two_charts_displaced_side_by_side_are_both_named_and_their_neighbours_are_not() {
    // Both belong near the end of the shelf and were put together near the start.
    let mut charts = in_order(20);
    let x = displace(&mut charts, 16, 3);
    let y = displace(&mut charts, 17, 4);
    let a = Audit::shelf(&charts);
    assert_eq!(a.out_of_order(), BTreeSet::from([x, y]), "{:?}", a.named);

    // Both belong near the start and were put together near the end.
    let mut charts = in_order(20);
    let x = displace(&mut charts, 2, 14);
    let y = displace(&mut charts, 2, 14);
    let a = Audit::shelf(&charts);
    assert_eq!(a.out_of_order(), BTreeSet::from([x, y]), "{:?}", a.named);
    assert!(a.renamed.is_empty(), "{:?}", a.renamed);
}

#[test]
fn a_wrong_section_chart_is_named_for_its_section_and_does_not_upset_the_order() {
    let mut charts = in_order(12);
    // 45 belongs in another section; the charts after it are in order.
    charts.insert(4, chart(99, "123445"));
    let a = Audit::shelf(&charts);
    assert_eq!(a.kind("wrong_section"), BTreeSet::from([99]));
    assert!(a.out_of_order().is_empty(), "{:?}", a.named);
}

/// A small deterministic generator (SplitMix64): the simulation is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A shelf of 302 charts: 287 of this section in terminal-digit order, of which 5 are moved
/// (each past at least two charts left in place), and 15 from other sections put anywhere. Returns the shelf as scanned,
/// the moved charts and the wrong-section charts.
fn simulated_shelf(seed: u64) -> (Vec<VolumeFacts>, BTreeSet<i64>, BTreeSet<i64>) {
    let mut rng = Rng(seed);
    let mut mrns = BTreeSet::new();
    while mrns.len() < 287 {
        mrns.insert(format!(
            "{:04}{:02}",
            rng.below(10_000),
            rng.below(20) // sections 00-19
        ));
    }
    let in_order: Vec<VolumeFacts> = mrns
        .iter()
        .map(|m| chart(0, m))
        .collect::<Vec<_>>()
        .tap_sort();
    let (shelf, moved) = loop {
        let mut shelf = in_order.clone();
        let mut moved = BTreeSet::new();
        while moved.len() < 5 {
            let from = rng.below(shelf.len());
            let to = rng.below(shelf.len());
            let id = shelf[from].id;
            if !moved.contains(&id) {
                displace(&mut shelf, from, to);
                moved.insert(id);
            }
        }
        // Each moved chart is out of order against at least two charts left in place: one
        // out of order against a single neighbour is two charts swapped, and which of the two
        // was moved no scan can tell (the station says so, naming neither).
        let key = |v: &VolumeFacts| TerminalDigit::of(&v.mrn);
        let crossed = |id: i64| {
            let at = shelf.iter().position(|v| v.id == id).unwrap();
            let k = key(&shelf[at]);
            let placed = |v: &&VolumeFacts| !moved.contains(&v.id);
            shelf[..at]
                .iter()
                .filter(placed)
                .filter(|v| key(v) > k)
                .count()
                + shelf[at + 1..]
                    .iter()
                    .filter(placed)
                    .filter(|v| key(v) < k)
                    .count()
        };
        if moved.iter().all(|&id| crossed(id) >= 2) {
            break (shelf, moved);
        }
    };
    let mut shelf = shelf;
    let mut wrong = BTreeSet::new();
    for i in 0..15 {
        let id = 1000 + i;
        let mrn = format!("{:04}{:02}", rng.below(10_000), 20 + rng.below(80));
        let at = rng.below(shelf.len() + 1);
        shelf.insert(at, chart(id, &mrn));
        wrong.insert(id);
    }
    assert_eq!(shelf.len(), 302);
    (shelf, moved, wrong)
}

#[test]
fn simulated_audits_catch_every_displaced_chart_and_blame_no_chart_in_its_place() {
    let mut failures = Vec::new();
    for seed in 1..=5 {
        let (shelf, moved, wrong) = simulated_shelf(seed);
        let a = Audit::shelf(&shelf);
        assert_eq!(a.kind("wrong_section"), wrong, "seed {seed}");
        let named = a.out_of_order();
        let missed: Vec<_> = moved.difference(&named).collect();
        // Charts in their place (neither moved nor from another section) named out of order.
        let blamed: Vec<_> = named
            .iter()
            .filter(|id| !moved.contains(id) && !wrong.contains(id))
            .collect();
        if !missed.is_empty() || !blamed.is_empty() || !a.renamed.is_empty() {
            failures.push(format!(
                "seed {seed}: missed {missed:?}, blamed in place {blamed:?}, named twice {:?}",
                a.renamed
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
