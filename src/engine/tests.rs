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
fn shelf_00_19() -> LocRef {
    loc(1, "FR-00-19", LocationKind::Shelf, Some((0, 19)))
}
fn shelf_40_59() -> LocRef {
    loc(3, "FR-40-59", LocationKind::Shelf, Some((40, 59)))
}
fn unit_4w() -> LocRef {
    loc(10, "4W", LocationKind::Unit, None)
}
fn cart() -> LocRef {
    loc(20, "CART-1", LocationKind::Container, None)
}
fn vol(mrn: &str, home: LocRef) -> VolumeFacts {
    VolumeFacts {
        id: 100,
        barcode: "V0000100X".into(),
        patient_id: 7,
        mrn: Mrn::parse(mrn).unwrap(),
        location: home.clone(),
        home,
        status: Status::OnShelf,
        destination: None,
        container: None,
        waiting_reports: 0,
    }
}
fn station(mode: Mode, at: LocRef) -> StationFacts {
    StationFacts {
        id: "s1".into(),
        location: at,
        mode,
        memory: Memory::default(),
    }
}
fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}
fn run(st: &mut StationFacts, what: Scanned, at: DateTime<Utc>) -> Decision {
    let d = decide(st, &what, None, at, &Settings::default());
    st.memory = d.memory.clone();
    st.mode = d.mode;
    d
}
fn only_move(d: &Decision) -> &Move {
    match d.effects.as_slice() {
        [Effect::Move(m)] => m,
        other => panic!("expected one move, got {other:?}"),
    }
}

#[test]
fn checkout_needs_destination_then_goes_in_transit() {
    let mut st = station(Mode::CheckOut, shelf_00_19());
    let v = vol("123405", shelf_00_19());
    let d = run(&mut st, Scanned::Volume(v.clone()), t(0));
    assert!(!d.accepted);
    assert_eq!(d.message, "scan a destination first");
    assert!(d.effects.is_empty());

    assert!(run(&mut st, Scanned::Location(unit_4w()), t(1)).accepted);
    let d = run(&mut st, Scanned::Volume(v), t(2));
    assert!(d.accepted, "{}", d.message);
    let m = only_move(&d);
    assert_eq!(
        (m.action, m.status, m.destination, m.location),
        (MoveAction::CheckOut, Status::InTransit, Some(10), 1)
    );
}

#[test]
fn destination_is_forgotten_after_memory_time() {
    let mut st = station(Mode::CheckOut, shelf_00_19());
    run(&mut st, Scanned::Location(unit_4w()), t(0));
    let d = run(
        &mut st,
        Scanned::Volume(vol("123405", shelf_00_19())),
        t(301),
    );
    assert!(!d.accepted);
}

#[test]
fn duplicate_within_window_is_one_movement() {
    let mut st = station(Mode::Receive, unit_4w());
    let v = vol("123405", shelf_00_19());
    assert_eq!(
        run(&mut st, Scanned::Volume(v.clone()), t(0)).effects.len(),
        1
    );
    let d = run(&mut st, Scanned::Volume(v.clone()), t(3));
    assert_eq!(d.action, "duplicate");
    assert!(d.effects.is_empty());
    // Outside the window it is a new movement.
    assert_eq!(run(&mut st, Scanned::Volume(v), t(20)).effects.len(), 1);
}

#[test]
fn checkin_warns_wrong_section_and_waiting_reports() {
    let mut st = station(Mode::CheckIn, shelf_00_19());
    let mut v = vol("123445", shelf_40_59());
    v.waiting_reports = 2;
    v.status = Status::AtLocation;
    v.location = unit_4w();
    let d = run(&mut st, Scanned::Volume(v), t(0));
    assert!(d.accepted);
    assert_eq!(only_move(&d).to, 3);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("WRONG SECTION: terminal digits 45")),
        "{:?}",
        d.warnings
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("2 loose reports wait")),
        "{:?}",
        d.warnings
    );

    let mut st = station(Mode::CheckIn, shelf_40_59());
    let d = run(&mut st, Scanned::Volume(vol("123445", shelf_40_59())), t(0));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn file_refuses_other_patients_volume() {
    let mut st = station(Mode::File, shelf_00_19());
    let report = ReportRef {
        id: 5,
        barcode: "R0000005Q".into(),
        patient_id: 8,
        filed: false,
    };
    assert!(run(&mut st, Scanned::Report(report.clone()), t(0)).accepted);
    let d = run(&mut st, Scanned::Volume(vol("123405", shelf_00_19())), t(1));
    assert!(!d.accepted);
    assert!(d.message.starts_with("WRONG CHART"));
    assert!(d.effects.is_empty());

    let ok = ReportRef {
        patient_id: 7,
        ..report
    };
    run(&mut st, Scanned::Report(ok), t(2));
    let d = run(&mut st, Scanned::Volume(vol("123405", shelf_00_19())), t(3));
    assert!(d.accepted);
    assert_eq!(
        d.effects,
        vec![Effect::FileReport {
            report_id: 5,
            volume_id: 100
        }]
    );
}

#[test]
fn container_packs_then_moves_everything_inside() {
    let mut st = station(Mode::CheckOut, shelf_00_19());
    run(&mut st, Scanned::Container(cart(), vec![]), t(0));
    let d = run(&mut st, Scanned::Volume(vol("123405", shelf_00_19())), t(1));
    assert_eq!(only_move(&d).container, ContainerChange::Set(20));

    let mut inside = vol("123405", shelf_00_19());
    inside.container = Some(20);
    let mut second = inside.clone();
    second.id = 101;
    run(&mut st, Scanned::Location(unit_4w()), t(2));
    let d = run(
        &mut st,
        Scanned::Container(cart(), vec![inside.clone(), second.clone()]),
        t(3),
    );
    assert!(d.accepted, "{}", d.message);
    assert_eq!(d.effects.len(), 2);

    let mut floor = station(Mode::Receive, unit_4w());
    let d = run(
        &mut floor,
        Scanned::Container(cart(), vec![inside, second]),
        t(4),
    );
    assert_eq!(d.effects.len(), 3);
    assert_eq!(d.effects[2], Effect::EmptyContainer { container_id: 20 });
}

#[test]
fn transfer_records_both_badges() {
    let mut st = station(Mode::Transfer, unit_4w());
    let a = UserRef {
        id: 1,
        name: "nurse-a".into(),
    };
    let b = UserRef {
        id: 2,
        name: "nurse-b".into(),
    };
    let v = vol("123405", shelf_00_19());
    assert!(!run(&mut st, Scanned::Volume(v.clone()), t(0)).accepted);
    run(&mut st, Scanned::Badge(a), t(1));
    run(&mut st, Scanned::Badge(b), t(2));
    let d = run(&mut st, Scanned::Volume(v), t(3));
    let m = only_move(&d);
    assert_eq!(
        (m.user, m.receiver, m.status),
        (Some(1), Some(2), Status::AtLocation)
    );
}

#[test]
fn unknown_becomes_exception_and_missing_is_announced() {
    let mut st = station(Mode::Receive, unit_4w());
    let d = run(
        &mut st,
        Scanned::Unknown {
            value: "ZZZ".into(),
            misread: false,
        },
        t(0),
    );
    assert!(!d.accepted);
    assert_eq!(
        d.effects,
        vec![Effect::Exception {
            kind: "unknown_barcode",
            value: "ZZZ".into()
        }]
    );

    let mut v = vol("123405", shelf_00_19());
    v.status = Status::Missing;
    let d = run(&mut st, Scanned::Volume(v), t(1));
    assert!(d.accepted);
    assert!(d.warnings[0].contains("was MISSING"));
}

#[test]
fn commands_switch_mode_and_clear_memory() {
    let mut st = station(Mode::CheckOut, shelf_00_19());
    run(&mut st, Scanned::Location(unit_4w()), t(0));
    let d = run(&mut st, Scanned::Command(Command::CheckIn), t(1));
    assert_eq!(d.mode, Mode::CheckIn);
    assert!(st.memory.target.is_none());
    run(
        &mut st,
        Scanned::Badge(UserRef {
            id: 1,
            name: "clerk".into(),
        }),
        t(2),
    );
    run(&mut st, Scanned::Command(Command::Done), t(3));
    assert_eq!(st.memory, Memory::default());
}
