//! Behaviour that keeps chartrack fast at a million charts (issue 18), checked for being right:
//! the counts kept by the database (by status, by place, activity by day) agree with the rows
//! they count, a location's list pages on
//! with a cursor, and the whole-file integrity check runs in the background instead of before
//! serving (a damaged file still starts and says so on /healthz).

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Every kept count, compared with a count of the rows themselves.
fn counts_agree(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let wrong: Vec<(String, i64, i64)> = c
        .prepare(
            "SELECT t.name, t.n, (SELECT count(*) FROM volume_state s WHERE 'status:' || s.status = t.name)
             FROM tally t WHERE t.name LIKE 'status:%'
             UNION ALL SELECT 'scans', (SELECT n FROM tally WHERE name = 'scans'), (SELECT count(*) FROM scan)
             UNION ALL SELECT 'accepted', (SELECT n FROM tally WHERE name = 'scans_accepted'), (SELECT count(*) FROM scan WHERE accepted)
             UNION ALL SELECT 'activity scans ' || x.station_id, (SELECT sum(scans) FROM activity_station a WHERE a.station_id = x.station_id), count(*)
                 FROM scan x GROUP BY x.station_id
             UNION ALL SELECT 'activity accepted ' || x.station_id, (SELECT sum(accepted) FROM activity_station a WHERE a.station_id = x.station_id), sum(x.accepted)
                 FROM scan x GROUP BY x.station_id
             UNION ALL SELECT 'activity scans of ' || coalesce(x.user_id, 0), (SELECT sum(scans) FROM activity_user a WHERE a.user_id = coalesce(x.user_id, 0)), count(*)
                 FROM scan x GROUP BY coalesce(x.user_id, 0)
             UNION ALL SELECT 'activity movements of ' || coalesce(x.user_id, 0), (SELECT sum(movements) FROM activity_user a WHERE a.user_id = coalesce(x.user_id, 0)), count(*)
                 FROM movement x GROUP BY coalesce(x.user_id, 0)
             UNION ALL SELECT 'activity movements', (SELECT coalesce(sum(movements), 0) FROM activity_station), (SELECT count(*) FROM movement)
             UNION ALL SELECT 'here ' || l.code, n.here,
                 (SELECT count(*) FROM volume_state s WHERE s.location_id = l.location_id AND s.status IN ('on_shelf','at_location'))
                 FROM location l JOIN place_count n ON n.location_id = l.location_id
             UNION ALL SELECT 'incoming ' || l.code, n.incoming,
                 (SELECT count(*) FROM volume_state s WHERE s.destination_id = l.location_id AND s.status = 'in_transit')
                 FROM location l JOIN place_count n ON n.location_id = l.location_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(_, kept, real)| kept != real)
        .collect();
    assert!(wrong.is_empty(), "kept counts that disagree: {wrong:?}");
    let places: i64 = c
        .query_row(
            "SELECT count(*) FROM location WHERE location_id NOT IN (SELECT location_id FROM place_count)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(places, 0, "every location has its counts");
}

#[tokio::test]
async fn the_kept_counts_follow_every_move_and_the_pages_show_them() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    counts_agree(&app.db);
    let v = &h.volumes;
    for (station, value) in [
        ("fr-out", h.loc["4W"].as_str()),
        ("fr-out", v[0].as_str()),
        ("fr-out", v[1].as_str()),
        ("w4", v[0].as_str()),
        ("fr-in", "NOT-A-CHART-99"),
        ("w4-transfer", h.loc["CARD"].as_str()),
        ("w4-transfer", v[0].as_str()),
    ] {
        app.scan(station, value).await;
        counts_agree(&app.db);
    }
    // v0 handed over at the clinic, v1 on its way to 4 West, v2 on its shelf.
    let (s, locs) = app.get("/api/v1/locations", &app.admin).await;
    assert_eq!(s, 200);
    let of = |code: &str| -> (u64, u64) {
        let l = locs
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == code)
            .unwrap();
        (l["here"].as_u64().unwrap(), l["incoming"].as_u64().unwrap())
    };
    assert_eq!(of("CARD"), (1, 0));
    assert_eq!(of("4W"), (0, 1));
    assert_eq!(of("FR-00-19"), (1, 0));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("chartrack_volumes{status=\"in_transit\"} 1"),
        "{metrics}"
    );
    for (station, value) in [
        ("card", v[0].as_str()),
        ("w4", v[1].as_str()),
        ("fr-in", v[0].as_str()),
    ] {
        app.scan(station, value).await;
        counts_agree(&app.db);
    }
    let (_, locs) = app.get("/api/v1/locations", &app.admin).await;
    let l = |code: &str| {
        locs.as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == code)
            .cloned()
            .unwrap()
    };
    assert_eq!(l("4W")["here"], 1);
    assert_eq!(l("CARD")["here"], 0);
}

#[tokio::test]
async fn a_location_lists_newest_first_and_pages_on_with_its_cursor() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    // Two volumes go out to 4 West a minute apart; the newest is listed first.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.clock.advance(chrono::Duration::minutes(1));
    app.scan("fr-out", &h.volumes[2]).await;
    let (s, first) = app.get("/api/v1/locations/4W?limit=1", &app.admin).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(first["volumes"][0]["barcode"], h.volumes[2].as_str());
    let next = first["next"]
        .as_str()
        .expect("a cursor while more are there");
    let (s, second) = app
        .get(
            &format!("/api/v1/locations/4W?limit=1&after={}", urlencode(next)),
            &app.admin,
        )
        .await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["volumes"][0]["barcode"], h.volumes[0].as_str());
    assert!(second.get("next").is_none(), "the last page: {second}");
    let (s, all) = app.get("/api/v1/locations/4W", &app.admin).await;
    assert_eq!(s, 200);
    let listed: Vec<&Value> = all["volumes"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 2);
    assert!(all.get("next").is_none());
    // A cursor this server never gave is refused, not guessed at.
    let (s, body) = app
        .get("/api/v1/locations/4W?after=yesterday", &app.admin)
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("after"), "{body}");
    // The page: its "Older" link leads to the rest.
    app.person("sue", chartrack::domain::Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    let (s, page) = app.page(&sue.cookie, "/locations/4W").await;
    assert_eq!(s, 200);
    assert!(page.contains("2 on the way"), "{page}");
    // The page refuses a cursor it never gave too, rather than show the first page again
    // (fresh-eyes tester).
    for bad in ["garbage", "~", "%00", "9999~99999999999999999999"] {
        let (s, body) = app
            .page(&sue.cookie, &format!("/locations/4W?after={bad}"))
            .await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert!(body.contains("not a page of this list"), "{body}");
    }
    // A code typed in another case leads to the location (fresh-eyes tester: "/locations/9n"
    // was a 404); a code no location has is still one.
    let r = app
        .browser_like()
        .get(format!("{}/locations/4w", app.base))
        .header("Cookie", &sue.cookie)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/locations/4W");
    let (s, _) = app.page(&sue.cookie, "/locations/NOPE").await;
    assert_eq!(s, 404);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_damaged_file_still_starts_and_healthz_says_so() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    // Enough volumes for the patient-name index to span pages of its own.
    for i in 0..400 {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": format!("{:06}", 200_000 + i), "last_name": format!("Name{i:04}"), "first_name": "Test", "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (dir, db, clock) = app.stop().await;
    damage_index_root(&db, "patient_name");
    let app = TestApp::spawn_on(dir, db, clock).await;
    // It serves: a chart is found by its barcode while the check runs or after.
    let v = app.volume(&h.volumes[0]).await;
    assert_eq!(v["barcode"], h.volumes[0].as_str());
    until(
        Duration::from_secs(20),
        "the background integrity check",
        || async {
            let r = app
                .http
                .get(format!("{}/healthz", app.base))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            body["integrity"] == "damaged" && status == 503
        },
    )
    .await;
    let (_, health) = app.get("/healthz", &app.admin).await;
    assert!(
        health["down"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "integrity"),
        "{health}"
    );
    assert!(app
        .metrics()
        .await
        .contains("chartrack_database_integrity_ok 0"));
}

/// A scan's whole answer is kept a month for a resend of its id, then dropped (three quarters
/// of the bytes of every movement); the scan, its movement and the answer's outcome stay, and a
/// late resend is still answered as the same scan, never recorded twice.
#[tokio::test]
async fn a_resend_after_the_answer_is_dropped_is_still_the_same_scan() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"station": "fr-out", "barcode": h.volumes[0], "id": id});
    let (s, first) = app.post("/api/v1/scans", &app.admin, &body).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["moved"], 1);
    let (_, again) = app.post("/api/v1/scans", &app.admin, &body).await;
    assert_eq!(
        again, first,
        "within the month: the same answer, word for word"
    );

    // A day short of the keeping time nothing goes; past it, the answers do.
    app.clock.advance(chrono::Duration::days(30));
    let store = app.store.clone();
    let n = tokio::task::spawn_blocking(move || store.prune_answers_blocking())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
    // A scan on day 30: still within its month when the first two pass theirs.
    app.scan("fr-out", &h.loc["4W"]).await;
    app.clock.advance(chrono::Duration::days(2));
    let store = app.store.clone();
    let n = tokio::task::spawn_blocking(move || store.prune_answers_blocking())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 2, "the location scan's answer and the volume's");
    let kept: i64 = rusqlite::Connection::open(&app.db)
        .unwrap()
        .query_row("SELECT count(*) FROM scan_answer", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 1, "day 30's answer is kept");

    let (s, late) = app.post("/api/v1/scans", &app.admin, &body).await;
    assert_eq!(s, 200, "{late}");
    assert_eq!(late["scan_id"], first["scan_id"]);
    assert_eq!(late["accepted"], first["accepted"]);
    assert_eq!(late["action"], first["action"]);
    assert_eq!(late["at"], first["at"]);
    assert_eq!(late["moved"], 1);
    assert!(
        late["message"].as_str().unwrap().contains("recorded on"),
        "{late}"
    );
    // Recorded once: one movement by that scan, the volume still out once.
    let movements = app.movements(&h.volumes[0]).await;
    assert_eq!(movements.len(), 1, "{movements:?}");
    // The same id for another barcode is still a conflict.
    let (s, _) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "fr-out", "barcode": h.volumes[1], "id": id}),
        )
        .await;
    assert_eq!(s, 409);
}

/// A surname shared by more charts than a search counts: the first pages are there, the count
/// says "more than 1000" and asks for a first name or date of birth, and no page starts past
/// the counted matches (reading to it would read them all).
#[tokio::test]
async fn a_common_surname_is_counted_to_a_thousand_and_narrowed_not_paged_through() {
    use chartrack::store::admin;
    let app = TestApp::spawn().await;
    app.seed().await;
    let now = app.clock.now();
    app.store
        .write(move |c| {
            for i in 0..1_005 {
                let v = admin::NewVolume {
                    barcode: None,
                    mrn: chartrack::domain::Mrn::parse(&format!("7{i:05}")).unwrap(),
                    last_name: "Commonname".into(),
                    first_name: format!("P{i:04}"),
                    birth_date: None,
                    volume: 1,
                    record_type: "medical".into(),
                    home: chartrack::domain::LocationCode::parse("FR-00-19").unwrap(),
                    restricted: false,
                };
                admin::create_volume(c, &v, now)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    app.person("bo", chartrack::domain::Role::Clerk).await;
    let s = app.sign_in("bo").await;
    let (status, html) = app.page(&s.cookie, "/?q=commonname").await;
    assert_eq!(status, 200);
    assert!(html.contains("Showing 1–100 of more than 1000"), "{html}");
    assert!(html.contains("add a first name or date of birth"), "{html}");
    let (_, html) = app.page(&s.cookie, "/?q=commonname&page=10").await;
    assert!(
        html.contains("Showing 901–1000 of more than 1000"),
        "{html}"
    );
    let (_, html) = app.page(&s.cookie, "/?q=commonname&page=11").await;
    assert!(
        html.contains("More than 1000 found; only the first 1000 are listed"),
        "{html}"
    );
    // Narrowed, the count is exact again.
    let (_, html) = app.page(&s.cookie, "/?q=commonname, P000").await;
    assert!(html.contains("10 found"), "{html}");
}
