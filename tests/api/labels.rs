//! Labels through the real binary: ZPL and SVG drawn from the templates, sent to a printer (a
//! loopback TCP listener standing in for a Zebra on port 9100), recorded, and refused clearly
//! when the printer, the item or a template is wrong.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("USER", "hima")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

pub(crate) fn ok(config: &Path, args: &[&str]) -> String {
    let out = run(config, args, "");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(config: &Path, args: &[&str]) -> String {
    let out = run(config, args, "");
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A printer on loopback: every connection's bytes, in order.
fn printer() -> (String, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let mut s = conn.unwrap();
            let mut got = String::new();
            s.read_to_string(&mut got).unwrap();
            if tx.send(got).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

/// A records department: a shelf, a unit, a cart, two volumes (one name with a ZPL control
/// character in it), a loose report and a clerk; `extra` is appended to the configuration.
pub(crate) fn department(dir: &Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("chartrack.toml");
    std::fs::write(
        &config,
        format!("database = {:?}\n{extra}", dir.join("t.db")),
    )
    .unwrap();
    let locs = dir.join("l.csv");
    std::fs::write(
        &locs,
        "code,name,kind,barcode\nFR-00-19,Section 00-19,shelf,\nFR-20-39,Section 20-39,shelf,\n4W,4 West,unit,\nCART-1,Cart one,container,\n",
    )
    .unwrap();
    ok(&config, &["import", "locations", locs.to_str().unwrap()]);
    let vols = dir.join("v.csv");
    std::fs::write(
        &vols,
        "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n\
         LB0001,123456,O^Carat,Ann_e,1970-01-31,1,medical,FR-00-19\n\
         LB0002,654321,Synthetic,Bo,,2,radiology,FR-20-39\n",
    )
    .unwrap();
    ok(&config, &["import", "volumes", vols.to_str().unwrap()]);
    let out = run(
        &config,
        &["user", "add", "clara", "--role", "clerk"],
        "a long enough secret\n",
    );
    assert!(out.status.success());
    config
}

#[test]
fn a_volume_label_is_zpl_with_its_fields_escaped_and_the_barcode_for_the_printer_to_draw() {
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "");
    let zpl = ok(&config, &["label", "volume", "lb0001"]);
    assert!(zpl.starts_with("^XA"), "{zpl}");
    assert!(zpl.trim_end().ends_with("^XZ"), "{zpl}");
    assert!(
        zpl.contains("^PW812") && zpl.contains("^LL406"),
        "4x2 at 203 dpi: {zpl}"
    );
    // The name's ^ and _ are hex escapes inside ^FH fields: they cannot start a ZPL command.
    assert!(zpl.contains("^FH^FDO_5ECARAT, Ann_5Fe^FS"), "{zpl}");
    assert!(zpl.contains("MRN 12-34-56"), "terminal-digit groups: {zpl}");
    assert!(zpl.contains("^BCN,160,Y,N,N^FH^FDLB0001^FS"), "{zpl}");
    assert!(
        zpl.contains("^FR^FH^FD56^FS"),
        "the terminal digits, large: {zpl}"
    );
    // Other sizes and kinds.
    let small = ok(&config, &["label", "volume", "LB0002", "--size", "2x1"]);
    assert!(
        small.contains("^PW406") && small.contains("^FDLB0002^FS"),
        "{small}"
    );
    let loc = ok(&config, &["label", "location", "FR-00-19"]);
    // Codes are found whatever their case, as scanned barcodes are.
    assert_eq!(ok(&config, &["label", "location", "fr-00-19"]), loc);
    assert!(loc.contains("^FDFR-00-19^FS"), "{loc}");
    let cart = ok(&config, &["label", "container", "CART-1", "--size", "4x6"]);
    assert!(
        cart.contains("^LL1218") && cart.contains("CART CART-1"),
        "{cart}"
    );
    // A badge is issued (with a check character) on its first label, and kept.
    let badge = ok(&config, &["label", "badge", "clara"]);
    let issued = badge
        .split("^FD")
        .find(|f| f.starts_with('B'))
        .and_then(|f| f.strip_suffix("^FS\n").or(f.split("^FS").next()))
        .unwrap()
        .to_owned();
    assert!(chartrack::domain::verify_check_char(&issued), "{issued}");
    assert!(ok(&config, &["label", "badge", "clara"]).contains(&issued));
    // Each label read is in the access log (it carries a patient's name).
    let verify = run(&config, &["audit", "verify"], "");
    assert!(verify.status.success());
}

#[test]
fn unknown_items_and_wrong_kinds_exit_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "");
    assert!(
        refused(&config, &["label", "volume", "NOPE"]).contains("no volume has the barcode NOPE")
    );
    assert!(refused(&config, &["label", "location", "ZZ"]).contains("no location"));
    assert!(refused(&config, &["label", "location", "CART-1"]).contains("container"));
    assert!(refused(&config, &["label", "badge", "nobody"]).contains("no user nobody"));
    assert!(refused(&config, &["label", "report", "R9"]).contains("no loose report"));
    assert!(refused(&config, &["label", "slip", "Q9"]).contains("no request slip"));
}

#[test]
fn print_sends_zpl_to_the_printer_records_it_and_a_reprint_needs_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, got) = printer();
    let config = department(
        dir.path(),
        &format!("[[printers]]\nname = \"fr-zebra\"\naddress = \"{addr}\"\nsize = \"4x2\"\n"),
    );
    let out = run(
        &config,
        &[
            "print",
            "volume",
            "LB0001",
            "--printer",
            "fr-zebra",
            "--copies",
            "2",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zpl = got.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(zpl.matches("^XA").count(), 2, "two copies: {zpl}");
    assert_eq!(zpl.matches("^XZ").count(), 2);
    assert!(zpl.contains("^FH^FDLB0001^FS"));

    // Again without a reason: refused, naming the earlier print; nothing reaches the printer.
    let e = refused(
        &config,
        &["print", "volume", "LB0001", "--printer", "fr-zebra"],
    );
    assert!(
        e.contains("printed before") && e.contains("cli:hima") && e.contains("fr-zebra"),
        "{e}"
    );
    assert!(e.contains("--reason"), "{e}");
    assert!(got
        .recv_timeout(std::time::Duration::from_millis(300))
        .is_err());
    ok(
        &config,
        &[
            "print",
            "volume",
            "LB0001",
            "--printer",
            "fr-zebra",
            "--reason",
            "label torn off",
        ],
    );
    assert!(got
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap()
        .contains("LB0001"));

    // The record: who, what, which printer, why; it cannot be edited.
    let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let rows: Vec<(String, String, String, u32, Option<String>)> = db
        .prepare("SELECT actor, items, printer, copies, reason FROM print_job ORDER BY print_id")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "cli:hima".into(),
                "LB0001".into(),
                "fr-zebra".into(),
                2,
                None
            ),
            (
                "cli:hima".into(),
                "LB0001".into(),
                "fr-zebra".into(),
                1,
                Some("label torn off".into())
            ),
        ]
    );
    assert!(db.execute("DELETE FROM print_job", []).is_err());
}

#[test]
fn a_printer_that_does_not_answer_is_named_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let config = department(
        dir.path(),
        &format!("[[printers]]\nname = \"ward-zebra\"\naddress = \"{dead}\"\n"),
    );
    let e = refused(
        &config,
        &["print", "location", "4W", "--printer", "ward-zebra"],
    );
    assert!(e.contains("printer ward-zebra") && e.contains(&dead), "{e}");
    assert!(e.contains("nothing was printed"), "{e}");
    let e = refused(
        &config,
        &["print", "location", "4W", "--printer", "fr-zebra"],
    );
    assert!(
        e.contains("no printer named fr-zebra") && e.contains("ward-zebra"),
        "{e}"
    );
    let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM print_job", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_template_with_an_unknown_placeholder_stops_the_start_naming_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("templates");
    std::fs::create_dir_all(t.join("zpl")).unwrap();
    std::fs::write(
        t.join("zpl/location-4x2.zpl"),
        "^XA\n^FO20,12^A0N,60,60^FH^FD{{code}}^FS\n^FO20,80^FH^FD{{ward}}^FS\n^FO20,154{{symbol}}\n^XZ\n",
    )
    .unwrap();
    let config = department(dir.path(), "");
    std::fs::write(
        &config,
        format!(
            "database = {:?}\nlabel_templates = {:?}\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("t.db"),
            t
        ),
    )
    .unwrap();
    for args in [&["label", "location", "4W"][..], &["serve"][..]] {
        let e = refused(&config, args);
        assert!(e.contains("location-4x2.zpl line 3"), "{args:?}: {e}");
        assert!(e.contains("{{ward}}"), "{e}");
    }
    // Fixed, the override is used.
    std::fs::write(
        t.join("zpl/location-4x2.zpl"),
        "^XA\n^FO20,12^A0N,60,60^FH^FDSHELF {{code}}^FS\n^FO20,154{{symbol module=2 height=100}}\n^XZ\n",
    )
    .unwrap();
    let zpl = ok(&config, &["label", "location", "4W"]);
    assert!(
        zpl.contains("^FDSHELF 4W^FS") && zpl.contains("^BY2,3,100"),
        "{zpl}"
    );
}

#[test]
fn a_sheet_of_location_labels_has_one_cell_a_label_and_a_page_a_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "");
    let out = dir.path().join("shelves.svg");
    let o = run(
        &config,
        &[
            "label",
            "sheet",
            "locations",
            "--from",
            "FR-00-19",
            "--to",
            "FR-99",
            "--paper",
            "a4",
            "--out",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("width=\"210mm\""), "A4");
    assert_eq!(
        svg.matches("<svg x=\"").count(),
        2,
        "two labels placed: {svg}"
    );
    assert!(svg.contains(">FR-00-19<") && svg.contains(">FR-20-39<"));
    // Named volumes; an unknown one stops the run before any page is written.
    let vols = dir.path().join("vols.svg");
    let e = refused(
        &config,
        &[
            "label",
            "sheet",
            "volumes",
            "LB0001",
            "NOPE",
            "--out",
            vols.to_str().unwrap(),
        ],
    );
    assert!(e.contains("NOPE"), "{e}");
    assert!(!vols.exists());
    // A sheet is SVG: another extension is refused rather than written as SVG under it.
    let png = dir.path().join("vols.png");
    let e = refused(
        &config,
        &[
            "label",
            "sheet",
            "volumes",
            "LB0001",
            "--out",
            png.to_str().unwrap(),
        ],
    );
    assert!(e.contains("FILE.svg"), "{e}");
    assert!(!png.exists());
}

/// A long name is cut where the label ends (with an ellipsis on SVG, within the label on ZPL),
/// and the SVG label prints the barcode's value under it for a clerk to key in from a damaged
/// label (fresh-eyes: names ran under the colour bands and off the label; no readable value).
#[test]
fn a_long_name_is_cut_to_the_label_and_the_barcode_value_is_printed_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "");
    let vols = dir.path().join("long.csv");
    std::fs::write(
        &vols,
        "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n\
         LB0009,123498,Zzsynthlastnamewithalongtail,Bartholomew,,1,medical,FR-00-19\n",
    )
    .unwrap();
    ok(&config, &["import", "volumes", vols.to_str().unwrap()]);
    let svg = ok(&config, &["label", "volume", "LB0009", "--format", "svg"]);
    assert!(
        svg.contains(">ZZSYNTHLASTNA…, B.<"),
        "cut, the initial kept: {svg}"
    );
    assert!(
        svg.contains(">LB0009</text>"),
        "the value under the bars: {svg}"
    );
    let zpl = ok(&config, &["label", "volume", "LB0009", "--size", "2x1"]);
    assert!(
        zpl.contains("^FDZZSYNTHLASTN, B.^FS"),
        "16 characters on a 2x1 label: {zpl}"
    );
}
