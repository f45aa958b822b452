//! The access log's key and anchor files, lost or removed, through the real binary: a missing
//! key over a keyed log stops chartrack instead of being replaced; a missing anchor file is
//! noticed, written to the log, fails `audit verify` until the loss is accepted with a reason.
//! (Fresh-eyes: both were recreated in silence, and a cut tail then verified as intact.)

use crate::labels::{department, ok};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("USER", "hima")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_missing_key_over_a_keyed_log_stops_chartrack_and_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "");
    // Entries written with the key (each label read is one).
    ok(&config, &["label", "volume", "LB0001"]);
    let key = dir.path().join("t.db.audit-key");
    std::fs::rename(&key, dir.path().join("kept-elsewhere")).unwrap();
    for args in [&["audit", "verify"][..], &["label", "volume", "LB0001"][..]] {
        let o = run(&config, args);
        assert!(!o.status.success(), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("audit key file") && text(&o).contains("is missing"),
            "{}",
            text(&o)
        );
        assert!(!key.exists(), "no new key made over a keyed log");
    }
    // Put back, all is well.
    std::fs::rename(dir.path().join("kept-elsewhere"), &key).unwrap();
    let o = run(&config, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_lost_anchor_file_fails_verify_until_the_loss_is_accepted_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "");
    ok(&config, &["label", "volume", "LB0001"]);
    ok(&config, &["label", "volume", "LB0002"]);
    let anchors = dir.path().join("t.db.anchors");
    assert!(anchors.exists(), "anchored at shutdown");
    ok(&config, &["audit", "verify"]);
    // An attacker cuts the tail and removes the anchor file.
    {
        let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        db.execute_batch(
            "DROP TRIGGER IF EXISTS access_log_append_only_delete;
             DELETE FROM access_log WHERE entry_id = (SELECT max(entry_id) FROM access_log);",
        )
        .unwrap();
    }
    std::fs::remove_file(&anchors).unwrap();
    let o = run(&config, &["audit", "verify"]);
    assert!(
        !o.status.success(),
        "a cut tail with its anchors gone verified: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("anchor file") && text(&o).contains("was missing"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("audit reanchor"),
        "says what to do: {}",
        text(&o)
    );
    // Still failing on the next run: the loss is remembered, not forgotten with a new file.
    let o = run(&config, &["audit", "verify"]);
    assert!(!o.status.success(), "{}", text(&o));
    // A reason that says nothing is refused; a real one is recorded and verify passes, saying so.
    let o = run(&config, &["audit", "reanchor", "--reason", "oops"]);
    assert!(!o.status.success(), "{}", text(&o));
    let o = run(
        &config,
        &[
            "audit",
            "reanchor",
            "--reason",
            "disk replaced, anchor copy not kept",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&config, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("the anchor file was lost")
            && text(&o).contains("disk replaced, anchor copy not kept"),
        "{}",
        text(&o)
    );
    // Nothing to accept now.
    let o = run(
        &config,
        &[
            "audit",
            "reanchor",
            "--reason",
            "disk replaced, anchor copy not kept",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
}

/// A chain broken while chartrack was stopped raises an alarm when it starts: an error in its log
/// and `audit: broken` on `/healthz`, without anyone opening the access-log page (fresh-eyes:
/// an edited entry went unnoticed by `serve` and `/healthz` said ok).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_chain_is_found_in_the_background_when_the_server_starts() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = department(dir.path(), "listen = \"127.0.0.1:0\"\n");
    ok(&config, &["label", "volume", "LB0001"]);
    ok(&config, &["label", "volume", "LB0002"]);
    {
        let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        db.execute_batch(
            "DROP TRIGGER access_log_append_only_update;
             UPDATE access_log SET subject = 'LB0003' WHERE entry_id = 1;",
        )
        .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let l = log.clone();
    let err = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            l.lock().unwrap().push_str(&line);
            l.lock().unwrap().push('\n');
        }
    });
    let base = crate::faults::listening(&mut child);
    let mut health = serde_json::Value::Null;
    for _ in 0..100 {
        health = reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["audit"] != "checking" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(health["audit"], "broken", "{health}");
    assert_eq!(health["status"], "ok", "scans go on: {health}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        log.lock().unwrap().contains("the access log is not intact"),
        "{}",
        log.lock().unwrap()
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
