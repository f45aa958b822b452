//! The records department's workflows end to end over HTTP: requests and the pull list, loose
//! reports, missing and found, stocktakes. Every refusal changes nothing.

use crate::helpers::*;
use chartrack::domain::Role;
use serde_json::{json, Value};

async fn request(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.post("/api/v1/requests", token, &body).await
}

async fn get_request(app: &TestApp, id: &Value) -> Value {
    let (s, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(s, 200, "{r}");
    r
}

async fn advance(app: &TestApp, minutes: i64) {
    app.clock.advance(chrono::Duration::minutes(minutes));
}

fn said(answer: &Value, needle: &str) -> bool {
    answer["message"].as_str().unwrap_or("").contains(needle)
        || answer["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w.as_str().unwrap_or("").contains(needle)))
}

#[tokio::test]
async fn a_stat_request_is_pulled_by_its_slip_delivered_on_receive_and_timed() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let nurse = app.user("nurse4w", Role::Nurse, None).await;
    let v = &h.volumes[0];

    let (s, r) = request(
        &app,
        &nurse,
        json!({"barcode": v, "location": "4W", "priority": "stat", "reason": "surgery at 10"}),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["status"], "open");
    assert_eq!(
        r["transfer"], false,
        "the volume is on its shelf: the file room pulls it"
    );
    assert_eq!(r["requested"]["by"], "nurse4w");
    let id = r["id"].clone();
    let slip = r["barcode"].as_str().unwrap().to_owned();

    // Asking again for the same volume and place gives the same request, not a second slip.
    let (s, again) = request(
        &app,
        &nurse,
        json!({"barcode": v, "location": "4W", "priority": "stat"}),
    )
    .await;
    assert_eq!((s, &again["id"]), (200, &id));

    // The file room scans the slip, then the volume: the request is pulled.
    advance(&app, 7).await;
    let a = app.scan("fr-out", &slip).await;
    assert_eq!(a["accepted"], true, "{a}");
    let a = app.scan("fr-out", v).await;
    assert_eq!(a["accepted"], true, "{a}");
    assert!(said(&a, "pulled"), "{a}");
    assert_eq!(a["requests"][0]["status"], "pulled");
    assert_eq!(a["volume"]["destination"]["code"], "4W");
    let r = get_request(&app, &id).await;
    assert_eq!(r["status"], "pulled");
    assert_eq!(
        r["pulled"]["by"], "admin",
        "the signed-in user behind the scan"
    );
    let moves = app.movements(v).await;
    assert_eq!(moves[0]["action"], "check-out");

    // Received on 4W: delivered, 25 minutes after the request.
    advance(&app, 18).await;
    let a = app.scan("w4", v).await;
    assert!(said(&a, "delivered"), "{a}");
    let r = get_request(&app, &id).await;
    assert_eq!(r["status"], "delivered");
    assert_eq!(r["turnaround_minutes"], 25);

    // A delivered request's slip is refused; the request stays delivered.
    let a = app.scan("fr-out", &slip).await;
    assert_eq!(a["accepted"], false);
    assert!(said(&a, "already delivered"), "{a}");
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let nurse = app.user("nurse4w", Role::Nurse, None).await;
    let v = &h.volumes[0];
    for (body, status, words) in [
        (
            json!({"barcode": "V9999999X", "location": "4W", "priority": "stat"}),
            404,
            "no volume",
        ),
        (
            json!({"barcode": v, "location": "NOWHERE", "priority": "stat"}),
            404,
            "no location",
        ),
        (
            json!({"barcode": v, "location": "FR-00-19", "priority": "stat"}),
            422,
            "is a shelf",
        ),
        (
            json!({"barcode": v, "location": "4W", "priority": "urgent"}),
            400,
            "unknown variant",
        ),
        (json!({"barcode": v, "location": "4W"}), 400, "priority"),
        (
            json!({"barcode": v, "location": "4W", "priority": "stat", "needed_by": "tomorrow"}),
            400,
            "needed_by",
        ),
        (
            json!({"barcode": v, "location": "4W", "priority": "stat", "reason": "x".repeat(300)}),
            422,
            "200 characters",
        ),
    ] {
        let (s, r) = request(&app, &nurse, body.clone()).await;
        assert_eq!(s, status, "{body} -> {r}");
        assert!(
            r["error"].as_str().unwrap().contains(words),
            "{body} -> {r}"
        );
    }
    let (s, all) = app.get("/api/v1/requests", &app.admin).await;
    assert_eq!(s, 200);
    assert_eq!(all.as_array().unwrap().len(), 0, "{all}");
    // A station token cannot ask for charts.
    let station = app.remote_station("w4-agent").await;
    let (s, _) = request(
        &app,
        &station,
        json!({"barcode": v, "location": "4W", "priority": "stat"}),
    )
    .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn a_stat_request_traps_the_volume_at_check_in() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[0];
    // The volume is out on 4W and comes back while the clinic wants it, STAT.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", v).await;
    app.scan("w4", v).await;
    let (s, r) = request(
        &app,
        &app.admin,
        json!({"barcode": v, "location": "CARD", "priority": "stat"}),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let a = app.scan("fr-in", v).await;
    assert_eq!(a["accepted"], true, "{a}");
    assert!(
        a["message"].as_str().unwrap().contains("DO NOT SHELVE"),
        "{a}"
    );
    assert!(
        said(&a, "DO NOT SHELVE: requested by CARD name (STAT)"),
        "{a}"
    );
    // Now on the shelf: it is on the pull list.
    let (s, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(s, 200);
    assert_eq!(list["pull"][0]["volume"], v.as_str(), "{list}");
}

#[tokio::test]
async fn a_request_for_a_volume_that_is_out_goes_to_whoever_holds_it() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[0];
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", v).await;
    app.scan("w4", v).await;

    let (s, r) = request(
        &app,
        &app.admin,
        json!({"barcode": v, "location": "CARD", "priority": "routine"}),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["transfer"], true, "{r}");
    assert_eq!(r["holder"]["code"], "4W", "{r}");
    // Not the file room's job: it is on the transfer list, not the pull list.
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(list["pull"].as_array().unwrap().len(), 0, "{list}");
    assert_eq!(list["transfer"][0]["holder"]["code"], "4W", "{list}");

    // 4W hands it over to the clinic: the transfer delivers the request.
    app.scan("w4-transfer", &h.loc["CARD"]).await;
    let a = app.scan("w4-transfer", v).await;
    assert_eq!(a["accepted"], true, "{a}");
    assert!(said(&a, "delivered"), "{a}");
    let r = get_request(&app, &r["id"]).await;
    assert_eq!(r["status"], "delivered");
    assert_eq!(
        r["holder"],
        Value::Null,
        "delivered: nobody holds it for the request any more"
    );
}

#[tokio::test]
async fn not_found_ends_the_request_and_makes_a_candidate_not_a_missing_volume() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[1];
    let (_, r) = request(
        &app,
        &app.admin,
        json!({"barcode": v, "location": "4W", "priority": "stat"}),
    )
    .await;
    app.scan("fr-out", r["barcode"].as_str().unwrap()).await;
    advance(&app, 1).await;
    let a = app.scan("fr-out", "CMD-NOTFOUND").await;
    assert_eq!(a["accepted"], true, "{a}");
    assert_eq!(a["requests"][0]["status"], "not_found");
    let r = get_request(&app, &r["id"]).await;
    assert_eq!(r["status"], "not_found");
    assert_eq!(r["end_reason"], "not_on_shelf");
    assert_eq!(
        app.volume(v).await["status"],
        "on_shelf",
        "never marked missing by itself"
    );
    let (_, m) = app.get("/api/v1/missing", &app.admin).await;
    assert_eq!(m["candidates"][0]["barcode"], v.as_str(), "{m}");
    assert_eq!(m["candidates"][0]["why"], "request not found");
    assert_eq!(m["missing"].as_array().unwrap().len(), 0);

    // CMD-NOTFOUND with no slip scanned is refused.
    let a = app.scan("fr-out", "CMD-NOTFOUND").await;
    assert_eq!(a["accepted"], false, "{a}");
}

#[tokio::test]
async fn a_request_is_cancelled_with_a_coded_reason_once() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let nurse = app.user("nurse4w", Role::Nurse, None).await;
    let (_, r) = request(
        &app,
        &nurse,
        json!({"barcode": h.volumes[0], "location": "4W", "priority": "routine"}),
    )
    .await;
    let path = format!("/api/v1/requests/{}/cancel", r["id"]);
    let (s, e) = app.post(&path, &nurse, &json!({"reason": "other"})).await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(get_request(&app, &r["id"]).await["status"], "open");
    let (s, e) = app.post(&path, &nurse, &json!({"reason": "because"})).await;
    assert_eq!(s, 400, "{e}");
    let (s, c) = app
        .post(&path, &nurse, &json!({"reason": "clinic_cancelled"}))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["end_reason"], "clinic_cancelled");
    assert_eq!(c["ended"]["by"], "nurse4w");
    let (s, e) = app
        .post(&path, &nurse, &json!({"reason": "entry_mistake"}))
        .await;
    assert_eq!(s, 409, "{e}");
    // A cancelled request's volume is not trapped at check-in.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    let a = app.scan("fr-in", &h.volumes[0]).await;
    assert!(!said(&a, "DO NOT SHELVE"), "{a}");
}

#[tokio::test]
async fn the_pull_list_is_stat_first_then_needed_by_then_terminal_digit_order() {
    let app = TestApp::spawn().await;
    app.seed().await;
    // More volumes in one section: MRNs whose terminal-digit order differs from number order.
    let mut by_mrn = std::collections::HashMap::new();
    for mrn in ["110105", "990105", "220105", "330105"] {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": mrn, "last_name": "Pull", "first_name": "Test", "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        by_mrn.insert(mrn, b["barcode"].as_str().unwrap().to_owned());
    }
    let ask = |mrn: &str, priority: &str, needed: Option<&str>| {
        let mut body = json!({"barcode": by_mrn[mrn], "location": "4W", "priority": priority});
        if let Some(n) = needed {
            body["needed_by"] = json!(n);
        }
        body
    };
    for body in [
        ask("990105", "routine", None),
        ask("110105", "routine", None),
        ask("330105", "routine", Some("2026-03-02T09:00:00Z")),
        ask("220105", "stat", None),
    ] {
        let (s, r) = request(&app, &app.admin, body).await;
        assert_eq!(s, 201, "{r}");
    }
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    let order: Vec<&str> = list["pull"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mrn"].as_str().unwrap())
        .collect();
    // STAT; then the one needed by 09:00; then 11-01-05 before 99-01-05 (same section and
    // middle digits, so the first pair decides).
    assert_eq!(order, ["220105", "330105", "110105", "990105"]);
}

#[tokio::test]
async fn loose_reports_are_received_routed_filed_and_never_into_the_wrong_chart() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let clerk = app.user("clerk", Role::Clerk, None).await;
    // Patient 123405's volume is out on 4W; patient 123410's is on the shelf.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.scan("w4", &h.volumes[0]).await;
    let (s, first) = app
        .post(
            "/api/v1/reports",
            &clerk,
            &json!({"mrn": "123405", "description": "CBC result"}),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    advance(&app, 30).await;
    let (_, second) = app
        .post(
            "/api/v1/reports",
            &clerk,
            &json!({"mrn": "123410", "description": "Discharge summary"}),
        )
        .await;
    let first = first["barcode"].as_str().unwrap();
    let second = second["barcode"].as_str().unwrap();

    // A bad registration changes nothing.
    let (s, e) = app
        .post(
            "/api/v1/reports",
            &clerk,
            &json!({"mrn": "999999", "description": "x"}),
        )
        .await;
    assert_eq!(s, 404, "{e}");
    let (s, e) = app
        .post(
            "/api/v1/reports",
            &clerk,
            &json!({"mrn": "123405", "description": ""}),
        )
        .await;
    assert_eq!(s, 422, "{e}");

    // Received in the records department: the first goes to 4W, the second waits to be filed.
    let a = app.scan("fr-in", first).await;
    assert_eq!(a["accepted"], true, "{a}");
    assert!(said(&a, "ROUTE TO 4W name (4W)"), "{a}");
    let a = app.scan("fr-in", second).await;
    assert!(said(&a, &format!("file it into {}", h.volumes[2])), "{a}");

    let (s, waiting) = app.get("/api/v1/reports", &clerk).await;
    assert_eq!(s, 200, "{waiting}");
    let waiting = waiting.as_array().unwrap();
    assert_eq!(waiting.len(), 2);
    assert_eq!(waiting[0]["barcode"], first, "oldest first");
    assert_eq!(waiting[0]["routed_to"]["code"], "4W");
    assert_eq!(waiting[1]["volumes"][0]["status"], "on_shelf");

    // Filing the second report into the first patient's chart is refused, and nothing is filed.
    app.scan("fr-file", second).await;
    let a = app.scan("fr-file", &h.volumes[1]).await;
    assert_eq!(a["accepted"], false, "{a}");
    assert!(
        a["message"].as_str().unwrap().starts_with("WRONG CHART"),
        "{a}"
    );
    let (_, waiting) = app.get("/api/v1/reports", &clerk).await;
    assert_eq!(waiting.as_array().unwrap().len(), 2);

    // Into its own chart it files.
    app.scan("fr-file", second).await;
    let a = app.scan("fr-file", &h.volumes[2]).await;
    assert_eq!(a["accepted"], true, "{a}");
    let (_, waiting) = app.get("/api/v1/reports", &clerk).await;
    assert_eq!(waiting.as_array().unwrap().len(), 1);

    // The volume on 4W comes back: check-in announces the report waiting for it.
    let a = app.scan("fr-in", &h.volumes[0]).await;
    assert!(said(&a, "1 loose report waits for this patient"), "{a}");
}

#[tokio::test]
async fn a_missing_volume_shows_where_to_look_and_any_scan_finds_it() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let supervisor = app.user("him", Role::Supervisor, None).await;
    let clerk = app.user("clerk", Role::Clerk, None).await;
    let v = &h.volumes[0];
    // Out to 4W with another volume in the same batch; then nobody can find it.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", v).await;
    app.scan("fr-out", &h.volumes[2]).await;
    app.scan("w4", v).await;
    let (_, r) = request(
        &app,
        &app.admin,
        json!({"barcode": v, "location": "CARD", "priority": "stat"}),
    )
    .await;

    let path = format!("/api/v1/volumes/{v}/missing");
    let (s, _) = app
        .post(&path, &clerk, &json!({"reason": "not_returned"}))
        .await;
    assert_eq!(s, 403, "a clerk cannot mark missing");
    let (s, e) = app
        .post(&path, &supervisor, &json!({"reason": "lost"}))
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = app
        .post(&path, &supervisor, &json!({"reason": "other"}))
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(
        app.volume(v).await["status"],
        "at_location",
        "refusals change nothing"
    );
    let (s, m) = app
        .post(
            &path,
            &supervisor,
            &json!({"reason": "not_returned", "note": "4W says it went back"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let (s, e) = app
        .post(&path, &supervisor, &json!({"reason": "not_returned"}))
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(app.volume(v).await["status"], "missing");

    let (s, list) = app.get("/api/v1/missing", &supervisor).await;
    assert_eq!(s, 200, "{list}");
    let m = &list["missing"][0];
    assert_eq!(m["barcode"], v.as_str());
    assert_eq!(m["reason"], "not_returned");
    assert_eq!(m["last_location"]["code"], "4W");
    assert_eq!(m["last_holder"]["code"], "4W");
    assert_eq!(m["last_station"], "w4");
    assert_eq!(m["moved_with"][0]["barcode"], h.volumes[2].as_str(), "{m}");
    assert_eq!(m["moved_with"][0]["how"], "batch");
    assert_eq!(m["requests"][0]["barcode"], r["barcode"], "{m}");

    // It turns up at the clinic: any scan clears the flag and tells the supervisor.
    let a = app.scan("card", v).await;
    assert!(said(&a, "was MISSING"), "{a}");
    assert_eq!(app.volume(v).await["status"], "at_location");
    let (_, list) = app.get("/api/v1/missing", &supervisor).await;
    assert_eq!(list["missing"].as_array().unwrap().len(), 0);
    let found = &list["found"][0];
    assert_eq!(found["found_location"]["code"], "CARD");
    assert_eq!(found["found_station"], "card");
    let ack = format!("/api/v1/missing/{}/acknowledge", found["mark_id"]);
    let (s, _) = app.post(&ack, &supervisor, &json!({})).await;
    assert_eq!(s, 200);
    let (s, _) = app.post(&ack, &supervisor, &json!({})).await;
    assert_eq!(s, 409);
    let (_, list) = app.get("/api/v1/missing", &supervisor).await;
    assert_eq!(list["found"].as_array().unwrap().len(), 0);
    // And it was delivered to the clinic that asked for it.
    assert_eq!(get_request(&app, &r["id"]).await["status"], "delivered");
}

/// A terminal-digit section with volumes on the shelf, for stocktakes.
async fn shelf_with(app: &TestApp, mrns: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for mrn in mrns {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": mrn, "last_name": "Stock", "first_name": "Test", "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        out.push(b["barcode"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test]
async fn a_partial_stocktake_corrects_what_it_finds_and_marks_nothing_missing() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    // FR-00-19 holds 123405, 123410 and these; FR-40-59 holds 123445 and is not counted.
    let shelf = shelf_with(&app, &["100101", "200101", "300101"]).await;
    let (s, b) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            &json!({"id": "fr-count", "location": "FR-00-19", "mode": "inventory"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    // A volume recorded on 4W is actually on this shelf.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[2]).await;
    app.scan("w4", &h.volumes[2]).await;

    // The first scan opens the stocktake of the station's shelf.
    let a = app.scan("fr-count", &shelf[0]).await;
    assert_eq!(a["accepted"], true, "{a}");
    assert!(said(&a, "confirmed"), "{a}");
    let a = app.scan("fr-count", &shelf[1]).await;
    assert!(!said(&a, "OUT OF ORDER"), "{a}");
    // 123410 files after 01-01-00 and 02-01-00 (section 10 > 01): in order.
    let a = app.scan("fr-count", &h.volumes[2]).await;
    assert!(said(&a, "was recorded at 4W (corrected)"), "{a}");
    // 03-01-00 after section 10: out of terminal-digit order, said now. Which of the two is
    // out of place the shelf's end cannot tell (10-34-12 put early, or 03-01-00 put late), so
    // neither is recorded as the misfile (`engine::stocktake`).
    let a = app.scan("fr-count", &shelf[2]).await;
    assert!(
        said(
            &a,
            &format!("OUT OF ORDER here: {} and {}", h.volumes[2], shelf[2])
        ),
        "{a}"
    );
    // 123445 belongs in FR-40-59.
    let a = app.scan("fr-count", &h.volumes[1]).await;
    assert!(said(&a, "WRONG SECTION"), "{a}");
    let a = app.scan("fr-count", "CMD-DONE").await;
    assert_eq!(a["action"], "stocktake-closed", "{a}");
    // Expected: 123405 and the three on the shelf (123410 was recorded on 4W); 123405 not seen.
    assert!(said(&a, "3 of 4 expected counted"), "{a}");
    assert!(said(&a, "1 not seen"), "{a}");

    let (_, takes) = app.get("/api/v1/stocktakes", &app.admin).await;
    let id = &takes[0]["id"];
    let (s, res) = app
        .get(&format!("/api/v1/stocktakes/{id}"), &app.admin)
        .await;
    assert_eq!(s, 200, "{res}");
    assert_eq!(res["scope"], "FR-00-19");
    assert_eq!(res["corrected"].as_array().unwrap().len(), 2, "{res}");
    assert_eq!(res["corrected"][0]["barcode"], h.volumes[2].as_str());
    assert_eq!(res["corrected"][0]["recorded"]["code"], "4W");
    assert_eq!(
        res["not_seen"][0]["barcode"],
        h.volumes[0].as_str(),
        "{res}"
    );
    let kinds: Vec<&str> = res["misfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["wrong_section"]);

    // Not seen is a candidate, never missing; the uncounted section is untouched.
    assert_eq!(app.volume(&h.volumes[0]).await["status"], "on_shelf");
    let (_, m) = app.get("/api/v1/missing", &app.admin).await;
    assert_eq!(m["missing"].as_array().unwrap().len(), 0);
    let candidates: Vec<&str> = m["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["barcode"].as_str().unwrap())
        .collect();
    assert_eq!(candidates, [h.volumes[0].as_str()]);
    // FR-40-59's own volume record was not touched (it was corrected to where it was found).
    let moves = app.movements(&h.volumes[1]).await;
    assert_eq!(moves[0]["action"], "inventory");
}

#[tokio::test]
async fn a_chart_displaced_to_the_start_of_a_shelf_is_named_not_the_charts_after_it() {
    let app = TestApp::spawn().await;
    app.seed().await;
    // Section 01 in terminal-digit order: 01-01-10 .. 01-01-50; 01-01-90 belongs after them
    // but was put first on the shelf.
    let shelf = shelf_with(
        &app,
        &["900101", "100101", "200101", "300101", "400101", "500101"],
    )
    .await;
    let (s, b) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            &json!({"id": "fr-count", "location": "FR-00-19", "mode": "inventory"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let displaced = &shelf[0];
    let mut named_at = None;
    for (i, barcode) in shelf.iter().enumerate() {
        let a = app.scan("fr-count", barcode).await;
        assert_eq!(a["accepted"], true, "{a}");
        for other in &shelf[1..] {
            assert!(
                !said(&a, &format!("OUT OF ORDER: {other}")),
                "a chart in its place is blamed: {a}"
            );
        }
        if said(&a, &format!("OUT OF ORDER: {displaced} (counted")) {
            named_at.get_or_insert(i);
        }
    }
    // Recognisable once the charts after it run in order below it.
    assert!(
        named_at.is_some_and(|i| i <= 3),
        "named at scan {named_at:?}"
    );
    app.scan("fr-count", "CMD-DONE").await;
    let (_, takes) = app.get("/api/v1/stocktakes", &app.admin).await;
    let (s, res) = app
        .get(
            &format!("/api/v1/stocktakes/{}", takes[0]["id"]),
            &app.admin,
        )
        .await;
    assert_eq!(s, 200, "{res}");
    let misfiles: Vec<(&str, &str)> = res["misfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["barcode"].as_str().unwrap(), m["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(misfiles, [(displaced.as_str(), "out_of_order")], "{res}");
    assert_eq!(res["misfiles"][0]["section"]["code"], "FR-00-19");
}

#[tokio::test]
async fn a_terminal_digit_range_stocktake_leaves_other_sections_alone() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let (s, b) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            &json!({"id": "fr-count", "location": "FR-00-19", "mode": "check-in"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    for bad in [
        json!({"station": "fr-count", "terminal": [20, 10]}),
        json!({"station": "fr-count", "location": "FR-00-19", "terminal": [0, 9]}),
        json!({"station": "nope", "terminal": [0, 9]}),
    ] {
        let (s, e) = app.post("/api/v1/stocktakes", &app.admin, &bad).await;
        assert!(s == 422 || s == 404, "{bad} -> {s} {e}");
    }
    let (_, takes) = app.get("/api/v1/stocktakes", &app.admin).await;
    assert_eq!(takes.as_array().unwrap().len(), 0);

    // Digits 00-09 only: 123405 is expected; 123410 (section 10) is not.
    let (s, t) = app
        .post(
            "/api/v1/stocktakes",
            &app.admin,
            &json!({"station": "fr-count", "terminal": [0, 9]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let (s, e) = app
        .post(
            "/api/v1/stocktakes",
            &app.admin,
            &json!({"station": "fr-count", "terminal": [0, 9]}),
        )
        .await;
    assert_eq!(s, 409, "one open stocktake per station: {e}");
    let a = app.scan("fr-count", "CMD-DONE").await;
    assert_eq!(
        a["action"], "stocktake-closed",
        "the station was put in inventory mode: {a}"
    );
    assert!(said(&a, "0 of 1 expected counted"), "{a}");
    let (_, m) = app.get("/api/v1/missing", &app.admin).await;
    let candidates: Vec<&str> = m["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["barcode"].as_str().unwrap())
        .collect();
    assert_eq!(
        candidates,
        [h.volumes[0].as_str()],
        "only the scoped section: {m}"
    );
}
