//! The supervisor's reports as people read them: a table with headings in words, local time
//! and links, sorted by the server; the printed page with its header (title, when, who) and
//! without the menu; and the charts drawn as SVG on the server. In a real headless Chromium
//! where a browser is needed, over HTTP where the page's text says it all.

use crate::browser::{browser, sign_in, text_until};
use crate::helpers::*;
use chartrack::clock::Clock;
use chartrack::config::Config;
use chartrack::domain::Role;
use fantoccini::Locator;
use serde_json::{json, Value};

/// A hospital in Chicago (the clock starts 2026-03-02 08:00 UTC, 02:00 CST) where, in order:
/// a STAT request for volume 0 is delivered to 4W 25 minutes after it was asked for; volume 1
/// is sent to 4W (in transit); a stocktake of FR-40-59 finds volume 2 (of FR-00-19) there,
/// and one of FR-00-19 finds two volumes of FR-40-59 there (misfiles: 1 and 2); and a nurse
/// asks for volume 2 at the clinic (pending).
struct Scene {
    app: TestApp,
    h: Hospital,
    him: Session,
}

async fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&format!(
        "listen = \"127.0.0.1:0\"\ndatabase = {:?}\ntimezone = \"America/Chicago\"\n",
        dir.path().join("chartrack.db")
    ))
    .unwrap();
    let app = TestApp::spawn_with_config(dir, Clock::manual(start_time()), config).await;
    let h = app.seed().await;
    let nurse = app.user("nurse4w", Role::Nurse, None).await;
    let (s, r) = app
        .post(
            "/api/v1/requests",
            &nurse,
            &json!({"barcode": h.volumes[0], "location": "4W", "priority": "stat"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    app.clock.advance(chrono::Duration::minutes(7));
    app.scan("fr-out", r["barcode"].as_str().unwrap()).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.clock.advance(chrono::Duration::minutes(18));
    let a = app.scan("w4", &h.volumes[0]).await;
    assert!(a["message"].as_str().unwrap().contains("delivered"), "{a}");
    app.scan("fr-out", &h.loc["4W"]).await;
    let a = app.scan("fr-out", &h.volumes[1]).await;
    assert_eq!(a["accepted"], true, "{a}");

    let mut strays = Vec::new();
    for mrn in ["223446", "223447"] {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": mrn, "last_name": "Stray", "first_name": "Test", "home": "FR-40-59"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        strays.push(b["barcode"].as_str().unwrap().to_owned());
    }
    for (id, at) in [("count-00", "FR-00-19"), ("count-40", "FR-40-59")] {
        let (s, b) = app
            .post(
                "/api/v1/stations",
                &app.admin,
                &json!({"id": id, "location": at, "mode": "inventory"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    for (station, found) in [
        ("count-40", vec![h.volumes[2].clone()]),
        ("count-00", strays.clone()),
    ] {
        for v in &found {
            let a = app.scan(station, v).await;
            assert!(
                a["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("WRONG SECTION")
                    || a["warnings"].to_string().contains("WRONG SECTION"),
                "{a}"
            );
        }
        app.scan(station, "CMD-DONE").await;
    }
    let (s, r) = app
        .post(
            "/api/v1/requests",
            &nurse,
            &json!({"barcode": h.volumes[2], "location": "CARD", "priority": "routine"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    app.person("him1", Role::Supervisor).await;
    let him = app.sign_in("him1").await;
    Scene { app, h, him }
}

/// The `<svg>` with `id` in a page, as text.
fn svg<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .and_then(|i| page[..i].rfind("<svg"))
        .unwrap_or_else(|| panic!("no svg #{id} in {page}"));
    let end = start + page[start..].find("</svg>").expect("the svg ends") + 6;
    &page[start..end]
}

/// Every value of `attr` on the `tag` elements of `markup`, in order.
fn attrs(markup: &str, tag: &str, attr: &str) -> Vec<String> {
    markup
        .split(&format!("<{tag} "))
        .skip(1)
        .filter_map(|el| {
            let el = format!(" {}", &el[..el.find('>').unwrap_or(el.len())]);
            let from = el.find(&format!(" {attr}=\""))? + attr.len() + 3;
            Some(el[from..from + el[from..].find('"')?].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_report_is_a_table_in_words_with_links_local_time_and_sorted_columns() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let Scene { app, h, .. } = scene().await;
    sign_in(b, &app, "him1").await;
    b.goto(&format!("{}/reports/charged-out", app.base))
        .await
        .unwrap();
    let head = text_until(b, "table.report thead", "the headings", |t| {
        t.contains("Holder")
    })
    .await;
    for words in [
        "Holder",
        "Holder name",
        "Volume",
        "Patient",
        "MRN",
        "Status",
        "Since",
        "Days out",
    ] {
        assert!(head.contains(words), "{words}: {head}");
    }
    assert!(
        !head.contains("mrn") && !head.contains("days out"),
        "{head}"
    );
    let body = b
        .find(Locator::Css("table.report tbody"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Local time, in words people use; no stored stamp, no code word.
    assert!(
        body.contains("2026-03-02 02:25 CST"),
        "delivered at 08:25 UTC: {body}"
    );
    assert!(
        body.contains("In transit") && body.contains("Out"),
        "{body}"
    );
    assert!(
        !body.contains("in_transit") && !body.contains("at_location"),
        "{body}"
    );
    assert!(!body.contains(".000Z"), "{body}");
    // Links to the volumes and the holder.
    for v in &h.volumes[..2] {
        let link = b
            .find(Locator::Css(&format!(
                "table.report a[href='/volumes/{v}']"
            )))
            .await
            .unwrap_or_else(|_| panic!("a link to {v}"));
        assert_eq!(link.text().await.unwrap(), *v);
    }
    b.find(Locator::Css("table.report a[href='/locations/4W']"))
        .await
        .expect("a link to the holder");

    // Sorting by a heading: the server orders the rows, the heading says so (aria-sort).
    let volumes_shown = || async {
        let mut out = Vec::new();
        for e in b
            .find_all(Locator::Css("table.report tbody td:nth-child(4)"))
            .await
            .unwrap()
        {
            out.push(e.text().await.unwrap());
        }
        out
    };
    let mut sorted = volumes_shown().await;
    assert_eq!(
        sorted.len(),
        5,
        "two on 4W, three put right by the stocktakes"
    );
    sorted.sort();
    b.find(Locator::LinkText("Volume"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let th = text_until(b, "th[aria-sort='ascending']", "sorted up", |t| {
        t.contains("Volume")
    })
    .await;
    assert!(th.contains('▲'), "{th}");
    assert!(b
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("sort=volume&dir=asc"));
    assert_eq!(volumes_shown().await, sorted);
    b.find(Locator::Css("th[aria-sort] a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_until(b, "th[aria-sort='descending']", "sorted down", |t| {
        t.contains("Volume")
    })
    .await;
    sorted.reverse();
    assert_eq!(volumes_shown().await, sorted);
    assert_eq!(
        b.find_all(Locator::Css("th[aria-sort]"))
            .await
            .unwrap()
            .len(),
        1,
        "only the sorted column says it is sorted"
    );
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn report_pages_link_people_and_places_and_keep_the_csv_as_it_was() {
    let Scene { app, h, him } = scene().await;
    let (s, page) = app.page(&him.cookie, "/reports/pending-requests").await;
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("href=\"/access-log?subject=nurse4w\""),
        "{page}"
    );
    assert!(page.contains("href=\"/locations/CARD\""), "{page}");
    assert!(
        page.contains(&format!("href=\"/volumes/{}\"", h.volumes[2])),
        "{page}"
    );
    assert!(
        page.contains(">requested<"),
        "the request's status in words: {page}"
    );
    assert!(
        page.contains("Needed by") && page.contains("Requested at"),
        "{page}"
    );

    // The CSV keeps its columns and order whatever the page is sorted by.
    let (_, csv) = app
        .page(
            &him.cookie,
            "/reports/charged-out?format=csv&sort=volume&dir=desc",
        )
        .await;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "holder,holder name,kind,volume,patient,mrn,status,since,days out,overdue"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert!(
        rows[..2].iter().all(|r| r.starts_with("4W,4W name,unit,"))
            && rows[2].starts_with("FR-00-19,")
            && rows[4].starts_with("FR-40-59,"),
        "by holder, as ever, not as the page was sorted: {csv}"
    );
    assert!(
        csv.contains(",in_transit,") && csv.contains(",at_location,"),
        "{csv}"
    );
    assert!(csv.contains(",2026-03-02T02:25:00-06:00,"), "{csv}");
    let (_, csv) = app.page(&him.cookie, "/reports/misfiles?format=csv").await;
    assert_eq!(
        csv.lines().next().unwrap(),
        "section,section name,wrong section,out of order,total,last found"
    );

    // Sorting a summary as numbers; a column that is not there, or a direction that is not
    // one, is refused in words.
    let (s, page) = app
        .page(&him.cookie, "/reports/misfiles?sort=total&dir=asc")
        .await;
    assert_eq!(s, 200);
    let table = &page[page.find("<table class=\"report\"").unwrap()..];
    assert!(
        table.find("FR-40-59 name").unwrap() < table.find("FR-00-19 name").unwrap(),
        "1 misfile before 2: {table}"
    );
    assert!(table.contains("aria-sort=\"ascending\""), "{table}");
    let (s, page) = app
        .page(&him.cookie, "/reports/charged-out?sort=shoe-size")
        .await;
    assert_eq!(s, 400);
    assert!(
        page.contains("This report has no column &#39;shoe-size&#39; to sort by")
            || page.contains("This report has no column 'shoe-size' to sort by"),
        "{page}"
    );
    assert!(page.contains("days-out"), "the columns it has: {page}");
    let (s, page) = app
        .page(&him.cookie, "/reports/charged-out?sort=volume&dir=sideways")
        .await;
    assert_eq!(s, 400);
    assert!(page.contains("is not asc or desc"), "{page}");
}

#[tokio::test]
async fn the_charts_are_svg_drawn_on_the_server_with_bars_as_the_data_says() {
    let Scene { app, him, .. } = scene().await;
    let (s, page) = app.page(&him.cookie, "/reports/misfiles").await;
    assert_eq!(s, 200, "{page}");
    let chart = svg(&page, "chart-misfiles");
    assert!(chart.contains("role=\"img\""), "{chart}");
    assert!(
        chart.contains("aria-labelledby=\"chart-misfiles-title chart-misfiles-desc\""),
        "{chart}"
    );
    assert!(
        chart.contains(
            "<title id=\"chart-misfiles-title\">Misfiles by shelf section (last 30 days)</title>"
        ),
        "{chart}"
    );
    assert!(
        chart.contains("<desc id=\"chart-misfiles-desc\">"),
        "{chart}"
    );
    // One bar a section, the most first, as long as its count (2 fills the plot, 1 is half).
    assert_eq!(attrs(chart, "rect", "data-value"), ["2", "1"], "{chart}");
    assert_eq!(attrs(chart, "rect", "width"), ["400", "200"], "{chart}");
    assert!(chart.contains(">FR-00-19 FR-00-19 name</text>"), "{chart}");
    assert!(chart.contains(">FR-40-59 FR-40-59 name</text>"), "{chart}");
    assert!(
        chart.contains("misfiles found</text>"),
        "the axis says what it counts"
    );
    assert!(chart.contains(">shelf section</text>"), "{chart}");
    // Readable without colour: every number is written out, and nothing is told by hue (grey
    // bars outlined in black, black text).
    assert!(
        chart.contains(">2</text>") && chart.contains(">1</text>"),
        "{chart}"
    );
    for fill in attrs(chart, "rect", "fill")
        .iter()
        .chain(&attrs(chart, "text", "fill"))
    {
        assert!(["#9ca3af", "#000"].contains(&fill.as_str()), "{fill}");
    }
    assert!(
        chart.contains("2 wrong section, 0 out of order"),
        "each bar's numbers in its title"
    );

    // Turnaround by day: today (a Monday in Chicago) has one delivery of 25 minutes: its
    // median and 90th percentile; the other days of the month are empty bars.
    let (_, page) = app.page(&him.cookie, "/reports/turnaround").await;
    let chart = svg(&page, "chart-turnaround");
    assert!(
        chart.contains("Request turnaround by day (last 30 days)"),
        "{chart}"
    );
    let values = attrs(chart, "rect", "data-value");
    assert_eq!(values.len(), 30, "{chart}");
    assert_eq!(values.last().unwrap(), "25", "{chart}");
    assert!(values[..29].iter().all(|v| v == "0"), "{values:?}");
    assert_eq!(attrs(chart, "line", "data-value"), ["25"], "{chart}");
    assert!(chart.contains(">Mon 2026-03-02</text>"), "{chart}");
    assert!(
        chart.contains("1 delivered, median 25 min, 90th percentile 25 min"),
        "{chart}"
    );
    assert!(chart.contains(">25 (25)</text>"), "{chart}");

    // A long period is drawn by week.
    let (_, page) = app.page(&him.cookie, "/reports/turnaround?days=120").await;
    assert!(svg(&page, "chart-turnaround").contains("by week (last 120 days)"));
    // Nothing to draw, no chart.
    let (_, page) = app.page(&him.cookie, "/reports/charged-out").await;
    assert!(!page.contains("<svg"), "{page}");
}

/// A Chrome DevTools command through chromedriver (`goog/cdp/execute`).
async fn cdp(driver: &str, session: &str, cmd: &str, params: Value) {
    let r = reqwest::Client::new()
        .post(format!("{driver}/session/{session}/goog/cdp/execute"))
        .header("content-type", "application/json")
        .body(json!({"cmd": cmd, "params": params}).to_string())
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{cmd}: {}",
        r.text().await.unwrap()
    );
}

#[tokio::test]
async fn a_printed_report_has_a_header_with_title_time_and_who_and_no_menu() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let Scene { app, .. } = scene().await;
    sign_in(b, &app, "him1").await;
    b.goto(&format!("{}/reports/turnaround", app.base))
        .await
        .unwrap();
    text_until(b, "h1", "the report", |t| t.contains("Request turnaround")).await;
    let printed = chartrack::clock::show(app.clock.now(), chrono_tz::America::Chicago);
    assert!(printed.ends_with("CST"), "{printed}");

    // On screen the print header is hidden and the menu shown.
    let shown = |css: &'static str| async move {
        b.execute(
            "const e = document.querySelector(arguments[0]); return e && getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().height > 0;",
            vec![json!(css)],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap()
    };
    assert!(!shown(".print-head").await);
    assert!(shown("header.top").await);

    // Chromium's own print to PDF (WebDriver "print"): a valid PDF of the report.
    let pdf = b
        .print(fantoccini::wd::PrintConfiguration::default())
        .await
        .expect("print to PDF");
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.trim_end().ends_with("%%EOF"), "a whole PDF");
    assert!(text.contains("/Type /Page"), "with a page");
    assert!(
        text.contains(&format!(
            "/Title {}",
            utf16_hex("Request turnaround (request to delivery) · chartrack")
        )),
        "the PDF is titled with the report"
    );

    // The same page as the printer sees it (print media): the header with title, the local
    // time it was printed and who printed it; no menu, no forms; the chart and table stay.
    let session = b.session_id().await.unwrap().unwrap();
    cdp(
        &browser.driver_url,
        &session,
        "Emulation.setEmulatedMedia",
        json!({"media": "print"}),
    )
    .await;
    assert!(
        shown(".print-head").await,
        "the print header shows on paper"
    );
    let head = text_until(b, ".print-head", "the print header", |t| !t.is_empty()).await;
    assert!(
        head.contains("Request turnaround (request to delivery)"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Printed {printed} by him1")),
        "{head}"
    );
    assert!(head.contains("The last 30 days."), "{head}");
    assert!(!shown("header.top").await, "no menu on paper");
    assert!(!shown("form").await, "no forms on paper");
    assert!(!shown(".noprint").await, "no links to other pages on paper");
    assert!(shown("figure.chart svg").await, "the chart prints");
    assert!(shown("table.report").await, "the table prints");
    b.clone().close().await.unwrap();
}

/// The start of a PDF text string as Chromium writes one that is not plain ASCII (the page
/// title has a `·`): `<FEFF` and UTF-16 in hex.
fn utf16_hex(s: &str) -> String {
    let mut out = String::from("<FEFF");
    for u in s.encode_utf16() {
        out += &format!("{u:04X}");
    }
    out
}

#[tokio::test]
async fn a_long_report_shows_a_page_sorted_over_all_its_rows_and_says_how_many_the_csv_has() {
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("root", Role::Admin).await;
    let root = app.sign_in("root").await;
    // 501 loose reports for one patient, "Result 000" to "Result 500".
    let mut csv = String::from("barcode,mrn,description\n");
    for i in 0..=500 {
        csv += &format!(",123405,Result {i:03}\n");
    }
    let form = reqwest::multipart::Form::new()
        .text("what", "reports")
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("reports.csv"),
        );
    let r = app
        .browser_like()
        .post(format!("{}/admin/import", app.base))
        .header("Cookie", &root.cookie)
        .header("X-CSRF-Token", &root.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.person("him1", Role::Supervisor).await;
    let him = app.sign_in("him1").await;

    let (s, page) = app
        .page(
            &him.cookie,
            "/reports/loose-reports?sort=description&dir=desc",
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        page.contains("Showing 500 of 501 rows; the CSV has them all."),
        "{page}"
    );
    assert_eq!(page.matches(">Result ").count(), 500, "a page of 500");
    let table = &page[page.find("<tbody>").unwrap()..];
    assert!(
        table.find("Result 500").unwrap() < table.find("Result 499").unwrap(),
        "sorted over all 501, the last first"
    );
    assert!(
        !table.contains("Result 000"),
        "the 501st is left for the CSV"
    );
    let (_, csv) = app
        .page(&him.cookie, "/reports/loose-reports?format=csv")
        .await;
    assert_eq!(csv.lines().count(), 502, "a header and every row");
}
