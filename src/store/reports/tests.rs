//! The reports' tables and charts from a small ledger.
use super::*;

fn params(sort: Option<Sort>, limit: Option<usize>) -> Params {
    Params {
        now: Utc::now(),
        tz: chrono_tz::UTC,
        cutoffs: vec![],
        days: 30,
        sort,
        limit,
    }
}

fn texts(rows: &[Vec<String>]) -> Vec<Vec<&str>> {
    rows.iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn a_page_of_a_listing_is_sorted_and_cut_in_sql_and_counts_the_rest() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t(name TEXT, n INTEGER);
         INSERT INTO t VALUES ('b', 10), ('a', 9), ('c', 100), ('d', 2);",
    )
    .unwrap();
    let c = super::super::audit::Audited::after_logging(&conn);
    let sql = "SELECT name, n FROM t ORDER BY name";
    let down = Some(Sort {
        column: 1,
        descending: true,
    });
    let (rows, total) = listing(&c, sql, vec![], &params(down, Some(2))).unwrap();
    assert_eq!(
        texts(&rows),
        [["c", "100"], ["b", "10"]],
        "numbers as numbers"
    );
    assert_eq!(total, 4, "the page says how many there are in all");
    let (rows, total) = listing(&c, sql, vec![], &params(None, None)).unwrap();
    assert_eq!(
        texts(&rows),
        [["a", "9"], ["b", "10"], ["c", "100"], ["d", "2"]],
        "the report's own order"
    );
    assert_eq!(total, 4);
    let (rows, total) = listing(&c, sql, vec![], &params(None, Some(3))).unwrap();
    assert_eq!((rows.len(), total), (3, 4));
    assert_eq!(
        rows[0][0], "a",
        "a page without a sort keeps the report's order"
    );
}

#[test]
fn a_summary_sorts_numbers_as_numbers_and_keeps_ties_in_their_order() {
    let rows = [["x", "10"], ["y", "9"], ["z", "10"], ["w", "100"]]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let up = Some(Sort {
        column: 1,
        descending: false,
    });
    let (rows, total) = arrange(rows, &params(up, Some(3)));
    assert_eq!(texts(&rows), [["y", "9"], ["x", "10"], ["z", "10"]]);
    assert_eq!(total, 4);
}

#[test]
fn formula_cells_are_neutralised_and_numbers_and_dates_are_not() {
    for (cell, shown) in [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "' =1"),
        (" =1", "' =1"),
        ("-", "'-"),
        ("-.5", "'-.5"),
        ("-3", "-3"),
        ("+12.5", "+12.5"),
        ("0", "0"),
        ("2026-03-02T08:00:00Z", "2026-03-02T08:00:00Z"),
        ("Ashdown, Test", "Ashdown, Test"),
        ("", ""),
    ] {
        assert_eq!(csv_cell(cell), shown, "{cell:?}");
    }
    let t = Table {
        title: "t",
        columns: vec!["a", "b"],
        rows: vec![vec!["=HYPERLINK(\"x\")".into(), "-1".into()]],
        times: vec![false, false],
        total: 1,
        chart: None,
    };
    assert_eq!(
        t.to_csv(chrono_tz::UTC).unwrap(),
        "a,b\n\"'=HYPERLINK(\"\"x\"\")\",-1\n"
    );
    // A line break inside a cell cannot split its row.
    let t = Table {
        title: "t",
        columns: vec!["a", "b"],
        rows: vec![vec!["4 West\rannex".into(), "\r=1+1".into()]],
        times: vec![false, false],
        total: 1,
        chart: None,
    };
    let csv = t.to_csv(chrono_tz::UTC).unwrap();
    assert_eq!(csv, "a,b\n4 West annex,' =1+1\n");
    assert_eq!(csv.matches('\n').count(), 2, "one header, one row: {csv:?}");
}
