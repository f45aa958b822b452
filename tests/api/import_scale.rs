//! `chartrack import volumes` on files of tens of thousands of rows, through the real binary:
//! the file is streamed, told in plain progress lines when standard error is not a terminal,
//! and imported whole or not at all (a bad row at the end, a barcode twice far apart, a kill
//! half-way). Synthetic rows only.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const HEADER: &str = "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home";

/// A directory with a configuration, a database and one home shelf, FR-00-19.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chartrack.toml");
    std::fs::write(
        &config,
        format!("database = {:?}\n", dir.path().join("t.db")),
    )
    .unwrap();
    let locs = dir.path().join("locations.csv");
    std::fs::write(
        &locs,
        "code,name,kind,barcode\nFR-00-19,Section 00-19,shelf,\n",
    )
    .unwrap();
    let out = run(&config, &["import", "locations", locs.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (dir, config)
}

fn command(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartrack"));
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(config: &Path, args: &[&str]) -> Output {
    command(config, args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Row `i` (0-based; on line i + 2 of the file): a synthetic patient of its own.
fn row(i: usize) -> String {
    format!(
        "SYN{i:07},{},Synthetic,Row{},1970-01-01,1,medical,FR-00-19",
        1_000_000 + i,
        i % 97
    )
}

/// A volume file of `n` rows, `change` rewriting the rows it wants to (by 0-based index).
fn volume_file(dir: &Path, n: usize, change: impl Fn(usize, String) -> String) -> PathBuf {
    let mut csv = String::with_capacity(n * 64);
    csv += HEADER;
    csv.push('\n');
    for i in 0..n {
        csv += &change(i, row(i));
        csv.push('\n');
    }
    let path = dir.join("volumes.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn count(dir: &Path, table: &str) -> i64 {
    rusqlite::Connection::open(dir.join("t.db"))
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn progress_is_told_in_plain_lines_when_standard_error_is_a_pipe() {
    // Arrange: 50,000 good rows (about 3 MB).
    let (dir, config) = setup();
    let vols = volume_file(dir.path(), 50_000, |_, r| r);

    // Act
    let out = run(&config, &["import", "volumes", vols.to_str().unwrap()]);

    // Assert: lines as the file is read, a summary, then the count; every row is there.
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let progress: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("import volumes: ") && l.ends_with(" %)"))
        .collect();
    assert!(!progress.is_empty(), "no progress line in {err}");
    assert!(progress.len() <= 30, "too many lines: {err}");
    assert!(
        progress.iter().all(|l| l.contains(" rows checked (")),
        "{err}"
    );
    assert!(
        err.contains("import volumes: 50000 rows checked, 50000 written"),
        "{err}"
    );
    assert!(err.contains("50000 volume(s) imported"), "{err}");
    assert_eq!(count(dir.path(), "volume"), 50_000);
    assert_eq!(count(dir.path(), "volume_state"), 50_000);
    assert_eq!(count(dir.path(), "patient"), 50_000);
}

#[test]
fn a_bad_row_at_the_end_of_a_large_file_imports_nothing_and_names_its_line() {
    // Arrange: row 49,990 (line 49,992) has an MRN with a letter in it.
    let (dir, config) = setup();
    let vols = volume_file(dir.path(), 50_000, |i, r| {
        if i == 49_990 {
            r.replace(",1049990,", ",10499x0,")
        } else {
            r
        }
    });

    // Act
    let out = run(&config, &["import", "volumes", vols.to_str().unwrap()]);

    // Assert
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("line 49992: MRN must be digits only"), "{err}");
    assert!(err.contains("1 problem(s); nothing was imported"), "{err}");
    assert_eq!(count(dir.path(), "volume"), 0, "nothing imported");
    assert_eq!(count(dir.path(), "patient"), 0, "no patient either");
    assert_eq!(count(dir.path(), "volume_state"), 0);
}

#[test]
fn a_barcode_twice_in_a_large_file_is_named_however_far_apart() {
    // Arrange: rows 1 and 48,000 share a barcode; row 30,000 is bad (its home does not exist)
    // and row 49,000 repeats its barcode; row 49,500 repeats a barcode already registered.
    let (dir, config) = setup();
    let first = dir.path().join("first.csv");
    std::fs::write(
        &first,
        format!("{HEADER}\nOLD0001,2000001,Earlier,Ann,,1,medical,FR-00-19\n"),
    )
    .unwrap();
    let out = run(&config, &["import", "volumes", first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let vols = volume_file(dir.path(), 50_000, |i, r| match i {
        48_000 => r.replace("SYN0048000", "syn0000001"),
        30_000 => r.replace("FR-00-19", "FR-99-99"),
        49_000 => r.replace("SYN0049000", "SYN0030000"),
        49_500 => r.replace("SYN0049500", "OLD0001"),
        _ => r,
    });

    // Act
    let out = run(&config, &["import", "volumes", vols.to_str().unwrap()]);

    // Assert: each named on its own line; nothing of the file is written.
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for expected in [
        "line 30002: home location FR-99-99 does not exist",
        "line 48002: barcode SYN0000001 appears twice in the file",
        "line 49002: barcode SYN0030000 appears twice in the file",
        "line 49502: volume barcode OLD0001 already exists",
        "4 problem(s); nothing was imported",
    ] {
        assert!(err.contains(expected), "{expected:?} in {err}");
    }
    assert_eq!(count(dir.path(), "volume"), 1, "only the earlier volume");
    assert_eq!(count(dir.path(), "patient"), 1);
}

#[test]
fn an_import_killed_half_way_leaves_nothing_of_its_file() {
    // Arrange: a file long enough to be killed while it is read.
    let (dir, config) = setup();
    let vols = volume_file(dir.path(), 150_000, |_, r| r);
    let mut child = command(&config, &["import", "volumes", vols.to_str().unwrap()])
        .spawn()
        .unwrap();

    // Act: killed (SIGKILL, no chance to tidy up) at its first progress line.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("rows checked (") {
        line.clear();
    }
    assert!(line.contains("rows checked ("), "no progress line");
    child.kill().unwrap();
    let status = child.wait().unwrap();

    // Assert: the database opens as it was: the location, no volume, no patient.
    assert!(!status.success(), "the import was killed, not finished");
    let out = run(&config, &["check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(count(dir.path(), "volume"), 0);
    assert_eq!(count(dir.path(), "patient"), 0);
    assert_eq!(count(dir.path(), "location"), 1);
}
