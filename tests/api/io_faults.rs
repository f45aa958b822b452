//! I/O errors on write other than a full disk, made by the kernel and cleared at run time: the
//! running server's file-size limit is lowered with `prlimit` (util-linux), so every write to
//! the database, its log and its anchors fails with EFBIG, then raised again. Nothing is
//! acknowledged while it lasts, the server says so once in its log with the error's context,
//! reads go on, and writes resume when the fault clears, without a restart.

use crate::faults::{chartrack, hospital, try_scan};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `serve`, with its standard error kept line by line.
fn serve_logged(config: &std::path::Path) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let err = BufReader::new(child.stderr.take().unwrap());
    let l = log.clone();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    let base = crate::faults::listening(&mut child);
    (child, base, log)
}

/// Set the running process's soft file-size limit (`unlimited` or bytes).
fn fsize(child: &Child, soft: &str) {
    let s = Command::new("prlimit")
        .args([
            "--pid",
            &child.id().to_string(),
            &format!("--fsize={soft}:"),
        ])
        .status()
        .expect("prlimit (util-linux)");
    assert!(s.success(), "prlimit --fsize={soft}");
}

fn count(log: &Mutex<Vec<String>>, needle: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

async fn scan_with_id(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    barcode: &str,
    id: &str,
) -> (u16, Value) {
    let r = http
        .post(format!("{base}/api/v1/scans"))
        .bearer_auth(token)
        .json(&serde_json::json!({"station": "w4", "barcode": barcode, "id": id}))
        .send()
        .await
        .expect("the server answers (it must not die of the fault)");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_errors_are_refused_told_once_and_writes_resume_when_the_fault_clears() {
    // Arrange: the real server, some scans acknowledged.
    let dir = tempfile::tempdir().unwrap();
    let (config, token) = tokio::task::spawn_blocking({
        let d = dir.path().to_owned();
        move || hospital(&d)
    })
    .await
    .unwrap();
    let (mut child, base, log) = serve_logged(&config);
    let http = reqwest::Client::new();
    for i in 0..10 {
        let (s, body, _) = try_scan(&http, &base, &token, "w4", &format!("SD{i:04}"))
            .await
            .unwrap();
        assert_eq!(s, 200, "{body}");
    }

    // Act: every write fails (EFBIG: past the file-size limit, whatever the offset).
    fsize(&child, "1");
    let mut refused = Vec::new();
    for i in 10..30 {
        let barcode = format!("SD{i:04}");
        let id = uuid::Uuid::new_v4().to_string();
        let (s, body) = scan_with_id(&http, &base, &token, &barcode, &id).await;
        // Assert: refused as unavailable, saying why, never acknowledged.
        assert_eq!(s, 503, "a scan acknowledged while writes fail: {body}");
        let why = body["error"].as_str().unwrap_or_default();
        assert!(
            why.contains("cannot be written") && why.contains("I/O"),
            "{body}"
        );
        refused.push((barcode, id));
    }
    // A monitor sees it: the writer runs but fails.
    let health: Value = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["writer"], "failing", "{health}");
    assert_eq!(health["status"], "unavailable", "{health}");
    assert!(
        health["down"]
            .as_array()
            .unwrap()
            .contains(&"writes".into()),
        "{health}"
    );
    // Reads that write nothing go on.
    let r = http
        .get(format!("{base}/api/v1/locations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Told once, with the error's context, not once per refused scan.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(&log, "write transaction failed"),
        1,
        "{:#?}",
        log.lock().unwrap()
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("write transaction failed") && l.contains("SQLite code 778")),
        "the log line names the failed operation: {:#?}",
        log.lock().unwrap()
    );
    assert!(count(&log, "checkpoint failed") <= 2);

    // The fault clears: the same scans, sent again as a station's queue would, are recorded
    // now, without a restart.
    fsize(&child, "unlimited");
    for (barcode, id) in &refused {
        let (s, body) = scan_with_id(&http, &base, &token, barcode, id).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["accepted"], true, "{body}");
        assert_eq!(body["scan_id"], id.as_str());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count(&log, "writes succeed again"),
        1,
        "{:#?}",
        log.lock().unwrap()
    );
    assert_eq!(count(&log, "write transaction failed"), 1);
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "healthy again");

    // Each refused-then-retried scan is recorded exactly once.
    for (barcode, id) in &refused {
        let moves: Value = http
            .get(format!("{base}/api/v1/volumes/{barcode}/movements"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let n = moves
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["scan_id"] == id.as_str())
            .count();
        assert_eq!(n, 1, "{barcode}: {moves}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    // And the database is whole.
    let c = config.clone();
    tokio::task::spawn_blocking(move || {
        chartrack(&c, &["check"], "");
        chartrack(&c, &["audit", "verify"], "");
    })
    .await
    .unwrap();
}

/// The server's standard error is a log file on the same failing disk (`serve 2>>log`): a log
/// line that cannot be written is dropped, and the server goes on refusing and then recording
/// scans. Before, the log writer's own complaint failed too and the server aborted (SIGABRT) at
/// the first refused scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_file_that_cannot_be_written_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (config, token) = tokio::task::spawn_blocking({
        let d = dir.path().to_owned();
        move || hospital(&d)
    })
    .await
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let base = crate::faults::listening(&mut child);
    let http = reqwest::Client::new();
    fsize(&child, "1");
    let id = uuid::Uuid::new_v4().to_string();
    for _ in 0..3 {
        let (s, body) = scan_with_id(&http, &base, &token, "SD0001", &id).await;
        assert_eq!(s, 503, "{body}");
    }
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    fsize(&child, "unlimited");
    let (s, body) = scan_with_id(&http, &base, &token, "SD0001", &id).await;
    assert_eq!(s, 200, "{body}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
