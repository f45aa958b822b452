//! Break-glass: a nurse opens a restricted chart in an emergency with a typed reason. It lasts
//! 30 minutes, covers that patient for that user only, goes to the access log, and is listed on
//! the supervisors' report; bad input changes nothing.

use crate::helpers::*;
use chartrack::domain::Role;
use serde_json::json;

#[tokio::test]
async fn a_nurse_opens_a_restricted_chart_with_a_reason_for_half_an_hour_and_it_is_reviewed() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let (s, v) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "778899", "last_name": "Vipford", "first_name": "Ivy", "home": "FR-00-19", "restricted": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let b = v["barcode"].as_str().unwrap().to_owned();
    app.scan("w4", &b).await;
    app.person("ames", Role::Nurse).await;
    app.person("sue", Role::Supervisor).await;
    let ames = app.sign_in("ames").await;
    let page = format!("/volumes/{b}");
    let (_, html) = app.page(&ames.cookie, &page).await;
    assert!(!html.contains("4W name"), "hidden below supervisor");
    assert!(html.contains("Emergency access"), "the way to open it");

    // A reason too short, and a chart that is not restricted: refused, nothing opened.
    let glass = format!("/volumes/{b}/break-glass");
    let r = app
        .form(&ames, &glass, &[("reason", "need")], Some(&ames.csrf))
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("10 to 500 characters"));
    let other = format!("/volumes/{}/break-glass", h.volumes[0]);
    let r = app
        .form(
            &ames,
            &other,
            &[("reason", "patient in resus, needs history")],
            Some(&ames.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let (_, html) = app.page(&ames.cookie, &page).await;
    assert!(!html.contains("4W name"), "still hidden");

    // With a reason: open, on the page and through the API, for this user.
    let r = app
        .form(
            &ames,
            &glass,
            &[("reason", "patient in resus, needs history")],
            Some(&ames.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&ames.cookie, &page).await;
    assert!(html.contains("4W name"), "open now");
    assert!(
        html.contains("Emergency access until"),
        "and it says until when"
    );
    let token = app
        .token_for(chartrack::store::admin::TokenFor::User("ames".into()))
        .await;
    let (_, vol) = app.get(&format!("/api/v1/volumes/{b}"), &token).await;
    assert_eq!(vol["location"]["code"], "4W", "{vol}");
    // Another nurse still sees it hidden.
    app.person("bea", Role::Nurse).await;
    let bea = app.sign_in("bea").await;
    let (_, html) = app.page(&bea.cookie, &page).await;
    assert!(!html.contains("4W name"));
    // A supervisor needs none.
    let sue = app.sign_in("sue").await;
    let r = app
        .form(
            &sue,
            &glass,
            &[("reason", "checking the break-glass flow")],
            Some(&sue.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 400);

    // Reviewed: the report names who, which chart, why; the access log has the opening.
    let (_, report) = app.page(&sue.cookie, "/reports/break-glass").await;
    for said in ["ames", b.as_str(), "patient in resus, needs history"] {
        assert!(report.contains(said), "{said} in the report");
    }
    assert!(!report.contains("checking the break-glass flow"));
    let (_, log) = app.page(&sue.cookie, "/access-log").await;
    assert!(log.contains("break-glass"), "in the access log");

    // Half an hour later it is closed again.
    app.clock.advance(chrono::Duration::minutes(31));
    let ames = app.sign_in("ames").await;
    let (status, html) = app.page(&ames.cookie, &page).await;
    assert_eq!(status, 200);
    assert!(!html.contains("4W name"), "closed after 30 minutes");
}

/// An opening shows the chart wherever its whereabouts are: the search results (page, API and
/// the request picker) and the location's list, not only its own page. Before, the nurse who
/// had opened it still found "location restricted" in search and no row at the location.
#[tokio::test]
async fn an_opening_shows_the_chart_in_search_results_and_location_lists_for_its_user_only() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let (s, v) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "778800", "last_name": "Vipsearch", "first_name": "Ivy", "home": "FR-00-19", "restricted": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let b = v["barcode"].as_str().unwrap().to_owned();
    app.scan("w4", &b).await;
    app.person("ames", Role::Nurse).await;
    app.person("bea", Role::Nurse).await;
    let ames = app.sign_in("ames").await;
    let token = app
        .token_for(chartrack::store::admin::TokenFor::User("ames".into()))
        .await;
    let search = "/?q=Vipsearch";
    let api_search = "/api/v1/search?q=Vipsearch";
    let here =
        |html: &str| html.contains(&format!("href=\"/volumes/{b}\"")) && html.contains("4W name");
    let listed = |l: &serde_json::Value| {
        l["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["barcode"] == b.as_str())
    };
    // Before the opening: hidden everywhere.
    let (_, html) = app.page(&ames.cookie, search).await;
    assert!(!html.contains("4W name"), "search hides it");
    let (_, hits) = app.get(api_search, &token).await;
    assert_eq!(hits[0]["location"]["code"], "restricted", "{hits}");
    let (_, l) = app.get("/api/v1/locations/4W", &token).await;
    assert!(!listed(&l), "{l}");

    // Opened: shown in all of them, for ames.
    let r = app
        .form(
            &ames,
            &format!("/volumes/{b}/break-glass"),
            &[("reason", "patient in resus, needs history")],
            Some(&ames.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&ames.cookie, search).await;
    assert!(here(&html), "search shows the opened chart: {html}");
    let (_, hits) = app.get(api_search, &token).await;
    assert_eq!(hits[0]["location"]["code"], "4W", "{hits}");
    let (_, l) = app.get("/api/v1/locations/4W", &token).await;
    assert!(listed(&l), "the location lists it: {l}");
    let (_, html) = app.page(&ames.cookie, "/locations/4W").await;
    assert!(html.contains(&b), "the location page lists it");

    // Not for another nurse.
    let bea = app.sign_in("bea").await;
    let (_, html) = app.page(&bea.cookie, search).await;
    assert!(!html.contains("4W name"));
    let (_, html) = app.page(&bea.cookie, "/locations/4W").await;
    assert!(!html.contains(&b));

    // And closed again after half an hour.
    app.clock.advance(chrono::Duration::minutes(31));
    let (_, hits) = app.get(api_search, &token).await;
    assert_eq!(hits[0]["location"]["code"], "restricted", "{hits}");
}
