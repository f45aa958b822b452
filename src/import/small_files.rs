//! Locations and loose reports: files of tens or hundreds of rows, read row by row, checked
//! whole, then written in one writer job (nothing if any row is bad).

use super::{keep, open, refuse_if_any, ImportErrors, Rows, LOCATION_COLUMNS, REPORT_COLUMNS};
use crate::domain::{Barcode, LocationCode, LocationKind, Mrn};
use crate::store::admin::{self, NewLocation};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

/// A location from its four CSV columns (also the admin page's form): the code, name and kind
/// checked, a shelf's terminal-digit range read from its code, a blank barcode left to be issued.
pub fn location_from_fields(
    code: &str,
    name: &str,
    kind: &str,
    barcode: &str,
) -> Result<NewLocation, String> {
    location_problems(code, name, kind, barcode).map_err(|p| p.join("; "))
}

/// The same, with every problem of the fields.
fn location_problems(
    code: &str,
    name: &str,
    kind: &str,
    barcode: &str,
) -> Result<NewLocation, Vec<String>> {
    let mut problems = Vec::new();
    let p = &mut problems;
    let code = keep(
        p,
        LocationCode::parse(code.trim()).map_err(|e| e.to_string()),
    );
    let kind = keep(
        p,
        LocationKind::from_str(kind.trim()).map_err(|e| e.to_string()),
    );
    let barcode = keep(
        p,
        match barcode.trim() {
            "" => Ok(None),
            b => Barcode::parse(b).map(Some).map_err(|e| e.to_string()),
        },
    );
    let (Some(code), Some(kind), Some(barcode)) = (code, kind, barcode) else {
        if name.trim().is_empty() || name.trim().len() > 100 {
            problems.push("location name must be 1 to 100 characters".into());
        }
        return Err(problems);
    };
    let l = NewLocation {
        terminal: if kind == LocationKind::Shelf {
            terminal_range(code.as_str())
        } else {
            None
        },
        code,
        name: name.trim().to_owned(),
        kind,
        barcode,
    };
    l.validate().map_err(|e| vec![e.to_string()])?;
    Ok(l)
}

/// Shelf codes ending in two two-digit numbers (`FR-00-19`) carry their terminal range.
fn terminal_range(code: &str) -> Option<(u8, u8)> {
    let mut parts = code.rsplit('-');
    let hi: u8 = parts.next()?.parse().ok()?;
    let lo: u8 = parts.next()?.parse().ok()?;
    (lo <= hi && hi <= 99).then_some((lo, hi))
}

pub fn locations(store: &Store, path: &Path) -> anyhow::Result<usize> {
    locations_from(store, open(path)?)
}

/// Locations read from CSV text and checked, with their lines, or every problem of the file by
/// line (`ImportErrors`); nothing is written.
pub fn check_locations(input: impl Read) -> anyhow::Result<Vec<(u64, NewLocation)>> {
    let mut rows = Rows::open(input, &LOCATION_COLUMNS)?;
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    // A code or barcode twice in the file, named as such (not as "already exists").
    let (mut codes, mut barcodes) = (HashMap::new(), HashMap::new());
    while let Some((line, r)) = rows.next()? {
        let r = match r {
            Ok(r) => r,
            Err(problem) => {
                errors.push((line, problem));
                continue;
            }
        };
        let line = &line;
        let code = r[0].to_uppercase();
        if let Some(first) = codes.get(&code).filter(|_| !code.is_empty()) {
            errors.push((
                *line,
                format!("location {code} appears twice in the file (first on line {first})"),
            ));
        } else {
            codes.insert(code, *line);
        }
        let barcode = r[3].to_uppercase();
        if let Some(first) = barcodes.get(&barcode).filter(|_| !barcode.is_empty()) {
            errors.push((
                *line,
                format!("barcode {barcode} appears twice in the file (first on line {first})"),
            ));
        } else {
            barcodes.insert(barcode, *line);
        }
        match location_problems(&r[0], &r[1], &r[2], &r[3]) {
            Ok(l) => parsed.push((*line, l)),
            Err(problems) => errors.extend(problems.into_iter().map(|e| (*line, e))),
        }
    }
    refuse_if_any(errors)?;
    Ok(parsed)
}

/// Import locations from CSV text (a file or an upload). Call off the async runtime.
pub fn locations_from(store: &Store, input: impl Read) -> anyhow::Result<usize> {
    let parsed = check_locations(input)?;
    let n = parsed.len();
    let now = store.clock().now();
    store
        .write_blocking(move |c| {
            let errors: Vec<_> = parsed
                .iter()
                .filter_map(|(line, l)| {
                    admin::create_location(c, l, now)
                        .err()
                        .map(|e| (*line, e.to_string()))
                })
                .collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(StoreError::Invalid(ImportErrors(errors).to_string()))
            }
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(n)
}

pub fn reports(store: &Store, path: &Path) -> anyhow::Result<usize> {
    reports_from(store, open(path)?)
}

/// A loose report read from a CSV row: its barcode (none: one is issued), its patient, its
/// description (checked when it is registered).
pub type ReportRow = (Option<Barcode>, Mrn, String);

/// Loose reports read from CSV text and checked, with their lines, or every problem of the file
/// by line (`ImportErrors`); nothing is written.
pub fn check_reports(input: impl Read) -> anyhow::Result<Vec<(u64, ReportRow)>> {
    let mut rows = Rows::open(input, &REPORT_COLUMNS)?;
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    while let Some((line, r)) = rows.next()? {
        let r = match r {
            Ok(r) => r,
            Err(problem) => {
                errors.push((line, problem));
                continue;
            }
        };
        let line = &line;
        let barcode = match &r[0] {
            "" => Ok(None),
            b => Barcode::parse(b).map(Some).map_err(|e| e.to_string()),
        };
        match (barcode, Mrn::parse(&r[1]).map_err(|e| e.to_string())) {
            (Ok(b), Ok(mrn)) => parsed.push((*line, (b, mrn, r[2].to_owned()))),
            (b, mrn) => errors.extend(
                [b.err(), mrn.err()]
                    .into_iter()
                    .flatten()
                    .map(|e| (*line, e)),
            ),
        }
    }
    refuse_if_any(errors)?;
    Ok(parsed)
}

/// Register loose reports from CSV text (`barcode,mrn,description`; a blank barcode is issued).
/// Call off the async runtime.
pub fn reports_from(store: &Store, input: impl Read) -> anyhow::Result<usize> {
    let parsed = check_reports(input)?;
    let n = parsed.len();
    let now = store.clock().now();
    store
        .write_blocking(move |c| {
            let errors: Vec<_> = parsed
                .iter()
                .filter_map(|(line, (b, mrn, description))| {
                    admin::create_report(c, b.as_ref(), mrn, description, None, now)
                        .err()
                        .map(|e| (*line, e.to_string()))
                })
                .collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(StoreError::Invalid(ImportErrors(errors).to_string()))
            }
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(n)
}
