//! Local time (`timezone` in chartrack.toml): stored in UTC, shown and entered in the
//! hospital's zone, through the pages a nurse uses. The refusal of an unknown zone at start is
//! in `cli.rs` (the real binary).

use crate::helpers::*;
use chartrack::clock::Clock;
use chartrack::config::Config;
use chartrack::domain::Role;
use serde_json::Value;

/// A server whose `timezone` is `zone` (the manual clock starts at 2026-03-02 08:00 UTC,
/// 02:00 CST in Chicago).
async fn spawn_in(zone: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&format!(
        "listen = \"127.0.0.1:0\"\ndatabase = {:?}\ntimezone = {zone:?}\n",
        dir.path().join("chartrack.db")
    ))
    .unwrap();
    TestApp::spawn_with_config(dir, Clock::manual(start_time()), config).await
}

fn location_of(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A nurse asks for `volume` at 4W from the page with `needed_by` as the browser's
/// `datetime-local` field sends it; returns the request as the API gives it, and the page the
/// nurse is sent back to (which says what was done).
async fn request_from_the_page(
    app: &TestApp,
    nurse: &Session,
    volume: &str,
    needed_by: &str,
) -> (Value, String) {
    let r = app
        .form(
            nurse,
            "/requests",
            &[
                ("volume", volume),
                ("location", "4W"),
                ("priority", "routine"),
                ("needed_by", needed_by),
            ],
            Some(&nurse.csrf),
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let back = location_of(&r);
    let (s, page) = app.page(&nurse.cookie, &back).await;
    assert_eq!(s, 200, "{page}");
    let (_, all) = app.get("/api/v1/requests", &app.admin).await;
    let newest = all
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|r| r["id"].as_i64().unwrap())
        .unwrap()
        .clone();
    let (s, one) = app
        .get(&format!("/api/v1/requests/{}", newest["id"]), &app.admin)
        .await;
    assert_eq!(s, 200, "{one}");
    (one, page)
}

async fn nurse_on(app: &TestApp) -> Session {
    app.person("nurse1", Role::Nurse).await;
    app.sign_in("nurse1").await
}

#[tokio::test]
async fn a_needed_by_entered_in_chicago_is_stored_in_utc_and_shown_back_in_chicago_time() {
    let app = spawn_in("America/Chicago").await;
    let h = app.seed().await;
    let nurse = nurse_on(&app).await;

    let (s, form) = app
        .page(&nurse.cookie, "/requests?location=4W&q=Ashdown")
        .await;
    assert_eq!(s, 200);
    assert!(
        form.contains("Needed by (America/Chicago"),
        "the form says which zone the time is in: {form}"
    );

    // 14:30 on 2 March in Chicago is CST (UTC−6): 20:30 UTC.
    let (req, _) = request_from_the_page(&app, &nurse, &h.volumes[0], "2026-03-02T14:30").await;
    assert_eq!(req["needed_by"], "2026-03-02T20:30:00.000Z", "{req}");

    // Shown back in Chicago time with the zone named, wherever the pages show it.
    let id = &req["id"];
    let (_, page) = app.page(&nurse.cookie, &format!("/requests/{id}")).await;
    assert!(page.contains("2026-03-02 14:30 CST"), "needed by: {page}");
    assert!(
        page.contains("2026-03-02 02:00 CST"),
        "requested (08:00 UTC): {page}"
    );
    assert!(!page.contains(" UTC"), "{page}");
    let (_, floor) = app
        .page(&nurse.cookie, "/requests?location=4W&part=list")
        .await;
    assert!(floor.contains("2026-03-02 14:30 CST"), "{floor}");
    app.person("clerk1", Role::Clerk).await;
    let clerk = app.sign_in("clerk1").await;
    let (_, pull) = app.page(&clerk.cookie, "/pull-list").await;
    assert!(pull.contains("Needed by 2026-03-02 14:30 CST"), "{pull}");
    assert!(!pull.contains(" UTC"), "{pull}");

    // A scan and the volume's page: the last scan and the timeline in local time; the live feed
    // line too.
    app.clock.advance(chrono::Duration::minutes(5));
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[1]).await;
    let (_, vol) = app
        .page(&nurse.cookie, &format!("/volumes/{}", h.volumes[1]))
        .await;
    assert!(vol.contains("2026-03-02 02:05 CST"), "{vol}");
    assert!(!vol.contains(" UTC"), "{vol}");
    let (_, dash) = app.page(&nurse.cookie, "/").await;
    assert!(dash.contains("02:05:00 CST"), "live feed: {dash}");

    // The CSV says which zone its times are in: local time with its offset.
    app.person("him1", Role::Supervisor).await;
    let him = app.sign_in("him1").await;
    let (_, csv) = app
        .page(&him.cookie, "/reports/pending-requests?format=csv")
        .await;
    assert!(csv.contains(",2026-03-02T14:30:00-06:00,"), "{csv}");
    assert!(csv.contains(",2026-03-02T02:00:00-06:00,"), "{csv}");
    assert!(
        !csv.contains(".000Z"),
        "no stored UTC stamp left in the file: {csv}"
    );
    let (_, report) = app.page(&him.cookie, "/reports/charged-out").await;
    assert!(report.contains("2026-03-02 02:05 CST"), "{report}");
}

#[tokio::test]
async fn a_needed_by_the_spring_forward_skips_moves_to_the_jump_and_says_so() {
    let app = spawn_in("America/Chicago").await;
    let h = app.seed().await;
    let nurse = nurse_on(&app).await;
    // 2026-03-08 in Chicago: 02:00 CST jumps to 03:00 CDT (08:00 UTC); 02:30 never happens.
    let (req, back) = request_from_the_page(&app, &nurse, &h.volumes[0], "2026-03-08T02:30").await;
    assert_eq!(req["needed_by"], "2026-03-08T08:00:00.000Z", "{req}");
    assert!(
        back.contains("2026-03-08 02:30 does not exist in America/Chicago"),
        "the nurse is told: {back}"
    );
    assert!(back.contains("Taken as 2026-03-08 03:00 CDT"), "{back}");
    let (_, page) = app
        .page(&nurse.cookie, &format!("/requests/{}", req["id"]))
        .await;
    assert!(page.contains("2026-03-08 03:00 CDT"), "{page}");
}

#[tokio::test]
async fn a_needed_by_the_fall_back_repeats_is_the_first_and_shows_its_offset() {
    let app = spawn_in("America/Chicago").await;
    let h = app.seed().await;
    let nurse = nurse_on(&app).await;
    // 2026-11-01 in Chicago: 02:00 CDT goes back to 01:00 CST; 01:30 happens at 06:30 and
    // 07:30 UTC. The first is taken.
    let (req, back) = request_from_the_page(&app, &nurse, &h.volumes[0], "2026-11-01T01:30").await;
    assert_eq!(req["needed_by"], "2026-11-01T06:30:00.000Z", "{req}");
    assert!(
        back.contains("2026-11-01 01:30 happens twice in America/Chicago"),
        "the nurse is told: {back}"
    );
    assert!(
        back.contains("the first, 2026-11-01 01:30 CDT (not 2026-11-01 01:30 CST)"),
        "{back}"
    );
    let (_, page) = app
        .page(&nurse.cookie, &format!("/requests/{}", req["id"]))
        .await;
    assert!(page.contains("2026-11-01 01:30 CDT"), "{page}");

    // An ordinary time is taken as entered, with no note.
    let (req, back) = request_from_the_page(&app, &nurse, &h.volumes[1], "2026-11-01T03:30").await;
    assert_eq!(req["needed_by"], "2026-11-01T09:30:00.000Z", "{req}");
    assert!(!back.contains("Taken as"), "{back}");
}

#[tokio::test]
async fn a_server_in_utc_still_takes_and_shows_utc() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let nurse = nurse_on(&app).await;
    let (req, _) = request_from_the_page(&app, &nurse, &h.volumes[0], "2026-03-08T02:30").await;
    assert_eq!(req["needed_by"], "2026-03-08T02:30:00.000Z", "{req}");
    let (_, page) = app
        .page(&nurse.cookie, &format!("/requests/{}", req["id"]))
        .await;
    assert!(page.contains("2026-03-08 02:30 UTC"), "{page}");
    assert!(page.contains("2026-03-02 08:00 UTC"), "{page}");
    app.person("him1", Role::Supervisor).await;
    let him = app.sign_in("him1").await;
    let (_, csv) = app
        .page(&him.cookie, "/reports/pending-requests?format=csv")
        .await;
    assert!(csv.contains(",2026-03-08T02:30:00Z,"), "{csv}");
}
