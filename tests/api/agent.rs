//! `chartrack agent` (the real binary) with a simulated scanner on a pseudo-terminal, against
//! the real server that goes away and comes back on the same address.

use crate::helpers::{until, TestApp};
use chartrack::stations::simulator::SimulatedScanner;
use chartrack::store::outbox::Outbox;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SCANS: usize = 2000;

/// Start the agent; returns it and a channel of its log lines.
fn agent(server: &str, token: &str, port: &Path, queue: &Path) -> (Child, mpsc::Receiver<String>) {
    agent_with(server, token, port, queue, &["--answer-wait-ms", "300"])
}

fn agent_with(
    server: &str,
    token: &str,
    port: &Path,
    queue: &Path,
    extra: &[&str],
) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["agent", "--server", server, "--token", token, "--port"])
        .arg(port)
        .arg("--queue")
        .arg(queue)
        .args(extra)
        .env("CHARTRACK_LOG", "chartrack=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            if l.contains(needle) {
                return;
            }
        }
    }
    panic!("the agent never logged {needle:?}");
}

async fn outage_exceptions(app: &TestApp) -> Vec<Value> {
    let (s, ex) = app.get("/api/v1/exceptions?limit=10000", &app.admin).await;
    assert_eq!(s, 200, "{ex}");
    let mut v: Vec<Value> = ex
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["value"].as_str().unwrap_or("").starts_with("QUEUED-"))
        .cloned()
        .collect();
    v.sort_by_key(|e| e["id"].as_i64());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_queued_through_an_outage_and_a_killed_agent_arrive_once_each_in_order() {
    // Arrange: station "remote" at 4W with a station token; then the server goes away.
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let token = app.remote_station("remote").await;
    let server = app.base.clone();
    let listen = server.trim_start_matches("http://").to_owned();
    let (dir, db, clock) = app.stop().await;
    let port = dir.path().join("remote-scanner");
    let queue = dir.path().join("agent-queue.db");
    let mut scanner = SimulatedScanner::plug_in(&port).unwrap();
    let (mut first, log) = agent(&server, &token, &port, &queue);
    wait_for_line(&log, "scanner connected");

    // Act 1: thousands of scans (each an unknown value: one exception each) while the server
    // is down, and one chart.
    let volume = h.volumes[0].clone();
    let mut scanner = tokio::task::spawn_blocking(move || {
        for i in 0..SCANS {
            scanner.scan(&format!("QUEUED-{i:05}")).unwrap();
        }
        scanner.scan(&volume).unwrap();
        scanner
    })
    .await
    .unwrap();
    let outbox = Outbox::open(&queue).unwrap();
    until(Duration::from_secs(60), "every scan queued", || async {
        outbox.counts().unwrap().0 == SCANS as i64 + 1
    })
    .await;

    // Many delivery attempts failed meanwhile (each new scan wakes the deliverer); the outage
    // is logged once, not once per attempt.
    let outage_lines = log
        .try_iter()
        .filter(|l| l.contains("cannot deliver scans"))
        .count();
    assert_eq!(outage_lines, 1);

    // Act 2: the server comes back on the same address; the agent is killed mid-delivery and
    // started again on the same queue.
    let app = TestApp::spawn_configured(dir, db, clock, Vec::new(), &listen).await;
    until(Duration::from_secs(60), "a third delivered", || async {
        outage_exceptions(&app).await.len() >= SCANS / 3
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let delivered_before_kill = outage_exceptions(&app).await.len();
    let (mut second, _log) = agent(&server, &token, &port, &queue);
    until(Duration::from_secs(120), "the queue emptied", || async {
        outbox.counts().unwrap().0 == 0
    })
    .await;
    // A scan once the server is reachable is answered at once.
    scanner = tokio::task::spawn_blocking(move || {
        scanner.scan("QUEUED-LIVE").unwrap();
        scanner
    })
    .await
    .unwrap();
    until(Duration::from_secs(10), "the live scan", || async {
        outage_exceptions(&app).await.len() == SCANS + 1
    })
    .await;

    // Assert: every scan exactly once, in the order scanned, from the agent's station.
    let ex = outage_exceptions(&app).await;
    assert!(
        delivered_before_kill < SCANS,
        "the kill came after the queue emptied"
    );
    let values: Vec<&str> = ex.iter().map(|e| e["value"].as_str().unwrap()).collect();
    let mut expected: Vec<String> = (0..SCANS).map(|i| format!("QUEUED-{i:05}")).collect();
    expected.push("QUEUED-LIVE".into());
    assert_eq!(values, expected);
    assert!(ex.iter().all(|e| e["station"] == "remote"));
    let m = app.movements(&h.volumes[0]).await;
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        (m[0]["to"].as_str(), m[0]["station"].as_str()),
        (Some("4W"), Some("remote"))
    );
    assert_eq!(outbox.counts().unwrap(), (0, 0));
    second.kill().unwrap();
    let _ = second.wait();
    drop(scanner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scanner_behind_an_agent_hears_the_servers_answer() {
    // Arrange: a Honeywell profile (host ACK feedback), the server up.
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let token = app.remote_station("remote").await;
    let port = app.dir.path().join("remote-scanner");
    let queue = app.dir.path().join("agent-queue.db");
    let mut scanner = SimulatedScanner::plug_in(&port).unwrap();
    let (mut child, log) = agent_with(
        &app.base,
        &token,
        &port,
        &queue,
        &["--profile", "honeywell-xenon", "--answer-wait-ms", "10000"],
    );
    wait_for_line(&log, "scanner connected");

    // Act
    let volume = h.volumes[0].clone();
    let fb = tokio::task::spawn_blocking(move || {
        scanner.scan(&volume).unwrap();
        let mut fb = scanner.read_back(3, Duration::from_secs(15)).unwrap();
        scanner.scan("NOT-A-CHART").unwrap();
        fb.extend(scanner.read_back(6, Duration::from_secs(15)).unwrap());
        fb
    })
    .await
    .unwrap();

    // Assert: good for the chart received, the error tone twice for the unknown value.
    assert_eq!(fb, b"\x1b7,\x1b8,\x1b8,", "{fb:?}");
    assert_eq!(app.volume(&h.volumes[0]).await["location"]["code"], "4W");
    child.kill().unwrap();
    let _ = child.wait();
}

/// Wait for the agent to exit on its own; None when it is still running at the deadline.
fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    None
}

/// The log lines still to come, until the agent's standard error closes.
fn rest_of_log(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while Instant::now() < until {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => lines.push(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_can_no_longer_deliver_says_so_and_exits_non_zero() {
    // Arrange: a running agent with its scanner connected.
    let app = TestApp::spawn().await;
    app.seed().await;
    let token = app.remote_station("remote").await;
    let port = app.dir.path().join("remote-scanner");
    let queue = app.dir.path().join("agent-queue.db");
    let scanner = SimulatedScanner::plug_in(&port).unwrap();
    let (mut child, log) = agent(&app.base, &token, &port, &queue);
    wait_for_line(&log, "scanner connected");

    // Act: the agent's queue is damaged under it; nothing can be delivered any more.
    let c = rusqlite::Connection::open(&queue).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute_batch("DROP TABLE pending").unwrap();

    // Assert: the agent does not go on as if all were well: it logs why and exits non-zero.
    let status = exit_within(&mut child, Duration::from_secs(30));
    if status.is_none() {
        child.kill().unwrap();
        let _ = child.wait();
    }
    let lines = rest_of_log(&log);
    let status = status.expect("the agent went on running with a queue it cannot read");
    assert!(!status.success(), "{status}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("agent queue") && l.contains("no such table")),
        "{lines:#?}"
    );
    drop(scanner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_scan_in_the_queue_is_set_aside_and_the_scans_behind_it_are_delivered() {
    // Arrange: a queue whose oldest scan cannot be read back (its time is damaged).
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let token = app.remote_station("remote").await;
    let port = app.dir.path().join("remote-scanner");
    let queue = app.dir.path().join("agent-queue.db");
    {
        let q = Outbox::open(&queue).unwrap();
        q.push(uuid::Uuid::new_v4(), "DAMAGED-1", chrono::Utc::now())
            .unwrap();
    }
    rusqlite::Connection::open(&queue)
        .unwrap()
        .execute("UPDATE pending SET scanned_at = 'not a time'", [])
        .unwrap();
    let mut scanner = SimulatedScanner::plug_in(&port).unwrap();
    let (mut child, log) = agent(&app.base, &token, &port, &queue);
    wait_for_line(&log, "scanner connected");

    // Act
    let volume = h.volumes[0].clone();
    let scanner = tokio::task::spawn_blocking(move || {
        scanner.scan(&volume).unwrap();
        scanner
    })
    .await
    .unwrap();

    // Assert: the chart scanned after the damaged entry reaches the server; the damaged one is
    // kept aside in `rejected`, not lost and not blocking the queue.
    until(Duration::from_secs(30), "the scan delivered", || async {
        app.volume(&h.volumes[0]).await["location"]["code"] == "4W"
    })
    .await;
    let outbox = Outbox::open(&queue).unwrap();
    until(Duration::from_secs(10), "the queue settled", || async {
        outbox.counts().unwrap() == (0, 1)
    })
    .await;
    child.kill().unwrap();
    let _ = child.wait();
    drop(scanner);
}
