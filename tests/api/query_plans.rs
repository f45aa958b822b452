//! No page, API list or scan reads every row of a large table (issue 18): the real server logs
//! every statement its writer and readers run while a supervisor opens every page and list and
//! stations scan through a day's workflow; SQLite's `EXPLAIN QUERY PLAN` of each must show no
//! full `SCAN` of volume, volume_state, movement, scan or access_log, nor a limited walk that
//! passes over most of what it reads (the request history under a list of open requests). At
//! 50,000 charts such a scan is fast; at a million it is a second per page.

use crate::helpers::*;
use chartrack::auth::Policy;
use chartrack::clock::Clock;
use chartrack::config::Config;
use chartrack::domain::Role;
use chartrack::store::plans::{full_scans, StatementLog};
use serde_json::json;

#[tokio::test]
async fn no_page_list_or_scan_reads_every_row_of_a_large_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("chartrack.db"),
        ..Config::default()
    };
    let log = StatementLog::default();
    let app =
        TestApp::spawn_logging(dir, Clock::manual(start_time()), config, Some(log.clone())).await;
    let h = app.seed().await;
    app.person("sup", Role::Admin).await;
    let s = app.sign_in("sup").await;
    // A history of requests cancelled, as a hospital's years of delivered and cancelled ones:
    // a list of the few still open must not walk them (it did, newest first, with an OR in
    // its WHERE that kept SQLite from the status index).
    for _ in 0..40 {
        let (status, r) = app
            .post(
                "/api/v1/requests",
                &app.admin,
                &json!({"barcode": h.volumes[2], "location": "CARD", "priority": "routine"}),
            )
            .await;
        assert_eq!(status, 201, "{r}");
        let (status, r) = app
            .post(
                &format!("/api/v1/requests/{}/cancel", r["id"]),
                &app.admin,
                &json!({"reason": "no_longer_needed"}),
            )
            .await;
        assert_eq!(status, 200, "{r}");
    }
    // Startup and setup are not what is checked: pages, lists and scans are.
    log.take();

    // A day's scans: out, received, transferred, back, filed, refused, unknown, repeated.
    let v = &h.volumes;
    for (station, value) in [
        ("fr-out", h.loc["4W"].as_str()),
        ("fr-out", v[0].as_str()),
        ("fr-out", v[1].as_str()),
        ("w4", v[0].as_str()),
        ("w4-transfer", h.loc["CARD"].as_str()),
        ("w4-transfer", v[0].as_str()),
        ("card", v[0].as_str()),
        ("fr-in", v[0].as_str()),
        ("fr-file", v[0].as_str()),
        ("fr-in", "NOT-A-CHART-99"),
        ("fr-in", v[2].as_str()),
    ] {
        app.scan(station, value).await;
    }
    let id = uuid::Uuid::new_v4().to_string();
    for _ in 0..2 {
        let (status, body) = app
            .post(
                "/api/v1/scans",
                &app.admin,
                &json!({"station": "fr-in", "barcode": v[1], "id": id}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let r = app
        .form(
            &s,
            "/requests",
            &[
                ("volume", v[2].as_str()),
                ("location", "4W"),
                ("priority", "routine"),
            ],
            Some(&s.csrf),
        )
        .await;
    assert!(r.status().as_u16() < 400, "request: {}", r.status());

    // Every page and list a person or a program reads, as a supervisor sees it.
    let mut urls: Vec<String> = Vec::new();
    for rule in chartrack::server::routes().rules() {
        let open = matches!(rule.policy, Policy::User(_) | Policy::Any);
        if rule.method != "GET" || !open || rule.path.contains("events") {
            continue;
        }
        urls.push(fill_route(rule.path, &v[0]));
    }
    for q in [
        "/?q=Ashdown",
        "/?q=ash",
        "/?q=123405",
        "/?q=999999",
        "/?q=Test Ashdown",
        "/?q=Ashdown, T",
        "/?q=Ashdown 1970-01-01",
        "/?q=ash&page=2",
        "/?part=counts",
        "/requests?location=4W",
        "/requests?location=4W&part=list",
        "/requests?location=CARD",
        "/pull-list?page=2",
        "/pull-list?all=true",
        "/api/v1/requests?active=true",
        "/api/v1/requests?active=true&location=4W",
        "/api/v1/requests?location=4W",
        "/api/v1/requests?location=4W&since=2020-01-01T00:00:00Z",
        "/api/v1/requests?since=2020-01-01T00:00:00Z",
        "/reports/pending-requests?sort=patient",
        "/requests?q=ash",
        "/exceptions?all=true",
        "/access-log?subject=4W",
        "/locations/FR-00-19",
        "/api/v1/search?q=ash",
        "/api/v1/search?q=123405",
        "/api/v1/exceptions?open=false",
        "/api/v1/locations/FR-00-19",
        "/api/v1/volumes/NOT-A-CHART/movements",
    ] {
        urls.push(q.to_owned());
    }
    for r in chartrack::store::reports::Report::ALL {
        urls.push(format!("/reports/{}", r.slug()));
    }
    for url in &urls {
        let r = app
            .browser_like()
            .get(format!("{}{url}", app.base))
            .header("Cookie", &s.cookie)
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "GET {url}: {}", r.status());
    }

    let statements = log.take();
    assert!(
        statements.len() > 50,
        "the log holds what ran: {}",
        statements.len()
    );
    let c = rusqlite::Connection::open(&app.db).unwrap();
    let found = full_scans(&c, &statements).unwrap();
    let listed: Vec<String> = found
        .iter()
        .map(|f| format!("{}\n    plan: {}", f.sql, f.plan))
        .collect();
    assert!(
        found.is_empty(),
        "{} statement(s) read every row of a large table:\n{}",
        found.len(),
        listed.join("\n")
    );
}
