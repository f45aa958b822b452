//! The pages over HTTP: sign-in, sessions, anti-forgery, roles, idle logoff on an injected
//! clock, the access log per view, and escaping.

use crate::helpers::*;
use chartrack::auth::Policy;
use chartrack::domain::Role;
use serde_json::json;

#[tokio::test]
async fn sign_in_opens_a_fresh_server_side_session_and_sign_out_ends_it() {
    let app = TestApp::spawn().await;
    app.person("ames", Role::Nurse).await;

    let login = app
        .browser_like()
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let h = login.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");

    // Unknown name and wrong password: the same answer, word for word.
    let unknown = app.try_sign_in("nobody", PASSWORD).await;
    let wrong = app.try_sign_in("ames", "not the password at all").await;
    assert_eq!(
        (unknown.status().as_u16(), wrong.status().as_u16()),
        (401, 401)
    );
    assert!(unknown.headers().get("set-cookie").is_none());
    assert_eq!(unknown.text().await.unwrap(), wrong.text().await.unwrap());

    let r = app.try_sign_in("ames", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");
    let first = app.sign_in("ames").await;
    let second = app.sign_in("ames").await;
    assert_ne!(
        first.cookie, second.cookie,
        "every sign-in gets a new session id"
    );

    let (s, html) = app.page(&first.cookie, "/").await;
    assert_eq!(s, 200);
    assert!(html.contains("ames"), "the page says who is signed in");

    // Signing out needs the anti-forgery token, then ends the session on the server.
    let r = app.form(&first, "/logout", &[], None).await;
    assert_eq!(r.status(), 403);
    let r = app.form(&first, "/logout", &[], Some(&first.csrf)).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (s, _) = app.page(&first.cookie, "/").await;
    assert_eq!(s, 303, "the old cookie opens nothing");
    let (s, _) = app.page(&second.cookie, "/").await;
    assert_eq!(s, 200, "other sessions are untouched");
    let log = app.access_log().await;
    let actions: Vec<&str> = log.iter().map(|(_, a, _, _)| a.as_str()).collect();
    assert!(
        actions.contains(&"sign-in-failed") && actions.contains(&"sign-out"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_idle_session_is_ended_after_fifteen_minutes_and_activity_keeps_it_alive() {
    let app = TestApp::spawn().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::minutes(10));
        assert_eq!(
            app.page(&s.cookie, "/locations").await.0,
            200,
            "used every 10 minutes"
        );
    }
    app.clock
        .advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let (status, _) = app.page(&s.cookie, "/locations").await;
    assert_eq!(status, 303, "idle for 15 minutes: signed out");
    let reason: String = app
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT end_reason FROM session WHERE ended_at IS NOT NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(reason, "idle");
    // Going back in time does not revive it: it is ended on the server.
    assert_eq!(app.page(&s.cookie, "/").await.0, 303);
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account_and_per_address_across_a_restart() {
    let app = TestApp::spawn().await;
    app.person("ames", Role::Nurse).await;
    for _ in 0..5 {
        assert_eq!(
            app.try_sign_in("ames", "guess-guess-guess").await.status(),
            401
        );
    }
    let r = app.try_sign_in("ames", PASSWORD).await;
    assert_eq!(r.status(), 429, "locked even with the right password");
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    // An unknown name is limited the same way (no telling names apart).
    for _ in 0..5 {
        app.try_sign_in("ghost", "guess-guess-guess").await;
    }
    assert_eq!(app.try_sign_in("ghost", "x").await.status(), 429);

    let app = app.restart_with_stations(vec![]).await;
    assert_eq!(
        app.try_sign_in("ames", PASSWORD).await.status(),
        429,
        "the limit survives a restart"
    );
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        app.try_sign_in("ames", PASSWORD).await.status(),
        303,
        "and ends after 15 minutes"
    );

    // Per address: many names from one address.
    app.person("bede", Role::Nurse).await;
    for i in 0..30 {
        app.try_sign_in(&format!("spray{i}"), "guess-guess-guess")
            .await;
    }
    assert_eq!(app.try_sign_in("bede", PASSWORD).await.status(), 429);
}

/// 30 failed sign-ins as different names, from `forwarded` (an `X-Forwarded-For` value).
async fn spray_from(app: &TestApp, forwarded: &str) {
    for i in 0..30 {
        app.browser_like()
            .post(format!("{}/login", app.base))
            .header("Origin", &app.base)
            .header("X-Forwarded-For", forwarded)
            .form(&[
                ("name", format!("spray{i}").as_str()),
                ("password", "guess-guess"),
            ])
            .send()
            .await
            .unwrap();
    }
}

async fn sign_in_from(app: &TestApp, name: &str, forwarded: &str) -> u16 {
    app.browser_like()
        .post(format!("{}/login", app.base))
        .header("Origin", &app.base)
        .header("X-Forwarded-For", forwarded)
        .form(&[("name", name), ("password", PASSWORD)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_address_limit_counts_each_client_not_the_proxy() {
    use chartrack::config::{Config, TrustedProxy};
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("t.db"),
        trusted_proxies: vec![TrustedProxy::try_from("127.0.0.0/8".to_owned()).unwrap()],
        ..Config::default()
    };
    let clock = chartrack::clock::Clock::manual(crate::helpers::start_time());
    let app = TestApp::spawn_with_config(dir, clock, config).await;
    app.person("bede", Role::Nurse).await;
    spray_from(&app, "203.0.113.5").await;
    assert_eq!(sign_in_from(&app, "bede", "203.0.113.5").await, 429);
    assert_eq!(
        sign_in_from(&app, "bede", "203.0.113.6").await,
        303,
        "another client behind the same proxy is not locked out"
    );
    let log = app.access_log().await;
    assert!(
        log.iter().any(|e| e.3 == "203.0.113.6"),
        "the access log names the client, not the proxy: {log:?}"
    );

    // Without trusted proxies the header is the client's own word: ignored.
    let app = TestApp::spawn().await;
    app.person("bede", Role::Nurse).await;
    spray_from(&app, "203.0.113.5").await;
    assert_eq!(
        sign_in_from(&app, "bede", "203.0.113.99").await,
        429,
        "a client cannot escape the limit by naming another address"
    );
}

#[tokio::test]
async fn state_changing_requests_with_a_cookie_need_the_token_and_our_origin() {
    let app = TestApp::spawn().await;
    app.person("root", Role::Admin).await;
    let s = app.sign_in("root").await;
    let fields = [
        ("code", "5E"),
        ("name", "5 East"),
        ("kind", "unit"),
        ("barcode", ""),
    ];
    let r = app.form(&s, "/admin/locations", &fields, None).await;
    assert_eq!(r.status(), 403, "no token");
    let r = app
        .form(&s, "/admin/locations", &fields, Some("0123456789abcdef"))
        .await;
    assert_eq!(r.status(), 403, "a wrong token");
    let r = app
        .browser_like()
        .post(format!("{}/admin/locations", app.base))
        .header("Cookie", &s.cookie)
        .header("Origin", "http://evil.example")
        .form(&[
            ("code", "5E"),
            ("name", "5 East"),
            ("kind", "unit"),
            ("csrf", s.csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "another site's page");
    let (_, body) = app.get("/api/v1/locations/5E", &app.admin).await;
    assert_eq!(
        body["error"], "no location with that code",
        "nothing was created"
    );

    let r = app
        .form(&s, "/admin/locations", &fields, Some(&s.csrf))
        .await;
    assert_eq!(r.status(), 303);
    let (status, _) = app.get("/api/v1/locations/5E", &app.admin).await;
    assert_eq!(status, 200);
    // A shelf added on the page files its terminal digits, as an imported one does.
    let shelf = [
        ("code", "FR-20-39"),
        ("name", "Shelf 20-39"),
        ("kind", "shelf"),
        ("barcode", ""),
    ];
    let r = app
        .form(&s, "/admin/locations", &shelf, Some(&s.csrf))
        .await;
    assert_eq!(r.status(), 303);
    let (_, l) = app.get("/api/v1/locations/FR-20-39", &app.admin).await;
    assert_eq!(l["terminal"], json!([20, 39]), "{l}");

    // The JSON API with a cookie: the token goes in a header.
    let post = |token: Option<&str>| {
        let mut rq = app
            .browser_like()
            .post(format!("{}/api/v1/locations", app.base))
            .header("Cookie", &s.cookie)
            .json(&json!({"code": "6E", "name": "6 East", "kind": "unit"}));
        if let Some(t) = token {
            rq = rq.header("X-CSRF-Token", t);
        }
        rq.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 403);
    assert_eq!(post(Some(&s.csrf)).await.unwrap().status(), 201);
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_policy_says() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let roles = [Role::Nurse, Role::Clerk, Role::Supervisor, Role::Admin];
    let mut sessions = Vec::new();
    for r in roles {
        let name = format!("u-{r}");
        app.person(&name, r).await;
        sessions.push((r, app.sign_in(&name).await));
    }
    let mut checked = 0;
    let routes = chartrack::server::routes();
    for rule in routes.rules() {
        let (method, path) = (&rule.method, &rule.path);
        let Policy::User(min) = rule.policy else {
            continue;
        };
        if *path == "/logout" {
            continue; // ends the session; tested on its own
        }
        let url = fill_route(path, &h.volumes[0]);
        for (role, s) in &sessions {
            let status = if *method == "GET" {
                // Only the status: the live feed never ends its body.
                app.browser_like()
                    .get(format!("{}{url}", app.base))
                    .header("Cookie", &s.cookie)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            } else if url.starts_with("/api/") {
                app.browser_like()
                    .post(format!("{}{url}", app.base))
                    .header("Cookie", &s.cookie)
                    .header("X-CSRF-Token", &s.csrf)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            } else {
                app.form(s, &url, &[], Some(&s.csrf))
                    .await
                    .status()
                    .as_u16()
            };
            if role.at_least(min) {
                assert!(
                    status != 403 && status < 500,
                    "{role} {method} {url}: {status}"
                );
            } else {
                assert_eq!(status, 403, "{role} must not {method} {url}");
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "the matrix covered {checked} cases");
}

#[tokio::test]
async fn every_view_and_search_of_patients_is_in_the_access_log_and_the_chain_verifies() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let v = &h.volumes[1];
    assert_eq!(app.page(&s.cookie, &format!("/volumes/{v}")).await.0, 200);
    assert_eq!(app.page(&s.cookie, "/?q=Quill").await.0, 200);
    assert_eq!(app.page(&s.cookie, "/locations/FR-40-59").await.0, 200);
    assert_eq!(app.page(&s.cookie, "/wall/4W").await.0, 200);
    let (st, _) = app
        .get(&format!("/api/v1/volumes/{v}/movements"), &app.admin)
        .await;
    assert_eq!(st, 200);
    let (st, _) = app.get("/api/v1/search?q=123445", &app.admin).await;
    assert_eq!(st, 200);
    let log = app.access_log().await;
    let have = |actor: &str, action: &str, subject: &str| {
        log.iter().any(|(a, b, c, remote)| {
            a == actor && b == action && c == subject && remote == "127.0.0.1"
        })
    };
    for (actor, action, subject) in [
        ("ames", "view-volume", v.as_str()),
        ("ames", "search", "Quill"),
        ("ames", "view-location", "FR-40-59"),
        ("ames", "view-wall", "4W"),
        ("admin", "view-movements", v.as_str()),
        ("admin", "search", "123445"),
    ] {
        assert!(
            have(actor, action, subject),
            "no entry for {actor} {action} {subject}: {log:?}"
        );
    }
    // Pages that show no patient are not logged as views.
    let before = app.access_log().await.len();
    assert_eq!(app.page(&s.cookie, "/locations").await.0, 200);
    assert_eq!(app.access_log().await.len(), before);

    // The supervisor's page shows the chain intact.
    app.person("sup", Role::Supervisor).await;
    let sup = app.sign_in("sup").await;
    let (st, html) = app
        .page(&sup.cookie, &format!("/access-log?subject={v}"))
        .await;
    assert_eq!(st, 200);
    assert!(
        html.contains("Chain intact") && html.contains("view-volume"),
        "{html}"
    );
}

#[tokio::test]
async fn names_are_escaped_and_restricted_charts_hide_their_whereabouts() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "555501", "last_name": "<script>alert(1)</script>", "first_name": "Eve", "home": "FR-00-19"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let vip = restricted_volume(&app).await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &vip).await;

    app.person("ames", Role::Nurse).await;
    app.person("sup", Role::Supervisor).await;
    let nurse = app.sign_in("ames").await;
    let sup = app.sign_in("sup").await;

    let (_, html) = app.page(&nurse.cookie, "/?q=555501").await;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<script>alert"),
        "a name must never become markup"
    );
    let (_, html) = app.page(&nurse.cookie, "/?q=O%27Brien").await;
    assert!(
        html.contains("O'Brien") || html.contains("O&#39;Brien") || html.contains("O&apos;Brien"),
        "{html}"
    );
    assert!(html.contains("/volumes/"), "O'Brien is found: {html}");

    let (_, html) = app.page(&nurse.cookie, &format!("/volumes/{vip}")).await;
    assert!(
        html.contains("location restricted") && !html.contains("4W name"),
        "{html}"
    );
    let (_, html) = app.page(&sup.cookie, &format!("/volumes/{vip}")).await;
    assert!(html.contains("4W name"), "a supervisor may see it: {html}");
    let nurse_token = app
        .token_for(chartrack::store::admin::TokenFor::User("ames".into()))
        .await;
    let (_, v) = app
        .get(&format!("/api/v1/volumes/{vip}"), &nurse_token)
        .await;
    assert_eq!(v["location"]["name"], "location restricted", "{v}");
    let (_, moves) = app
        .get(&format!("/api/v1/volumes/{vip}/movements"), &nurse_token)
        .await;
    assert_eq!(moves[0]["action"], "check-out", "{moves}");
    assert!(
        moves[0]["to"].is_null() && moves[0]["from"].is_null(),
        "{moves}"
    );
    let (_, moves) = app
        .get(&format!("/api/v1/volumes/{vip}/movements"), &app.admin)
        .await;
    assert_eq!(moves[0]["to"], "4W", "an admin sees where it went: {moves}");
    let (_, l) = app.get("/api/v1/locations/4W", &nurse_token).await;
    assert!(
        l["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["barcode"] != vip.as_str()),
        "{l}"
    );
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let app = TestApp::spawn().await;
    let hash = chartrack::passwords::hash(PASSWORD).unwrap();
    let now = app.clock.now();
    app.store
        .write(move |c| {
            chartrack::store::admin::create_user(
                c,
                "newbie",
                Role::Clerk,
                Some(&hash),
                None,
                true,
                now,
            )
        })
        .await
        .unwrap();
    let r = app.try_sign_in("newbie", PASSWORD).await;
    assert_eq!(r.headers()["location"], "/account/password");
    let cookie = session_cookie(&r);
    assert_eq!(app.page(&cookie, "/").await.0, 403);
    let (s, html) = app.page(&cookie, "/account/password").await;
    assert_eq!(s, 200);
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let session = Session {
        cookie: cookie.clone(),
        csrf: csrf.clone(),
    };
    let r = app
        .form(
            &session,
            "/account/password",
            &[("current", PASSWORD), ("new", "short")],
            Some(&csrf),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("at least 12 characters"));
    let r = app
        .form(
            &session,
            "/account/password",
            &[("current", PASSWORD), ("new", "a much longer pass phrase")],
            Some(&csrf),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.page(&cookie, "/").await.0, 200);
    assert_eq!(
        app.try_sign_in("newbie", PASSWORD).await.status(),
        401,
        "the old password is gone"
    );
}

#[tokio::test]
async fn the_live_feed_pushes_each_committed_scan() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let mut feed = app
        .browser_like()
        .get(format!("{}/events", app.base))
        .header("Cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    app.scan("w4", &h.volumes[0]).await;
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.contains("event: scan") {
        let chunk = tokio::time::timeout_at(deadline, feed.chunk())
            .await
            .expect("no scan event within 10 s");
        got += &String::from_utf8_lossy(&chunk.unwrap().expect("the feed ended"));
    }
    assert!(got.contains("w4") && got.contains(&h.volumes[0]), "{got}");
    // An open feed does not hold up a shutdown: the server ends it and drains.
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("the server stopped with a live feed open");
    while let Ok(Some(_)) = feed.chunk().await {}
}

#[tokio::test]
async fn a_csv_upload_imports_all_or_names_every_wrong_line() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("root", Role::Admin).await;
    let s = app.sign_in("root").await;
    let upload = |csv: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("what", "volumes")
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes()).file_name("charts.csv"),
            );
        app.browser_like()
            .post(format!("{}/admin/import", app.base))
            .header("Cookie", &s.cookie)
            .header("X-CSRF-Token", &s.csrf)
            .multipart(form)
            .send()
    };
    let bad = "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n\
               ,700001,Good,Row,1970-01-01,1,medical,FR-00-19\n\
               ,70000X,Bad,Mrn,1970-01-01,1,medical,FR-00-19\n\
               ,700003,Bad,Date,1970-13-45,1,medical,FR-00-19\n";
    let r = upload(bad).await.unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("line 3") && text.contains("line 4") && text.contains("nothing was imported"),
        "{text}"
    );
    let (_, hits) = app.get("/api/v1/search?q=700001", &app.admin).await;
    assert_eq!(hits.as_array().unwrap().len(), 0, "all or nothing");

    let good = "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n\
                ,700001,Good,Row,1970-01-01,1,medical,FR-00-19\n\
                ,700002,Also,Good,,2,radiology,FR-00-19\n";
    let r = upload(good).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Imported 2 rows.");
    let (_, hits) = app.get("/api/v1/search?q=700002", &app.admin).await;
    assert_eq!(hits[0]["record_type"], "radiology");
    // Without the anti-forgery header the upload is refused.
    let form = reqwest::multipart::Form::new().text("what", "volumes");
    let r = app
        .browser_like()
        .post(format!("{}/admin/import", app.base))
        .header("Cookie", &s.cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_supervisor_sees_an_unknown_barcode_and_resolves_it() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let a = app.scan("w4", "MYSTERY-123").await;
    assert_eq!(a["accepted"], false);
    app.person("sup", Role::Supervisor).await;
    let s = app.sign_in("sup").await;
    let (st, html) = app.page(&s.cookie, "/exceptions").await;
    assert_eq!(st, 200);
    assert!(
        html.contains("MYSTERY-123") && html.contains("register it"),
        "{html}"
    );
    let id = html
        .split("action=\"/exceptions/")
        .nth(1)
        .and_then(|t| t.split('/').next())
        .unwrap()
        .to_owned();
    let r = app
        .form(
            &s,
            &format!("/exceptions/{id}/resolve"),
            &[("resolution", "ignored")],
            Some(&s.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = app.page(&s.cookie, "/exceptions").await;
    assert!(!html.contains("MYSTERY-123"), "resolved: off the open list");
    let (_, all) = app.get("/api/v1/exceptions?all=true", &app.admin).await;
    assert_eq!(all[0]["resolution"], "ignored");
    let r = app
        .form(
            &s,
            &format!("/exceptions/{id}/resolve"),
            &[("resolution", "ignored")],
            Some(&s.csrf),
        )
        .await;
    assert_eq!(r.status(), 404, "twice is refused, plainly");
}

#[tokio::test]
async fn the_dashboard_counts_a_chart_out_past_its_loan_period_as_overdue() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await; // in transit to a unit: 3 days
    app.scan("card", &h.volumes[1]).await; // at a clinic: 1 day
    app.person("ames", Role::Nurse).await;
    let tile = |html: &str, label: &str| -> String {
        let end = html
            .find(&format!("<span class=\"l\">{label}</span>"))
            .expect(label);
        let start = html[..end].rfind("<span class=\"n\">").unwrap() + "<span class=\"n\">".len();
        html[start..end].trim_end_matches("</span>").to_owned()
    };
    let s = app.sign_in("ames").await;
    let (_, html) = app.page(&s.cookie, "/").await;
    assert_eq!(
        (tile(&html, "out"), tile(&html, "overdue")),
        ("2".into(), "0".into())
    );
    app.clock.advance(chrono::Duration::days(2));
    let s = app.sign_in("ames").await;
    let (_, html) = app.page(&s.cookie, "/").await;
    assert_eq!(
        tile(&html, "overdue"),
        "1",
        "the clinic's day is up, the unit's 3 days are not"
    );
    app.clock.advance(chrono::Duration::days(2));
    let s = app.sign_in("ames").await;
    let (_, html) = app.page(&s.cookie, "/").await;
    assert_eq!(tile(&html, "overdue"), "2");
    // A nurse's tiles lead only to lists she may open: the exceptions and missing counts are
    // shown without a link (before, they led to a 403 and to the locations: fresh-eyes tester).
    assert!(!html.contains("href=\"/exceptions\""), "{html}");
    assert!(!html.contains("href=\"/missing\""), "{html}");
    assert!(
        html.contains("<a class=\"tile\" href=\"/locations\">"),
        "{html}"
    );
    assert!(!html.contains("<a class=\"tile\" href=\"/\">"), "{html}");
    assert!(html.contains("<span class=\"l\">exceptions</span>"));
    app.person("sue", Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    let (_, html) = app.page(&sue.cookie, "/").await;
    assert!(html.contains("href=\"/exceptions\""), "{html}");
    assert!(html.contains("href=\"/missing\""), "{html}");
}

#[tokio::test]
async fn an_admin_changes_a_role_and_deactivating_a_user_ends_their_access_at_once() {
    let app = TestApp::spawn().await;
    app.person("root", Role::Admin).await;
    app.person("ames", Role::Nurse).await;
    let root = app.sign_in("root").await;
    let ames = app.sign_in("ames").await;
    assert_eq!(app.page(&ames.cookie, "/stations").await.0, 403, "a nurse");
    let r = app
        .form(
            &root,
            "/admin/users/ames",
            &[("role", "clerk"), ("active", "true")],
            Some(&root.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.page(&ames.cookie, "/stations").await.0,
        200,
        "now a clerk, same session"
    );
    let r = app
        .form(
            &root,
            "/admin/users/ames",
            &[("role", "clerk")],
            Some(&root.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.page(&ames.cookie, "/").await.0,
        303,
        "deactivated: signed out"
    );
    assert_eq!(app.try_sign_in("ames", PASSWORD).await.status(), 401);
    // The last active admin cannot be demoted (here `admin` from the test setup and root are two).
    let r = app
        .form(
            &root,
            "/admin/users/admin",
            &[("role", "nurse"), ("active", "true")],
            Some(&root.csrf),
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .form(
            &root,
            "/admin/users/root",
            &[("role", "nurse"), ("active", "true")],
            Some(&root.csrf),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("last active admin"));
    let log = app.access_log().await;
    assert!(log.iter().any(|(who, what, subject, _)| who == "root"
        && what == "user-changed"
        && subject == "ames: clerk, deactivated"));
}

/// Read an SSE response until it has carried `n` `scan` events; their data lines.
async fn scan_events(feed: &mut reqwest::Response, n: usize) -> Vec<String> {
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while got.matches("event: scan").count() < n {
        let chunk = tokio::time::timeout_at(deadline, feed.chunk())
            .await
            .expect("the scan events within 10 s");
        got += &String::from_utf8_lossy(&chunk.unwrap().expect("the feed ended"));
    }
    got.split("event: scan")
        .skip(1)
        .map(|e| e.to_owned())
        .collect()
}

#[tokio::test]
async fn the_live_feed_hides_a_restricted_charts_whereabouts_below_supervisor_and_is_audited() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let vip = restricted_volume(&app).await;
    app.person("ames", Role::Nurse).await;
    app.person("cleo", Role::Clerk).await;
    app.person("sup", Role::Supervisor).await;
    let nurse = app.sign_in("ames").await;
    let clerk = app.sign_in("cleo").await;
    let sup = app.sign_in("sup").await;
    let follow = |cookie: String| {
        let req = app
            .browser_like()
            .get(format!("{}/events", app.base))
            .header("Cookie", cookie);
        async move { req.send().await.unwrap() }
    };
    let mut nurse_feed = follow(nurse.cookie.clone()).await;
    let mut sup_feed = follow(sup.cookie.clone()).await;

    // Act: the VIP chart goes out to 4 West, then an ordinary chart.
    app.scan("fr-out", &h.loc["4W"]).await;
    let out = app.scan("fr-out", &vip).await;
    assert_eq!(out["accepted"], true, "{out}");
    assert_eq!(
        out["restricted"], true,
        "the station's own answer says so: {out}"
    );
    app.scan("fr-out", &h.volumes[0]).await;

    // Assert: the nurse's stream goes from the destination straight to the ordinary chart; a
    // line for the VIP chart, even a vague one, would tie it to the destination by its time.
    let nurse_events = scan_events(&mut nurse_feed, 2).await;
    assert!(nurse_events[1].contains(&h.volumes[0]), "{nurse_events:?}");
    for e in &nurse_events {
        assert!(!e.contains(&vip) && !e.contains("restricted"), "{e}");
    }
    let sup_events = scan_events(&mut sup_feed, 3).await;
    assert!(
        sup_events[1].contains(&vip) && sup_events[1].contains("fr-out"),
        "a supervisor sees it: {}",
        sup_events[1]
    );

    // The dashboard's first page of the feed, for a clerk and a supervisor.
    let (_, html) = app.page(&clerk.cookie, "/").await;
    assert!(html.contains(&h.volumes[0]), "{html}");
    assert!(
        !html.contains(&vip),
        "the clerk's dashboard names the chart: {html}"
    );
    let (_, html) = app.page(&sup.cookie, "/").await;
    assert!(html.contains(&vip), "{html}");

    // Nor does the chart's history say which station saw it or who carried it.
    let nurse_token = app
        .token_for(chartrack::store::admin::TokenFor::User("ames".into()))
        .await;
    let (_, moves) = app
        .get(&format!("/api/v1/volumes/{vip}/movements"), &nurse_token)
        .await;
    assert_eq!(moves[0]["station"], "restricted", "{moves}");
    assert!(moves[0]["user"].is_null(), "{moves}");
    let (_, hits) = app.get("/api/v1/search?q=555502", &nurse_token).await;
    assert!(
        hits[0]["last_station"].is_null() && hits[0]["last_user"].is_null(),
        "{hits}"
    );

    // Every look at the feed is in the access log.
    let log = app.access_log().await;
    for who in ["ames", "sup"] {
        assert!(
            log.iter().any(|e| e.0 == who && e.1 == "live-feed-follow"),
            "{who} following the feed is logged: {log:?}"
        );
    }
    assert!(
        log.iter().any(|e| e.0 == "cleo" && e.1 == "live-feed"),
        "{log:?}"
    );
}

#[tokio::test]
async fn pages_have_an_icon_and_the_browsers_own_request_for_it_is_answered() {
    let app = TestApp::spawn().await;
    let r = reqwest::get(format!("{}/favicon.ico", app.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().starts_with("<svg"));
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let (_, html) = app.page(&s.cookie, "/").await;
    assert!(
        html.contains(r#"<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">"#),
        "{html}"
    );
}

#[tokio::test]
async fn an_admin_resets_a_password_the_user_chooses_a_new_one_and_old_sessions_end() {
    let app = TestApp::spawn().await;
    app.person("root", Role::Admin).await;
    app.person("ames", Role::Nurse).await;
    let root = app.sign_in("root").await;
    let ames = app.sign_in("ames").await;
    assert_eq!(app.page(&ames.cookie, "/").await.0, 200);

    let r = app
        .form(
            &root,
            "/admin/users/ames/password",
            &[("password", "a new one-time secret")],
            Some(&root.csrf),
        )
        .await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);

    // Her open session ended at once; the old password no longer works.
    let (s, _) = app.page(&ames.cookie, "/").await;
    assert_eq!(s, 303, "the old session is over");
    assert_eq!(app.try_sign_in("ames", PASSWORD).await.status(), 401);
    // The one-time password signs her in, straight to choosing her own.
    let r = app.try_sign_in("ames", "a new one-time secret").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account/password");
    // Written in the access log, by whom and for whom.
    let log = app.access_log().await;
    assert!(
        log.iter()
            .any(|e| e.0 == "root" && e.1 == "password-reset" && e.2 == "ames"),
        "{log:?}"
    );
    // Too short a password is refused, saying why, and changes nothing.
    let r = app
        .form(
            &root,
            "/admin/users/ames/password",
            &[("password", "short")],
            Some(&root.csrf),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.try_sign_in("ames", "a new one-time secret")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn empty_lists_say_so() {
    let app = TestApp::spawn().await;
    app.person("cleo", Role::Clerk).await;
    let s = app.sign_in("cleo").await;
    let (_, html) = app.page(&s.cookie, "/locations").await;
    assert!(html.contains("No locations yet"), "{html}");
    let (_, html) = app.page(&s.cookie, "/stations").await;
    assert!(html.contains("No stations yet"), "{html}");
    app.seed().await;
    let (_, html) = app.page(&s.cookie, "/locations/CARD").await;
    assert!(html.contains("No chart is listed here"), "{html}");
    let (_, html) = app.page(&s.cookie, "/locations").await;
    assert!(!html.contains("No locations yet"), "{html}");
}

/// A restricted (VIP) patient's volume, MRN 555502, shelved at FR-00-19; its barcode.
async fn restricted_volume(app: &TestApp) -> String {
    let (s, b) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "555502", "last_name": "Vip", "first_name": "Very", "home": "FR-00-19", "restricted": true}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["barcode"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_search_page_out_of_range_or_garbled_is_answered_plainly() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    let (status, html) = app.page(&s.cookie, "/?q=Quill&page=abc").await;
    assert_eq!(
        status, 200,
        "a garbled page number is the first page: {html}"
    );
    assert!(html.contains("Quill"), "{html}");
    let (status, html) = app.page(&s.cookie, "/?q=Quill&page=3").await;
    assert_eq!(status, 200);
    assert!(html.contains("this page is past the end"), "{html}");
    assert!(
        !html.contains("Nothing matches"),
        "no contradiction: {html}"
    );
}
