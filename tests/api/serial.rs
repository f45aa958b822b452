//! Serial scanner stations through pseudo-terminals: the server opens the device path itself,
//! as it would `/dev/ttyACM0`; the simulated scanner writes on the other end.

use crate::helpers::{until, TestApp};
use chartrack::config::StationConfig;
use chartrack::stations::simulator::SimulatedScanner;
use serde_json::Value;
use std::time::Duration;

const GOOD: &[u8] = b"\x1b7,";
const BAD: &[u8] = b"\x1b8,\x1b8,";

fn station(id: &str, location: &str, port: &std::path::Path) -> StationConfig {
    toml::from_str(&format!(
        "id = {id:?}\nlocation = {location:?}\nmode = \"receive\"\nport = {:?}\nprofile = \"honeywell-xenon\"\n",
        port.display().to_string()
    ))
    .unwrap()
}

async fn station_view(app: &TestApp, id: &str) -> Value {
    let (s, list) = app.get("/api/v1/stations", &app.admin).await;
    assert_eq!(s, 200);
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("station {id} not listed"))
}

async fn connected(app: &TestApp, id: &str) -> bool {
    station_view(app, id).await["connected"] == true
}

/// The seeded hospital, restarted with serial stations `w4s` (4W) and `cards` (CARD).
async fn with_scanners() -> (
    TestApp,
    crate::helpers::Hospital,
    SimulatedScanner,
    SimulatedScanner,
) {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let (p1, p2) = (
        app.dir.path().join("scanner-w4"),
        app.dir.path().join("scanner-card"),
    );
    let s1 = SimulatedScanner::plug_in(&p1).unwrap();
    let s2 = SimulatedScanner::plug_in(&p2).unwrap();
    let app = app
        .restart_with_stations(vec![
            station("w4s", "4W", &p1),
            station("cards", "CARD", &p2),
        ])
        .await;
    until(
        Duration::from_secs(5),
        "both scanners connected",
        || async { connected(&app, "w4s").await && connected(&app, "cards").await },
    )
    .await;
    (app, h, s1, s2)
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_from_a_serial_scanner_become_movements_and_the_scanner_hears_the_answer() {
    // Arrange
    let (app, h, mut scanner, _other) = with_scanners().await;
    let v = h.volumes.clone();

    // Act: CR with an AIM id, then LF, then CRLF without one, then a value nobody knows.
    let (scanner, fb) = blocking(move || {
        scanner.scan(&v[0]).unwrap();
        let mut fb = scanner
            .read_back(GOOD.len(), Duration::from_secs(5))
            .unwrap();
        scanner.send_raw(format!("{}\n", v[1]).as_bytes()).unwrap();
        fb.extend(
            scanner
                .read_back(GOOD.len(), Duration::from_secs(5))
                .unwrap(),
        );
        scanner
            .send_raw(format!("{}\r\n", v[2]).as_bytes())
            .unwrap();
        fb.extend(
            scanner
                .read_back(GOOD.len(), Duration::from_secs(5))
                .unwrap(),
        );
        scanner.scan("NOBODY-KNOWS-ME").unwrap();
        fb.extend(
            scanner
                .read_back(BAD.len(), Duration::from_secs(5))
                .unwrap(),
        );
        (scanner, fb)
    })
    .await
    .unwrap();

    // Assert
    assert_eq!(fb, [GOOD, GOOD, GOOD, BAD].concat(), "feedback {fb:?}");
    for b in &h.volumes {
        let vol = app.volume(b).await;
        assert_eq!(vol["location"]["code"], "4W", "{vol}");
        assert_eq!(vol["last_scan"]["station"], "w4s");
        assert_eq!(app.movements(b).await[0]["action"], "receive");
    }
    let (_, ex) = app.get("/api/v1/exceptions", &app.admin).await;
    assert!(
        ex.as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"] == "NOBODY-KNOWS-ME"),
        "{ex}"
    );
    drop(scanner);
}

async fn refused_scans(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("chartrack_scans_total{outcome=\"refused\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no refused counter in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_10_kb_line_are_refused_and_the_next_scan_is_read_whole() {
    let (app, h, mut scanner, _other) = with_scanners().await;
    let before = refused_scans(&app).await;
    let v = h.volumes[0].clone();

    let fb = blocking(move || {
        let mut junk = vec![b'7'; 10 * 1024];
        junk.push(b'\r');
        scanner.send_raw(&junk).unwrap();
        scanner.send_raw(b"\x01\x02\xff\xfe\r").unwrap();
        scanner.scan(&v).unwrap();
        scanner
            .read_back(2 * BAD.len() + GOOD.len(), Duration::from_secs(5))
            .unwrap()
    })
    .await
    .unwrap();

    assert_eq!(fb, [BAD, BAD, GOOD].concat(), "feedback {fb:?}");
    assert_eq!(refused_scans(&app).await - before, 2);
    assert_eq!(app.volume(&h.volumes[0]).await["location"]["code"], "4W");
    assert_eq!(app.movements(&h.volumes[0]).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugged_mid_line_the_partial_is_dropped_and_the_station_is_back_within_2_s_of_replug() {
    // Arrange
    let (app, h, mut scanner, _other) = with_scanners().await;
    let v = h.volumes[0].clone();
    let (head, tail) = v.split_at(4);
    let (head, tail) = (head.to_owned(), tail.to_owned());

    // Act: half a barcode, then the cable comes out.
    let mut scanner = blocking(move || {
        scanner.send_raw(format!("]C0{head}").as_bytes()).unwrap();
        // The scenario: the cable comes out a moment after the half line (the reader has had
        // many 100 ms read timeouts' worth of chances to take it in), not a synchronisation.
        std::thread::sleep(Duration::from_millis(200));
        scanner.unplug();
        scanner
    })
    .await
    .unwrap();
    until(Duration::from_secs(5), "w4s disconnected", || async {
        !connected(&app, "w4s").await
    })
    .await;
    let view = station_view(&app, "w4s").await;
    assert!(
        view["link_error"]
            .as_str()
            .unwrap()
            .starts_with("scanner lost"),
        "{view}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("chartrack_station_connected{station=\"w4s\"} 0"),
        "{metrics}"
    );
    // And on the stations page, with the reason.
    app.person("clerk", chartrack::domain::Role::Clerk).await;
    let clerk = app.sign_in("clerk").await;
    let (status, html) = app.page(&clerk.cookie, "/stations").await;
    assert_eq!(status, 200);
    let row = html
        .split("<tr>")
        .find(|r| r.contains("<td>w4s</td>"))
        .expect("w4s is listed");
    assert!(
        row.contains("disconnected") && row.contains("scanner lost"),
        "{row}"
    );
    // The scenario, not a synchronisation: the scanner stays away long enough (1.5 s) for the
    // backoff to reach its 1 s ceiling, and must still be reopened within 2 s of its return.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    scanner.replug().unwrap();
    let back_after = until(Duration::from_secs(5), "w4s reconnected", || async {
        connected(&app, "w4s").await
    })
    .await;

    // The rest of the barcode after the replug is a line of its own, not the volume.
    let fb = blocking(move || {
        scanner.send_raw(format!("{tail}\r").as_bytes()).unwrap();
        let fb = scanner
            .read_back(BAD.len(), Duration::from_secs(5))
            .unwrap();
        (scanner, fb)
    })
    .await
    .unwrap();

    // Assert
    assert!(
        back_after <= Duration::from_secs(2),
        "reconnected after {back_after:?}"
    );
    assert_eq!(fb.1, BAD);
    assert!(app.movements(&h.volumes[0]).await.is_empty());
    assert_eq!(app.volume(&h.volumes[0]).await["status"], "on_shelf");
    let view = station_view(&app, "w4s").await;
    assert!(view["link_error"].is_null(), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scanners_scanning_at_once_each_record_their_own_movements() {
    let (app, h, mut s1, mut s2) = with_scanners().await;
    let (a, b) = (h.volumes[0].clone(), h.volumes[1].clone());

    // Each scanner receives its own volume in a burst of 20 repeats, both at once: every repeat
    // is answered, and the duplicate window folds each burst into one movement.
    let t1 = blocking(move || {
        for _ in 0..20 {
            s1.scan(&a).unwrap();
        }
        s1.read_back(20 * GOOD.len(), Duration::from_secs(10))
            .unwrap()
    });
    let t2 = blocking(move || {
        for _ in 0..20 {
            s2.scan(&b).unwrap();
        }
        s2.read_back(20 * GOOD.len(), Duration::from_secs(10))
            .unwrap()
    });
    let (f1, f2) = (t1.await.unwrap(), t2.await.unwrap());

    assert_eq!(f1, GOOD.repeat(20));
    assert_eq!(f2, GOOD.repeat(20));
    let (m1, m2) = (
        app.movements(&h.volumes[0]).await,
        app.movements(&h.volumes[1]).await,
    );
    assert_eq!((m1.len(), m2.len()), (1, 1), "{m1:?} {m2:?}");
    assert_eq!(m1[0]["to"], "4W");
    assert_eq!(m2[0]["to"], "CARD");
    assert_eq!(
        app.volume(&h.volumes[0]).await["last_scan"]["station"],
        "w4s"
    );
    assert_eq!(
        app.volume(&h.volumes[1]).await["last_scan"]["station"],
        "cards"
    );
}
