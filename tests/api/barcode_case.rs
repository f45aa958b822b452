//! Barcodes are case-insensitive (issue 13): a keyboard-wedge scanner types lower case when
//! Caps Lock is on, and a label printed long ago may carry lower case. Every lookup finds the
//! same thing whatever the case, and barcodes are stored in their canonical (upper-case) form.

use crate::helpers::*;
use chartrack::domain::Role;
use serde_json::{json, Value};

/// The same morning at the file room, on a fresh server, with barcodes written by `case`:
/// a badge, a location, a volume, a request slip, a command. The answers, without their ids.
async fn morning(case: fn(&str) -> String) -> (TestApp, Hospital, Vec<Value>) {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    // A badge entered in mixed case is stored canonically.
    app.user("ann", Role::Clerk, Some("Badge-Ann7")).await;
    let (s, r) = app
        .post(
            "/api/v1/requests",
            &app.admin,
            &json!({"barcode": case(&h.volumes[1]), "location": "4W", "priority": "stat"}),
        )
        .await;
    assert_eq!(s, 201, "a request names its volume in any case: {r}");
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    let slip = list["pull"][0]["barcode"].as_str().unwrap().to_owned();
    let mut answers = Vec::new();
    for value in [
        case("BADGE-ANN7"),
        case(&h.loc["4W"]),
        case(&h.volumes[0]),
        case(&slip),
        case(&h.volumes[1]),
        case("CMD-CHECKIN"),
        case(&h.volumes[0]),
    ] {
        let mut a = app.scan("fr-out", &value).await;
        assert_eq!(a["accepted"], true, "{value}: {a}");
        a.as_object_mut().unwrap().remove("scan_id");
        answers.push(a);
    }
    (app, h, answers)
}

#[tokio::test]
async fn lower_case_scans_get_the_same_answers_as_upper_case() {
    let (upper, _, expected) = morning(|s| s.to_ascii_uppercase()).await;
    let (app, h, got) = morning(|s| s.to_ascii_lowercase()).await;
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
    // Nothing was filed as an unknown barcode.
    let (_, exceptions) = app.get("/api/v1/exceptions", &app.admin).await;
    assert_eq!(exceptions, json!([]), "no exceptions");

    // The API finds the volume by its barcode in any case and names it canonically.
    let lower = h.volumes[0].to_ascii_lowercase();
    assert_ne!(lower, h.volumes[0]);
    let v = app.volume(&lower).await;
    assert_eq!(v["barcode"], h.volumes[0]);
    assert_eq!(v["status"], "on_shelf");
    let moves = app.movements(&lower).await;
    assert_eq!(moves.len(), 2, "check-out and check-in: {moves:?}");
    assert_eq!(moves.len(), upper.movements(&h.volumes[0]).await.len());
    let log = app.access_log().await;
    assert!(
        log.iter()
            .any(|(_, what, subject, _)| what == "view-volume" && *subject == h.volumes[0]),
        "the access log names the volume canonically: {log:?}"
    );
    assert!(
        !log.iter().any(|(_, _, subject, _)| *subject == lower),
        "{log:?}"
    );
    let (s, hits) = app
        .get(&format!("/api/v1/search?q={lower}"), &app.admin)
        .await;
    assert_eq!(s, 200, "{hits}");
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "{hits}");
    assert_eq!(hits[0]["barcode"], h.volumes[0]);
    // So does the volume's page.
    app.person("sue", Role::Supervisor).await;
    let session = app.sign_in("sue").await;
    let (s, page) = app
        .page(&session.cookie, &format!("/volumes/{lower}"))
        .await;
    assert_eq!(s, 200);
    assert!(page.contains(&h.volumes[0]));
    // A missing mark names the volume in any case too.
    let (s, b) = app
        .post(
            &format!(
                "/api/v1/volumes/{}/missing",
                h.volumes[2].to_ascii_lowercase()
            ),
            &app.admin,
            &json!({"reason": "not_on_shelf"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test]
async fn barcodes_given_in_lower_case_are_stored_in_upper_case() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let (s, b) = app
        .post(
            "/api/v1/locations",
            &app.admin,
            &json!({"code": "ONC", "name": "Oncology", "kind": "clinic", "barcode": "loc-onc1"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["barcode"], "LOC-ONC1");
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"barcode": "old-label-7a", "mrn": "555001", "last_name": "Zed",
                    "first_name": "Test", "home": "FR-00-19"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["barcode"], "OLD-LABEL-7A");
    let (s, b) = app
        .post(
            "/api/v1/reports",
            &app.admin,
            &json!({"barcode": "lab-rep-3", "mrn": "555001", "description": "lab result"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["barcode"], "LAB-REP-3");
    // Scanned in either case, the location is a location and the volume a volume.
    for value in ["loc-onc1", "LOC-ONC1"] {
        let a = app.scan("fr-out", value).await;
        assert_eq!(a["accepted"], true, "{value}: {a}");
    }
    let a = app.scan("fr-out", "Old-Label-7a").await;
    assert_eq!(a["accepted"], true, "{a}");
    assert_eq!(a["volume"]["barcode"], "OLD-LABEL-7A", "{a}");
    assert_eq!(a["volume"]["destination"]["code"], "ONC", "{a}");
    let _ = h;
}

#[tokio::test]
async fn a_csv_import_with_lower_case_barcodes_stores_them_in_upper_case() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let config = dir.path().join("chartrack.toml");
    std::fs::write(&config, format!("database = {db:?}\n")).unwrap();
    let import = |what: &str, csv: &str| {
        let file = dir.path().join(format!("{what}.csv"));
        std::fs::write(&file, csv).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chartrack"))
            .args(["import", what, file.to_str().unwrap(), "--config"])
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = import(
        "locations",
        "code,name,kind,barcode\nFR-00-19,Section 00-19,shelf,loc-fr0019\n",
    );
    assert!(ok, "{err}");
    let header = "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n";
    // The same label in two cases is one barcode: the file is refused.
    let (ok, err) = import(
        "volumes",
        &format!("{header}ch001,123405,Ashdown,Ada,,1,medical,FR-00-19\nCH001,123406,Byre,Bo,,1,medical,FR-00-19\n"),
    );
    assert!(!ok);
    assert!(err.contains("line 3: barcode CH001 appears twice"), "{err}");
    let (ok, err) = import(
        "volumes",
        &format!("{header}ch001,123405,Ashdown,Ada,,1,medical,FR-00-19\n"),
    );
    assert!(ok, "{err}");

    let app = TestApp::spawn_on(dir, db, chartrack::clock::Clock::manual(start_time())).await;
    let v = app.volume("CH001").await;
    assert_eq!(v["barcode"], "CH001");
    let (_, locations) = app.get("/api/v1/locations", &app.admin).await;
    assert_eq!(locations[0]["barcode"], "LOC-FR0019", "{locations}");
}
