//! The pull list at a busy morning's size: 200 requests a page in pull order (STAT first,
//! then terminal-digit order), the count of all, the pages in turn, and one long page to
//! print them all; the API still answers every request at once. Through the real server, and
//! the paging in a real Chromium.

use crate::browser::{browser, sign_in, text_until};
use crate::helpers::*;
use chartrack::domain::{Mrn, Role, TerminalDigit};
use fantoccini::Locator;
use serde_json::json;

/// `n` volumes on their shelves, each requested for 4W (every 40th STAT), made in an order
/// that is neither their MRNs' nor their terminal digits'; a few more asked for and
/// cancelled (never on the list). The MRNs in the order the pull list must show them.
async fn busy_morning(app: &TestApp, n: usize) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..n {
        let mrn = format!("5{:03}{:02}", (i * 7) % 1000, (i * 37) % 100);
        let (s, v) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": mrn, "last_name": "Pull", "first_name": format!("P{i:03}"), "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let stat = i % 40 == 7;
        let (s, r) = app
            .post(
                "/api/v1/requests",
                &app.admin,
                &json!({"barcode": v["barcode"], "location": "4W",
                        "priority": if stat { "stat" } else { "routine" }}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        if i % 50 == 3 {
            let (s, c) = app
                .post(
                    &format!("/api/v1/requests/{}/cancel", r["id"]),
                    &app.admin,
                    &json!({"reason": "no_longer_needed"}),
                )
                .await;
            assert_eq!(s, 200, "{c}");
            continue;
        }
        expected.push((!stat, TerminalDigit::of(&Mrn::parse(&mrn).unwrap()), mrn));
    }
    expected.sort();
    expected.into_iter().map(|(_, _, m)| m).collect()
}

/// The MRNs of the list's rows (not the slips'), in the page's order; and the rows' numbers.
fn rows(html: &str) -> (Vec<String>, Vec<usize>) {
    let table = html
        .split("<table class=\"pull\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or("");
    let mrns = table
        .split("MRN ")
        .skip(1)
        .map(|s| s.chars().take_while(char::is_ascii_digit).collect())
        .collect();
    let numbers = table
        .split("<td class=\"num\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().parse().unwrap())
        .collect();
    (mrns, numbers)
}

#[tokio::test]
async fn the_pull_list_pages_200_at_a_time_in_pull_order_and_prints_all_on_one_page() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let expected = busy_morning(&app, 250).await;
    assert_eq!(expected.len(), 245);
    app.person("clerk", Role::Clerk).await;
    let s = app.sign_in("clerk").await;

    let (status, first) = app.page(&s.cookie, "/pull-list").await;
    assert_eq!(status, 200);
    assert!(first.contains("245 charts to pull"), "{first}");
    assert!(first.contains("showing 1–200"), "{first}");
    assert!(
        first.contains("href=\"/pull-list?page=2\">Next 45 →"),
        "{first}"
    );
    assert!(first.contains("href=\"/pull-list?all=true\""), "{first}");
    let (mrns, numbers) = rows(&first);
    assert_eq!(mrns, expected[..200]);
    assert_eq!(numbers, (1..=200).collect::<Vec<_>>());
    // A slip for each request on the page, no more.
    assert_eq!(first.matches("<article class=\"slip\">").count(), 200);

    let (status, second) = app.page(&s.cookie, "/pull-list?page=2").await;
    assert_eq!(status, 200);
    assert!(second.contains("245 charts to pull"), "{second}");
    assert!(second.contains("showing 201–245"), "{second}");
    assert!(second.contains("href=\"/pull-list?page=1\">← Previous 200"));
    assert!(!second.contains("Next "), "the last page has no next");
    let (mrns, numbers) = rows(&second);
    assert_eq!(mrns, expected[200..]);
    assert_eq!(numbers, (201..=245).collect::<Vec<_>>());

    // The whole list on one page, to print at once: every request and slip, in order.
    let (status, all) = app.page(&s.cookie, "/pull-list?all=true").await;
    assert_eq!(status, 200);
    assert!(all.contains("245 charts to pull"), "{all}");
    assert!(!all.contains("/pull-list?page="), "one page has no pages");
    assert_eq!(rows(&all).0, expected);
    assert_eq!(all.matches("<article class=\"slip\">").count(), 245);

    // The API answers them all, in the same order, as it always has.
    let (status, list) = app.get("/api/v1/pull-list", &app.admin).await;
    assert_eq!(status, 200, "{list}");
    let api: Vec<&str> = list["pull"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mrn"].as_str().unwrap())
        .collect();
    assert_eq!(api, expected);
    assert_eq!(list["total"], 245);
    // Or a page of it: `limit` from `offset`, with the count of all.
    let (status, page) = app
        .get("/api/v1/pull-list?limit=200&offset=200", &app.admin)
        .await;
    assert_eq!(status, 200, "{page}");
    let api: Vec<&str> = page["pull"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mrn"].as_str().unwrap())
        .collect();
    assert_eq!(api, expected[200..]);
    assert_eq!(page["total"], 245);
    let (status, _) = app.get("/api/v1/pull-list?limit=0", &app.admin).await;
    assert_eq!(status, 400);

    // A page that is not a number reads as the first; one past the end says so.
    let (status, odd) = app.page(&s.cookie, "/pull-list?page=abc").await;
    assert_eq!(status, 200);
    assert_eq!(rows(&odd).0, expected[..200]);
    let (status, past) = app.page(&s.cookie, "/pull-list?page=9").await;
    assert_eq!(status, 200);
    assert!(past.contains("245 charts to pull"), "{past}");
    assert!(past.contains("past the end of the list"), "{past}");
    assert!(rows(&past).0.is_empty());

    // The pending-requests report: STAT first, all 245 counted.
    app.person("sup", Role::Supervisor).await;
    let sup = app.sign_in("sup").await;
    let (status, report) = app.page(&sup.cookie, "/reports/pending-requests").await;
    assert_eq!(status, 200);
    assert!(report.contains("245 rows."), "{report}");
    let body = report.split("<tbody>").nth(1).unwrap();
    let firsts: Vec<bool> = body
        .split("<tr>")
        .skip(1)
        .map(|row| row.contains("<span class=\"badge\">STAT</span>"))
        .collect();
    assert_eq!(firsts.len(), 245);
    let stats = firsts.iter().filter(|s| **s).count();
    assert_eq!(stats, 7);
    assert!(firsts[..stats].iter().all(|s| *s), "STAT first");
}

#[tokio::test]
async fn a_clerk_pages_through_the_pull_list() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    app.seed().await;
    let expected = busy_morning(&app, 206).await;
    assert_eq!(expected.len(), 201);
    app.person("clerk", Role::Clerk).await;
    sign_in(b, &app, "clerk").await;
    b.goto(&format!("{}/pull-list", app.base)).await.unwrap();
    let line = text_until(b, "p.how-many", "the count", |t| t.contains("to pull")).await;
    assert!(
        line.starts_with("201 charts to pull: showing 1–200"),
        "{line}"
    );
    let rows = b
        .find_all(Locator::Css("table.pull tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 200);
    b.find(Locator::Css("nav.pages a.next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let line = text_until(b, "p.how-many", "the second page", |t| {
        t.contains("showing 201")
    })
    .await;
    assert!(
        line.starts_with("201 charts to pull: showing 201–201"),
        "{line}"
    );
    let rows = b
        .find_all(Locator::Css("table.pull tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = rows[0].text().await.unwrap();
    assert!(row.starts_with("201"), "{row}");
    assert!(row.contains(&expected[200]), "{row} {}", expected[200]);
    assert!(b.find(Locator::Css("nav.pages a.next")).await.is_err());
    // Print all: one page with every request.
    b.goto(&format!("{}/pull-list?all=true", app.base))
        .await
        .unwrap();
    text_until(b, "p.how-many", "print all", |t| t.contains("201 charts")).await;
    let rows = b
        .find_all(Locator::Css("table.pull tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 201);
    b.clone().close().await.unwrap();
}

/// A unit's list since a time (the floor page's "today"): its requests under way, and those
/// delivered or ended since then, newest first; not older ended ones, nor another unit's.
/// Active only: the ones under way.
#[tokio::test]
async fn a_units_requests_since_a_time_are_those_under_way_and_those_ended_since() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let ask = |v: usize, to: &str| json!({"barcode": h.volumes[v], "location": to, "priority": "routine"});
    let cancel = |id: &serde_json::Value| format!("/api/v1/requests/{id}/cancel");
    // Yesterday: one asked and cancelled.
    let (_, old) = app
        .post("/api/v1/requests", &app.admin, &ask(0, "4W"))
        .await;
    app.post(
        &cancel(&old["id"]),
        &app.admin,
        &json!({"reason": "entry_mistake"}),
    )
    .await;
    app.clock.advance(chrono::Duration::hours(30));
    let since = chartrack::clock::stamp(app.clock.now() - chrono::Duration::hours(1));
    // Today: one delivered (pulled by its slip, received on 4W), one cancelled, one open, and
    // one for another unit.
    let (_, delivered) = app
        .post("/api/v1/requests", &app.admin, &ask(1, "4W"))
        .await;
    app.scan("fr-out", delivered["barcode"].as_str().unwrap())
        .await;
    app.scan("fr-out", &h.volumes[1]).await;
    app.scan("w4", &h.volumes[1]).await;
    let (_, cancelled) = app
        .post("/api/v1/requests", &app.admin, &ask(0, "4W"))
        .await;
    app.post(
        &cancel(&cancelled["id"]),
        &app.admin,
        &json!({"reason": "no_longer_needed"}),
    )
    .await;
    let (_, open) = app
        .post("/api/v1/requests", &app.admin, &ask(2, "4W"))
        .await;
    let (_, elsewhere) = app
        .post("/api/v1/requests", &app.admin, &ask(0, "CARD"))
        .await;

    let ids = |list: &serde_json::Value| -> Vec<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let (status, today) = app
        .get(
            &format!("/api/v1/requests?location=4W&since={since}"),
            &app.admin,
        )
        .await;
    assert_eq!(status, 200, "{today}");
    let id = |r: &serde_json::Value| r["id"].as_i64().unwrap();
    assert_eq!(ids(&today), [id(&open), id(&cancelled), id(&delivered)]);
    assert_eq!(today[2]["status"], "delivered", "{today}");
    let (_, active) = app
        .get("/api/v1/requests?location=4W&active=true", &app.admin)
        .await;
    assert_eq!(ids(&active), [id(&open)]);
    let (_, all_active) = app.get("/api/v1/requests?active=true", &app.admin).await;
    assert_eq!(ids(&all_active), [id(&elsewhere), id(&open)]);
    let (_, everything) = app.get("/api/v1/requests?location=4W", &app.admin).await;
    assert_eq!(
        ids(&everything),
        [id(&open), id(&cancelled), id(&delivered), id(&old)]
    );
    let (_, two) = app
        .get("/api/v1/requests?location=4W&limit=2", &app.admin)
        .await;
    assert_eq!(ids(&two), [id(&open), id(&cancelled)]);
}

/// The requests page lists 200 open requests at a time, newest first, says how many are under
/// way, and pages to the older ones; the API pages the same way with `before`. (Before, it
/// showed the 200 newest of 3,331 without a word: fresh-eyes tester.)
#[tokio::test]
async fn the_requests_page_says_how_many_are_under_way_and_pages_to_the_older_ones() {
    let app = TestApp::spawn().await;
    app.seed().await;
    busy_morning(&app, 250).await;
    app.person("clerk", Role::Clerk).await;
    let s = app.sign_in("clerk").await;
    let ids = |html: &str| -> Vec<i64> {
        html.split("href=\"/requests/")
            .skip(1)
            .filter_map(|t| t.split('"').next()?.parse().ok())
            .collect()
    };

    let (status, first) = app.page(&s.cookie, "/requests").await;
    assert_eq!(status, 200);
    assert!(
        first.contains("245 under way, newest first; 200 listed here"),
        "{first}"
    );
    let newest = ids(&first);
    assert_eq!(newest.len(), 200);
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "newest first");
    let older = format!("href=\"/requests?before={}\">Older →", newest[199]);
    assert!(first.contains(&older), "{first}");

    let (status, second) = app
        .page(&s.cookie, &format!("/requests?before={}", newest[199]))
        .await;
    assert_eq!(status, 200);
    let rest = ids(&second);
    assert_eq!(rest.len(), 45);
    assert!(rest[0] < newest[199]);
    assert!(second.contains("← Newest"), "{second}");
    assert!(!second.contains("Older →"), "the last page has no older");

    // The API pages the same way.
    let (status, page) = app
        .get(
            &format!(
                "/api/v1/requests?active=true&limit=200&before={}",
                newest[199]
            ),
            &app.admin,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let api: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(api, rest);

    // A page this server never gave is a clear refusal, not the first page again.
    for bad in ["abc", "-5", "99999999999999999999999"] {
        let (status, body) = app
            .page(&s.cookie, &format!("/requests?before={bad}"))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert!(body.contains("not a page of this list"), "{body}");
    }
}
