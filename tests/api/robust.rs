//! Issue 13: a panicking write, a stopped writer or checkpoint thread, and formula cells in
//! CSV exports, through the real server.

use crate::helpers::TestApp;
use chartrack::domain::{LocationCode, LocationKind, Role};
use chartrack::store::admin::{create_location, NewLocation};
use chartrack::store::StoreError;
use serde_json::{json, Value};

async fn healthz(app: &TestApp) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_panics_fails_alone_and_the_writer_goes_on() {
    // Arrange: scans in flight from other callers while one write panics half-way.
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let mut neighbours = Vec::new();
    for i in 0..20 {
        let (http, base, token) = (app.http.clone(), app.base.clone(), app.admin.clone());
        neighbours.push(tokio::spawn(async move {
            http.post(format!("{base}/api/v1/scans"))
                .bearer_auth(token)
                .json(&json!({"station": "w4", "barcode": format!("NEIGHBOUR-{i:02}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let now = app.clock.now();

    // Act: a write that changes something, then panics (a bug in a writer job).
    let panicked = app
        .store
        .write(move |c| {
            let l = NewLocation {
                code: LocationCode::parse("HALF-DONE").unwrap(),
                name: "written before the panic".into(),
                kind: LocationKind::Unit,
                barcode: None,
                terminal: None,
            };
            create_location(c, &l, now)?;
            if l.name.starts_with("written") {
                panic!("synthetic bug in a writer job");
            }
            Ok(())
        })
        .await;

    // Assert: that caller alone gets an internal error and nothing of its write stays; the
    // other callers' scans are recorded; the next scan over HTTP is accepted; health is good.
    assert!(
        matches!(panicked, Err(StoreError::Internal(_))),
        "{panicked:?}"
    );
    for n in neighbours {
        assert_eq!(n.await.unwrap(), 200);
    }
    let (s, _) = app.get("/api/v1/locations/HALF-DONE", &app.admin).await;
    assert_eq!(s, 404, "the panicked job's write was rolled back");
    let answer = app.scan("w4", &h.volumes[0]).await;
    assert_eq!(answer["accepted"], true, "{answer}");
    assert_eq!(app.volume(&h.volumes[0]).await["location"]["code"], "4W");
    let (s, ex) = app.get("/api/v1/exceptions?limit=100", &app.admin).await;
    assert_eq!(s, 200);
    let recorded = ex
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["value"].as_str().unwrap_or("").starts_with("NEIGHBOUR-"))
        .count();
    assert_eq!(recorded, 20);
    let (s, body) = healthz(&app).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("chartrack_writer_panicked_jobs_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_naming_the_writer_and_checkpoint_threads_when_they_are_not_running() {
    // Arrange
    let app = TestApp::spawn().await;
    let (s, body) = healthz(&app).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["writer"], "running", "{body}");
    assert_eq!(body["checkpoint"], "running", "{body}");

    // Act: the store's threads stop while the HTTP server goes on answering.
    app.store.shutdown();

    // Assert
    let (s, body) = healthz(&app).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    let down: Vec<&str> = body["down"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(down, ["writer", "checkpoint"], "{body}");
    let (s, _) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "w4", "barcode": "X"}),
        )
        .await;
    assert_eq!(s, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas() {
    // Arrange: a patient whose name is a formula, checked out to 4W; a loose report whose
    // description is one.
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let formula = "=HYPERLINK(\"http://example.invalid/x\",\"open\")";
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "123499", "last_name": formula, "first_name": "Test", "home": "FR-00-19"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let volume = b["barcode"].as_str().unwrap().to_owned();
    let (s, b) = app
        .post(
            "/api/v1/reports",
            &app.admin,
            &json!({"mrn": "123499", "description": "@SUM(1+1)"}),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {b}");
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &volume).await;
    app.person("him1", Role::Supervisor).await;
    let him = app.sign_in("him1").await;

    // Act
    let (s, charged) = app
        .page(&him.cookie, "/reports/charged-out?format=csv")
        .await;
    assert_eq!(s, 200);
    let (s, loose) = app
        .page(&him.cookie, "/reports/loose-reports?format=csv")
        .await;
    assert_eq!(s, 200);

    // Assert: the cells read as text, the value kept after a leading quote.
    let cells = |csv: &str, key: &str, column: &str| -> String {
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let at = r
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == column)
            .unwrap();
        r.records()
            .map(Result::unwrap)
            .find(|row| row.iter().any(|c| c == key))
            .unwrap_or_else(|| panic!("no row for {key} in {csv}"))[at]
            .to_owned()
    };
    assert_eq!(
        cells(&charged, &volume, "patient"),
        format!("'{formula}, Test"),
        "{charged}"
    );
    assert_eq!(
        cells(&loose, "123499", "description"),
        "'@SUM(1+1)",
        "{loose}"
    );
    // Numbers stay numbers.
    assert_eq!(cells(&charged, &volume, "days out"), "0", "{charged}");
}

/// A write transaction that holds the writer over 100 ms (a stall behind which scans wait) is
/// counted in /metrics and logged, so a stall can be traced to the writer or ruled out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_holds_the_writer_over_100_ms_is_counted() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let before = app.metrics().await;
    assert!(
        before.contains("chartrack_writer_slow_commits_total 0"),
        "{before}"
    );
    app.store
        .write(|_| {
            std::thread::sleep(std::time::Duration::from_millis(150));
            Ok(())
        })
        .await
        .unwrap();
    app.scan("fr-out", &h.loc["4W"]).await;
    let answer = app.scan("fr-out", &h.volumes[0]).await;
    assert_eq!(answer["accepted"], true, "{answer}");
    let after = app.metrics().await;
    assert!(
        after.contains("chartrack_writer_slow_commits_total 1"),
        "{after}"
    );
    assert!(
        after.contains("chartrack_writer_slow_log_cuts_total"),
        "{after}"
    );
}
