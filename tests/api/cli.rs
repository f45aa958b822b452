//! The command line, through the real binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn chartrack(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let config = dir.join("chartrack.toml");
    if !config.exists() {
        std::fs::write(&config, format!("database = {:?}\n", dir.join("t.db"))).unwrap();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartrack"));
    cmd.args(args)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    // A command that fails before reading its input closes the pipe early; that is not an error here.
    let _ = input.write_all(stdin.unwrap_or("").as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `chartrack serve --config CONFIG`, its standard output and error to `log`, once the log
/// says `ready` (at most 30 s; it fails with the log if the server ended first).
fn serve_until(config: &Path, log: &Path, ready: &str) -> std::process::Child {
    let out = std::fs::File::create(log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        if said.contains(ready) {
            return child;
        }
        let ended = child.try_wait().unwrap();
        if ended.is_some() || started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the server did not say {ready:?} ({ended:?}): {said}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn import_refuses_a_bad_file_whole_and_names_every_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let locs = dir.path().join("locations.csv");
    std::fs::write(
        &locs,
        "code,name,kind,barcode\nFR-00-19,Section 00-19,shelf,LOC-FR0019\n4W,4 West,unit,\n",
    )
    .unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "locations", locs.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("2 location(s) imported"));

    let vols = dir.path().join("volumes.csv");
    std::fs::write(
        &vols,
        "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n\
         CH001,123405,Ashdown,Ada,1970-01-31,1,medical,FR-00-19\n\
         CH002,12x4,Brightwater,Bram,1970-01-31,1,medical,FR-00-19\n\
         CH003,123406,Calloway,Cleo,31/01/1970,1,medical,FR-00-19\n\
         CH001,123407,Dunmore,Dario,,1,medical,FR-00-19\n",
    )
    .unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "volumes", vols.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("line 3: MRN must be digits only"), "{err}");
    assert!(err.contains("line 4: birth_date '31/01/1970'"), "{err}");
    assert!(err.contains("line 5: barcode CH001 appears twice"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");

    // Rows that are valid alone but fail against the database (unknown home) are refused too.
    std::fs::write(
        &vols,
        "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n\
         CH001,123405,Ashdown,Ada,1970-01-31,1,medical,FR-00-19\n\
         CH002,123406,Brightwater,Bram,,2,medical,FR-99-99\n",
    )
    .unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "volumes", vols.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("line 3: home location FR-99-99 does not exist"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(&vols, "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\nCH001,123405,Ashdown,Ada,1970-01-31,1,medical,FR-00-19\n").unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "volumes", vols.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Loose reports: one unknown patient refuses the whole file; then they register.
    let reports = dir.path().join("reports.csv");
    std::fs::write(
        &reports,
        "barcode,mrn,description
,123405,CBC result
RPT-2,999999,Lost patient
",
    )
    .unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "reports", reports.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("line 3: no patient with MRN 999999"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        &reports,
        "barcode,mrn,description
,123405,CBC result
RPT-2,123405,X-ray report
",
    )
    .unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "reports", reports.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("2 loose report(s) registered"));

    let bad_header = dir.path().join("h.csv");
    std::fs::write(&bad_header, "barcode,mrn\nX,1\n").unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "volumes", bad_header.to_str().unwrap()],
        None,
    );
    assert!(
        text(&out.stderr).contains("line 1: the columns must be exactly"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn users_tokens_and_backup() {
    let dir = tempfile::tempdir().unwrap();
    let out = chartrack(
        dir.path(),
        &["user", "add", "clerk1", "--role", "clerk"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("at least 12 characters"));
    let out = chartrack(
        dir.path(),
        &["user", "add", "clerk1", "--role", "clerk"],
        Some("a long enough secret\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = chartrack(
        dir.path(),
        &["user", "add", "x", "--role", "juggler"],
        Some("a long enough secret\n"),
    );
    assert!(!out.status.success());

    let out = chartrack(dir.path(), &["token", "create", "--user", "clerk1"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout);
    assert!(
        token.starts_with("ct_") && token.trim().len() == 51 && token.lines().count() == 1,
        "{token:?}"
    );
    let out = chartrack(dir.path(), &["token", "create", "--station", "nope"], None);
    assert!(!out.status.success());

    let dest = dir.path().join("copy.db");
    let out = chartrack(dir.path(), &["backup", dest.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copy = rusqlite::Connection::open(&dest).unwrap();
    let users: i64 = copy
        .query_row("SELECT count(*) FROM app_user", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 1);
    let out = chartrack(dir.path(), &["backup", dest.to_str().unwrap()], None);
    assert!(
        !out.status.success(),
        "an existing file is never overwritten"
    );
}

#[test]
fn a_database_from_a_newer_chartrack_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let out = chartrack(dir.path(), &["token", "create", "--user", "x"], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("newer than this chartrack understands"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_lists_only_working_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for c in [
        "serve", "user", "token", "import", "backup", "agent", "scanners",
    ] {
        assert!(help.contains(c), "{help}");
    }
}

#[test]
fn scanners_configure_sends_the_profile_commands_and_reports_each_answer() {
    use chartrack::stations::simulator::SimulatedScanner;
    use std::time::Duration;
    // Arrange: a station with the Honeywell profile on a simulated scanner that answers like
    // one, except that it does not know one of the commands.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("scanner");
    let mut scanner = SimulatedScanner::plug_in(&link).unwrap();
    std::fs::write(
        dir.path().join("chartrack.toml"),
        format!(
            "database = {:?}\n[[stations]]\nid = \"w4s\"\nlocation = \"4W\"\nport = {:?}\nprofile = \"honeywell-xenon\"\n",
            dir.path().join("t.db"),
            link.display().to_string()
        ),
    )
    .unwrap();
    let responder = std::thread::spawn(move || {
        let mut commands = Vec::new();
        for _ in 0..5 {
            let got = scanner.read_until(b'.', Duration::from_secs(10)).unwrap();
            let command = got
                .strip_prefix(b"\x16M\r")
                .and_then(|c| c.strip_suffix(b"."))
                .unwrap_or_else(|| panic!("not a menu command: {got:?}"))
                .to_vec();
            let status = if command == b"C39ENA1" { 0x05 } else { 0x06 };
            let mut reply = command.clone();
            reply.extend_from_slice(&[status, b'.']);
            scanner.send_raw(&reply).unwrap();
            commands.push(String::from_utf8(command).unwrap());
        }
        commands
    });

    // Act
    let out = chartrack(dir.path(), &["scanners", "configure", "w4s"], None);

    // Assert
    let commands = responder.join().unwrap();
    assert_eq!(
        commands,
        [
            "TRMUSB130",
            "SUFBK2990D",
            "PREBK2995C80",
            "128ENA1",
            "C39ENA1"
        ]
    );
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "one command was refused");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("TRMUSB130") && l.ends_with(" ok")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("C39ENA1") && l.contains("ENQ")),
        "{stdout}"
    );
    assert!(stdout.contains("by hand: scan 'Host ACK On'"), "{stdout}");
    assert!(text(&out.stderr).contains("1 of 5 command(s) not accepted"));
}

#[test]
fn scanners_sheet_prints_a_setup_sheet_and_refuses_an_unknown_profile() {
    let dir = tempfile::tempdir().unwrap();
    let out = chartrack(dir.path(), &["scanners", "sheet", "honeywell-xenon"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = text(&out.stdout);
    assert!(
        html.to_lowercase().starts_with("<!doctype html>") && html.contains("<svg"),
        "{html}"
    );
    let out = chartrack(dir.path(), &["scanners", "sheet", "acme-9000"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no scanner profile 'acme-9000'"));
}

#[test]
fn audit_verify_passes_an_intact_log_and_names_the_first_altered_entry() {
    use chartrack::store::audit::{append, Access};
    let dir = tempfile::tempdir().unwrap();
    let store =
        chartrack::store::Store::open(&dir.path().join("t.db"), Default::default()).unwrap();
    store
        .write_blocking(|c| {
            for i in 0..4 {
                let a = Access {
                    user_id: None,
                    actor: "nurse.ames".into(),
                    action: "view-volume",
                    subject: format!("V000000{i}"),
                    remote: "10.1.2.3".into(),
                };
                append(c, &a, chrono::Utc::now())?;
            }
            Ok(())
        })
        .unwrap();
    let out = chartrack(dir.path(), &["audit", "verify"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("access log intact: 4 entries"));

    // Someone with the database file edits an entry (the triggers only stop honest mistakes).
    store
        .write_blocking(|c| {
            c.execute_batch(
                "DROP TRIGGER access_log_append_only_update;
                 UPDATE access_log SET subject = 'V9999999' WHERE entry_id = 3;",
            )?;
            Ok(())
        })
        .unwrap();
    store.shutdown();
    let out = chartrack(dir.path(), &["audit", "verify"], None);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("entry 3") && err.contains("do not match its keyed hash"),
        "{err}"
    );
}

#[test]
fn audit_verify_finds_a_tail_cut_off_after_the_last_anchor_however_often_it_runs() {
    use chartrack::store::audit::{append, Access};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let store = chartrack::store::Store::open(&db, Default::default()).unwrap();
    store
        .write_blocking(|c| {
            for i in 0..8 {
                let a = Access {
                    user_id: None,
                    actor: "clerk.bo".into(),
                    action: "view-volume",
                    subject: format!("V100000{i}"),
                    remote: "10.1.2.3".into(),
                };
                append(c, &a, chrono::Utc::now())?;
            }
            Ok(())
        })
        .unwrap();
    // Shutting down anchors the head (8 entries) outside the database; the key is there too.
    store.shutdown();
    let anchors = std::fs::read_to_string(dir.path().join("t.db.anchors")).unwrap();
    assert!(
        anchors.lines().last().unwrap().contains("\"entries\":8"),
        "{anchors}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("t.db.audit-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = chartrack(dir.path(), &["audit", "verify"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("agrees with the newest anchor: entry 8"),
        "{}",
        text(&out.stdout)
    );

    // Someone with the database file cuts off the newest three entries: the chain left is whole.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DROP TRIGGER access_log_append_only_delete; DELETE FROM access_log WHERE entry_id > 5;",
    )
    .unwrap();
    drop(c);
    // Every run says so: verifying (which opens and closes the store) never anchors the cut log.
    for _ in 0..2 {
        let out = chartrack(dir.path(), &["audit", "verify"], None);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains("entry 6") && err.contains("ends at entry 5") && err.contains("cut off"),
            "{err}"
        );
    }
}

#[test]
fn serve_refuses_an_unknown_configuration_key_naming_it_its_line_and_the_nearest_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chartrack.toml"),
        format!(
            "database = {:?}\nlisten = \"127.0.0.1:0\"\nsecure_cookie = true\n",
            dir.path().join("t.db")
        ),
    )
    .unwrap();
    let out = chartrack(dir.path(), &["serve"], None);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "a misspelt key must not start the server"
    );
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("secure_cookie"), "{err}");
    assert!(err.contains("did you mean `secure_cookies`?"), "{err}");
    assert!(
        !dir.path().join("t.db").exists(),
        "nothing is created when the configuration is refused"
    );
}

#[test]
fn import_names_the_physical_line_of_every_problem_whatever_the_line_endings() {
    // Arrange: locations, then a volume file whose bad rows sit after a quoted field spanning
    // two lines; line 5 has two problems (a bad date and an unknown home).
    let dir = tempfile::tempdir().unwrap();
    let locs = dir.path().join("locations.csv");
    std::fs::write(
        &locs,
        "code,name,kind,barcode\nFR-00-19,Section 00-19,shelf,LOC-FR0019\n",
    )
    .unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "locations", locs.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = [
        "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home",
        "CH001,123405,Ashdown,Ada,1970-01-31,1,medical,FR-00-19",
        "CH002,123406,\"Two",
        "Lines\",Bram,,1,medical,FR-00-19",
        "CH003,123407,Calloway,Cleo,31/01/1970,1,medical,FR-99-99",
        "CH004,12x4,Dunmore,Dario,,1,medical,FR-00-19",
    ];
    for (name, end) in [("LF", "\n"), ("CRLF", "\r\n"), ("CR", "\r")] {
        let vols = dir.path().join(format!("volumes-{name}.csv"));
        std::fs::write(&vols, lines.join(end) + end).unwrap();

        // Act
        let out = chartrack(
            dir.path(),
            &["import", "volumes", vols.to_str().unwrap()],
            None,
        );

        // Assert
        assert!(!out.status.success(), "{name}");
        let err = text(&out.stderr);
        for expected in [
            "line 3: last name must be 1 to 80 printable characters",
            "line 5: birth_date '31/01/1970' is not a date",
            "line 5: home location FR-99-99 does not exist",
            "line 6: MRN must be digits only",
            "4 problem(s); nothing was imported",
        ] {
            assert!(err.contains(expected), "{name}: {expected:?} in {err}");
        }
    }
}

#[test]
fn a_database_with_a_negative_schema_version_is_refused_with_a_clear_error() {
    // Arrange: a real database, then its user_version damaged.
    let dir = tempfile::tempdir().unwrap();
    let out = chartrack(
        dir.path(),
        &["user", "add", "ann", "--role", "clerk"],
        Some("a long enough secret\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = dir.path().join("t.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", -1)
        .unwrap();

    // Act
    let out = chartrack(dir.path(), &["audit", "verify"], None);

    // Assert
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("schema version is -1"), "{err}");
    assert!(err.contains("refusing to start"), "{err}");
}

#[test]
fn serve_refuses_an_unknown_timezone_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chartrack.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase = {:?}\ntimezone = \"America/Chicgo\"\n",
            dir.path().join("t.db")
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(dir.path().join("chartrack.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that started anyway would run until stopped: give it a while, then fail.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("chartrack serve started with an unknown timezone");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("timezone = \"America/Chicgo\" is not an IANA time zone name"),
        "{err}"
    );
    assert!(
        !dir.path().join("t.db").exists(),
        "refused before opening the database"
    );
}

#[test]
fn a_row_with_the_wrong_number_of_fields_does_not_hide_the_other_problems_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let locs = dir.path().join("locations.csv");
    std::fs::write(
        &locs,
        "code,name,kind,barcode\n\
         FR-00-19,Section 00-19,shelf,\n\
         4W,4 West,ward,\n\
         ,Nameless,unit,\n\
         FR-00-19,Section again,shelf,\n\
         5E,5 East,unit,,extra,fields\n",
    )
    .unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "locations", locs.to_str().unwrap()],
        None,
    );
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("line 3") && err.contains("ward"), "{err}");
    assert!(err.contains("line 4"), "the empty code: {err}");
    assert!(
        err.contains("line 5: location FR-00-19 appears twice in the file (first on line 2)"),
        "{err}"
    );
    assert!(err.contains("line 6: expected 4 fields, found 6"), "{err}");
    assert!(!err.contains("already exists"), "{err}");
}

#[test]
fn a_file_with_thousands_of_bad_rows_lists_the_first_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let vols = dir.path().join("volumes.csv");
    let mut csv =
        String::from("barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n");
    for i in 0..3000 {
        csv += &format!(
            ",{:06},Synthetic,Row,1970-01-01,1,medical,NOWHERE\n",
            100000 + i
        );
    }
    std::fs::write(&vols, csv).unwrap();
    let out = chartrack(
        dir.path(),
        &["import", "volumes", vols.to_str().unwrap()],
        None,
    );
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 2: ") && err.contains("NOWHERE"),
        "{}",
        &err[..500]
    );
    assert!(
        err.contains("… and 2800 more problem(s) on 2800 more line(s), not listed"),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
    assert!(err.contains("3000 problem(s); nothing was imported"));
    assert!(err.lines().count() < 260, "{} lines", err.lines().count());
}

/// The database, its backups and the audit key hold patient data or protect it: readable by
/// chartrack's user only, whatever the umask it was started with; an older database others could
/// read is made private when opened. (Before, the database and backups were 0644.)
#[test]
fn patient_data_files_are_readable_by_chartracks_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let out = chartrack(
        dir.path(),
        &["user", "add", "ann", "--role", "clerk"],
        Some("a long enough secret\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = dir.path().join("t.db");
    assert_eq!(mode(&db), 0o600);
    let backup = dir.path().join("b.db");
    let out = chartrack(dir.path(), &["backup", backup.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&backup), 0o600);
    assert_eq!(mode(&dir.path().join("t.db.audit-key")), 0o600);
    // An older database left readable by others is made private.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = chartrack(dir.path(), &["check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&db), 0o600);
}

/// `chartrack check` reads the whole file: damage in a B-tree the volumes' check never reads
/// (here the patient-name index) fails it, naming the quick check. (Before, with the quick check
/// moved out of the start into the background, `check` said every volume agreed and exited 0.)
#[test]
fn check_fails_a_damaged_file_even_when_every_volume_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let out = chartrack(
        dir.path(),
        &["user", "add", "ann", "--role", "clerk"],
        Some("a long enough secret\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = dir.path().join("t.db");
    let out = chartrack(dir.path(), &["check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("passes SQLite's quick check"));
    crate::helpers::damage_index_root(&db, "patient_name");
    let out = chartrack(dir.path(), &["check"], None);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("fails SQLite's quick check"), "{err}");
    assert!(err.contains("chartrack restore"), "{err}");
}

/// The server's log to a file or a pipe (a service manager, `2> chartrack.log`) is plain text
/// a log reader or grep can use: no terminal colour codes around the fields. (Before, every
/// field came wrapped in escape codes, and `grep stepped_aside=` found nothing.)
#[test]
fn the_log_to_a_file_has_no_terminal_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chartrack.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase = {:?}\n",
            dir.path().join("t.db")
        ),
    )
    .unwrap();
    let log = dir.path().join("server.log");
    let mut child = serve_until(&dir.path().join("chartrack.toml"), &log, "quick check");
    let text = std::fs::read_to_string(&log).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(text.contains("passes SQLite's quick check"), "{text}");
    assert!(text.contains(" stepped_aside=0"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

/// A mistyped `database` path: `check`, `audit verify` and `backup` say there is no database
/// there and fail, and make no file. (Before, each made a new empty database and passed: a
/// nightly backup with a typo backed up nothing, exit 0.)
#[test]
fn checking_or_backing_up_a_database_that_is_not_there_fails_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.db");
    std::fs::write(
        dir.path().join("chartrack.toml"),
        format!("database = {typo:?}\n"),
    )
    .unwrap();
    let backup = dir.path().join("nightly.db");
    for args in [
        vec!["check"],
        vec!["audit", "verify"],
        vec!["backup", backup.to_str().unwrap()],
    ] {
        let out = chartrack(dir.path(), &args, None);
        assert!(!out.status.success(), "{args:?}: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(err.contains("there is no database at"), "{args:?}: {err}");
        assert!(err.contains("typo.db"), "{args:?}: {err}");
    }
    let made: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "chartrack.toml")
        .collect();
    assert!(made.is_empty(), "{made:?}");
}

/// A second `chartrack serve` on a database another one serves is refused, naming the
/// database; the first goes on serving. (Before, both served the one file, each with its own
/// station memory and anchors: fresh-eyes tester.)
#[test]
fn a_second_server_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:0\"\ndatabase = {:?}\n",
                dir.path().join("t.db")
            ),
        )
        .unwrap();
        path
    };
    let (first_config, second_config) = (config("a.toml"), config("b.toml"));
    let mut first = serve_until(&first_config, &dir.path().join("first.log"), "listening");
    let mut second = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(&second_config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while second.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(15) {
            second.kill().unwrap();
            first.kill().unwrap();
            panic!("a second server started on the same database");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = second.wait_with_output().unwrap();
    let still = first.try_wait().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!second.status.success());
    let err = text(&second.stderr);
    assert!(
        err.contains("is already being served by another chartrack"),
        "{err}"
    );
    assert!(err.contains("t.db"), "{err}");
    assert!(still.is_none(), "the first server went on serving");
    // Once the first has stopped, a server starts on it again.
    let mut again = serve_until(&second_config, &dir.path().join("again.log"), "listening");
    again.kill().unwrap();
    again.wait().unwrap();
}
