//! `chartrack generate`: a synthetic history through the real binary, then the real checks and
//! the real server on it.

use crate::helpers::TestApp;
use chartrack::clock::Clock;
use chartrack::domain::{issue_barcode, Role};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn chartrack(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let config = dir.join("chartrack.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!("database = {:?}\n", dir.join("chartrack.db")),
        )
        .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The newest movement of a volume (the API lists them newest first; ordered by `seq` here).
async fn last_movement(app: &TestApp, barcode: &str) -> Value {
    let moves = app.movements(barcode).await;
    moves
        .into_iter()
        .max_by_key(|m| m["seq"].as_i64().unwrap())
        .expect("a generated volume that is out has movements")
}

#[tokio::test]
async fn a_generated_history_passes_the_checks_serves_and_takes_scans() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = chartrack(
        d,
        &["generate", "--volumes", "2000", "--movements", "20000"],
        "",
    );
    let said = ok(&out, "generate");
    assert!(said.contains("generated 2000 volumes"), "{said}");
    let checked = ok(&chartrack(d, &["check"], ""), "check");
    assert!(checked.contains("2000 volume(s) agree"), "{checked}");
    let movements: u64 = checked
        .split(" volume(s) agree with their ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((15_000..=21_000).contains(&movements), "{checked}");
    let verified = ok(&chartrack(d, &["audit", "verify"], ""), "audit verify");
    assert!(verified.contains("access log intact"), "{verified}");

    // Years of closed requests behind today's open ones (about one per 50 movements): most
    // delivered by the receive their check-out sent (the movements name them), some cancelled,
    // a few not found; each step after the one before.
    let past: u64 = said
        .split(" open requests and ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((200..=700).contains(&past), "{said}");
    // Generated staff have no password: it says how to make someone who can sign in.
    assert!(
        said.contains("add an admin with `chartrack user add NAME --role admin"),
        "{said}"
    );
    {
        let c = rusqlite::Connection::open(d.join("chartrack.db")).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        let delivered = count("SELECT count(*) FROM request WHERE status = 'delivered'");
        let cancelled = count("SELECT count(*) FROM request WHERE status = 'cancelled'");
        let not_found = count("SELECT count(*) FROM request WHERE status = 'not_found'");
        assert!(delivered >= past as i64 * 8 / 10, "{delivered} of {past}");
        assert!(cancelled > 0 && not_found > 0, "{cancelled} {not_found}");
        assert!(count("SELECT count(*) FROM request WHERE status = 'open'") >= 3);
        assert_eq!(
            count(
                "SELECT count(*) FROM request WHERE status = 'delivered' AND NOT (
                    created_at < pulled_at AND pulled_at < delivered_at
                    AND pulled_by IS NOT NULL AND delivered_station IS NOT NULL)"
            ),
            0
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM request q WHERE status IN ('cancelled','not_found')
                 AND NOT (ended_at > created_at AND end_reason IS NOT NULL)"
            ),
            0
        );
        // Pulled by a check-out and delivered by a receive that name the request.
        assert_eq!(
            count(
                "SELECT count(*) FROM request q WHERE status = 'delivered' AND (
                    SELECT count(*) FROM movement m WHERE m.request_id = q.request_id
                    AND ((m.action = 'check-out' AND m.at = q.pulled_at)
                      OR (m.action = 'receive' AND m.at = q.delivered_at))) <> 2"
            ),
            0
        );
    }

    // A second run on the same database is refused and changes nothing.
    let again = chartrack(d, &["generate", "--volumes", "10", "--movements", "10"], "");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds volumes"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let after = ok(&chartrack(d, &["check"], ""), "check");
    assert!(
        after.contains(&format!(
            "2000 volume(s) agree with their {movements} movement(s)"
        )),
        "{after}"
    );

    // The server on it: an admin (generated users have no password) and a reader.
    ok(
        &chartrack(
            d,
            &["user", "add", "admin", "--role", "admin"],
            "a long admin password 1",
        ),
        "user add",
    );
    let db = d.join("chartrack.db");
    let app = TestApp::spawn_on(
        dir,
        db,
        Clock::manual(chrono::Utc::now() + chrono::Duration::minutes(1)),
    )
    .await;
    app.person("reader", Role::Supervisor).await;
    let session = app.sign_in("reader").await;

    // Find a volume out at a unit and one with a history back on its shelf.
    let (mut out_at_unit, mut shelved) = (None, None);
    for i in 1..=2000u64 {
        let barcode = issue_barcode('V', i);
        let v = app.volume(&barcode).await;
        match v["status"].as_str().unwrap() {
            "at_location" if out_at_unit.is_none() => out_at_unit = Some((barcode, v)),
            "on_shelf" if shelved.is_none() && v["last_scan"].is_object() => {
                shelved = Some((barcode, v))
            }
            _ => {}
        }
        if out_at_unit.is_some() && shelved.is_some() {
            break;
        }
    }
    let (out_barcode, out_view) = out_at_unit.expect("about 5 % of volumes are out");
    let (shelf_barcode, shelf_view) = shelved.expect("most volumes have been out and back");

    // Each one's page and API answer agree with its newest movement.
    for (barcode, view) in [(&out_barcode, &out_view), (&shelf_barcode, &shelf_view)] {
        let last = last_movement(&app, barcode).await;
        assert_eq!(view["last_scan"]["at"], last["at"], "{view} {last}");
        assert_eq!(
            view["last_scan"]["station"], last["station"],
            "{view} {last}"
        );
        assert_eq!(view["location"]["code"], last["to"], "{view} {last}");
        let (status, html) = app
            .page(&session.cookie, &format!("/volumes/{barcode}"))
            .await;
        assert_eq!(status, 200);
        assert!(
            html.contains(view["location"]["name"].as_str().unwrap()),
            "{barcode}"
        );
    }
    assert_eq!(last_movement(&app, &out_barcode).await["action"], "receive");

    // The volume out is checked in at the generated desk: back to its home shelf.
    let answer = app.scan("gen-fr-desk-in", &out_barcode).await;
    assert_eq!(answer["accepted"], true, "{answer}");
    assert_eq!(answer["action"], "check-in", "{answer}");
    assert_eq!(answer["volume"]["status"], "on_shelf", "{answer}");
    assert_eq!(
        answer["volume"]["location"]["code"], out_view["home"]["code"],
        "{answer}"
    );
    app.assert_answer_shows_stored(&answer).await;

    // The shelved one is received at a unit it was not sent to: at that unit, with the warning
    // a receive of a volume not in transit carries none of.
    let answer = app.scan("gen-2e-in", &shelf_barcode).await;
    assert_eq!(answer["accepted"], true, "{answer}");
    assert_eq!(answer["volume"]["status"], "at_location", "{answer}");
    assert_eq!(answer["volume"]["location"]["code"], "2E", "{answer}");
    app.assert_answer_shows_stored(&answer).await;

    // A check-out without a destination is refused, as at any station.
    let (status, body) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "gen-fr-00-09-out", "barcode": issue_barcode('V', 1)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], false, "{body}");
    let (dir, _, _) = app.stop().await;
    let checked = ok(&chartrack(dir.path(), &["check"], ""), "check after scans");
    assert!(
        checked.contains(&format!("agree with their {} movement(s)", movements + 2)),
        "{checked}"
    );
    ok(
        &chartrack(dir.path(), &["audit", "verify"], ""),
        "audit verify after serving",
    );
}

#[test]
fn generate_refuses_nothing_to_generate() {
    let dir = tempfile::tempdir().unwrap();
    let out = chartrack(
        dir.path(),
        &["generate", "--volumes", "0", "--movements", "10"],
        "",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1"));
}
