//! Wall displays and live pages that stay honest: a display's own cookie opens its page and
//! nothing else; a revoked display, an ended session, says so instead of showing "live"; a list
//! fragment or a stream without access gets 401, never the sign-in page. Over HTTP, and in
//! headless Chromium (skipped where it is not installed, as in `browser.rs`).

use crate::browser::{browser, sign_in, text_until};
use crate::helpers::*;
use chartrack::auth::Policy;
use chartrack::domain::Role;
use fantoccini::Locator;
use serde_json::json;
use std::time::Duration;

const LABEL: &str = "Ward 4 corridor";

/// An admin creates a display for 4W on the admin page: the link it is shown (once).
async fn make_display(app: &TestApp, admin: &Session, label: &str) -> String {
    let r = app
        .form(
            admin,
            "/admin/displays",
            &[("location", "4W"), ("label", label)],
            Some(&admin.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    let at = html.find("/display/").expect("the display's link is shown");
    let secret: String = html[at + "/display/".len()..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert!(secret.len() >= 32, "{html}");
    format!("/display/{secret}")
}

/// Open the link as the wall screen would: the display's cookie, set by the answer.
async fn open_link(app: &TestApp, link: &str) -> String {
    let r = app
        .browser_like()
        .get(format!("{}{link}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/display");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Max-Age="),
        "{set}"
    );
    assert!(set.starts_with("chartrack_display="), "{set}");
    set.split(';').next().unwrap().to_owned()
}

async fn vip_at_4w(app: &TestApp) -> String {
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "555502", "last_name": "Vip", "first_name": "Very", "home": "FR-00-19", "restricted": true}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let vip = b["barcode"].as_str().unwrap().to_owned();
    app.scan("w4", &vip).await;
    vip
}

async fn display_count(app: &TestApp) -> i64 {
    app.store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM display", [], |r| r.get(0))?))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_makes_a_wall_display_that_shows_its_location_masked_and_names_nobody() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("w4", &h.volumes[0]).await; // Ashdown, MRN 123405
    vip_at_4w(&app).await;
    app.person("root", Role::Admin).await;
    let admin = app.sign_in("root").await;
    let link = make_display(&app, &admin, LABEL).await;
    let (_, page) = app.page(&admin.cookie, "/admin").await;
    assert!(
        page.contains(LABEL) && page.contains("never opened"),
        "listed"
    );
    assert!(
        !page.contains(&link),
        "the link is shown once, not on the admin page"
    );

    let cookie = open_link(&app, &link).await;
    let (status, html) = app.page(&cookie, "/display").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("4W name"), "{html}");
    assert!(html.contains("TA ·3405"), "the masked chart: {html}");
    for hidden in ["Ashdown", "123405", "Vip", "555502", "VV ·5502"] {
        assert!(!html.contains(hidden), "{hidden} on the display: {html}");
    }
    for menu in [
        "header class=\"top\"",
        "/logout",
        "root",
        "csrf-token",
        "/scan",
    ] {
        assert!(!html.contains(menu), "{menu} on the display: {html}");
    }
    let (status, part) = app.page(&cookie, "/display?part=list").await;
    assert_eq!(status, 200);
    assert!(part.starts_with("<div id=\"wall-list\">"), "{part}");

    let log = app.access_log().await;
    assert!(
        log.iter().any(
            |(actor, action, subject, _)| actor == "display:Ward 4 corridor"
                && action == "view-wall"
                && subject == "4W"
        ),
        "{log:?}"
    );
    let (_, page) = app.page(&admin.cookie, "/admin").await;
    assert!(!page.contains("never opened"), "last seen is noted: {page}");
}

#[tokio::test]
async fn a_display_cookie_opens_its_own_page_and_nothing_else() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("root", Role::Admin).await;
    let admin = app.sign_in("root").await;
    let link = make_display(&app, &admin, LABEL).await;
    let display = open_link(&app, &link).await;
    let client = app.browser_like();
    let mut checked = 0;
    for rule in chartrack::server::routes().rules() {
        let url = format!("{}{}", app.base, fill_route(rule.path, &h.volumes[0]));
        let send = |cookie: &str| {
            let req = if rule.method == "GET" {
                client.get(&url)
            } else {
                client
                    .post(&url)
                    .header("Origin", &app.base)
                    .json(&json!({}))
            };
            req.header("Cookie", cookie.to_owned()).send()
        };
        match rule.policy {
            Policy::Public => continue,
            Policy::Display => {
                let ok = send(&display).await.unwrap().status().as_u16();
                assert!(
                    (200..300).contains(&ok),
                    "the display {} {}: {ok}",
                    rule.method,
                    rule.path
                );
                // A person's session is not a display.
                let by_admin = send(&admin.cookie).await.unwrap().status().as_u16();
                assert_eq!(by_admin, 401, "admin session {} {}", rule.method, rule.path);
                let by_token = client
                    .get(&url)
                    .bearer_auth(&app.admin)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                assert_eq!(by_token, 401, "a token {} {}", rule.method, rule.path);
            }
            _ => {
                let r = send(&display).await.unwrap();
                let status = r.status().as_u16();
                let to = r
                    .headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap().to_owned());
                let refused = status == 401
                    || status == 403
                    || (status == 303 && to.as_deref().is_some_and(|t| t.starts_with("/login")));
                assert!(
                    refused,
                    "a display cookie reached {} {}: {status} {to:?}",
                    rule.method, rule.path
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 50, "checked {checked} routes");
}

#[tokio::test]
async fn a_revoked_display_is_signed_out_and_its_link_opens_nothing() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("root", Role::Admin).await;
    let admin = app.sign_in("root").await;
    let link = make_display(&app, &admin, LABEL).await;
    let display = open_link(&app, &link).await;
    assert_eq!(app.page(&display, "/display").await.0, 200);
    let mut stream = app
        .browser_like()
        .get(format!("{}/display/events", app.base))
        .header("Cookie", &display)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    app.scan("w4", &h.volumes[0]).await;
    let first = until_event(&mut stream, "changed").await;
    assert!(
        !first.contains(&h.volumes[0]),
        "nothing of the scan: {first}"
    );

    let r = app
        .form(&admin, "/admin/displays/1/revoke", &[], Some(&admin.csrf))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    app.clock.advance(chrono::Duration::seconds(5));
    app.scan("w4", &h.volumes[1]).await;
    until_event(&mut stream, "signed-out").await;
    let (status, html) = app.page(&display, "/display").await;
    assert_eq!(status, 401);
    assert!(html.contains("ask an admin"), "{html}");
    assert!(!html.contains("4W name"), "{html}");
    let (status, part) = app.page(&display, "/display?part=list").await;
    assert_eq!(status, 401);
    assert!(!part.contains("<form"), "{part}");
    assert_eq!(app.page(&display, "/display/session").await.0, 401);
    let (status, html) = app.page("", &link).await;
    assert_eq!(status, 404, "a revoked link opens nothing");
    assert!(html.contains("not valid or was revoked"), "{html}");
    let (_, page) = app.page(&admin.cookie, "/admin").await;
    assert!(page.contains("revoked "), "the list says so: {page}");

    // Revoking twice, or what does not exist, is said and changes nothing.
    for (path, says) in [
        ("/admin/displays/1/revoke", "already revoked"),
        ("/admin/displays/99/revoke", "no display 99"),
        ("/admin/displays/abc/revoke", "no display abc"),
    ] {
        let r = app.form(&admin, path, &[], Some(&admin.csrf)).await;
        assert_eq!(r.status().as_u16(), 422, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains(says), "{path}: {html}");
    }
}

#[tokio::test]
async fn a_display_form_with_bad_input_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("root", Role::Admin).await;
    app.person("ames", Role::Nurse).await;
    let admin = app.sign_in("root").await;
    make_display(&app, &admin, LABEL).await;
    let long = "x".repeat(61);
    for (location, label, says) in [
        ("4W", "", "label is 1 to 60"),
        ("4W", long.as_str(), "label is 1 to 60"),
        ("4W", "bad\u{7}bell", "label is 1 to 60"),
        ("NOPE", "Somewhere", "no location has the code NOPE"),
        ("not a code", "Somewhere", "location code"),
        ("4W", LABEL, "already exists"),
    ] {
        let r = app
            .form(
                &admin,
                "/admin/displays",
                &[("location", location), ("label", label)],
                Some(&admin.csrf),
            )
            .await;
        assert_eq!(r.status().as_u16(), 422, "{location} {label:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains(says), "{location} {label:?}: {html}");
        assert!(!html.contains("/display/"), "no link: {html}");
    }
    let nurse = app.sign_in("ames").await;
    let r = app
        .form(
            &nurse,
            "/admin/displays",
            &[("location", "4W"), ("label", "Mine")],
            Some(&nurse.csrf),
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(display_count(&app).await, 1, "only the first was made");
}

#[tokio::test]
async fn list_fragments_streams_and_the_probe_answer_401_without_a_session_not_the_sign_in_page() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    assert_eq!(app.page(&s.cookie, "/session").await.0, 204);
    assert_eq!(app.page(&s.cookie, "/wall/4W?part=list").await.0, 200);
    let r = app.form(&s, "/logout", &[], Some(&s.csrf)).await;
    assert_eq!(r.status().as_u16(), 303);
    for path in [
        "/wall/4W?part=list",
        "/requests?location=4W&part=list",
        "/session",
    ] {
        let (status, body) = app.page(&s.cookie, path).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(!body.contains("<form"), "{path}: {body}");
    }
    for path in ["/events", "/events/requests?location=4W"] {
        let r = app
            .browser_like()
            .get(format!("{}{path}", app.base))
            .header("Cookie", &s.cookie)
            .header("Accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    // A page opened in the browser still leads to the sign-in form.
    let r = app
        .browser_like()
        .get(format!("{}/wall/4W", app.base))
        .header("Cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
}

/// Read an SSE body until an event named `name` arrives (or fail after 10 s).
async fn until_event(r: &mut reqwest::Response, name: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(&format!("event: {name}")) {
        match tokio::time::timeout_at(deadline, r.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(_) => panic!("the stream ended before {name}: {seen}"),
            Err(_) => panic!("no {name} event in 10 s: {seen}"),
        }
    }
    seen
}

#[tokio::test]
async fn a_live_stream_ends_with_signed_out_when_its_session_goes_idle() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let mut r = app
        .browser_like()
        .get(format!("{}/events", app.base))
        .header("Cookie", &s.cookie)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    app.scan("card", &h.volumes[2]).await;
    until_event(&mut r, "scan").await;
    app.clock.advance(chrono::Duration::minutes(16));
    app.scan("w4", &h.volumes[1]).await;
    let tail = until_event(&mut r, "signed-out").await;
    assert!(
        !tail.contains(&h.volumes[1]),
        "the scan after the session ended is not sent: {tail}"
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), r.chunk()).await;
    assert!(
        matches!(ended, Ok(Ok(None))),
        "the stream is closed: {ended:?}"
    );
}

#[tokio::test]
async fn a_wall_page_whose_session_expires_says_signed_out_and_never_shows_the_sign_in_form() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("w4", &h.volumes[0]).await;
    app.person("ames", Role::Nurse).await;
    sign_in(b, &app, "ames").await;
    b.goto(&format!("{}/wall/4W", app.base)).await.unwrap();
    text_until(b, ".feed .live", "the wall connecting", |t| t == "live").await;
    text_until(b, "#wall-list", "the wall's list", |t| {
        t.contains("TA ·3405")
    })
    .await;

    // Nobody touches the wall for 16 minutes (idle limit 15); then a chart arrives.
    app.clock.advance(chrono::Duration::minutes(16));
    app.scan("w4", &h.volumes[2]).await;
    let notice = text_until(b, ".signed-out", "the signed-out notice", |t| {
        t.contains("session ended")
    })
    .await;
    assert!(notice.contains("Sign in again"), "{notice}");
    // Wait past the wall's refresh delay: nothing comes back.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let html = b.source().await.unwrap();
    for gone in [
        "data-state=\"live\"",
        "id=\"wall-list\"",
        "TA ·3405",
        "name=\"password\"",
        "ames",
    ] {
        assert!(!html.contains(gone), "{gone} still on the page: {html}");
    }
    let link = b
        .find(Locator::Css(".signed-out a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link, "/login?next=%2Fwall%2F4W");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_wall_display_shows_its_charts_without_a_menu_and_says_so_when_revoked() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("w4", &h.volumes[0]).await;
    vip_at_4w(&app).await;
    app.person("root", Role::Admin).await;
    let admin = app.sign_in("root").await;
    let link = make_display(&app, &admin, LABEL).await;

    b.goto(&format!("{}{link}", app.base)).await.unwrap();
    text_until(b, ".live", "the display connecting", |t| t == "live").await;
    assert!(b.current_url().await.unwrap().path() == "/display");
    let list = text_until(b, "#wall-list", "the display's list", |t| {
        t.contains("TA ·3405")
    })
    .await;
    assert!(
        !list.contains("VV"),
        "restricted charts are left off: {list}"
    );
    assert!(b.find(Locator::Css("header.top")).await.is_err(), "no menu");
    assert_eq!(
        b.find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "4W name"
    );
    // A chart arriving shows up without anyone touching the screen.
    app.scan("w4", &h.volumes[2]).await; // Quill, 123410
    text_until(b, "#wall-list", "the new chart", |t| t.contains("TQ ·3410")).await;

    // Days later (a display does not go idle), an admin revokes it.
    app.clock.advance(chrono::Duration::days(3));
    app.scan("w4", &h.volumes[1]).await;
    text_until(b, "#wall-list", "still live after days", |t| {
        t.contains("TO ·3445")
    })
    .await;
    let admin = app.sign_in("root").await; // the admin's own session went idle meanwhile
    let r = app
        .form(&admin, "/admin/displays/1/revoke", &[], Some(&admin.csrf))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/admin?done="));
    app.clock.advance(chrono::Duration::minutes(1));
    app.scan("fr-in", &h.volumes[0]).await;
    let notice = text_until(b, ".signed-out", "the revoked notice", |t| {
        t.contains("ask an admin")
    })
    .await;
    assert!(notice.contains("signed out or revoked"), "{notice}");
    let html = b.source().await.unwrap();
    assert!(!html.contains("·34"), "no charts left on screen: {html}");
    assert!(!html.contains("data-state=\"live\""), "{html}");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_wall_page_that_reconnects_after_a_restart_to_an_ended_session_says_signed_out() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("w4", &h.volumes[0]).await;
    app.person("ames", Role::Nurse).await;
    sign_in(b, &app, "ames").await;
    b.goto(&format!("{}/wall/4W", app.base)).await.unwrap();
    text_until(b, ".feed .live", "the wall connecting", |t| t == "live").await;

    // The server goes away: the page says so, and not "live".
    let listen = app.base.trim_start_matches("http://").to_owned();
    let (dir, db, clock) = app.stop().await;
    text_until(b, ".feed .live", "the server away", |t| t == "reconnecting").await;
    // It comes back after the session went idle: the stream is refused (401), the page asks
    // whether it is still signed in, and says it is not.
    clock.advance(chrono::Duration::minutes(16));
    let app = TestApp::spawn_configured(dir, db, clock, Vec::new(), &listen).await;
    let notice = text_until(b, ".signed-out", "the signed-out notice", |t| {
        t.contains("session ended")
    })
    .await;
    assert!(notice.contains("Sign in again"), "{notice}");
    let html = b.source().await.unwrap();
    assert!(!html.contains("TA ·3405"), "the list is gone: {html}");
    assert!(!html.contains("name=\"password\""), "{html}");
    drop(app);
    b.clone().close().await.unwrap();
}
