//! Page render time: the dashboard (a name search, the counts and the feed) and a volume's page
//! (everything known plus its timeline), through the real server and its access log, over
//! HTTP with a signed-in session, one request at a time as a person would.
//! Run: `cargo bench --bench pages` (CHARTRACK_BENCH_VOLUMES, CHARTRACK_BENCH_REQUESTS).

use chartrack::config::Config;
use chartrack::server::Application;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(http: &reqwest::Client, url: &str, cookie: &str, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = http.get(url).header("Cookie", cookie).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let body = r.text().await.unwrap();
        times.push(t.elapsed());
        assert!(body.len() > 500);
    }
    times.sort();
    times
}

fn report(what: &str, t: &[Duration]) {
    let mean = t.iter().sum::<Duration>() / t.len() as u32;
    println!(
        "{what:<40} p50 {:>7.2} ms  p99 {:>7.2} ms  mean {:>7.2} ms  ({} requests)",
        pct(t, 0.5).as_secs_f64() * 1e3,
        pct(t, 0.99).as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
        t.len()
    );
}

#[tokio::main]
async fn main() {
    let volumes = env_or("CHARTRACK_BENCH_VOLUMES", 50_000) as u32;
    let n = env_or("CHARTRACK_BENCH_REQUESTS", 300);
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("bench.db"),
        ..Config::default()
    };
    let app = Application::build(&config, Default::default())
        .await
        .unwrap();
    let store = app.store().clone();
    let t = Instant::now();
    let password = tokio::task::spawn_blocking(move || chartrack::demo::seed(&store, volumes))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    println!(
        "seeded {volumes} volumes in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/login"))
        .header("Origin", &base)
        .form(&[("name", "supervisor1"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!("{base}/"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // A chart with a history: 40 receive scans alternating between two floors.
    let hits: serde_json::Value = http
        .get(format!("{base}/api/v1/search?q=Ashdown&limit=1"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let barcode = hits[0]["barcode"].as_str().unwrap().to_owned();
    for i in 0..40 {
        let station = if i % 2 == 0 { "demo-4w" } else { "demo-5e" };
        let r = http
            .post(format!("{base}/api/v1/scans"))
            .header("Cookie", &cookie)
            .header("X-CSRF-Token", &csrf)
            .json(&serde_json::json!({"station": station, "barcode": barcode}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    println!("pages over HTTP, {volumes} volumes, one request at a time (each view written to the access log):");
    let t = measure(&http, &format!("{base}/"), &cookie, n).await;
    report("dashboard (counts, feed)", &t);
    let t = measure(&http, &format!("{base}/?q=Ashdown"), &cookie, n).await;
    report("dashboard with a name search (audited)", &t);
    let t = measure(&http, &format!("{base}/?q={barcode}"), &cookie, n).await;
    report("dashboard with a barcode search (audited)", &t);
    let t = measure(&http, &format!("{base}/volumes/{barcode}"), &cookie, n).await;
    report("volume page, 40 movements (audited)", &t);

    // A busy morning: 300 open requests across the floors (one in five STAT).
    let hits: serde_json::Value = http
        .get(format!("{base}/api/v1/search?q=Brightwater&limit=300"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let floors = ["4W", "5E", "ICU", "ED", "CARD", "ORTHO", "ONC"];
    for (i, h) in hits.as_array().unwrap().iter().enumerate() {
        let body = serde_json::json!({
            "barcode": h["barcode"], "location": floors[i % floors.len()],
            "priority": if i % 5 == 0 { "stat" } else { "routine" },
        });
        let r = http
            .post(format!("{base}/api/v1/requests"))
            .header("Cookie", &cookie)
            .header("X-CSRF-Token", &csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "request {i}: {}", r.status());
    }
    println!("with {} open requests:", hits.as_array().unwrap().len());
    let t = measure(&http, &format!("{base}/pull-list"), &cookie, n).await;
    report("pull list with slips (audited)", &t);
    let t = measure(
        &http,
        &format!("{base}/requests?location=4W&part=list"),
        &cookie,
        n,
    )
    .await;
    report("floor page's live list (audited)", &t);
    let t = measure(&http, &format!("{base}/reports/overdue"), &cookie, n / 10).await;
    report("overdue by holder report (audited)", &t);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
