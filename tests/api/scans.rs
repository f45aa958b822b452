//! Scans through `POST /api/v1/scans`: every workflow of the ledger and every refusal.

use crate::helpers::{fill_route, TestApp};
use chartrack::domain::Role;
use chartrack::store::admin::TokenFor;
use serde_json::json;

#[tokio::test]
async fn check_out_needs_a_destination_then_receive_then_check_in() {
    // Arrange
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[0];

    // Act + Assert: no destination yet
    let a = app.scan("fr-out", v).await;
    assert_eq!(
        (a["accepted"].as_bool(), a["message"].as_str()),
        (
            Some(false),
            Some("scan a destination or a request slip first")
        )
    );
    assert_eq!(app.volume(v).await["status"], "on_shelf");
    app.assert_answer_shows_stored(&a).await;

    app.scan("fr-out", &h.loc["4W"]).await;
    let a = app.scan("fr-out", v).await;
    assert_eq!(a["accepted"], true, "{a}");
    app.assert_answer_shows_stored(&a).await;
    assert_eq!(a["action"], "check-out");
    let vol = app.volume(v).await;
    assert_eq!(vol["status"], "in_transit");
    assert_eq!(vol["destination"]["code"], "4W");
    assert_eq!(vol["location"]["code"], "FR-00-19");
    assert_eq!(vol["last_scan"]["station"], "fr-out");
    assert_eq!(vol["last_scan"]["user"], "admin");

    let a = app.scan("w4", &format!("]C0{v}\r\n")).await;
    assert_eq!(a["action"], "receive", "{a}");
    app.assert_answer_shows_stored(&a).await;
    let vol = app.volume(v).await;
    assert_eq!(
        (vol["status"].as_str(), vol["location"]["code"].as_str()),
        (Some("at_location"), Some("4W"))
    );
    assert!(vol["destination"].is_null());

    app.clock.advance(chrono::Duration::minutes(30));
    let a = app.scan("fr-in", v).await;
    assert_eq!(a["action"], "check-in");
    app.assert_answer_shows_stored(&a).await;
    assert!(a["warnings"].as_array().unwrap().is_empty(), "{a}");
    assert_eq!(app.volume(v).await["status"], "on_shelf");

    let m = app.movements(v).await;
    let actions: Vec<_> = m.iter().map(|m| m["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["check-in", "receive", "check-out"],
        "newest first"
    );
    assert_eq!(
        (m[2]["from"].as_str(), m[2]["to"].as_str()),
        (Some("FR-00-19"), Some("4W"))
    );
    assert!(m.iter().all(|m| m["scan_id"].as_str().unwrap().len() == 36));
    let (s, limited) = app
        .get(
            &format!("/api/v1/volumes/{v}/movements?limit=1"),
            &app.admin,
        )
        .await;
    assert_eq!((s, limited.as_array().unwrap().len()), (200, 1));
}

#[tokio::test]
async fn check_in_warns_wrong_section_and_waiting_reports() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let (s, r) = app
        .post(
            "/api/v1/reports",
            &app.admin,
            &json!({"mrn": "123445", "description": "lab result"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    // Volume 1 (MRN ...45) belongs in FR-40-59 but is checked in at a station in FR-00-19.
    let a = app.scan("fr-in", &h.volumes[1]).await;
    assert_eq!(a["accepted"], true);
    let w: Vec<String> = serde_json::from_value(a["warnings"].clone()).unwrap();
    assert!(
        w.iter()
            .any(|w| w.starts_with("WRONG SECTION: terminal digits 45 belong in FR-40-59")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.starts_with("1 loose report waits")),
        "{w:?}"
    );
    // In its own section there is no section warning.
    app.clock.advance(chrono::Duration::seconds(10));
    let a = app.scan("fr-in-40", &h.volumes[1]).await;
    assert!(!a["warnings"].to_string().contains("WRONG SECTION"), "{a}");
}

#[tokio::test]
async fn filing_refuses_a_report_of_another_patient() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let (_, r) = app
        .post(
            "/api/v1/reports",
            &app.admin,
            &json!({"mrn": "123445", "description": "CT report"}),
        )
        .await;
    let report = r["barcode"].as_str().unwrap();
    app.scan("fr-file", report).await;
    let a = app.scan("fr-file", &h.volumes[0]).await;
    assert_eq!(a["accepted"], false);
    assert!(
        a["message"].as_str().unwrap().starts_with("WRONG CHART"),
        "{a}"
    );

    app.scan("fr-file", report).await;
    let a = app.scan("fr-file", &h.volumes[1]).await;
    assert_eq!(
        (a["accepted"].as_bool(), a["action"].as_str()),
        (Some(true), Some("file")),
        "{a}"
    );
    // Filed once: scanning it again is refused.
    let a = app.scan("fr-file", report).await;
    assert!(
        a["message"].as_str().unwrap().contains("already filed"),
        "{a}"
    );
    assert_eq!(app.volume(&h.volumes[1]).await["waiting_reports"], 0);
    let (s, e) = app
        .post(
            "/api/v1/reports",
            &app.admin,
            &json!({"mrn": "999999", "description": "x"}),
        )
        .await;
    assert_eq!(s, 404, "{e}");
}

#[tokio::test]
async fn a_container_carries_its_volumes() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["CART-1"]).await;
    for v in &h.volumes[..2] {
        let a = app.scan("fr-out", v).await;
        assert_eq!(a["action"], "pack");
        app.assert_answer_shows_stored(&a).await;
    }
    assert_eq!(
        app.volume(&h.volumes[0]).await["container"]["code"],
        "CART-1"
    );
    app.scan("fr-out", &h.loc["CARD"]).await;
    let a = app.scan("fr-out", &h.loc["CART-1"]).await;
    assert_eq!(
        (a["accepted"].as_bool(), a["moved"].as_u64()),
        (Some(true), Some(2)),
        "{a}"
    );
    assert_eq!(
        app.volume(&h.volumes[1]).await["destination"]["code"],
        "CARD"
    );
    let a = app.scan("card", &h.loc["CART-1"]).await;
    assert_eq!(a["moved"], 2, "{a}");
    for v in &h.volumes[..2] {
        let vol = app.volume(v).await;
        assert_eq!(
            (vol["status"].as_str(), vol["location"]["code"].as_str()),
            (Some("at_location"), Some("CARD"))
        );
        assert!(vol["container"].is_null());
    }
    assert_eq!(
        app.volume(&h.volumes[2]).await["status"],
        "on_shelf",
        "not in the cart, not moved"
    );
}

#[tokio::test]
async fn transfer_records_both_holders() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.user("nurse-a", Role::Nurse, Some("BADGE-A")).await;
    app.user("nurse-b", Role::Nurse, Some("BADGE-B")).await;
    let a = app.scan("w4-transfer", &h.volumes[0]).await;
    assert_eq!(a["accepted"], false);
    app.scan("w4-transfer", "BADGE-A").await;
    app.scan("w4-transfer", "BADGE-B").await;
    let a = app.scan("w4-transfer", &h.volumes[0]).await;
    assert_eq!(a["action"], "transfer", "{a}");
    app.assert_answer_shows_stored(&a).await;
    let m = &app.movements(&h.volumes[0]).await[0];
    assert_eq!(
        (m["user"].as_str(), m["receiver"].as_str()),
        (Some("nurse-a"), Some("nurse-b"))
    );
}

#[tokio::test]
async fn the_same_volume_twice_within_seconds_is_one_movement() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("w4", &h.volumes[0]).await;
    app.clock.advance(chrono::Duration::seconds(2));
    let a = app.scan("w4", &h.volumes[0]).await;
    assert_eq!(
        (a["accepted"].as_bool(), a["action"].as_str()),
        (Some(true), Some("duplicate"))
    );
    assert_eq!(app.movements(&h.volumes[0]).await.len(), 1);
    app.clock.advance(chrono::Duration::seconds(30));
    app.scan("w4", &h.volumes[0]).await;
    assert_eq!(app.movements(&h.volumes[0]).await.len(), 2);
}

#[tokio::test]
async fn a_repeated_scan_id_is_recorded_once_with_the_first_answer() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let id = uuid::Uuid::new_v4();
    let body = json!({"station": "w4", "barcode": h.volumes[0], "id": id});
    let (_, first) = app.post("/api/v1/scans", &app.admin, &body).await;
    app.clock.advance(chrono::Duration::minutes(5));
    let (_, again) = app.post("/api/v1/scans", &app.admin, &body).await;
    assert_eq!(first, again);

    // Concurrently: ten deliveries of one new scan id.
    let id2 = uuid::Uuid::new_v4();
    let body = json!({"station": "card", "barcode": h.volumes[0], "id": id2});
    let answers = futures_util::future::join_all(
        (0..10).map(|_| app.post("/api/v1/scans", &app.admin, &body)),
    )
    .await;
    assert!(
        answers.iter().all(|(s, a)| *s == 200 && *a == answers[0].1),
        "{answers:?}"
    );
    let m = app.movements(&h.volumes[0]).await;
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[0]["scan_id"], id2.to_string());

    // The same id from another station is a conflict, not a silent replay.
    let (s, e) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "w4", "barcode": h.volumes[0], "id": id2}),
        )
        .await;
    assert_eq!(s, 409, "{e}");

    // And from the same station with another barcode: a conflict that records nothing.
    let (s, e) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "card", "barcode": h.volumes[1], "id": id2}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("another barcode"),
        "{e}"
    );
    assert!(app.movements(&h.volumes[1]).await.is_empty());
    // The same barcode typed in lower case (Caps Lock) is the same scan, replayed.
    let (s, again) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "card", "barcode": h.volumes[0].to_lowercase(), "id": id2}),
        )
        .await;
    assert_eq!((s, &again), (200, &answers[0].1));
}

#[tokio::test]
async fn unknown_values_become_exceptions_and_misreads_are_caught() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let a = app.scan("w4", "NOT-A-CHART").await;
    assert_eq!(
        (a["accepted"].as_bool(), a["action"].as_str()),
        (Some(false), Some("unknown"))
    );
    // One character of an issued barcode changed: the check character catches it.
    let mut misread = h.volumes[0].clone().into_bytes();
    misread[7] = if misread[7] == b'9' { b'8' } else { b'9' };
    let a = app.scan("w4", std::str::from_utf8(&misread).unwrap()).await;
    assert!(a["message"].as_str().unwrap().starts_with("misread"), "{a}");
    let (s, e) = app.get("/api/v1/exceptions", &app.admin).await;
    assert_eq!(s, 200);
    let kinds: Vec<_> = e
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["station"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("misread", "w4"), ("unknown_barcode", "w4")]);
}

#[tokio::test]
async fn unreadable_lines_are_refused_with_a_reason_and_bad_requests_get_4xx() {
    let app = TestApp::spawn().await;
    app.seed().await;
    for (line, reason) in [
        ("AB\u{7}C", "control character"),
        (&"X".repeat(129)[..], "too long"),
        ("   ", "empty"),
    ] {
        let a = app.scan("w4", line).await;
        assert_eq!(a["action"], "unreadable");
        assert!(a["message"].as_str().unwrap().contains(reason), "{a}");
    }
    let url = format!("{}/api/v1/scans", app.base);
    for bad in [
        "{",
        "{\"station\": \"w4\"}",
        "{\"station\": 5, \"barcode\": \"x\"}",
        "{\"station\":\"w4\",\"barcode\":\"x\",\"id\":\"nope\"}",
    ] {
        let r = app
            .http
            .post(&url)
            .bearer_auth(&app.admin)
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
    let (s, e) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "nowhere", "barcode": "X"}),
        )
        .await;
    assert_eq!(s, 404, "{e}");
    let (s, _) = app
        .get("/api/v1/volumes/V1/movements?limit=0", &app.admin)
        .await;
    assert_eq!(s, 400);
    let (s, _) = app.get("/api/v1/volumes/NOPE", &app.admin).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn commands_switch_mode_and_station_tokens_scan_only_as_themselves() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let token = app.token_for(TokenFor::Station("w4".into())).await;
    let (s, a) = app
        .post(
            "/api/v1/scans",
            &token,
            &json!({"station": "w4", "barcode": "CMD-CHECKIN"}),
        )
        .await;
    assert_eq!((s, a["mode"].as_str()), (200, Some("check-in")));
    let (s, _) = app
        .post(
            "/api/v1/scans",
            &token,
            &json!({"station": "card", "barcode": h.volumes[0]}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .get(&format!("/api/v1/volumes/{}", h.volumes[0]), &token)
        .await;
    assert_eq!(s, 403, "a station may not read patient data");
    let (_, st) = app.get("/api/v1/stations", &token).await;
    let w4 = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "w4")
        .unwrap();
    assert_eq!(
        (w4["mode"].as_str(), w4["connected"].as_bool()),
        (Some("check-in"), Some(true))
    );
    assert!(w4["last_scan_at"].is_string());
}

#[tokio::test]
async fn every_route_is_classified_and_closed_without_a_token() {
    let app = TestApp::spawn().await;
    let nurse = app.user("nurse1", Role::Nurse, None).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let routes = chartrack::server::routes();
    for rule in routes.rules() {
        let (method, path, policy) = (&rule.method, &rule.path, &rule.policy);
        let url = format!("{}{}", app.base, fill_route(path, "V1"));
        let req = match *method {
            "GET" => plain.get(&url),
            _ => plain.post(&url).json(&json!({})),
        };
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        match (*policy, chartrack::auth::is_page(path)) {
            // A display's link that opens no display says so.
            (chartrack::auth::Policy::Public, _) if *path == "/display/{secret}" => {
                assert_eq!(status, 404, "{method} {path}")
            }
            (chartrack::auth::Policy::Public, _) if *method == "GET" => {
                assert_eq!(status, 200, "{method} {path}")
            }
            // A wall display's page, or the session probe: a plain 401 ("signed out"), for
            // a screen nobody signs in at, or a script to act on.
            (chartrack::auth::Policy::Display, _) => assert_eq!(status, 401, "{method} {path}"),
            (_, true) if *path == "/session" => assert_eq!(status, 401, "{method} {path}"),
            (chartrack::auth::Policy::Public, _) => {
                assert!(
                    (400..500).contains(&status) && status != 401,
                    "{method} {path}: {status}"
                )
            }
            (_, false) => assert_eq!(status, 401, "{method} {path} must need a token"),
            (_, true) => {
                assert_eq!(
                    status, 303,
                    "{method} {path} must send a stranger to sign in"
                );
                let to = res.headers()["location"].to_str().unwrap();
                assert!(to.starts_with("/login?next="), "{method} {path} → {to}");
            }
        }
    }
    // Roles: a nurse may read but not administer.
    let (s, _) = app
        .post(
            "/api/v1/locations",
            &nurse,
            &json!({"code": "Z", "name": "Z", "kind": "unit"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app.get("/api/v1/exceptions", &nurse).await;
    assert_eq!(s, 403);
    let (s, _) = app.get("/api/v1/locations", &nurse).await;
    assert_eq!(s, 200);
    let (s, _) = app.get("/api/v1/stations", "ct_not-a-real-token").await;
    assert_eq!(s, 401);
}
