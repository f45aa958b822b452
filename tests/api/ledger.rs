//! The ledger is the truth: scans and movements are append-only in the database, and
//! `chartrack check` recomputes every volume's current state from them.

use crate::helpers::TestApp;
use chartrack::domain::Role;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn check(db: &Path) -> Output {
    let config = db.with_file_name("check.toml");
    std::fs::write(&config, format!("database = {db:?}\n")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A day of the file room through the real server: check-outs, receipts, a transfer, a cart
/// packed, sent and received, check-ins, a chart marked missing and found, one marked missing
/// and not found, duplicates and scans that move nothing. Returns the database and the volumes.
async fn a_day_of_scans() -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let supervisor = app.user("sup", Role::Supervisor, None).await;
    let mut vols = h.volumes.clone();
    for (mrn, home) in [("123406", "FR-00-19"), ("123407", "FR-00-19")] {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": mrn, "last_name": "Synthetic", "first_name": "Pat", "home": home}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        vols.push(b["barcode"].as_str().unwrap().to_owned());
    }
    let tick = || app.clock.advance(chrono::Duration::seconds(90));
    // Out to 4W and received there; one handed over to cardiology.
    app.scan("fr-out", &h.loc["4W"]).await;
    for v in &vols[..3] {
        tick();
        app.scan("fr-out", v).await;
    }
    tick();
    app.scan("w4", &vols[0]).await;
    app.scan("w4", &vols[0]).await; // a duplicate: its last scan, no movement
    tick();
    app.scan("w4", &vols[1]).await;
    app.scan("w4-transfer", &h.loc["CARD"]).await;
    tick();
    app.scan("w4-transfer", &vols[1]).await;
    // A cart packed in the file room, sent to cardiology, received there.
    tick();
    app.scan("fr-out", &h.loc["CART-1"]).await;
    app.scan("fr-out", &vols[3]).await;
    app.scan("fr-out", &vols[4]).await;
    tick();
    app.scan("fr-out", &h.loc["CARD"]).await;
    app.scan("fr-out", &h.loc["CART-1"]).await;
    tick();
    app.scan("card", &h.loc["CART-1"]).await;
    // Back on the shelf; a chart scanned at the filing station (moves nothing).
    tick();
    app.scan("fr-in", &vols[3]).await;
    tick();
    app.scan("fr-file", &vols[3]).await;
    // Marked missing, then found by a scan; another marked missing and not found.
    tick();
    let (s, b) = app
        .post(
            &format!("/api/v1/volumes/{}/missing", vols[0]),
            &supervisor,
            &json!({"reason": "not_returned"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    tick();
    app.scan("fr-in", &vols[0]).await;
    tick();
    let (s, b) = app
        .post(
            &format!("/api/v1/volumes/{}/missing", vols[4]),
            &supervisor,
            &json!({"reason": "not_returned"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(app.volume(&vols[4]).await["status"], "missing");
    assert_eq!(app.volume(&vols[2]).await["status"], "in_transit");
    let (dir, db, _) = app.stop().await;
    (dir, db, vols)
}

#[tokio::test]
async fn check_agrees_with_an_honest_ledger_and_names_each_volume_changed_around_it() {
    // Arrange: a database written only by real scans through the server.
    let (_dir, db, vols) = a_day_of_scans().await;

    // Act + Assert: intact.
    let out = check(&db);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(&format!("{} volume(s) agree", vols.len())),
        "{}",
        text(&out.stdout)
    );

    // Act: the current state changed by hand, around the scan path: a chart in transit put
    // back on its shelf, another's last scan moved to another time.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        let n = c
            .execute(
                "UPDATE volume_state SET status = 'on_shelf', destination_id = NULL
                 WHERE volume_id = (SELECT volume_id FROM volume WHERE barcode = ?1)",
                [&vols[2]],
            )
            .unwrap();
        assert_eq!(n, 1);
        c.execute(
            "UPDATE volume_state SET last_scan_at = '2020-01-01T00:00:00.000Z'
             WHERE volume_id = (SELECT volume_id FROM volume WHERE barcode = ?1)",
            [&vols[3]],
        )
        .unwrap();
    }
    let out = check(&db);

    // Assert: fails, naming each volume and field, and nothing else.
    assert!(!out.status.success());
    let listed = text(&out.stdout);
    assert!(
        listed.contains(&format!(
            "{}: status is on_shelf, its movements say in_transit",
            vols[2]
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "{}: destination is none, its movements say 4W",
            vols[2]
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "{}: last_scan_at is 2020-01-01T00:00:00.000Z",
            vols[3]
        )),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        text(&out.stderr).contains(&format!("2 of {} volume(s) differ", vols.len())),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn the_record_of_answered_scans_refuses_update_and_delete() {
    let (_dir, db, vols) = a_day_of_scans().await;
    let c = rusqlite::Connection::open(&db).unwrap();
    let count = || -> i64 {
        c.query_row("SELECT count(*) FROM scan", [], |r| r.get(0))
            .unwrap()
    };
    let before = count();
    assert!(before > 10, "{before}");
    for sql in [
        "UPDATE scan SET accepted = 0",
        "UPDATE scan SET value = 'X' WHERE scan_seq = 1",
        "DELETE FROM scan WHERE scan_seq = (SELECT max(scan_seq) FROM scan)",
        "DELETE FROM scan",
    ] {
        let e = c.execute(sql, []).unwrap_err();
        assert!(
            e.to_string().contains("scans are append-only"),
            "{sql}: {e}"
        );
    }
    assert_eq!(count(), before, "nothing changed");
    drop(c);
    // And the ledger still checks whole.
    let out = check(&db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("{} volume(s) agree", vols.len())));
}

/// The size of the database's write-ahead log file (0 when there is none).
fn wal_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_write_ahead_log_stays_bounded_under_steady_load() {
    // The writer cuts the log past 4 MB when no reader is in the way, and waits for readers
    // past 64 MB (`checkpoint::HOLD_PAGES`): it never grows far past that.
    const BOUND: u64 = 80 * 1024 * 1024;
    const CLIENTS: usize = 8;
    // Arrange: a volume per client, shuttled between two receive stations (each scan moves it).
    let app = TestApp::spawn().await;
    app.seed().await;
    let mut vols = Vec::new();
    for i in 0..CLIENTS {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": format!("{:06}", 200_000 + i), "last_name": "Synthetic",
                        "first_name": "Pat", "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        vols.push(b["barcode"].as_str().unwrap().to_owned());
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader that holds a snapshot open for 200 ms of every 500 (a long page, a report).
    let reader = std::thread::spawn({
        let (store, stop) = (app.store.clone(), stop.clone());
        move || {
            let mut held = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .read_blocking(|c| {
                        let tx = c.unchecked_transaction()?;
                        let _: i64 =
                            c.query_row("SELECT count(*) FROM movement", [], |r| r.get(0))?;
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        tx.commit()?;
                        Ok(())
                    })
                    .unwrap();
                held += 1;
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            held
        }
    });
    let sampler = std::thread::spawn({
        let (db, stop) = (app.db.clone(), stop.clone());
        move || {
            let mut largest = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                largest = largest.max(wal_size(&db));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            largest
        }
    });

    // Act: eight clients scanning as fast as the server answers, for six seconds.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(6);
    let app = std::sync::Arc::new(app);
    let mut clients = Vec::new();
    for v in vols {
        let app = app.clone();
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            while std::time::Instant::now() < until {
                let station = if n.is_multiple_of(2) { "w4" } else { "card" };
                let a = app.scan(station, &v).await;
                assert_eq!(a["accepted"], true, "{a}");
                n += 1;
            }
            n
        }));
    }
    let mut scans = 0;
    for c in clients {
        scans += c.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let largest = sampler.join().unwrap();
    let held = reader.join().unwrap();

    // Assert
    eprintln!("{scans} scans in 6 s; the log file peaked at {largest} bytes; {held} long reads");
    assert!(scans > 1_000, "too little load to mean anything: {scans}");
    assert!(largest > 0, "the log was never written");
    assert!(
        largest < BOUND,
        "the write-ahead log grew to {largest} bytes under {scans} scans"
    );
}

/// `chartrack check` over a ledger of many volumes with movements written by concurrent scans
/// agrees with every one. The test suite runs it over 3,000 volumes; the README's timing comes
/// from `CHARTRACK_CHECK_VOLUMES=200000 cargo test --test api check_time -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_time_over_a_large_ledger() {
    let volumes: u32 = std::env::var("CHARTRACK_CHECK_VOLUMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("large.db");
    let store = chartrack::store::Store::open(&db, Default::default()).unwrap();
    let t = std::time::Instant::now();
    let seeded = store.clone();
    tokio::task::spawn_blocking(move || chartrack::demo::seed(&seeded, volumes).unwrap())
        .await
        .unwrap();
    let barcodes: Vec<String> = {
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut st = c
            .prepare("SELECT barcode FROM volume ORDER BY volume_id")
            .unwrap();
        let rows = st.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    eprintln!(
        "seeded {} volumes in {:.1} s",
        barcodes.len(),
        t.elapsed().as_secs_f64()
    );
    // Every volume received on a floor once; every third one received on another too.
    let t = std::time::Instant::now();
    let barcodes = std::sync::Arc::new(barcodes);
    let mut tasks = Vec::new();
    for k in 0..32usize {
        let (store, barcodes) = (store.clone(), barcodes.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            for (i, b) in barcodes.iter().enumerate().skip(k).step_by(32) {
                for station in ["demo-4w", "demo-5e"]
                    .iter()
                    .take(1 + usize::from(i % 3 == 0))
                {
                    let input = chartrack::store::ScanInput {
                        station: (*station).into(),
                        line: b.clone().into_bytes(),
                        id: None,
                        scanned_at: None,
                        user: None,
                    };
                    store.scan(input).await.unwrap();
                    n += 1;
                }
            }
            n
        }));
    }
    let mut scans = 0;
    for t in tasks {
        scans += t.await.unwrap();
    }
    eprintln!("{scans} scans in {:.1} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let checked = store.check_volumes_blocking().unwrap();
    let took = t.elapsed();
    eprintln!(
        "check: {} volumes, {} movements, {} differing, in {:.2} s",
        checked.volumes,
        checked.movements,
        checked.differing,
        took.as_secs_f64()
    );
    assert_eq!(
        checked.differing,
        0,
        "{:?}",
        &checked.differences[..3.min(checked.differences.len())]
    );
    assert!(checked.volumes >= u64::from(volumes) / 2, "{checked:?}");
    assert!(
        checked.movements >= checked.volumes,
        "every volume moved: {checked:?}"
    );
    store.shutdown();
}
