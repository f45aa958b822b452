//! SQLite's quick check of the whole file, run in the background one table at a time and
//! stepping aside whenever the write-ahead log passes its bound, so a check of gigabytes never
//! keeps the log from being cut behind it.
//!
//! A check is one read transaction: while it reads, the checkpoint cannot copy or cut the log
//! past the snapshot it reads, and every write grows the log. At a million charts the file is
//! 8 GB and the check of its biggest table takes a minute cold. So the check goes table by table
//! (`PRAGMA quick_check(table)`: the table's B-tree and its indexes' B-trees), each a read of its
//! own, and a progress handler watches the log's size while it reads: past [`YIELD_AT_PAGES`] it
//! stops the read, waits until the writer has cut the log, and checks that table again from its
//! start. A table check that never completes under steady heavy writing keeps the finding at
//! "checking", never at a false "ok". What the table-by-table check leaves out is the file-wide
//! count of pages (a page in no table at all); `chartrack check` runs the whole-file check.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::ErrorCode;

use super::checkpoint::HOLD_PAGES;

/// The log size, in pages, past which a running check stops: the writer's own bound, where it
/// asks readers in the way of a cut to finish (`checkpoint::HOLD_PAGES`, about 64 MB).
pub const YIELD_AT_PAGES: i64 = HOLD_PAGES;
/// B-tree pages (or statement steps) the check reads between two looks at the log's size.
const LOOK_EVERY: i32 = 1_000;
/// How long a stopped check waits at most for the log to be cut before it reads again.
const WAIT_FOR_CUT: Duration = Duration::from_secs(10);

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickChecked {
    /// The first problem SQLite reported (with its table), `None` when every table is ok.
    pub problem: Option<String>,
    /// Tables checked.
    pub tables: usize,
    /// Times a table's check stopped because the log passed its bound (and was read again).
    pub stepped_aside: u32,
}

/// Check every table of the database at `path` through a connection of its own. `alive` is
/// asked between reads: when it says no (the store is closing), the check ends with an error.
pub fn quick_check(path: &Path, alive: &dyn Fn() -> bool) -> anyhow::Result<QuickChecked> {
    let conn = super::open_conn(path, true)?;
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let bound = u64::try_from(YIELD_AT_PAGES * page).unwrap_or(u64::MAX);
    check_tables(conn, path, alive, bound, LOOK_EVERY, WAIT_FOR_CUT)
}

/// The whole file in one read, as `chartrack check` runs it: the B-trees and the file-wide count
/// of pages. Minutes at a million charts, and the log of a server writing meanwhile grows.
pub fn quick_check_whole(path: &Path) -> anyhow::Result<Option<String>> {
    let conn = super::open_conn(path, true)?;
    let said: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    Ok((said != "ok").then_some(said))
}

fn check_tables(
    mut conn: rusqlite::Connection,
    path: &Path,
    alive: &dyn Fn() -> bool,
    bound: u64,
    look_every: i32,
    wait_for_cut: Duration,
) -> anyhow::Result<QuickChecked> {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut found = QuickChecked {
        problem: None,
        tables: 0,
        stepped_aside: 0,
    };
    for table in &tables {
        loop {
            if !alive() {
                anyhow::bail!("the store closed before the quick check ended");
            }
            let watched = wal.clone();
            conn.progress_handler(look_every, Some(move || log_len(&watched) > bound))?;
            let sql = format!("PRAGMA quick_check(\"{}\")", table.replace('"', "\"\""));
            let said = conn.query_row(&sql, [], |r| r.get::<_, String>(0));
            conn.progress_handler(0, None::<fn() -> bool>)?;
            match said {
                Ok(ok) if ok == "ok" => break,
                Ok(problem) => {
                    found.problem = Some(format!("{table}: {problem}"));
                    return Ok(found);
                }
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
                    found.stepped_aside += 1;
                    let until = Instant::now() + wait_for_cut;
                    while log_len(&wal) > bound / 2 && Instant::now() < until && alive() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        found.tables += 1;
    }
    Ok(found)
}

fn log_len(wal: &Path) -> u64 {
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(dir: &Path) -> (PathBuf, rusqlite::Connection) {
        let path = dir.join("t.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
             CREATE INDEX t_body ON t(body);",
        )
        .unwrap();
        for i in 0..400 {
            c.execute(
                "INSERT INTO t (body) VALUES (?)",
                [format!("{i:04}{}", "x".repeat(2000))],
            )
            .unwrap();
        }
        (path, c)
    }

    /// While the log is past its bound the check reads nothing for long: the log can be cut
    /// while the check is still under way, and the check then ends "ok".
    #[test]
    fn the_check_steps_aside_for_the_log_to_be_cut_and_then_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = filled(dir.path());
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let bound = 64 * 1024;
        assert!(
            log_len(&wal) > bound,
            "the log is past the bound before the check"
        );
        let reader = crate::store::open_conn(&path, true).unwrap();
        let checking = std::thread::spawn(move || {
            let p = path.clone();
            check_tables(reader, &p, &|| true, bound, 1, Duration::from_millis(50))
        });
        std::thread::sleep(Duration::from_millis(300));
        let (busy, _, _): (i64, i64, i64) = writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert!(!checking.is_finished(), "the check waited for the cut");
        assert_eq!(busy, 0, "no read of the check stood in the way of the cut");
        assert_eq!(log_len(&wal), 0);
        let found = checking.join().unwrap().unwrap();
        assert_eq!(found.problem, None);
        assert!(found.stepped_aside >= 1, "{found:?}");
        assert!(found.tables >= 1, "{found:?}");
    }

    #[test]
    fn a_damaged_index_is_found_with_its_table() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = filled(dir.path());
        writer
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        let (root, page): (i64, i64) = (
            writer
                .query_row(
                    "SELECT rootpage FROM sqlite_schema WHERE name = 't_body'",
                    [],
                    |r| r.get(0),
                )
                .unwrap(),
            writer
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap(),
        );
        drop(writer);
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.seek(SeekFrom::Start(((root - 1) * page) as u64)).unwrap();
            f.write_all(&[0x55; 16]).unwrap();
        }
        let found = quick_check(&path, &|| true).unwrap();
        assert!(
            found
                .problem
                .as_deref()
                .is_some_and(|p| p.starts_with("t: ")),
            "{found:?}"
        );
        assert!(quick_check_whole(&path).unwrap().is_some());
    }
}
