//! The CSV import's reading and checking (`import::check_volumes`, `check_locations`,
//! `check_reports`: everything before the writer), without a database: the locations a file's
//! homes are checked against are a fixed map.
//!
//! The first byte picks what the rest is:
//! - 0, 1, 2: a volumes, locations or reports file, read as it is (with the right header put in
//!   front when the byte is odd's twin, 3, 4, 5, so the rows themselves get checked);
//! - 6: the input drives a generator of volume rows (the right header, each field from a small
//!   alphabet of good and bad characters), written with the `csv` crate's writer.
//!
//! Properties checked, besides "never panics":
//! - a refusal names at least one problem, and every problem's line is a line of the file
//!   (1 to the number of physical lines; CR, LF and CRLF each end one);
//! - rows accepted come in file order, each on a line of the file, each valid as the API
//!   would take it (`NewVolume::validate`, `NewLocation::validate`);
//! - generated rows: parse(render(rows)) == rows — accepted exactly when every row is good by
//!   the rules written independently here, each field read back as written (white space at the
//!   ends trimmed), on line 2, 3, ...; refused rows named by their own lines.
#![no_main]

use chartrack::import::{check_locations, check_reports, check_volumes, ImportErrors};
use chartrack::import::{LOCATION_COLUMNS, REPORT_COLUMNS, VOLUME_COLUMNS};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fn kinds() -> HashMap<String, String> {
    [("FR-00-19", "shelf"), ("FR-20-39", "shelf"), ("4W", "unit")]
        .into_iter()
        .map(|(c, k)| (c.to_owned(), k.to_owned()))
        .collect()
}

/// Physical lines of `text`: CR, LF and CRLF each end one.
fn physical_lines(text: &[u8]) -> u64 {
    let mut n = 1;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && text.get(i + 1) != Some(&b'\n')) {
            n += 1;
        }
    }
    n
}

/// The problems' lines of a refusal (a header refusal is not an `ImportErrors`: no lines).
fn problem_lines(e: &anyhow::Error) -> Vec<u64> {
    match e.downcast_ref::<ImportErrors>() {
        Some(ImportErrors(problems)) => {
            assert!(!problems.is_empty(), "a refusal with no problem");
            let _ = e.to_string();
            problems.iter().map(|(l, _)| *l).collect()
        }
        None => {
            assert!(e.to_string().starts_with("line 1:") || !e.to_string().is_empty());
            Vec::new()
        }
    }
}

fn check_lines(text: &[u8], accepted: &[u64], refused: &[u64]) {
    let n = physical_lines(text);
    for &l in refused {
        assert!(
            (1..=n).contains(&l),
            "problem on line {l} of a {n}-line file"
        );
    }
    for w in accepted.windows(2) {
        assert!(w[0] < w[1], "rows out of order: {accepted:?}");
    }
    for &l in accepted {
        assert!((2..=n).contains(&l), "row on line {l} of a {n}-line file");
    }
}

fn raw(kind: u8, text: &[u8]) {
    match kind {
        0 => match check_volumes(text, &kinds()) {
            Ok(rows) => {
                for (_, v) in &rows {
                    v.validate().expect("an accepted volume is valid");
                }
                let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
                check_lines(text, &lines, &[]);
            }
            Err(e) => check_lines(text, &[], &problem_lines(&e)),
        },
        1 => match check_locations(text) {
            Ok(rows) => {
                for (_, l) in &rows {
                    l.validate().expect("an accepted location is valid");
                }
                let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
                check_lines(text, &lines, &[]);
            }
            Err(e) => check_lines(text, &[], &problem_lines(&e)),
        },
        _ => match check_reports(text) {
            Ok(rows) => {
                let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
                check_lines(text, &lines, &[]);
            }
            Err(e) => check_lines(text, &[], &problem_lines(&e)),
        },
    }
}

/// Characters a field is made of: good ones, separators and quotes, white space, controls and
/// a few beyond ASCII.
const ALPHABET: [&str; 24] = [
    "0", "1", "5", "9", "A", "Z", "a", "q", "-", "_", ".", "/", " ", ",", "\"", "'", "\t", "\r",
    "\n", "\u{7}", "é", "\u{2003}", "Ω", "\u{feff}",
];

struct Gen<'a>(&'a [u8]);

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn field(&mut self, usual: &[&str]) -> String {
        let b = self.byte();
        if usize::from(b) < usual.len() * 8 {
            return usual[usize::from(b) % usual.len()].to_owned();
        }
        let len = usize::from(self.byte() % 12);
        (0..len)
            .map(|_| ALPHABET[usize::from(self.byte()) % ALPHABET.len()])
            .collect()
    }
}

/// How the import's reader trims a field: `csv::Trim::All` on a `StringRecord` trims Unicode
/// white space (an em space too), not only ASCII's (fuzz run 1: the model here said ASCII).
fn trim_field(s: &str) -> &str {
    s.trim()
}

/// A barcode column: blank (one is issued), or 1 to 48 ASCII letters, digits and `-._/+`.
fn good_barcode(b: &str) -> bool {
    b.len() <= 48
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._/+".contains(&c))
}

/// Whether a volume row is good, by the import's rules written out again here.
fn good_volume(f: &[String; 8], kinds: &HashMap<String, String>) -> bool {
    let f: Vec<&str> = f.iter().map(|s| trim_field(s)).collect();
    let barcode = good_barcode(f[0]);
    let mrn = (1..=12).contains(&f[1].len()) && f[1].bytes().all(|b| b.is_ascii_digit());
    let name = |n: &str| !n.trim().is_empty() && n.len() <= 80 && !n.chars().any(char::is_control);
    // Dates are chrono's to read (`%Y-%m-%d`); the property here is the CSV's.
    let date = f[4].is_empty() || chrono::NaiveDate::parse_from_str(f[4], "%Y-%m-%d").is_ok();
    let volume = f[5].is_empty() || f[5].parse::<u32>().is_ok_and(|v| (1..=999).contains(&v));
    let rt = f[6].is_empty()
        || (f[6].len() <= 32
            && f[6]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_'));
    let home = kinds.get(f[7]).is_some_and(|k| k == "shelf");
    barcode && mrn && name(f[2]) && name(f[3]) && date && volume && rt && home
}

fn generated(data: &[u8]) {
    let kinds = kinds();
    let mut g = Gen(data);
    let n = usize::from(g.byte() % 6);
    let rows: Vec<[String; 8]> = (0..n)
        .map(|_| {
            [
                g.field(&["", "V0000001H", "v0000002x", "V0000001H", "A B", "]C0V1"]),
                g.field(&["123405", "000123", "12a", "1234567890123"]),
                g.field(&["O'Brien", "Smith, Jr", " Lee ", "\"Quoted\"", ""]),
                g.field(&["Ann", "Jean-Luc", "Zoë", "a\nb"]),
                g.field(&["", "1970-01-31", "2024-02-29", "2023-02-29", "31/01/1970"]),
                g.field(&["", "1", "999", "0", "1000", "x"]),
                g.field(&["", "medical", "radiology", "Medical", "out patient"]),
                g.field(&["FR-00-19", "FR-20-39", "4W", "NOPE", "fr-00-19"]),
            ]
        })
        .collect();
    // RFC 4180's CRLF: the csv crate's default (LF) leaves a lone CR in a field unquoted,
    // and every reader (this import, spreadsheets) ends a line there (fuzz run 1).
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(VOLUME_COLUMNS).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    let text = w.into_inner().unwrap();
    // Barcodes named twice in the file are refused; the generator's model says which.
    let mut seen = std::collections::HashSet::new();
    let mut twice = false;
    for r in &rows {
        let b = trim_field(&r[0]);
        if good_barcode(b) && !b.is_empty() {
            twice |= !seen.insert(b.to_ascii_uppercase());
        }
    }
    let all_good = rows.iter().all(|r| good_volume(r, &kinds)) && !twice;
    // Each record's line: the header is line 1; a quoted field's own line breaks count.
    let mut line = 2u64;
    let mut lines = Vec::new();
    for r in &rows {
        lines.push(line);
        line += r
            .iter()
            .map(|f| physical_lines(f.as_bytes()) - 1)
            .sum::<u64>()
            + 1;
    }
    match check_volumes(&text[..], &kinds) {
        Ok(parsed) => {
            assert!(all_good, "accepted a file with a bad row: {rows:?}");
            assert_eq!(parsed.len(), rows.len());
            for ((l, v), (r, want)) in parsed.iter().zip(rows.iter().zip(&lines)) {
                assert_eq!(l, want, "line of {r:?}");
                assert_eq!(v.mrn.as_str(), trim_field(&r[1]));
                assert_eq!(v.last_name, trim_field(&r[2]));
                assert_eq!(v.first_name, trim_field(&r[3]));
                let b = trim_field(&r[0]);
                assert_eq!(
                    v.barcode.as_ref().map(|b| b.as_str().to_owned()),
                    (!b.is_empty()).then(|| b.to_ascii_uppercase())
                );
                assert_eq!(v.home.as_str(), trim_field(&r[7]));
            }
        }
        Err(e) => {
            assert!(!all_good, "refused a good file: {rows:?}: {e}");
            let refused = problem_lines(&e);
            for l in &refused {
                assert!(
                    lines.contains(l),
                    "problem on line {l}, rows are on {lines:?}: {e}"
                );
            }
            for (r, l) in rows.iter().zip(&lines) {
                if !good_volume(r, &kinds) {
                    assert!(
                        refused.contains(l),
                        "bad row on line {l} not named: {r:?}: {e}"
                    );
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    match first % 7 {
        k @ 0..=2 => raw(k, rest),
        k @ 3..=5 => {
            let header =
                [&VOLUME_COLUMNS[..], &LOCATION_COLUMNS, &REPORT_COLUMNS][usize::from(k - 3)];
            let mut text = header.join(",").into_bytes();
            text.push(b'\n');
            text.extend_from_slice(rest);
            raw(k - 3, &text);
        }
        _ => generated(rest),
    }
});
