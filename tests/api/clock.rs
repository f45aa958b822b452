//! Time that cannot be trusted: the server's clock stepped back while scanning, and an agent's
//! `scanned_at` far in the future or the past. History follows the order scans were committed
//! in; an implausible scanner time is kept on the scan but not used to date the movement.

use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_clock_stepped_back_does_not_reorder_where_a_chart_was_last() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let v = &h.volumes[0];
    let first = app.scan("card", v).await;
    assert_eq!(first["accepted"], true, "{first}");
    // The server's clock is set back two hours (NTP correcting a fast clock), then the chart
    // arrives on 4 West: that is where it is, though the later scan reads an earlier time.
    app.clock.advance(chrono::Duration::hours(-2));
    let second = app.scan("w4", v).await;
    assert_eq!(second["accepted"], true, "{second}");
    let (_, vol) = app.get(&format!("/api/v1/volumes/{v}"), &app.admin).await;
    assert_eq!(vol["location"]["code"], "4W", "{vol}");
    assert_eq!(vol["last_scan"]["station"], "w4", "{vol}");
    let moves = app.movements(v).await;
    assert_eq!(
        moves[0]["station"], "w4",
        "newest first, by commit: {moves:?}"
    );
    assert_eq!(moves[1]["station"], "card", "{moves:?}");
    assert!(
        moves[0]["at"].as_str().unwrap() < moves[1]["at"].as_str().unwrap(),
        "the times are as the clock read them: {moves:?}"
    );
}

#[tokio::test]
async fn a_scanner_time_far_off_is_kept_but_the_movement_is_dated_when_received() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    let now = app.clock.now();
    let cases = [
        (
            h.volumes[0].clone(),
            now + chrono::Duration::days(365),
            true,
        ),
        (
            h.volumes[1].clone(),
            now - chrono::Duration::days(400),
            true,
        ),
        // An agent's queue held over a weekend: believed.
        (
            h.volumes[2].clone(),
            now - chrono::Duration::hours(60),
            false,
        ),
    ];
    for (v, said, off) in cases {
        let id = uuid::Uuid::new_v4().to_string();
        let (s, a) = app
            .post(
                "/api/v1/scans",
                &app.admin,
                &json!({"station": "card", "barcode": v, "id": id, "scanned_at": said.to_rfc3339()}),
            )
            .await;
        assert_eq!(s, 200, "{a}");
        assert_eq!(a["accepted"], true, "{a}");
        let warned = a["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("scanner's clock"));
        assert_eq!(warned, off, "{a}");
        let moved_at = app.movements(&v).await[0]["at"]
            .as_str()
            .unwrap()
            .to_owned();
        let moved_at = chrono::DateTime::parse_from_rfc3339(&moved_at).unwrap();
        let expected = if off { now } else { said };
        assert_eq!(moved_at.timestamp(), expected.timestamp(), "{v}");
        // The scan keeps what the scanner said.
        let kept: String = app
            .store
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT scanned_at FROM scan WHERE scan_id = ?1",
                    [&id],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        let kept = chrono::DateTime::parse_from_rfc3339(&kept).unwrap();
        assert_eq!(kept.timestamp(), said.timestamp());
    }
}
