//! CSV import of existing charts, locations and loose reports. A file is checked whole: if any row is bad,
//! nothing is imported and every bad row is named by line number and reason.

use crate::domain::{Barcode, LocationCode, Mrn};
use crate::store::admin::{self, NewVolume};
use crate::store::bulk;
use crate::store::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

mod progress;
mod rows;
mod small_files;
pub use progress::Progress;
use rows::Rows;
pub use small_files::{
    check_locations, check_reports, location_from_fields, locations, locations_from, reports,
    reports_from, ReportRow,
};

pub const VOLUME_COLUMNS: [&str; 8] = [
    "barcode",
    "mrn",
    "last_name",
    "first_name",
    "birth_date",
    "volume",
    "record_type",
    "home",
];
pub const LOCATION_COLUMNS: [&str; 4] = ["code", "name", "kind", "barcode"];
pub const REPORT_COLUMNS: [&str; 3] = ["barcode", "mrn", "description"];

/// A refused import: every problem found, by line, in file order. Past the first
/// `LISTED_PROBLEMS` a problem's reason may be left blank: those are counted, not listed.
#[derive(Debug)]
pub struct ImportErrors(pub Vec<(u64, String)>);

/// Problems listed one by one before the rest are only counted: a file with the same mistake
/// on every one of a million rows says so in a page, not in a million lines.
pub const LISTED_PROBLEMS: usize = 200;

impl std::fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (line, reason) in self.0.iter().take(LISTED_PROBLEMS) {
            writeln!(f, "line {line}: {reason}")?;
        }
        if self.0.len() > LISTED_PROBLEMS {
            let rest = &self.0[LISTED_PROBLEMS..];
            // In file order, a line's problems are together: the lines are counted as they
            // change (a line with problems both listed and not counts as one more).
            let lines = rest
                .iter()
                .scan(u64::MAX, |last, (l, _)| {
                    let new = *l != *last;
                    *last = *l;
                    Some(new)
                })
                .filter(|&new| new)
                .count();
            writeln!(
                f,
                "… and {} more problem(s) on {lines} more line(s), not listed",
                rest.len(),
            )?;
        }
        write!(f, "{} problem(s); nothing was imported", self.0.len())
    }
}
impl std::error::Error for ImportErrors {}

fn open(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// A problem added to a file's list, in file order. Past the problems a refusal lists, only its
/// line is kept (the rest are counted, not listed: see `ImportErrors`), so a file with a
/// problem on each of a million rows does not hold a million messages.
fn note(problems: &mut Vec<(u64, String)>, line: u64, problem: Option<String>) {
    if let Some(p) = problem {
        let keep = problems.len() < LISTED_PROBLEMS;
        problems.push((line, if keep { p } else { String::new() }));
    }
}

/// All problems found, by line, or nothing.
fn refuse_if_any(mut errors: Vec<(u64, String)>) -> anyhow::Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by_key(|(line, _)| *line);
    Err(ImportErrors(errors).into())
}

/// The value, or its problem added to `problems`.
fn keep<T>(problems: &mut Vec<String>, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| problems.push(e)).ok()
}

/// A volume from its CSV row, or every problem with the row (each field checked, and the home
/// looked up in `kinds`, location kinds by code).
fn parse_volume(
    r: &csv::StringRecord,
    kinds: &HashMap<String, String>,
) -> Result<NewVolume, Vec<String>> {
    let opt = |s: &str| {
        if s.is_empty() {
            None
        } else {
            Some(s.to_owned())
        }
    };
    let mut problems = Vec::new();
    let p = &mut problems;
    let barcode = keep(
        p,
        opt(&r[0])
            .map(|b| Barcode::parse(&b))
            .transpose()
            .map_err(|e| e.to_string()),
    );
    let mrn = keep(p, Mrn::parse(&r[1]).map_err(|e| e.to_string()));
    let birth_date = keep(
        p,
        opt(&r[4])
            .map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
            .transpose()
            .map_err(|_| format!("birth_date '{}' is not a date like 1970-01-31", &r[4])),
    );
    let volume = keep(
        p,
        if r[5].is_empty() {
            Ok(1)
        } else {
            r[5].parse()
                .map_err(|_| format!("volume '{}' is not a number", &r[5]))
        },
    );
    let record_type = opt(&r[6]).unwrap_or_else(|| "medical".into());
    p.extend(admin::volume_problems(
        &r[2],
        &r[3],
        volume.unwrap_or(1),
        &record_type,
    ));
    let home = keep(
        p,
        LocationCode::parse(&r[7]).map_err(|e| format!("home: {e}")),
    );
    if let Some(h) = &home {
        match kinds.get(h.as_str()).map(String::as_str) {
            None => p.push(format!("home location {h} does not exist")),
            Some("shelf") => {}
            Some(_) => p.push(format!("home location {h} is not a shelf section")),
        }
    }
    match (barcode, mrn, birth_date, volume, home) {
        (Some(barcode), Some(mrn), Some(birth_date), Some(volume), Some(home))
            if problems.is_empty() =>
        {
            Ok(NewVolume {
                barcode,
                mrn,
                last_name: r[2].to_owned(),
                first_name: r[3].to_owned(),
                birth_date,
                volume,
                record_type,
                home,
                restricted: false,
            })
        }
        _ => Err(problems),
    }
}

/// Import volumes from a file; returns how many were imported. Progress is told on standard
/// error (see `Progress`).
pub fn volumes(store: &Store, path: &Path) -> anyhow::Result<usize> {
    let file = open(path)?;
    let size = file.metadata().ok().map(|m| m.len());
    import_volumes(
        store,
        file,
        &mut Progress::on_stderr("import volumes", size),
    )
}

/// A volume row read and checked by itself, as `check_volumes` does: the volume, or every
/// problem of the row.
fn check_volume_row(
    r: Result<&csv::StringRecord, String>,
    kinds: &HashMap<String, String>,
) -> (Option<Barcode>, Result<NewVolume, Vec<String>>) {
    match r {
        Ok(r) => {
            let barcode = Some(&r[0])
                .filter(|b| !b.is_empty())
                .and_then(|b| Barcode::parse(b).ok());
            (barcode, parse_volume(r, kinds))
        }
        Err(problem) => (None, Err(vec![problem])),
    }
}

/// Volumes read from CSV text and checked, with their lines, or every problem of the file by
/// line (`ImportErrors`); nothing is written. `kinds`: the location kinds by code (a home must
/// be a shelf section). The import's checks without the database (a barcode twice in the file
/// is found here by a set of the barcodes; the import finds it by the database's index); the
/// fuzz target `csv_import`'s subject.
pub fn check_volumes(
    input: impl Read,
    kinds: &HashMap<String, String>,
) -> anyhow::Result<Vec<(u64, NewVolume)>> {
    let mut rows = Rows::open(input, &VOLUME_COLUMNS)?;
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    let mut seen = HashSet::new();
    while let Some((line, r)) = rows.next()? {
        let (barcode, volume) = check_volume_row(r, kinds);
        if let Some(b) = barcode {
            if !seen.insert(b.to_string()) {
                errors.push((line, format!("barcode {b} appears twice in the file")));
            }
        }
        match volume {
            Ok(v) => parsed.push((line, v)),
            Err(problems) => errors.extend(problems.into_iter().map(|e| (line, e))),
        }
    }
    refuse_if_any(errors)?;
    Ok(parsed)
}

/// Import volumes from CSV text (a file or an upload). Call off the async runtime.
pub fn volumes_from(store: &Store, input: impl Read) -> anyhow::Result<usize> {
    import_volumes(store, input, &mut Progress::none())
}

/// What the reading side sends the writer: rows by the batch, then whether the file was good
/// (the writer commits only after `End(true)`; a feed that stops without it is rolled back).
enum Feed {
    Rows(Vec<(u64, Result<NewVolume, Barcode>)>),
    End(bool),
}

/// Rows sent to the writer at a time, and batches waiting at most: the memory an import holds
/// whatever the size of its file.
const BATCH: usize = 1024;
const BATCHES_WAITING: usize = 4;

/// The writer's answer to a file with a bad row (its problems are passed back on the side).
const REFUSED: &str = "the import was refused";

/// The import: the file is read and each row checked on this thread while the writer registers
/// the good rows in ONE transaction (`store::bulk`), which is rolled back when any row of the
/// file is bad, so a file is imported whole or not at all, even if the process is killed
/// half-way. Every row is still checked after a bad one, against the database too (a barcode
/// taken, a patient registered under another name), so every problem is named at once.
fn import_volumes(
    store: &Store,
    input: impl Read,
    progress: &mut Progress,
) -> anyhow::Result<usize> {
    let kinds = store
        .read_blocking(admin::location_kinds)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rows = Rows::open(input, &VOLUME_COLUMNS)?;
    let now = store.clock().now();
    let (feed, fed) = std::sync::mpsc::sync_channel::<Feed>(BATCHES_WAITING);
    let found: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let writer = {
        let (store, found) = (store.clone(), found.clone());
        std::thread::Builder::new()
            .name("chartrack-import".into())
            .spawn(move || {
                store.write_blocking(move |c| {
                    let mut bulk = bulk::Volumes::start(c, now)?;
                    let mut problems = Vec::new();
                    let mut good_file = false;
                    for batch in fed {
                        let rows = match batch {
                            Feed::Rows(rows) => rows,
                            Feed::End(good) => {
                                good_file = good;
                                break;
                            }
                        };
                        for (line, row) in rows {
                            let problem = match row {
                                Ok(v) => bulk.add(&v)?,
                                Err(barcode) => bulk.refused(&barcode)?,
                            };
                            note(&mut problems, line, problem);
                        }
                    }
                    let written = bulk.written();
                    let refuse = !problems.is_empty() || !good_file;
                    *found.lock().expect("import problems") = problems;
                    if refuse {
                        // Returning an error rolls back everything this import wrote.
                        Err(StoreError::Invalid(REFUSED.into()))
                    } else {
                        Ok(written)
                    }
                })
            })?
    };
    let read = (|| -> anyhow::Result<(u64, Vec<(u64, String)>)> {
        let mut errors = Vec::new();
        let mut batch = Vec::with_capacity(BATCH);
        let mut n = 0u64;
        while let Some((line, r)) = rows.next()? {
            n += 1;
            let (barcode, volume) = check_volume_row(r, &kinds);
            match volume {
                Ok(v) => batch.push((line, Ok(v))),
                Err(problems) => {
                    for problem in problems {
                        note(&mut errors, line, Some(problem));
                    }
                    batch.extend(barcode.map(|b| (line, Err(b))));
                }
            }
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if feed.send(Feed::Rows(full)).is_err() {
                    break; // the writer stopped: its answer says why
                }
                progress.update(n, rows.byte());
            }
        }
        let _ = feed.send(Feed::Rows(batch));
        let _ = feed.send(Feed::End(errors.is_empty()));
        Ok((n, errors))
    })();
    drop(feed);
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the import's writer thread failed"))?;
    if let Err(e) = &written {
        if e.to_string() != REFUSED {
            // The database failed (a full disk, ...): nothing was imported.
            return Err(anyhow::anyhow!("{e}; nothing was imported"));
        }
    }
    let (n, errors) = read?;
    let mut problems = std::mem::take(&mut *found.lock().expect("import problems"));
    // The database's problems of a line before the row's own (a barcode twice first), as the
    // check alone lists them.
    problems.extend(errors);
    if !problems.is_empty() {
        progress.done(&format!("{n} rows checked, {} problem(s)", problems.len()));
        return refuse_if_any(problems).map(|()| 0);
    }
    let written = written.map_err(|e| anyhow::anyhow!("{e}"))?;
    progress.done(&format!("{n} rows checked, {written} written"));
    Ok(written as usize)
}

#[cfg(test)]
mod tests {
    use super::{check_volumes, location_from_fields, VOLUME_COLUMNS};
    use crate::domain::LocationKind;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Rows written as CSV (commas and quotes in names, CRLF or LF) are read back as
        /// written, each on its own line.
        #[test]
        fn volume_rows_read_back_as_written(
            rows in proptest::collection::vec((
                "[0-9]{1,12}",
                "[A-Za-z][A-Za-z' ,\"-]{0,18}[A-Za-z]",
                "[A-Za-z\u{e0}-\u{ff}]{1,20}",
                proptest::option::of((1880i32..2026, 1u32..=12, 1u32..=28)),
                1u32..=999,
                "[a-z_-]{1,32}",
            ), 0..8),
            crlf in any::<bool>(),
        ) {
            let kinds = HashMap::from([("FR-00-19".to_owned(), "shelf".to_owned())]);
            let mut w = csv::WriterBuilder::new()
                .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                .from_writer(Vec::new());
            w.write_record(VOLUME_COLUMNS).unwrap();
            for (i, (mrn, last, first, born, volume, rt)) in rows.iter().enumerate() {
                let born = born.map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")).unwrap_or_default();
                let barcode = format!("V{i:07}");
                w.write_record([&barcode, mrn, last, first, &born, &volume.to_string(), rt, "FR-00-19"]).unwrap();
            }
            let text = w.into_inner().unwrap();
            let read = check_volumes(&text[..], &kinds).unwrap();
            prop_assert_eq!(read.len(), rows.len());
            for (i, ((line, v), (mrn, last, first, born, volume, rt))) in read.iter().zip(&rows).enumerate() {
                prop_assert_eq!(*line, i as u64 + 2);
                prop_assert_eq!(v.barcode.as_ref().unwrap().as_str(), format!("V{i:07}"));
                prop_assert_eq!(v.mrn.as_str(), mrn.as_str());
                prop_assert_eq!(&v.last_name, last);
                prop_assert_eq!(&v.first_name, first);
                prop_assert_eq!(v.birth_date.map(|d| d.to_string()), born.map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")));
                prop_assert_eq!(v.volume, *volume);
                prop_assert_eq!(&v.record_type, rt);
                prop_assert_eq!(v.home.as_str(), "FR-00-19");
            }
        }
    }

    /// Fuzz run 1 (`csv_import`), what the reader does that the fuzz model had wrong: a field
    /// is trimmed of Unicode white space (an em space too), not only ASCII's, and a lone CR
    /// inside a field ends the row unless the field is quoted (the csv crate's writer quotes it
    /// only with `Terminator::CRLF`).
    #[test]
    fn fields_are_trimmed_of_unicode_white_space_and_a_lone_cr_ends_a_row() {
        let kinds = HashMap::from([("FR-00-19".to_owned(), "shelf".to_owned())]);
        let head = VOLUME_COLUMNS.join(",");
        let text =
            format!("{head}\n\u{2003}v0000001h\u{2003},\u{2003}123405,Lee,Ann,,,,FR-00-19\n");
        let rows = check_volumes(text.as_bytes(), &kinds).unwrap();
        assert_eq!(rows[0].1.barcode.as_ref().unwrap().as_str(), "V0000001H");
        assert_eq!(rows[0].1.mrn.as_str(), "123405");

        let quoted = format!("{head}\n,123405,\"Lee\rSmith\",Ann,,,,FR-00-19\n");
        let e = check_volumes(quoted.as_bytes(), &kinds)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2: last name must be 1 to 80 printable"),
            "{e}"
        );
        let bare = format!("{head}\n,123405,Lee\rSmith,Ann,,,,FR-00-19\n");
        let e = check_volumes(bare.as_bytes(), &kinds)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2: expected 8 fields, found 3"), "{e}");
        assert!(e.contains("line 3: expected 8 fields, found 6"), "{e}");
    }

    #[test]
    fn a_desk_is_a_location_kind_without_a_terminal_range() {
        let l = location_from_fields("FR-DESK-20", "Check-in desk", "desk", "").unwrap();
        assert_eq!(l.kind, LocationKind::Desk);
        assert_eq!(l.terminal, None, "only shelf sections file terminal digits");
        let e = location_from_fields("FR-DESK", "Desk", "bench", "").unwrap_err();
        assert!(e.contains("desk"), "the kinds are named: {e}");
    }
}
