//! The access log kept honest outside the database: the running server anchors its head every
//! `anchor_seconds`, shows the newest anchor on the access-log page and in `/metrics`.

use crate::helpers::{start_time, until, TestApp};
use chartrack::clock::Clock;
use chartrack::config::Config;
use chartrack::domain::Role;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_anchors_the_access_log_and_shows_the_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("chartrack.db"),
        anchor_seconds: 1,
        ..Config::default()
    };
    let app = TestApp::spawn_with_config(dir, Clock::manual(start_time()), config).await;
    let h = app.seed().await;
    // Reading a chart writes an access-log entry; the next anchor covers it.
    let (s, _) = app
        .get(&format!("/api/v1/volumes/{}", h.volumes[0]), &app.admin)
        .await;
    assert_eq!(s, 200);
    let entries = |text: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix("chartrack_audit_anchor_entries "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(-1)
    };
    until(
        Duration::from_secs(10),
        "an anchor covering the read",
        || async { entries(&app.metrics().await) >= 1 },
    )
    .await;
    let anchored = entries(&app.metrics().await);
    let file = std::fs::read_to_string(app.dir.path().join("chartrack.db.anchors")).unwrap();
    assert!(
        file.lines()
            .last()
            .unwrap()
            .contains(&format!("\"entries\":{anchored}")),
        "{file}"
    );
    app.person("sue", Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    let (s, html) = app.page(&sue.cookie, "/access-log?verify=now").await;
    assert_eq!(s, 200);
    assert!(html.contains("Chain intact"), "{html}");
    assert!(
        html.contains("Agrees with the newest anchor: entry"),
        "{html}"
    );
}

/// The access-log page lists 300 entries at a time, newest first, and pages to older ones,
/// with and without a subject; a page this server never gave is refused. (Before, it showed
/// the newest 300 of 192,499 with no way back: fresh-eyes tester.)
#[tokio::test]
async fn the_access_log_page_pages_to_older_entries() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    for _ in 0..310 {
        let (s, _) = app
            .get(&format!("/api/v1/volumes/{}", h.volumes[0]), &app.admin)
            .await;
        assert_eq!(s, 200);
    }
    app.person("sue", Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    let entries = |html: &str| -> Vec<i64> {
        html.split("<tbody>")
            .nth(1)
            .unwrap_or("")
            .split("<tr><td>")
            .skip(1)
            .filter_map(|t| t.split('<').next()?.parse().ok())
            .collect()
    };
    let subject = format!("subject={}", h.volumes[0]);
    let (s, first) = app
        .page(&sue.cookie, &format!("/access-log?{subject}"))
        .await;
    assert_eq!(s, 200);
    let newest = entries(&first);
    assert_eq!(newest.len(), 300);
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "newest first");
    let older = format!(
        "href=\"/access-log?before={}&amp;{subject}\">Older →",
        newest[299]
    );
    assert!(first.contains(&older), "{first}");
    let (s, second) = app
        .page(
            &sue.cookie,
            &format!("/access-log?before={}&{subject}", newest[299]),
        )
        .await;
    assert_eq!(s, 200);
    let rest = entries(&second);
    assert_eq!(rest.len(), 10, "{second}");
    assert!(rest[0] < newest[299]);
    assert!(!second.contains("Older →"));
    assert!(second.contains("← Newest"));
    // The whole log pages too.
    let (_, all) = app.page(&sue.cookie, "/access-log").await;
    assert!(all.contains("Older →"), "{all}");
    let (s, body) = app.page(&sue.cookie, "/access-log?before=garbage").await;
    assert_eq!(s, 400);
    assert!(body.contains("not a page of the access log"), "{body}");
}

/// A search with a control character in it (a paste or scanner artefact) is refused on the
/// page and in the API, and nothing of it reaches the access log. (Before, a NUL was searched,
/// logged and shown raw on the access-log page: fresh-eyes tester.)
#[tokio::test]
async fn a_search_with_a_control_character_is_refused_and_not_logged() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("sue", Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    let logged = |app: &TestApp| -> i64 {
        rusqlite::Connection::open(&app.db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM access_log WHERE action = 'search'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let before = logged(&app);
    for q in ["%00", "Smith%07", "%1B%5B31m"] {
        let (s, body) = app.page(&sue.cookie, &format!("/?q={q}")).await;
        assert_eq!(s, 400, "{q}");
        assert!(body.contains("control character"), "{body}");
        let (s, body) = app.get(&format!("/api/v1/search?q={q}"), &app.admin).await;
        assert_eq!(s, 400, "{q}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("control character"),
            "{body}"
        );
    }
    assert_eq!(logged(&app), before);
    // An ordinary search still works and is logged.
    let (s, _) = app.page(&sue.cookie, "/?q=Smith").await;
    assert_eq!(s, 200);
    assert_eq!(logged(&app), before + 1);
}
