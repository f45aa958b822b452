//! The pages in a real headless Chromium (Debian's `chromium` and `chromedriver`), driven over
//! WebDriver with fantoccini: sign in, find a patient, open the chart, scan on the scan page,
//! and watch the live feed. Locally, a machine without Chromium skips these and says so; in CI
//! (`CI=true`) a missing Chromium fails them.

use crate::helpers::*;
use chartrack::domain::Role;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) struct Browser {
    pub(crate) client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// chromedriver, which leads its own process group: dropping it ends the browsers it started
/// too, even when a test fails half-way.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

fn which(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    for n in names {
        for dir in path.split(':').chain(["/usr/bin", "/usr/lib/chromium"]) {
            let p = std::path::Path::new(dir).join(n);
            if p.is_file() {
                return Some(p.to_string_lossy().into_owned());
            }
        }
    }
    None
}

/// A fresh browser, or `None` (with a note) where Chromium is not installed outside CI.
pub(crate) async fn browser() -> Option<Browser> {
    let (Some(chromium), Some(driver)) = (
        which(&["chromium", "chromium-browser"]),
        which(&["chromedriver"]),
    ) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("Chromium and chromedriver are required in CI: apt-get install -y chromium chromium-driver");
        }
        eprintln!("SKIPPED browser test: chromium/chromedriver not installed (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    use std::os::unix::process::CommandExt;
    let child = Driver(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver"),
    );
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--no-first-run", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Some(Browser {
                    client,
                    _driver: child,
                    _profile: profile,
                })
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start: {last:?}");
}

pub(crate) async fn sign_in(b: &Client, app: &TestApp, name: &str) {
    sign_in_at(b, &app.base, name).await
}

/// Sign in at `base` (the server, or a proxy in front of it).
async fn sign_in_at(b: &Client, base: &str, name: &str) {
    b.goto(&format!("{base}/login")).await.unwrap();
    fill_sign_in(b, name).await
}

/// Fill in and send the sign-in form on the page shown, then wait to be signed in.
async fn fill_sign_in(b: &Client, name: &str) {
    b.find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    b.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form.signout"))
        .await
        .is_err()
    {
        let url = b.current_url().await.unwrap();
        panic!(
            "{name} could not sign in: at {url}: {}",
            b.source().await.unwrap()
        );
    }
}

/// The text of the first element matching `css`, polled until `ok` accepts it.
pub(crate) async fn text_until(
    b: &Client,
    css: &str,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(e) = b.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if ok(&t) {
                    return t;
                }
                if std::time::Instant::now() > deadline {
                    panic!("{what}: {css} shows {t:?}");
                }
            }
        }
        if std::time::Instant::now() > deadline {
            panic!("{what}: {css} never appeared");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_nurse_signs_in_searches_a_patient_and_opens_the_chart() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[1]).await;
    app.person("ames", Role::Nurse).await;

    sign_in(b, &app, "ames").await;
    let q = b.find(Locator::Id("q")).await.unwrap();
    q.send_keys("O'Brien\n").await.unwrap();
    let link = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".results a"))
        .await
        .expect("a result");
    assert_eq!(link.text().await.unwrap(), "O'Brien, Test");
    let status = text_until(b, ".results .status", "the status", |t| !t.is_empty()).await;
    assert_eq!(status, "In transit");
    link.click().await.unwrap();
    let h1 = text_until(b, "h1", "the chart's page", |t| t.contains("O'Brien")).await;
    assert_eq!(h1, "O'Brien, Test");
    let dest = text_until(b, ".where .dest", "the destination", |t| !t.is_empty()).await;
    assert!(dest.contains("4W name"), "{dest}");
    let rows = b
        .find_all(Locator::Css(".timeline tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one movement: the check-out");
    assert!(rows[0].text().await.unwrap().contains("check-out"));
    let log = app.access_log().await;
    assert!(log.iter().any(|(who, what, subject, _)| who == "ames"
        && what == "view-volume"
        && *subject == h.volumes[1]));
    assert!(log
        .iter()
        .any(|(who, what, subject, _)| who == "ames" && what == "search" && subject == "O'Brien"));
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_scan_page_keeps_focus_records_a_scan_and_shows_the_answer() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.person("clerk", Role::Clerk).await;
    sign_in(b, &app, "clerk").await;

    b.goto(&format!("{}/scan?station=w4", app.base))
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("scan-input"))
        .await
        .unwrap();
    // A click elsewhere does not lose the scanner's keystrokes: focus comes back.
    b.find(Locator::Css("h1, .station-line"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let id = b.active_element().await.unwrap().attr("id").await.unwrap();
        if id.as_deref() == Some("scan-input") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "focus did not return to the scan box"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The scanner types into whatever has focus, then Enter.
    b.active_element()
        .await
        .unwrap()
        .send_keys(&format!("{}\n", h.volumes[0]))
        .await
        .unwrap();
    let verdict = text_until(b, "#answer .verdict", "the answer", |t| {
        t == "Done" || t == "Refused"
    })
    .await;
    assert_eq!(verdict, "Done");
    let class = b
        .find(Locator::Id("answer"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap();
    assert!(class.contains("accepted"), "{class}");
    let v = app.volume(&h.volumes[0]).await;
    assert_eq!(
        (v["status"].as_str(), v["location"]["code"].as_str()),
        (Some("at_location"), Some("4W"))
    );
    assert_eq!(
        v["last_scan"]["user"], "clerk",
        "the signed-in person is on record"
    );

    b.active_element()
        .await
        .unwrap()
        .send_keys("NO-SUCH-CHART\n")
        .await
        .unwrap();
    let verdict = text_until(b, "#answer .verdict", "the refusal", |t| t == "Refused").await;
    assert_eq!(verdict, "Refused");
    let msg = text_until(b, "#answer .message", "the reason", |t| !t.is_empty()).await;
    assert!(
        msg.to_lowercase().contains("unknown") || msg.contains("NO-SUCH-CHART"),
        "{msg}"
    );
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_dashboard_feed_shows_a_scan_that_arrives_by_the_api() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("ames", Role::Nurse).await;
    sign_in(b, &app, "ames").await;
    text_until(b, ".feed .live", "the feed connecting", |t| t == "live").await;
    app.scan("card", &h.volumes[2]).await;
    let line = text_until(b, "#feed li", "the new scan", |t| t.contains("card")).await;
    assert!(line.contains(&h.volumes[2]), "{line}");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_nurse_requests_a_chart_and_watches_it_pulled_and_delivered_without_reloading() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("ames", Role::Nurse).await;
    sign_in(b, &app, "ames").await;

    // Find the patient on the floor page and ask for the chart, STAT.
    b.goto(&format!("{}/requests?location=4W&q=Quill", app.base))
        .await
        .unwrap();
    b.find(Locator::Css(&format!(
        "input[name=volume][value='{}']",
        h.volumes[2]
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.find(Locator::Css("select[name=priority] option[value=stat]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(Locator::Css("form.request button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_until(b, "p.ok", "the request is confirmed", |t| {
        t.starts_with("Requested: 4W")
    })
    .await;
    text_until(b, ".floor .live", "the floor page connecting", |t| {
        t == "live"
    })
    .await;
    let stage = "#request-list tr.request .stage";
    text_until(b, stage, "requested", |t| t == "requested").await;

    // The file room pulls it (the slip, then the volume): the page changes by itself.
    let (_, list) = app.get("/api/v1/pull-list", &app.admin).await;
    let slip = list["pull"][0]["barcode"].as_str().unwrap().to_owned();
    app.scan("fr-out", &slip).await;
    app.scan("fr-out", &h.volumes[2]).await;
    text_until(b, stage, "pulled and in transit", |t| {
        t == "pulled · in transit"
    })
    .await;
    // Said as it is: on its way from the file room, not "held by" the floor it is going to.
    let where_now = text_until(
        b,
        "#request-list tr.request small.where",
        "on the way",
        |t| t.starts_with("on the way from "),
    )
    .await;
    assert!(
        where_now.starts_with("on the way from FR-00-19 name since ") && !where_now.contains("4W"),
        "{where_now}"
    );
    // Received on 4W: delivered.
    app.scan("w4", &h.volumes[2]).await;
    text_until(b, stage, "delivered", |t| t == "delivered").await;
    b.clone().close().await.unwrap();
}

/// A TCP proxy in front of the server that holds back everything the server sends by `delay`
/// (latency, not bandwidth: each chunk leaves `delay` after it arrived): a slow network. While
/// `lose_answers` is set, the server's answers are lost on the way: the connection is cut
/// instead (the request itself reached the server). While `unavailable` is set, the proxy
/// answers every request itself with a 503, as a server that cannot write would. While `hold`
/// is set, the server's answers wait in the proxy until it is cleared (a network as slow as the
/// test needs it to be, whatever the machine's load).
struct SlowProxy {
    base: String,
    hold: tokio::sync::watch::Sender<bool>,
    lose_answers: std::sync::Arc<std::sync::atomic::AtomicBool>,
    unavailable: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl SlowProxy {
    fn lose_answers(&self, on: bool) {
        self.lose_answers
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }
    fn hold(&self, on: bool) {
        self.hold.send_replace(on);
    }
    fn unavailable(&self, on: bool) {
        self.unavailable
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn slow_proxy(upstream: &str, delay: Duration) -> SlowProxy {
    let target = upstream.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let lose_answers = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let unavailable = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lose = lose_answers.clone();
    let down_for_now = unavailable.clone();
    let (hold, held) = tokio::sync::watch::channel(false);
    let accept = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let mut held = held.clone();
            let target = target.clone();
            let lose = lose.clone();
            let down_for_now = down_for_now.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let canned = tx.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        if down_for_now.load(std::sync::atomic::Ordering::SeqCst) {
                            let body = r#"{"error":"storage unavailable"}"#;
                            let reply = format!(
                                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = canned.send((tokio::time::Instant::now(), reply.into_bytes()));
                            break;
                        }
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown().await;
                });
                let down = tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                        let due = tokio::time::Instant::now() + delay;
                        if tx.send((due, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                });
                while let Some((due, bytes)) = rx.recv().await {
                    tokio::time::sleep_until(due).await;
                    if held.wait_for(|h| !*h).await.is_err() {
                        break;
                    }
                    if lose.load(std::sync::atomic::Ordering::SeqCst)
                        || to_client.write_all(&bytes).await.is_err()
                    {
                        break;
                    }
                }
                let _ = to_client.shutdown().await;
                up.abort();
                down.abort();
            });
        }
    });
    SlowProxy {
        base,
        hold,
        lose_answers,
        unavailable,
        accept,
    }
}

/// The scan page of `station` at `base`, ready for the scanner's keystrokes.
async fn open_scan_page(b: &Client, base: &str, station: &str) {
    b.goto(&format!("{base}/scan?station={station}"))
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("scan-input"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.active_element().await.unwrap().attr("id").await.unwrap() != Some("scan-input".into()) {
        assert!(Instant::now() < deadline, "the scan box never had focus");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a keyboard-wedge scanner does: type the value and Enter into whatever has focus,
/// without waiting for anything.
async fn wedge(b: &Client, keys: &str) {
    b.active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

/// The volume's newest movement, once it is a receive by `station` (polled, with a deadline).
async fn received_by(app: &TestApp, barcode: &str, station: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let moves = app.movements(barcode).await;
        let last = moves.first().cloned().unwrap_or(Value::Null);
        if last["action"] == "receive" && last["station"] == station {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "{barcode} was never received by {station}: last movement {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page's list of recent answers, newest first: (class, text).
async fn history(b: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for li in b.find_all(Locator::Css("#history li")).await.unwrap() {
        let class = li.attr("class").await.unwrap().unwrap_or_default();
        out.push((class, li.text().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn a_burst_of_barcodes_typed_at_scanner_speed_is_all_recorded_in_order() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    for v in &h.volumes {
        app.scan("fr-out", v).await;
    }
    app.person("clerk", Role::Clerk).await;
    sign_in(b, &app, "clerk").await;
    open_scan_page(b, &app.base, "w4").await;

    // Four labels read in one sweep, an unreadable one among them: the keystrokes arrive a few
    // milliseconds apart, long before the first answer.
    let burst = format!(
        "{}\nNO-SUCH-CHART\n{}\n{}\n",
        h.volumes[0], h.volumes[1], h.volumes[2]
    );
    wedge(b, &burst).await;

    let mut seqs = Vec::new();
    for v in &h.volumes {
        let m = received_by(&app, v, "w4").await;
        seqs.push(m["seq"].as_i64().expect("a movement's seq"));
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "recorded in the order scanned: {seqs:?}"
    );
    let (_, exceptions) = app.get("/api/v1/exceptions", &app.admin).await;
    assert_eq!(
        exceptions.as_array().map(Vec::len),
        Some(1),
        "the unknown value is an exception: {exceptions}"
    );

    // The page answered each one: the latest big, and every answer in the list, the refused
    // one included.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut list = history(b).await;
    while list.len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        list = history(b).await;
    }
    assert_eq!(list.len(), 4, "{list:?}");
    assert!(list[0].1.contains(&h.volumes[2]), "newest first: {list:?}");
    assert!(list[3].1.contains(&h.volumes[0]), "{list:?}");
    assert!(
        list[2].0.contains("refused") && list[2].1.contains("NO-SUCH-CHART"),
        "the refused one is not hidden: {list:?}"
    );
    assert_eq!(
        list.iter().filter(|(c, _)| c.contains("refused")).count(),
        1,
        "{list:?}"
    );
    let verdict = text_until(b, "#answer .verdict", "the latest answer", |t| t == "Done").await;
    assert_eq!(verdict, "Done");
    text_until(b, "#waiting", "nothing left waiting", |t| t.is_empty()).await;
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn on_a_slow_network_a_chart_scanned_right_after_another_is_recorded_and_shown_waiting() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.scan("fr-out", &h.volumes[1]).await;
    app.person("clerk", Role::Clerk).await;
    // Every answer from the server takes 300 ms more to arrive.
    let proxy = slow_proxy(&app.base, Duration::from_millis(300)).await;
    sign_in_at(b, &proxy.base, "clerk").await;
    open_scan_page(b, &proxy.base, "w4").await;

    // The first answer is slower still: it stays on the way until the test lets it through,
    // so that the second chart is surely scanned while the first is in flight.
    proxy.hold(true);
    wedge(b, &format!("{}\n", h.volumes[0])).await;
    // The clerk's next chart, 150 ms later.
    tokio::time::sleep(Duration::from_millis(150)).await;
    wedge(b, &format!("{}\n", h.volumes[1])).await;
    // The page says the second waits; the server has the first, and the second waits its turn.
    text_until(b, "#waiting", "the second waiting", |t| t == "1 waiting").await;
    received_by(&app, &h.volumes[0], "w4").await;
    assert_eq!(
        app.movements(&h.volumes[1]).await.len(),
        1,
        "sent in order: the second only after the first's answer"
    );
    proxy.hold(false);

    let first = received_by(&app, &h.volumes[0], "w4").await;
    let second = received_by(&app, &h.volumes[1], "w4").await;
    assert!(first["seq"].as_i64() < second["seq"].as_i64());
    // Both answers reach the page, newest first.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut list = history(b).await;
    while list.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        list = history(b).await;
    }
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list[0].1.contains(&h.volumes[1]), "{list:?}");
    assert!(list[1].1.contains(&h.volumes[0]), "{list:?}");
    assert!(list.iter().all(|(c, _)| c.contains("ok")), "{list:?}");
    text_until(b, "#waiting", "nothing left waiting", |t| t.is_empty()).await;
    let verdict = text_until(b, "#answer .verdict", "the latest answer", |t| t == "Done").await;
    assert_eq!(verdict, "Done");
    b.clone().close().await.unwrap();
    drop(proxy);
}

#[tokio::test]
async fn a_barcode_typed_in_lower_case_with_caps_lock_on_is_recorded() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.person("clerk", Role::Clerk).await;
    sign_in(b, &app, "clerk").await;
    open_scan_page(b, &app.base, "w4").await;

    let lower = h.volumes[0].to_ascii_lowercase();
    assert_ne!(lower, h.volumes[0]);
    wedge(b, &format!("{lower}\n")).await;
    let verdict = text_until(b, "#answer .verdict", "the answer", |t| {
        t == "Done" || t == "Refused"
    })
    .await;
    let message = b
        .find(Locator::Css("#answer .message"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(verdict, "Done", "{message}");
    received_by(&app, &h.volumes[0], "w4").await;
    let (_, exceptions) = app.get("/api/v1/exceptions", &app.admin).await;
    assert_eq!(exceptions, serde_json::json!([]), "not an exception");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn scans_refused_with_503_or_whose_answers_are_lost_are_kept_retried_and_recorded_once() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.scan("fr-out", &h.volumes[1]).await;
    app.person("clerk", Role::Clerk).await;
    let proxy = slow_proxy(&app.base, Duration::ZERO).await;
    sign_in_at(b, &proxy.base, "clerk").await;
    open_scan_page(b, &proxy.base, "w4").await;

    // The server cannot write for a while (503): the page keeps the scan and says so.
    proxy.unavailable(true);
    wedge(b, &format!("{}\n", h.volumes[0])).await;
    let message = text_until(b, "#answer .message", "the 503", |t| t.contains("503")).await;
    assert!(message.contains("1 scan is kept"), "{message}");
    let verdict = text_until(b, "#answer .verdict", "not sent yet", |t| !t.is_empty()).await;
    assert_eq!(verdict, "Not sent yet");
    text_until(b, "#waiting", "one waiting", |t| t == "1 waiting").await;
    assert_eq!(
        app.movements(&h.volumes[0]).await.len(),
        1,
        "not recorded yet"
    );

    // Then the network drops the answers: the retried scan reaches the server, the page never
    // hears.
    proxy.lose_answers(true);
    proxy.unavailable(false);
    received_by(&app, &h.volumes[0], "w4").await;
    wedge(b, &format!("{}\n", h.volumes[1])).await;
    // The page says plainly that they are not sent yet, and keeps both.
    let verdict = text_until(b, "#answer .verdict", "not sent yet", |t| {
        t == "Not sent yet"
    })
    .await;
    assert_eq!(verdict, "Not sent yet");
    let message = text_until(b, "#answer .message", "why", |t| !t.is_empty()).await;
    assert!(message.contains("kept"), "{message}");
    text_until(b, "#waiting", "both waiting", |t| t == "2 waiting").await;
    assert_eq!(
        app.movements(&h.volumes[1]).await.len(),
        1,
        "the second waits behind the first: still only its check-out"
    );

    // The network comes back: the page sends them again, in order, with the same ids.
    proxy.lose_answers(false);
    received_by(&app, &h.volumes[1], "w4").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut list = history(b).await;
    while list.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        list = history(b).await;
    }
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|(c, _)| c.contains("ok")), "{list:?}");
    text_until(b, "#waiting", "nothing left waiting", |t| t.is_empty()).await;
    for v in &h.volumes[..2] {
        let moves = app.movements(v).await;
        assert_eq!(
            moves
                .iter()
                .map(|m| m["action"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["receive", "check-out"],
            "{v}: recorded once, though sent more than once"
        );
    }
    // Each line was sent with one scan id however often it went: two scans on record.
    let access = chartrack::store::audit::Access {
        user_id: None,
        actor: "test".into(),
        action: "live-feed",
        subject: "w4".into(),
        remote: "local".into(),
    };
    let scans = app
        .store
        .audited(access, |c| {
            chartrack::store::query::recent_answers(c, Some("w4"), false, 100)
        })
        .await
        .unwrap();
    assert_eq!(scans.len(), 2, "{scans:?}");
    let (_, exceptions) = app.get("/api/v1/exceptions", &app.admin).await;
    assert_eq!(exceptions, serde_json::json!([]));
    b.clone().close().await.unwrap();
    drop(proxy);
}

#[tokio::test]
async fn scans_typed_as_the_session_ends_are_kept_through_signing_in_again() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.scan("fr-out", &h.volumes[1]).await;
    app.person("clerk", Role::Clerk).await;
    sign_in(b, &app, "clerk").await;
    open_scan_page(b, &app.base, "w4").await;

    // The clerk went for coffee: the session ended while idle.
    app.clock.advance(chrono::Duration::minutes(16));
    wedge(b, &format!("{}\n{}\n", h.volumes[0], h.volumes[1])).await;
    text_until(b, "#answer .verdict", "signed out", |t| t == "Signed out").await;
    let message = text_until(b, "#answer .message", "why", |t| !t.is_empty()).await;
    assert!(message.contains("2 scans are kept"), "{message}");
    assert_eq!(
        app.movements(&h.volumes[0]).await.len(),
        1,
        "nothing recorded yet"
    );

    // The page sends the clerk to sign in, and back; then the kept scans go, in order.
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name=password]"))
        .await
        .expect("the sign-in page");
    fill_sign_in(b, "clerk").await;
    let first = received_by(&app, &h.volumes[0], "w4").await;
    let second = received_by(&app, &h.volumes[1], "w4").await;
    assert!(first["seq"].as_i64() < second["seq"].as_i64());
    assert_eq!(first["user"], "clerk");
    let url = b.current_url().await.unwrap();
    assert!(url.as_str().ends_with("/scan?station=w4"), "{url}");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn same_name_patients_are_told_apart_by_date_of_birth_and_found_by_it() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    app.seed().await;
    for (mrn, dob) in [("600101", "1970-01-31"), ("600202", "1982-05-02")] {
        let (s, body) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &serde_json::json!({"mrn": mrn, "last_name": "Twin", "first_name": "Ann",
                                    "birth_date": dob, "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    app.person("ames", Role::Nurse).await;
    sign_in(b, &app, "ames").await;

    // The dashboard's results: each line says when that Ann Twin was born, and her age today
    // (the test clock's 2026-03-02).
    b.goto(&format!("{}/?q=Twin", app.base)).await.unwrap();
    let rows = text_until(b, "section.results tbody", "both patients", |t| {
        t.contains("600101") && t.contains("600202")
    })
    .await;
    assert!(rows.contains("b. 1970-01-31 · 56 y"), "{rows}");
    assert!(rows.contains("b. 1982-05-02 · 43 y"), "{rows}");

    // Name and date of birth in the one box: only her.
    b.goto(&format!("{}/?q=Twin%2C%20Ann%201982-05-02", app.base))
        .await
        .unwrap();
    let rows = text_until(b, "section.results tbody", "one patient", |t| {
        t.contains("600202")
    })
    .await;
    assert!(!rows.contains("600101"), "{rows}");

    // The request form's picker too.
    b.goto(&format!("{}/requests?location=4W&q=Twin", app.base))
        .await
        .unwrap();
    let picker = text_until(b, "form.request fieldset", "the picker", |t| {
        t.contains("600202")
    })
    .await;
    assert!(
        picker.contains("b. 1970-01-31 · 56 y") && picker.contains("b. 1982-05-02 · 43 y"),
        "{picker}"
    );
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_search_says_how_much_it_found_and_pages_through_the_rest() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    app.seed().await;
    for i in 0..130 {
        let (s, body) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &serde_json::json!({"mrn": format!("{}", 700000 + i), "last_name": "Manyfold",
                                    "first_name": format!("Pat{i:03}"), "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    app.person("ames", Role::Nurse).await;
    sign_in(b, &app, "ames").await;
    b.goto(&format!("{}/?q=Manyfold", app.base)).await.unwrap();
    let line = text_until(b, "div.how-many", "the count", |t| t.starts_with("Showing")).await;
    assert!(line.starts_with("Showing 1–100 of 130"), "{line}");
    assert!(line.contains("add a first name or date of birth"), "{line}");
    let rows = b
        .find_all(Locator::Css("section.results tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 100);
    // The dashboard's counts stay above the results.
    b.find(Locator::Css("a.tile")).await.expect("the counts");

    b.find(Locator::Css("div.how-many a.next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let line = text_until(b, "div.how-many", "the second page", |t| {
        t.starts_with("Showing 101")
    })
    .await;
    assert!(line.starts_with("Showing 101–130 of 130"), "{line}");
    let rows = b
        .find_all(Locator::Css("section.results tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 30);
    assert!(b.find(Locator::Css("div.how-many a.prev")).await.is_ok());
    assert!(b.find(Locator::Css("div.how-many a.next")).await.is_err());
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn pages_fit_an_800_pixel_wide_screen_tables_scroll_inside_themselves() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    app.person("root", Role::Admin).await;
    sign_in(b, &app, "root").await;
    b.set_window_size(800, 900).await.unwrap();
    for page in [
        "/?q=a",
        "/pull-list",
        "/requests",
        "/locations",
        "/stations",
        "/missing",
        "/reports/charged-out",
        "/access-log",
        "/admin",
        "/exceptions",
    ] {
        b.goto(&format!("{}{page}", app.base)).await.unwrap();
        let widths = b
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            scroll <= client,
            "{page} is {scroll} px wide in a {client} px window: the page scrolls sideways"
        );
    }
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_request_form_delivers_to_the_nurses_home_unit_unless_told_otherwise() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    app.seed().await;
    app.person("root", Role::Admin).await;
    app.person("ames", Role::Nurse).await;
    // The admin gives her a home unit on the admin page.
    let root = app.sign_in("root").await;
    let r = app
        .form(
            &root,
            "/admin/users/ames/home",
            &[("home", "CARD")],
            Some(&root.csrf),
        )
        .await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let log = app.access_log().await;
    assert!(
        log.iter()
            .any(|e| e.1 == "user-changed" && e.2.contains("home unit CARD")),
        "{log:?}"
    );

    sign_in(b, &app, "ames").await;
    let deliver_to = || async {
        b.execute(
            "return document.querySelector('form.request select[name=location]').value",
            vec![],
        )
        .await
        .unwrap()
    };
    b.goto(&format!("{}/requests?q=Quill", app.base))
        .await
        .unwrap();
    text_until(b, "form.request fieldset", "the picker", |t| !t.is_empty()).await;
    assert_eq!(
        deliver_to().await,
        "CARD",
        "her home unit, not the first alphabetically"
    );
    // On a floor's own page, that floor.
    b.goto(&format!("{}/requests?location=4W&q=Quill", app.base))
        .await
        .unwrap();
    text_until(b, "form.request fieldset", "the picker", |t| !t.is_empty()).await;
    assert_eq!(deliver_to().await, "4W");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn cancelling_a_request_on_the_floor_page_asks_first() {
    let Some(browser) = browser().await else {
        return;
    };
    let b = &browser.client;
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("ames", Role::Nurse).await;
    let (s, r) = app
        .post(
            "/api/v1/requests",
            &app.admin,
            &serde_json::json!({"barcode": h.volumes[0], "location": "4W", "priority": "routine"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let id = r["id"].as_i64().unwrap();
    app.set_home("ames", "4W").await;
    sign_in(b, &app, "ames").await;
    b.goto(&format!("{}/requests?location=4W", app.base))
        .await
        .unwrap();
    let cancel = "form[data-confirm] button[type=submit]";
    let click = || async {
        b.find(Locator::Css(cancel))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    };
    // Changing her mind: nothing happens.
    click().await;
    let asked = b.get_alert_text().await.unwrap();
    assert!(
        asked.starts_with(&format!("Cancel the request for {}", h.volumes[0])),
        "{asked}"
    );
    b.dismiss_alert().await.unwrap();
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
    assert_eq!(r["status"], "open");
    // Meaning it: cancelled.
    click().await;
    b.accept_alert().await.unwrap();
    crate::helpers::until(Duration::from_secs(10), "the request cancelled", || async {
        let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.admin).await;
        r["status"] == "cancelled"
    })
    .await;
    b.clone().close().await.unwrap();
}
