//! Reads, administration, restart persistence, metrics and the API description.

use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn search_by_barcode_mrn_and_name() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    for q in [
        h.volumes[1].as_str(),
        "123445",
        "o'brien",
        "O'Brien, te",
        "Test O'Brien",
    ] {
        let (s, hits) = app
            .get(&format!("/api/v1/search?q={}", urlencode(q)), &app.admin)
            .await;
        assert_eq!(s, 200);
        let hits = hits.as_array().unwrap();
        assert_eq!(hits.len(), 1, "{q}: {hits:?}");
        assert_eq!(hits[0]["barcode"], h.volumes[1]);
    }
    let (_, hits) = app.get("/api/v1/search?q=%25", &app.admin).await;
    assert!(
        hits.as_array().unwrap().is_empty(),
        "a % is literal, not a wildcard"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn locations_show_what_is_there() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    app.scan("fr-out", &h.volumes[0]).await;
    let (_, l) = app.get("/api/v1/locations/4W", &app.admin).await;
    assert_eq!(
        (l["here"].as_u64(), l["incoming"].as_u64()),
        (Some(0), Some(1)),
        "{l}"
    );
    app.scan("w4", &h.volumes[0]).await;
    let (_, l) = app.get("/api/v1/locations/4W", &app.admin).await;
    assert_eq!(l["here"], 1);
    assert_eq!(l["volumes"][0]["barcode"], h.volumes[0]);
    let (s, e) = app
        .post(
            "/api/v1/locations",
            &app.admin,
            &json!({"code": "4W", "name": "again", "kind": "unit"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    let (s, e) = app
        .post(
            "/api/v1/locations",
            &app.admin,
            &json!({"code": "bad code", "name": "x", "kind": "unit"}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = app.post("/api/v1/volumes", &app.admin, &json!({"mrn": "123405", "last_name": "Other", "first_name": "Name", "home": "FR-00-19"})).await;
    assert_eq!(s, 409, "an MRN with another name is refused: {e}");
    let (s, e) = app
        .post(
            "/api/v1/volumes",
            &app.admin,
            &json!({"mrn": "555", "last_name": "A", "first_name": "B", "home": "4W"}),
        )
        .await;
    assert_eq!(s, 422, "home must be a shelf: {e}");
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("fr-out", &h.loc["4W"]).await;
    let out = app.scan("fr-out", &h.volumes[0]).await;
    let (dir, db, clock) = app.stop().await;

    let app = TestApp::spawn_on(dir, db, clock).await;
    let v = app.volume(&h.volumes[0]).await;
    assert_eq!(
        (v["status"].as_str(), v["destination"]["code"].as_str()),
        (Some("in_transit"), Some("4W"))
    );
    assert_eq!(
        app.movements(&h.volumes[0]).await[0]["scan_id"],
        out["scan_id"]
    );
    // The station still remembers its destination (within its memory time).
    let a = app.scan("fr-out", &h.volumes[1]).await;
    assert_eq!(a["action"], "check-out", "{a}");
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.scan("w4", &h.volumes[0]).await;
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = app.metrics().await;
    assert!(
        text.contains("chartrack_scans_total{outcome=\"accepted\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("chartrack_volumes{status=\"at_location\"} 1"),
        "{text}"
    );
    // Well-formed OpenMetrics: every family declared once with its type before its samples,
    // the latency histogram complete, and the exposition ended by `# EOF`.
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut declared = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(declared.insert(name.to_owned()), "{name} declared twice");
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                declared.iter().any(|d| name.starts_with(d.as_str())),
                "{line} has no TYPE before it"
            );
        }
    }
    assert!(
        text.contains("chartrack_scan_seconds_bucket{le=\"+Inf\"} 1"),
        "{text}"
    );
    assert!(text.contains("chartrack_scan_seconds_count 1"), "{text}");
    let (s, spec) = app.get("/api/v1/openapi.json", "").await;
    assert_eq!(s, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/api/v1/scans"]["post"].is_object());
}

/// A date of birth no patient has (in the future, or a mistyped century) is refused with the
/// reason, by the API and the CSV import, and nothing is registered.
#[tokio::test]
async fn an_impossible_date_of_birth_is_refused() {
    let app = TestApp::spawn().await;
    app.seed().await;
    for (dob, says) in [
        ("2099-01-01", "in the future"),
        ("1800-01-01", "before 1880"),
    ] {
        let (s, e) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &serde_json::json!({"mrn": "445566", "last_name": "Datewise", "first_name": "Una",
                                    "birth_date": dob, "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 422, "{e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{e}");
    }
    let (_, found) = app.get("/api/v1/search?q=Datewise", &app.admin).await;
    assert_eq!(found.as_array().map(Vec::len), Some(0), "{found}");
    let csv = "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n,445567,Datewise,Ivo,2099-01-01,1,medical,FR-00-19\n";
    let store = app.store.clone();
    let err = tokio::task::spawn_blocking(move || {
        chartrack::import::volumes_from(&store, csv.as_bytes())
    })
    .await
    .unwrap()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 2") && err.contains("in the future"),
        "{err}"
    );
}

/// A surname of more than one word is found by the whole surname, in any case, beside
/// "first last" and "last first". (Before, "Van der Berg" was read as first name "Van" and
/// surname "der Berg": "Nothing matches": fresh-eyes tester.)
#[tokio::test]
async fn a_surname_of_several_words_is_found_whole() {
    let app = TestApp::spawn().await;
    app.seed().await;
    for (mrn, last, first) in [
        ("700001", "Van der Berg", "Ann"),
        ("700002", "Van der Berg", "Piet"),
        ("700003", "Vance", "Derek"),
        ("700004", "Berg", "Van"),
    ] {
        let (s, b) = app
            .post(
                "/api/v1/volumes",
                &app.admin,
                &json!({"mrn": mrn, "last_name": last, "first_name": first, "home": "FR-00-19"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let found = |q: &'static str| {
        let app = &app;
        async move {
            let (s, hits) = app
                .get(&format!("/api/v1/search?q={}", urlencode(q)), &app.admin)
                .await;
            assert_eq!(s, 200, "{hits}");
            let mut mrns: Vec<String> = hits
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["mrn"].as_str().unwrap().to_owned())
                .collect();
            mrns.sort();
            mrns
        }
    };
    assert_eq!(found("Van der Berg").await, ["700001", "700002"]);
    assert_eq!(found("van der berg").await, ["700001", "700002"]);
    // A prefix of the whole surname, and "last first" prefixes (Vance, Derek) alike.
    assert_eq!(found("Van der").await, ["700001", "700002", "700003"]);
    // "first last" and "last first" still work, with a surname of several words too.
    assert_eq!(found("Ann Van der Berg").await, ["700001"]);
    assert_eq!(found("Van Berg").await, ["700004"]);
    assert_eq!(found("Berg Van").await, ["700004"]);
}
