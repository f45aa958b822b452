//! Stations from chartrack.toml whose location does not exist yet: they wait, say so, and are
//! applied the moment their location is created, by this server or by another process.

use crate::helpers::TestApp;
use chartrack::config::StationConfig;
use serde_json::json;
use std::process::Command;

fn http_station(id: &str, location: &str) -> StationConfig {
    toml::from_str(&format!(
        "id = {id:?}\nlocation = {location:?}\nmode = \"check-out\"\n"
    ))
    .unwrap()
}

async fn station_ids(app: &TestApp) -> Vec<String> {
    let (s, list) = app.get("/api/v1/stations", &app.admin).await;
    assert_eq!(s, 200);
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_configured_station_is_applied_as_soon_as_its_location_is_created_on_this_server() {
    let app = TestApp::spawn().await;
    let app = app
        .restart_with_stations(vec![http_station("fr-new", "FR-NEW")])
        .await;
    assert!(!station_ids(&app).await.contains(&"fr-new".to_owned()));
    let (s, _) = app
        .post(
            "/api/v1/locations",
            &app.admin,
            &json!({"code": "FR-NEW", "name": "New file room", "kind": "office"}),
        )
        .await;
    assert_eq!(s, 201);
    assert!(
        station_ids(&app).await.contains(&"fr-new".to_owned()),
        "applied without a restart"
    );
    let answer = app.scan("fr-new", "CMD-CHECKOUT").await;
    assert_eq!(answer["accepted"], true, "{answer}");
}

#[tokio::test]
async fn a_location_imported_by_another_process_applies_the_waiting_station() {
    let app = TestApp::spawn().await;
    let app = app
        .restart_with_stations(vec![http_station("fr-new", "FR-NEW")])
        .await;
    let csv = app.dir.path().join("locations.csv");
    std::fs::write(
        &csv,
        "code,name,kind,barcode\nFR-NEW,New file room,office,\n",
    )
    .unwrap();
    let config = app.dir.path().join("cli.toml");
    std::fs::write(&config, format!("database = {:?}\n", app.db)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["import", "locations"])
        .arg(&csv)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(station_ids(&app).await.contains(&"fr-new".to_owned()));
}

#[test]
fn token_create_says_which_location_a_configured_station_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chartrack.toml");
    std::fs::write(
        &config,
        format!(
            "database = {:?}\n[[stations]]\nid = \"fr-1\"\nlocation = \"FR-00-19\"\nmode = \"check-out\"\n",
            dir.path().join("t.db")
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_chartrack"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = run(&["token", "create", "--station", "fr-1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("fr-1") && err.contains("waits for location FR-00-19"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no token printed");

    let out = run(&["token", "create", "--station", "nowhere"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no station 'nowhere'"));

    let csv = dir.path().join("l.csv");
    std::fs::write(
        &csv,
        "code,name,kind,barcode\nFR-00-19,Shelf 00-19,shelf,\n",
    )
    .unwrap();
    let out = run(&["import", "locations", csv.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["token", "create", "--station", "fr-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ct_"));
}

#[test]
fn serve_says_at_start_which_stations_wait_for_which_location() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chartrack.toml");
    std::fs::write(
        &config,
        format!(
            "database = {:?}\nlisten = \"127.0.0.1:0\"\n[[stations]]\nid = \"fr-1\"\nlocation = \"FR-00-19\"\nmode = \"check-out\"\n",
            dir.path().join("t.db")
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = None;
    // The server keeps running: read until the line comes (or the pipe ends if it dies).
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains("waits for its location") {
            said = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = said.expect("serve names the waiting station on standard error");
    assert!(line.contains("fr-1") && line.contains("FR-00-19"), "{line}");
}
