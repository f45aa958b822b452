//! The workflows' pages over HTTP as a browser sends them: forms with the anti-forgery token,
//! the printable pull list and its slips, the reports and their CSV.

use crate::helpers::*;
use chartrack::domain::Role;
use serde_json::json;

fn location_of(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_nurse_requests_all_of_a_patients_volumes_from_the_floor_page() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    // A second volume for patient 123405.
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "123405", "last_name": "Ashdown", "first_name": "Test", "home": "FR-00-19", "volume": 2}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    app.person("nurse1", Role::Nurse).await;
    let nurse = app.sign_in("nurse1").await;

    let (s, page) = app
        .page(&nurse.cookie, "/requests?location=4W&q=Ashdown")
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("value=\"mrn:123405\""),
        "all volumes can be chosen: {page}"
    );
    assert!(page.contains(&h.volumes[0]), "{page}");

    // A bad needed-by time is refused and nothing is requested.
    let r = app
        .form(
            &nurse,
            "/requests",
            &[
                ("volume", "mrn:123405"),
                ("location", "4W"),
                ("priority", "stat"),
                ("needed_by", "soon"),
            ],
            Some(&nurse.csrf),
        )
        .await;
    assert_eq!(r.status(), 400);
    let (_, all) = app.get("/api/v1/requests", &app.admin).await;
    assert_eq!(all.as_array().unwrap().len(), 0);
    // Without the anti-forgery token: refused.
    let r = app
        .form(
            &nurse,
            "/requests",
            &[
                ("volume", "mrn:123405"),
                ("location", "4W"),
                ("priority", "stat"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 403);

    let r = app
        .form(
            &nurse,
            "/requests",
            &[
                ("volume", "mrn:123405"),
                ("location", "4W"),
                ("priority", "stat"),
                ("needed_by", "2026-03-02T10:30"),
                ("reason", "OR at 11"),
            ],
            Some(&nurse.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        location_of(&r).starts_with("/requests?location=4W&done="),
        "{}",
        location_of(&r)
    );
    let (_, all) = app.get("/api/v1/requests", &app.admin).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2, "one request per volume");
    assert!(all
        .iter()
        .all(|r| r["priority"] == "stat" && r["needed_by"] == "2026-03-02T10:30:00.000Z"));
    assert!(all.iter().all(|r| r["requested"]["by"] == "nurse1"));

    // The floor page lists them, live; the list part is what the page refetches.
    let (s, page) = app.page(&nurse.cookie, "/requests?location=4W").await;
    assert_eq!(s, 200);
    assert!(
        page.contains("data-requests=\"/events/requests?location=4W\""),
        "{page}"
    );
    let (s, part) = app
        .page(&nurse.cookie, "/requests?location=4W&part=list")
        .await;
    assert_eq!(s, 200);
    assert!(part.starts_with("<div id=\"request-list\">"), "{part}");
    assert_eq!(
        part.matches("<tr class=\"request\" data-status=\"open\"")
            .count(),
        2,
        "{part}"
    );

    // Cancelled from the page with a coded reason.
    let id = all[0]["id"].to_string();
    let r = app
        .form(
            &nurse,
            &format!("/requests/{id}/cancel"),
            &[("reason", "clinic_cancelled")],
            Some(&nurse.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, one) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(one["status"], "cancelled");
    assert_eq!(one["end_reason"], "clinic_cancelled");
}

#[tokio::test]
async fn the_pull_list_prints_a_slip_per_request_whose_barcode_scans_as_the_destination() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("clerk1", Role::Clerk).await;
    let clerk = app.sign_in("clerk1").await;
    let (_, routine) = app
        .post(
            "/api/v1/requests",
            &app.admin,
            &json!({"barcode": h.volumes[2], "location": "CARD", "priority": "routine"}),
        )
        .await;
    let (_, stat) = app
        .post(
            "/api/v1/requests",
            &app.admin,
            &json!({"barcode": h.volumes[0], "location": "4W", "priority": "stat"}),
        )
        .await;
    let (s, page) = app.page(&clerk.cookie, "/pull-list").await;
    assert_eq!(s, 200, "{page}");
    let stat_slip = stat["barcode"].as_str().unwrap();
    let routine_slip = routine["barcode"].as_str().unwrap();
    let first = page.find(stat_slip).unwrap();
    let second = page.find(routine_slip).unwrap();
    assert!(first < second, "STAT first");
    assert_eq!(page.matches("<article class=\"slip\">").count(), 2);
    assert!(page.contains("<svg"), "each slip carries its barcode");
    assert!(page.contains("data-print"), "{page}");

    // The slip's barcode, scanned at check-out, sends the volume to the requester.
    app.scan("fr-out", stat_slip).await;
    let a = app.scan("fr-out", &h.volumes[0]).await;
    assert_eq!(a["volume"]["destination"]["code"], "4W", "{a}");
    let (_, page) = app.page(&clerk.cookie, "/pull-list").await;
    assert!(
        !page.contains(stat_slip),
        "a pulled request leaves the list"
    );
    // A nurse cannot open the pull list.
    app.person("nurse1", Role::Nurse).await;
    let nurse = app.sign_in("nurse1").await;
    let (s, _) = app.page(&nurse.cookie, "/pull-list").await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn supervisor_pages_mark_missing_show_found_and_export_reports() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("him1", Role::Supervisor).await;
    let him = app.sign_in("him1").await;
    let v = &h.volumes[0];
    let r = app
        .form(
            &him,
            "/missing",
            &[("barcode", v), ("reason", "other")],
            Some(&him.csrf),
        )
        .await;
    assert_eq!(r.status(), 422, "'other' needs a note");
    let r = app
        .form(
            &him,
            "/missing",
            &[("barcode", v), ("reason", "not_on_shelf")],
            Some(&him.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    let (s, page) = app.page(&him.cookie, "/missing").await;
    assert_eq!(s, 200);
    assert!(page.contains("not found on shelf"), "{page}");
    let (_, csv) = app.page(&him.cookie, "/reports/missing?format=csv").await;
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("volume,patient,mrn,reason"),
        "{csv}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{v},\"Ashdown, Test\",123405,not_on_shelf")),
        "{csv}"
    );

    // Found by a scan: the dashboard tells the supervisor, the page acknowledges it.
    app.scan("fr-in", v).await;
    let (_, dash) = app.page(&him.cookie, "/").await;
    assert!(dash.contains("found: tell the supervisor"), "{dash}");
    let (_, page) = app.page(&him.cookie, "/missing").await;
    let ack = page
        .split("action=\"/missing/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an acknowledge form")
        .to_owned();
    let r = app
        .form(&him, &format!("/missing/{ack}"), &[], Some(&him.csrf))
        .await;
    assert_eq!(r.status(), 303);
    let (_, dash) = app.page(&him.cookie, "/").await;
    assert!(!dash.contains("found: tell the supervisor"));

    // Every report renders and exports; its view is in the access log.
    for name in [
        "charged-out",
        "overdue",
        "missing",
        "pending-requests",
        "turnaround",
        "loose-reports",
        "misfiles",
        "activity",
    ] {
        let (s, page) = app.page(&him.cookie, &format!("/reports/{name}")).await;
        assert_eq!(s, 200, "{name}: {page}");
        let (s, csv) = app
            .page(&him.cookie, &format!("/reports/{name}?format=csv&days=7"))
            .await;
        assert_eq!(s, 200, "{name}");
        assert!(csv.lines().count() >= 1, "{name}: a header at least");
    }
    let (s, _) = app.page(&him.cookie, "/reports/activity?days=0").await;
    assert_eq!(s, 400);
    let (s, _) = app.page(&him.cookie, "/reports/nothing").await;
    assert_eq!(s, 404);
    let log = app.access_log().await;
    assert!(log.iter().any(|(actor, action, subject, _)| actor == "him1"
        && action == "report"
        && subject == "activity"));
}

#[tokio::test]
async fn overdue_is_by_holder_after_the_loan_period_of_its_kind() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("him1", Role::Supervisor).await;
    // One to the clinic (1 day), one to the unit (3 days).
    app.scan("fr-out", &h.loc["CARD"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.scan("card", &h.volumes[0]).await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[2]).await;
    app.scan("w4", &h.volumes[2]).await;
    app.clock.advance(chrono::Duration::hours(50));
    let him = app.sign_in("him1").await;
    let (_, csv) = app.page(&him.cookie, "/reports/overdue?format=csv").await;
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(
        rows[0].starts_with(&format!("CARD,CARD name,clinic,{}", h.volumes[0])),
        "{csv}"
    );
    let (_, csv) = app
        .page(&him.cookie, "/reports/charged-out?format=csv")
        .await;
    assert_eq!(csv.lines().count(), 3, "both out, by holder: {csv}");
    assert!(
        csv.lines().nth(1).unwrap().starts_with("4W,"),
        "holders in order: {csv}"
    );
}

#[tokio::test]
async fn clerks_register_loose_reports_and_run_a_stocktake_from_the_pages() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("clerk1", Role::Clerk).await;
    let clerk = app.sign_in("clerk1").await;
    let r = app
        .form(
            &clerk,
            "/loose-reports",
            &[("mrn", "999999"), ("description", "Lab")],
            Some(&clerk.csrf),
        )
        .await;
    assert_eq!(r.status(), 404, "no such patient");
    let r = app
        .form(
            &clerk,
            "/loose-reports",
            &[("mrn", "123410"), ("description", "Lab result")],
            Some(&clerk.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = app.page(&clerk.cookie, "/loose-reports").await;
    assert!(page.contains("Lab result"), "{page}");
    assert!(page.contains("not received yet"), "{page}");

    let r = app
        .form(
            &clerk,
            "/stocktakes",
            &[("station", "fr-in"), ("from", "0"), ("to", "")],
            Some(&clerk.csrf),
        )
        .await;
    assert_eq!(r.status(), 400, "half a range");
    let r = app
        .form(
            &clerk,
            "/stocktakes",
            &[("station", "fr-in"), ("location", "FR-00-19")],
            Some(&clerk.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    let results = location_of(&r);
    let a = app.scan("fr-in", &h.volumes[0]).await;
    assert!(a["message"].as_str().unwrap().contains("confirmed"), "{a}");
    let (_, page) = app.page(&clerk.cookie, &results).await;
    assert!(page.contains("1 / 2"), "1 of 2 expected counted: {page}");
    let r = app
        .form(&clerk, &format!("{results}/close"), &[], Some(&clerk.csrf))
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = app.page(&clerk.cookie, &results).await;
    assert!(page.contains("Closed"), "{page}");
    assert!(page.contains(&h.volumes[2]), "not seen: {page}");
}

#[tokio::test]
async fn a_floor_page_for_a_location_that_does_not_exist_is_a_404_that_says_so() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("nurse1", Role::Nurse).await;
    let nurse = app.sign_in("nurse1").await;
    let (s, page) = app.page(&nurse.cookie, "/requests?location=NOPE").await;
    assert_eq!(s, 404, "{page}");
    assert!(page.contains("There is no location NOPE"), "{page}");
    let (s, _) = app
        .page(&nurse.cookie, "/requests?location=NOPE&part=list")
        .await;
    assert_eq!(s, 404);
    let (s, _) = app.page(&nurse.cookie, "/requests?location=4W").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn the_missing_list_shows_each_patients_date_of_birth() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "600202", "last_name": "Twin", "first_name": "Ann", "birth_date": "1982-05-02", "home": "FR-00-19"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let barcode = b["barcode"].as_str().unwrap().to_owned();
    let (s, b) = app
        .post(
            &format!("/api/v1/volumes/{barcode}/missing"),
            &app.admin,
            &json!({"reason": "not_on_shelf"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    app.person("sup", Role::Supervisor).await;
    let sup = app.sign_in("sup").await;
    let (s, page) = app.page(&sup.cookie, "/missing").await;
    assert_eq!(s, 200);
    assert!(page.contains("b. 1982-05-02 · 43 y"), "{page}");
}

#[tokio::test]
async fn the_floor_page_lists_stat_requests_first() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("nurse1", Role::Nurse).await;
    let nurse = app.sign_in("nurse1").await;
    for (volume, priority) in [
        (&h.volumes[0], "routine"),
        (&h.volumes[1], "stat"),
        (&h.volumes[2], "routine"),
    ] {
        let (s, b) = app
            .post(
                "/api/v1/requests",
                &app.admin,
                &json!({"barcode": volume, "location": "4W", "priority": priority}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, list) = app
        .page(&nurse.cookie, "/requests?location=4W&part=list")
        .await;
    assert_eq!(s, 200);
    let stat_at = list
        .find(&h.volumes[1])
        .expect("the STAT request is listed");
    for routine in [&h.volumes[0], &h.volumes[2]] {
        assert!(
            stat_at < list.find(routine.as_str()).unwrap(),
            "STAT first: {list}"
        );
    }
}

#[tokio::test]
async fn a_nurse_cancels_only_her_own_units_requests() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let ames = app.user("ames", Role::Nurse, None).await;
    app.set_home("ames", "4W").await;
    let mut ids = Vec::new();
    for (volume, place) in [(&h.volumes[0], "CARD"), (&h.volumes[1], "4W")] {
        let (s, b) = app
            .post(
                "/api/v1/requests",
                &app.admin,
                &json!({"barcode": volume, "location": place, "priority": "routine"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        ids.push(b["id"].as_i64().unwrap());
    }
    let cancel = json!({"reason": "no_longer_needed"});
    let (s, e) = app
        .post(
            &format!("/api/v1/requests/{}/cancel", ids[0]),
            &ames,
            &cancel,
        )
        .await;
    assert_eq!(s, 403, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("this one is for CARD"),
        "{e}"
    );
    let (_, r) = app
        .get(&format!("/api/v1/requests/{}", ids[0]), &app.admin)
        .await;
    assert_eq!(r["status"], "open", "nothing changed: {r}");
    let (s, r) = app
        .post(
            &format!("/api/v1/requests/{}/cancel", ids[1]),
            &ames,
            &cancel,
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    // A clerk may cancel any.
    let clerk = app.user("cleo", Role::Clerk, None).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/requests/{}/cancel", ids[0]),
            &clerk,
            &cancel,
        )
        .await;
    assert_eq!(s, 200);
}

/// A nurse with no home unit, away from a floor's page, chooses where a chart goes: the form
/// never quietly starts at the first place in the list.
#[tokio::test]
async fn without_a_home_unit_the_request_form_asks_where_to_deliver() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("ames", chartrack::domain::Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let (status, html) = app.page(&s.cookie, "/requests?q=Ashdown").await;
    assert_eq!(status, 200);
    let select = html.split("name=\"location\"").nth(1).unwrap();
    let first_option = select.split("<option").nth(1).unwrap();
    assert!(
        first_option.contains("value=\"\"") && first_option.contains("selected"),
        "{first_option}"
    );
    app.set_home("ames", "4W").await;
    let (_, html) = app.page(&s.cookie, "/requests?q=Ashdown").await;
    assert!(!html.contains("choose where"), "her home unit is the start");
}

/// Asking again for a chart already on its way says so, and the first request stands; a
/// needed-by time already gone is refused as a mistyped date.
#[tokio::test]
async fn asking_again_says_already_requested_and_a_past_deadline_is_refused() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let ask = |needed_by: &'static str| {
        let (app, s, v) = (&app, &s, h.volumes[0].clone());
        async move {
            let r = app
                .form(
                    s,
                    "/requests",
                    &[
                        ("volume", v.as_str()),
                        ("location", "4W"),
                        ("priority", "stat"),
                        ("needed_by", needed_by),
                    ],
                    Some(&s.csrf),
                )
                .await;
            let status = r.status().as_u16();
            let to = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, to, r.text().await.unwrap())
        }
    };
    let (status, to, _) = ask("").await;
    assert_eq!(status, 303);
    assert!(to.contains("Requested"), "{to}");
    let (status, to, _) = ask("2026-03-05T10:00").await;
    assert_eq!(status, 303);
    assert!(to.contains("Already%20requested"), "{to}");
    let (_, list) = app.get("/api/v1/requests?active=true", &app.admin).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(
        list[0]["needed_by"].is_null(),
        "the first request stands: {list:?}"
    );
    let (status, _, body) = ask("2000-01-01T08:00").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("in the past"), "{body}");
}

/// The request form's patient search says when it lists only the first matches, and how to
/// narrow them.
#[tokio::test]
async fn the_request_picker_says_when_it_shows_only_the_first_matches() {
    let app = TestApp::spawn().await;
    app.seed().await;
    for i in 0..55 {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": format!("{}", 810000 + i), "last_name": "Pickwell",
                        "first_name": format!("Pat{i:02}"), "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let (_, html) = app.page(&s.cookie, "/requests?q=Pickwell").await;
    assert!(
        html.contains("Showing the first 50 volumes that match"),
        "the hint"
    );
    let (_, html) = app.page(&s.cookie, "/requests?q=Pickwell%2C%20Pat07").await;
    assert!(
        !html.contains("Showing the first"),
        "a narrowed search lists them all"
    );
}
