//! Live pages in a real Chromium over the hours of a shift: moving from page to page never
//! leaves streams behind that starve the browser's connections, and a page left open does not
//! keep an idle session alive by refreshing itself.

use crate::browser::{browser, sign_in, text_until};
use crate::helpers::*;
use chartrack::domain::Role;
use fantoccini::Locator;
use std::time::{Duration, Instant};

/// A clerk looks up one chart after another: every page opens the live feed. Twelve pages in a
/// row all load promptly (a browser keeps six connections to one server; streams left open by
/// pages already left would make the seventh wait for a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dozen_searches_in_a_row_each_load_promptly() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("bo", Role::Clerk).await;
    sign_in(b, &app, "bo").await;
    let mut slowest = Duration::ZERO;
    for i in 0..12 {
        let v = &h.volumes[i % h.volumes.len()];
        let t = Instant::now();
        b.goto(&format!("{}/?q={v}", app.base)).await.unwrap();
        text_until(b, ".feed .live", "the feed live", |t| t == "live").await;
        slowest = slowest.max(t.elapsed());
        b.find(Locator::Css("section.results")).await.unwrap();
    }
    // A hang is a minute (the server's request timeout); a page on a busy test machine is well
    // under a second. Twenty seconds tells the two apart without timing anything finer.
    assert!(slowest < Duration::from_secs(20), "a page took {slowest:?}");
    b.clone().close().await.unwrap();
}

/// A page left open refreshes its counts and lists by itself: that is not the person working,
/// so the session still ends after the idle limit (15 minutes). Opening a page is activity.
#[tokio::test]
async fn a_page_refreshing_itself_does_not_keep_an_idle_session_alive() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("ames", Role::Nurse).await;
    let s = app.sign_in("ames").await;
    // Opening pages keeps it alive: 10 minutes, a page, 10 more minutes, still signed in.
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(app.page(&s.cookie, "/").await.0, 200);
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(app.page(&s.cookie, "/locations").await.0, 200);
    // Now only the page's own refreshes, every few minutes, for 20 minutes.
    for _ in 0..4 {
        app.clock.advance(chrono::Duration::minutes(5));
        let (status, _) = app.page(&s.cookie, "/?part=counts").await;
        let (status_list, _) = app.page(&s.cookie, "/requests?location=4W&part=list").await;
        if status == 401 || status_list == 401 {
            break;
        }
    }
    let (status, _) = app.page(&s.cookie, "/").await;
    assert_eq!(
        status, 303,
        "the idle session ended and the page sends her to sign in"
    );
}

/// A shelf section holding more charts than a page lists: the location page and the wall say
/// how many they show of how many, and the wall's counts are the place's, not the list's.
#[tokio::test]
async fn a_full_section_says_how_many_of_how_many_it_lists() {
    use chartrack::store::admin::{self, NewVolume};
    let app = TestApp::spawn().await;
    app.seed().await;
    let now = app.clock.now();
    app.store
        .write(move |c| {
            for i in 0..2_100u32 {
                let v = NewVolume {
                    barcode: None,
                    mrn: chartrack::domain::Mrn::parse(&format!("9{i:05}")).unwrap(),
                    last_name: "Shelfworth".into(),
                    first_name: format!("P{i}"),
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
    app.person("bo", Role::Clerk).await;
    let s = app.sign_in("bo").await;
    let (status, html) = app.page(&s.cookie, "/locations/FR-00-19").await;
    assert_eq!(status, 200);
    // 2,102 here: listed newest first, 200 at a time, with the way on to the older ones.
    assert!(
        html.contains("2102 here now") && html.contains("Newest first, 200 at a time"),
        "{}",
        &html[..2000.min(html.len())]
    );
    assert_eq!(html.matches("href=\"/volumes/").count(), 200);
    let older = html
        .split("href=\"/locations/FR-00-19?after=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an Older link")
        .replace("&amp;", "&");
    let (status, html) = app
        .page(&s.cookie, &format!("/locations/FR-00-19?after={older}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("← Newest"),
        "{}",
        &html[..2000.min(html.len())]
    );
    let (status, html) = app.page(&s.cookie, "/wall/FR-00-19?part=list").await;
    assert_eq!(status, 200);
    assert!(html.contains("Showing 500 of 2102"), "{html:.600}");
    assert!(html.contains("Here (2102)"), "{html:.600}");
    // A place whose charts all fit counts what it shows.
    let (_, html) = app.page(&s.cookie, "/wall/4W?part=list").await;
    assert!(!html.contains("Showing"), "{html:.600}");
}
