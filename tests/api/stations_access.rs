//! Desks and who may drive a station (issue 14): a check-in desk says where to shelve without
//! the wrong-section warning; a station that names its roles or home units refuses everyone
//! else with the reason, over the API and on the scan page, and records nothing for them.

use crate::browser::{browser, open_scan_page, sign_in, text_until, wedge};
use crate::helpers::*;
use chartrack::config::StationConfig;
use chartrack::domain::Role;
use chartrack::store::admin::TokenFor;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::time::Duration;

/// The seeded hospital plus a check-in desk in the file room and its station.
async fn with_desk(app: &TestApp) -> Hospital {
    let h = app.seed().await;
    let (s, b) = app
        .post(
            "/api/v1/locations",
            &app.admin,
            &json!({"code": "FR-DESK", "name": "File room check-in desk", "kind": "desk"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    station(
        app,
        json!({"id": "fr-desk", "location": "FR-DESK", "mode": "check-in"}),
    )
    .await;
    h
}

async fn station(app: &TestApp, body: Value) {
    let (s, b) = app.post("/api/v1/stations", &app.admin, &body).await;
    assert_eq!(s, 201, "{b}");
}

async fn station_view(app: &TestApp, id: &str) -> Value {
    let (s, list) = app.get("/api/v1/stations", &app.admin).await;
    assert_eq!(s, 200);
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no station {id} in {list}"))
}

async fn scan_as(app: &TestApp, token: &str, station: &str, barcode: &str) -> (u16, Value) {
    app.post(
        "/api/v1/scans",
        token,
        &json!({"station": station, "barcode": barcode}),
    )
    .await
}

async fn scans_recorded(app: &TestApp) -> i64 {
    app.store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM scan", [], |r| r.get(0))?))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_desk_check_in_says_shelve_at_home_without_the_wrong_section_warning() {
    let app = TestApp::spawn().await;
    let h = with_desk(&app).await;
    // O'Brien's chart (terminal digits 45) comes back from 4 West.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[1]).await;

    let a = app.scan("fr-desk", &h.volumes[1]).await;
    assert_eq!(a["accepted"], true, "{a}");
    assert_eq!(a["shelve_at"], "FR-40-59", "{a}");
    assert_eq!(a["warnings"], json!([]), "{a}");
    let v = app.volume(&h.volumes[1]).await;
    assert_eq!(
        (v["status"].as_str(), v["location"]["code"].as_str()),
        (Some("on_shelf"), Some("FR-40-59"))
    );

    // At a shelf section of other digits the warning still means something.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[1]).await;
    let a = app.scan("fr-in", &h.volumes[1]).await;
    assert_eq!(a["shelve_at"], "FR-40-59", "{a}");
    assert!(
        a["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("WRONG SECTION: terminal digits 45 belong in FR-40-59"),
        "{a}"
    );
}

#[tokio::test]
async fn a_desk_takes_no_requests_and_opens_no_stocktake() {
    let app = TestApp::spawn().await;
    let h = with_desk(&app).await;
    let (s, b) = app
        .post(
            "/api/v1/requests",
            &app.admin,
            &json!({"barcode": h.volumes[0], "location": "FR-DESK", "priority": "routine"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("FR-DESK is a desk"),
        "{b}"
    );

    station(
        &app,
        json!({"id": "fr-desk-count", "location": "FR-DESK", "mode": "inventory"}),
    )
    .await;
    let a = app.scan("fr-desk-count", &h.volumes[0]).await;
    assert_eq!(a["accepted"], false, "{a}");
    assert!(
        a["message"].as_str().unwrap().contains("FR-DESK is a desk"),
        "{a}"
    );
    let v = app.volume(&h.volumes[0]).await;
    assert_eq!(v["location"]["code"], "FR-00-19", "nothing moved: {v}");
    let open: i64 = app
        .store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM stocktake", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(open, 0);
}

#[tokio::test]
async fn a_nurse_is_refused_at_a_clerks_station_with_the_reason_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let h = with_desk(&app).await;
    station(
        &app,
        json!({"id": "fr-desk", "location": "FR-DESK", "mode": "check-in", "roles": ["clerk", "supervisor"]}),
    )
    .await;
    let shown = station_view(&app, "fr-desk").await;
    assert_eq!(shown["roles"], json!(["clerk", "supervisor"]), "{shown}");
    assert_eq!(shown["locations"], json!([]), "{shown}");

    let nurse = app.user("nina", Role::Nurse, None).await;
    let before = scans_recorded(&app).await;
    let (s, b) = scan_as(&app, &nurse, "fr-desk", &h.volumes[0]).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        b["error"],
        "Only clerk, supervisor may use station fr-desk (you are signed in as a nurse)"
    );
    // A mode command is refused the same way: the station stays as it was.
    let (s, _) = scan_as(&app, &nurse, "fr-desk", "CMD-CHECKOUT").await;
    assert_eq!(s, 403);
    assert_eq!(station_view(&app, "fr-desk").await["mode"], "check-in");
    assert_eq!(scans_recorded(&app).await, before, "nothing recorded");
    assert_eq!(
        station_view(&app, "fr-desk").await["last_scan_at"],
        Value::Null
    );

    let clerk = app.user("cal", Role::Clerk, None).await;
    let (s, b) = scan_as(&app, &clerk, "fr-desk", &h.volumes[0]).await;
    assert_eq!((s, &b["accepted"]), (200, &json!(true)), "{b}");
    // The station's own token is the station itself: not restricted.
    let own = app.token_for(TokenFor::Station("fr-desk".into())).await;
    let (s, b) = scan_as(&app, &own, "fr-desk", &h.volumes[2]).await;
    assert_eq!((s, &b["accepted"]), (200, &json!(true)), "{b}");
}

#[tokio::test]
async fn a_units_station_takes_its_own_staff_by_home_unit() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    station(
        &app,
        json!({"id": "w4", "location": "4W", "mode": "receive", "locations": ["4W"]}),
    )
    .await;
    let own = app.user("wendy", Role::Nurse, None).await;
    app.set_home("wendy", "4W").await;
    let other = app.user("olga", Role::Nurse, None).await;
    let (s, b) = scan_as(&app, &own, "w4", &h.volumes[0]).await;
    assert_eq!((s, &b["accepted"]), (200, &json!(true)), "{b}");
    let (s, b) = scan_as(&app, &other, "w4", &h.volumes[1]).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        b["error"],
        "Only staff of 4W may use station w4 (you are a nurse with no home unit)"
    );
    // Opened to anyone again: an empty list.
    station(
        &app,
        json!({"id": "w4", "location": "4W", "mode": "receive"}),
    )
    .await;
    let (s, _) = scan_as(&app, &other, "w4", &h.volumes[1]).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_station_with_an_unknown_role_is_refused_and_unchanged() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let (s, b) = app
        .post(
            "/api/v1/stations",
            &app.admin,
            &json!({"id": "w4", "location": "4W", "mode": "check-out", "roles": ["janitor"]}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("janitor"), "{b}");
    let shown = station_view(&app, "w4").await;
    assert_eq!(
        (&shown["mode"], &shown["roles"]),
        (&json!("receive"), &json!([]))
    );
}

#[tokio::test]
async fn the_admin_page_sets_who_may_use_a_station_and_adds_a_desk() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("ada", Role::Admin).await;
    let s = app.sign_in("ada").await;
    let r = app
        .form(
            &s,
            "/admin/locations",
            &[
                ("code", "FR-DESK"),
                ("name", "Check-in desk"),
                ("kind", "desk"),
                ("barcode", ""),
            ],
            Some(&s.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
    let r = app
        .form(
            &s,
            "/admin/stations",
            &[
                ("id", "fr-desk"),
                ("location", "FR-DESK"),
                ("mode", "check-in"),
                ("roles", "Clerk, supervisor"),
                ("locations", "4w"),
            ],
            Some(&s.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
    let shown = station_view(&app, "fr-desk").await;
    assert_eq!(shown["roles"], json!(["clerk", "supervisor"]));
    assert_eq!(shown["locations"], json!(["4W"]));
    let (_, page) = app.page(&s.cookie, "/stations").await;
    assert!(page.contains("clerk, supervisor or staff of 4W"), "{page}");
    let (_, page) = app.page(&s.cookie, "/admin").await;
    assert!(
        page.contains("only clerk, supervisor or staff of 4W"),
        "{page}"
    );

    let r = app
        .form(
            &s,
            "/admin/stations",
            &[
                ("id", "fr-desk"),
                ("location", "FR-DESK"),
                ("mode", "check-in"),
                ("roles", "porter"),
            ],
            Some(&s.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("porter"));
    assert_eq!(
        station_view(&app, "fr-desk").await["roles"],
        json!(["clerk", "supervisor"])
    );
}

#[tokio::test]
async fn configured_stations_carry_who_may_use_them_even_while_waiting_for_their_place() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let config = |id: &str, location: &str| -> StationConfig {
        toml::from_str(&format!(
            "id = {id:?}\nlocation = {location:?}\nmode = \"check-in\"\nroles = [\"clerk\"]\nlocations = [\"4W\"]\n"
        ))
        .unwrap()
    };
    let app = app
        .restart_with_stations(vec![
            config("fr-in", "FR-00-19"),
            config("desk-2", "FR-DESK-2"),
        ])
        .await;
    let shown = station_view(&app, "fr-in").await;
    assert_eq!(
        (&shown["roles"], &shown["locations"]),
        (&json!(["clerk"]), &json!(["4W"]))
    );
    // desk-2 waits for its location; created, it arrives with its access.
    let (s, b) = app
        .post(
            "/api/v1/locations",
            &app.admin,
            &json!({"code": "FR-DESK-2", "name": "Second desk", "kind": "desk"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let shown = station_view(&app, "desk-2").await;
    assert_eq!(
        (&shown["roles"], &shown["locations"]),
        (&json!(["clerk"]), &json!(["4W"]))
    );
}

#[tokio::test]
async fn a_desk_check_in_on_the_scan_page_shows_shelve_at_home_large() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = with_desk(&app).await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[1]).await;
    app.person("clerk", Role::Clerk).await;
    sign_in(b, &app, "clerk").await;
    open_scan_page(b, &app.base, "fr-desk").await;
    wedge(b, &format!("{}\n", h.volumes[1])).await;
    let verdict = text_until(b, "#answer .verdict", "the answer", |t| {
        t.starts_with("Shelve") || t == "Refused" || t == "Done"
    })
    .await;
    assert_eq!(verdict, "Shelve at FR-40-59");
    let class = b
        .find(Locator::Id("answer"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap();
    assert!(class.contains("accepted"), "{class}");
    assert!(!class.contains("warning"), "no warning at a desk: {class}");
    let message = text_until(b, "#answer .message", "the message", |t| !t.is_empty()).await;
    assert!(!message.contains("WRONG SECTION"), "{message}");
    // Large: the biggest type on the page, readable from arm's length.
    let size = b
        .execute(
            "return parseFloat(getComputedStyle(document.querySelector('#answer .verdict')).fontSize);",
            vec![],
        )
        .await
        .unwrap();
    assert!(size.as_f64().unwrap() >= 36.0, "font size {size}");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_nurse_on_the_scan_page_is_refused_a_file_room_station_with_the_reason() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = with_desk(&app).await;
    station(
        &app,
        json!({"id": "fr-desk", "location": "FR-DESK", "mode": "check-in", "roles": ["clerk", "supervisor"]}),
    )
    .await;
    app.person("nina", Role::Nurse).await;
    sign_in(b, &app, "nina").await;

    // The picker offers only what she may drive and names the others with who may.
    b.goto(&format!("{}/scan", app.base)).await.unwrap();
    let others = text_until(b, "ul.not-yours", "the stations for others", |t| {
        t.contains("fr-desk")
    })
    .await;
    assert!(others.contains("only clerk, supervisor"), "{others}");
    let options: Vec<String> = {
        let mut out = Vec::new();
        for o in b
            .find_all(Locator::Css("select[name=station] option"))
            .await
            .unwrap()
        {
            out.push(o.attr("value").await.unwrap().unwrap_or_default());
        }
        out
    };
    assert!(!options.contains(&"fr-desk".to_string()), "{options:?}");
    assert!(options.contains(&"w4".to_string()), "{options:?}");

    // Going to it anyway: the reason, and no scan box.
    b.goto(&format!("{}/scan?station=fr-desk", app.base))
        .await
        .unwrap();
    let why = text_until(b, "#refusal .message", "the refusal", |t| !t.is_empty()).await;
    assert_eq!(
        why,
        "Only clerk, supervisor may use station fr-desk (you are signed in as a nurse)"
    );
    assert!(b.find(Locator::Id("scan-input")).await.is_err());

    // Restricted while her page is open: her scan is refused with the reason, kept, not retried.
    station(
        &app,
        json!({"id": "fr-desk", "location": "FR-DESK", "mode": "check-in"}),
    )
    .await;
    open_scan_page(b, &app.base, "fr-desk").await;
    station(
        &app,
        json!({"id": "fr-desk", "location": "FR-DESK", "mode": "check-in", "roles": ["clerk", "supervisor"]}),
    )
    .await;
    let before = scans_recorded(&app).await;
    wedge(b, &format!("{}\n", h.volumes[0])).await;
    let verdict = text_until(b, "#answer .verdict", "the refusal", |t| t == "Not sent").await;
    assert_eq!(verdict, "Not sent");
    let message = text_until(b, "#answer .message", "the reason", |t| !t.is_empty()).await;
    assert!(
        message.contains("Only clerk, supervisor may use station fr-desk"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let verdict = text_until(b, "#answer .verdict", "still refused", |_| true).await;
    assert_eq!(verdict, "Not sent", "not retried into another answer");
    assert_eq!(scans_recorded(&app).await, before, "nothing recorded");
    let v = app.volume(&h.volumes[0]).await;
    assert_eq!(v["location"]["code"], "FR-00-19");
    b.clone().close().await.unwrap();
}
