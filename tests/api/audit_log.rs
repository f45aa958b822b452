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
