//! A desk: a work area (the file room's check-in desk) where charts pass through and are
//! shelved at their home section. Check-in there says where to shelve, without the
//! wrong-section warning that only means something at a shelf; a stocktake is not opened there.

use super::*;

fn loc(id: i64, code: &str, kind: LocationKind, terminal: Option<(u8, u8)>) -> LocRef {
    LocRef {
        id,
        code: code.into(),
        name: code.into(),
        kind,
        terminal,
    }
}
fn desk() -> LocRef {
    loc(5, "FR-DESK", LocationKind::Desk, None)
}
fn shelf_00_19() -> LocRef {
    loc(1, "FR-00-19", LocationKind::Shelf, Some((0, 19)))
}
fn shelf_20_39() -> LocRef {
    loc(2, "FR-20-39", LocationKind::Shelf, Some((20, 39)))
}
fn vol(mrn: &str, home: LocRef) -> VolumeFacts {
    VolumeFacts {
        id: 100,
        barcode: "V0000100X".into(),
        patient_id: 7,
        mrn: Mrn::parse(mrn).unwrap(),
        location: loc(10, "4W", LocationKind::Unit, None),
        home,
        status: Status::AtLocation,
        destination: None,
        container: None,
        waiting_reports: 0,
        requests: vec![],
        restricted: false,
    }
}
fn station(mode: Mode, at: LocRef) -> StationFacts {
    StationFacts {
        id: "FR-DESK-1".into(),
        location: at,
        mode,
        memory: Memory::default(),
        stocktake: None,
    }
}
fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}
fn decide_one(st: &StationFacts, what: Scanned) -> Decision {
    decide(st, &what, None, at(0), &Settings::default())
}

#[test]
fn check_in_at_a_desk_says_where_to_shelve_without_a_section_warning() {
    let d = decide_one(
        &station(Mode::CheckIn, desk()),
        Scanned::Volume(vol("123425", shelf_20_39())),
    );
    assert!(d.accepted);
    assert_eq!(d.shelve_at.as_deref(), Some("FR-20-39"));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    match d.effects.as_slice() {
        [Effect::Move(m)] => {
            assert_eq!((m.to, m.location, m.status), (2, 2, Status::OnShelf));
        }
        other => panic!("expected one move, got {other:?}"),
    }
}

#[test]
fn check_in_at_another_shelf_still_warns_of_the_wrong_section() {
    let d = decide_one(
        &station(Mode::CheckIn, shelf_00_19()),
        Scanned::Volume(vol("123425", shelf_20_39())),
    );
    assert!(d.accepted);
    assert_eq!(d.shelve_at.as_deref(), Some("FR-20-39"));
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("WRONG SECTION: terminal digits 25 belong in FR-20-39")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn a_requested_volume_checked_in_at_a_desk_is_not_sent_to_its_shelf() {
    let mut v = vol("123425", shelf_20_39());
    v.requests = vec![RequestRef {
        id: 1,
        barcode: "Q0000001X".into(),
        volume_id: 100,
        volume_barcode: v.barcode.clone(),
        location: loc(10, "4W", LocationKind::Unit, None),
        priority: Priority::Stat,
        status: RequestStatus::Open,
    }];
    let d = decide_one(&station(Mode::CheckIn, desk()), Scanned::Volume(v));
    assert!(d.accepted);
    assert_eq!(d.shelve_at, None);
    assert!(d.message.contains("DO NOT SHELVE"), "{}", d.message);
}

#[test]
fn a_duplicate_or_refused_scan_names_no_shelf() {
    let mut st = station(Mode::CheckIn, desk());
    let first = decide_one(&st, Scanned::Volume(vol("123425", shelf_20_39())));
    st.memory = first.memory.clone();
    let again = decide(
        &st,
        &Scanned::Volume(vol("123425", shelf_20_39())),
        None,
        at(1),
        &Settings::default(),
    );
    assert_eq!(again.action, "duplicate");
    assert_eq!(again.shelve_at, None);
    let unknown = decide_one(
        &st,
        Scanned::Unknown {
            value: "NOPE".into(),
            misread: false,
        },
    );
    assert_eq!(unknown.shelve_at, None);
}

#[test]
fn no_stocktake_is_opened_at_a_desk_but_a_shelf_scanned_there_opens_one() {
    let st = station(Mode::Inventory, desk());
    let d = decide_one(&st, Scanned::Volume(vol("123425", shelf_20_39())));
    assert!(!d.accepted);
    assert!(d.effects.is_empty(), "{:?}", d.effects);
    assert!(
        d.message
            .contains("FR-DESK is a desk: no charts are kept there to count"),
        "{}",
        d.message
    );
    let d = decide_one(&st, Scanned::Location(desk()));
    assert!(!d.accepted);
    assert!(d.message.contains("is a desk"), "{}", d.message);
    let d = decide_one(&st, Scanned::Location(shelf_20_39()));
    assert!(d.accepted, "{}", d.message);
    assert_eq!(d.effects, [Effect::OpenStocktake { location_id: 2 }]);
}
