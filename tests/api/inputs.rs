//! Whatever a client sends, the answer is never a server error: generated requests (proptest)
//! against one running server. Malformed input gets a 4xx with `{"error": …}`.

use crate::helpers::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

/// A string from anywhere: printable, control characters, long, or (most often, so requests
/// get past validation into the engine and the writer) a known-good value.
fn text(mut good: Vec<String>) -> BoxedStrategy<Value> {
    good.push(String::new());
    prop_oneof![
        12 => proptest::sample::select(good).prop_map(Value::String),
        1 => "\\PC{0,40}".prop_map(Value::String),
        1 => "[\\x00-\\x1f\\x7f ]{0,6}".prop_map(Value::String),
        1 => "[A-Za-z0-9 ,'%_\\\\-]{0,200}".prop_map(Value::String),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => Just(Value::Null),
        1 => Just(json!([])),
        1 => Just(json!({"nested": true})),
    ]
    .boxed()
}

/// A JSON object with each field either present with a generated value or absent.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let parts: Vec<BoxedStrategy<Option<(&'static str, Value)>>> = fields
        .into_iter()
        .map(|(k, s)| proptest::option::weighted(0.97, s.prop_map(move |v| (k, v))).boxed())
        .collect();
    parts
        .prop_map(|kvs| {
            Value::Object(
                kvs.into_iter()
                    .flatten()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        })
        .boxed()
}

#[derive(Debug, Clone)]
enum Request {
    Post(&'static str, Value),
    PostRaw(&'static str, Vec<u8>),
    Get(String),
}

fn requests(volumes: Vec<String>, locations: Vec<String>) -> impl Strategy<Value = Request> {
    let stations: Vec<String> = ["fr-out", "fr-in", "fr-file", "w4", "w4-transfer", "card"]
        .map(String::from)
        .to_vec();
    let mut values = volumes.clone();
    values.extend(locations.iter().cloned());
    values.extend(["CMD-CHECKOUT", "CMD-NOTFOUND", "CMD-"].map(String::from));
    let codes: Vec<String> = ["FR-00-19", "4W", "CARD", "CART-1"]
        .map(String::from)
        .to_vec();
    let kinds: Vec<String> = ["shelf", "unit", "clinic", "container", "offsite", "juggle"]
        .map(String::from)
        .to_vec();
    let time = prop_oneof![
        Just(json!("2026-03-02T08:00:00Z")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("-0001-01-01T00:00:00Z")),
        Just(json!("1970-01-01T00:00:00+14:00")),
    ]
    .boxed();
    let scan = object(vec![
        ("station", text(stations.clone())),
        ("barcode", text(values)),
        (
            "id",
            prop_oneof![
                4 => any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n).to_string())),
                1 => text(vec!["00000000-0000-0000-0000-000000000000".into()])
            ]
            .boxed(),
        ),
        (
            "scanned_at",
            prop_oneof![6 => Just(Value::Null), 3 => time, 1 => text(vec![])].boxed(),
        ),
    ]);
    let volume = object(vec![
        ("mrn", text(vec!["123405".into(), "0".into(), "1234567890123".into()])),
        ("last_name", text(vec!["Ashdown".into(), String::new()])),
        ("first_name", text(vec!["Test".into()])),
        ("home", text(codes.clone())),
        ("volume", prop_oneof![4 => (1..5i64).prop_map(|n| json!(n)), 1 => any::<i64>().prop_map(|n| json!(n)), 1 => text(vec![])].boxed()),
        ("barcode", prop_oneof![3 => Just(Value::Null), 1 => "[A-Z0-9]{4,12}".prop_map(Value::String), 1 => text(vec![])].boxed()),
        ("birth_date", text(vec!["1970-01-31".into(), "1970-02-31".into()])),
    ]);
    let location = object(vec![
        (
            "code",
            prop_oneof![
                "[A-Z0-9-]{1,12}".prop_map(Value::String),
                text(codes.clone())
            ]
            .boxed(),
        ),
        ("name", text(vec!["A name".into()])),
        ("kind", text(kinds)),
        (
            "terminal",
            prop_oneof![
                Just(Value::Null),
                (0..100u8, 0..100u8).prop_map(|(a, b)| json!([a.min(b), a.max(b)])),
                (any::<i16>(), any::<i16>()).prop_map(|(a, b)| json!([a, b])),
                text(vec![])
            ]
            .boxed(),
        ),
    ]);
    let station = object(vec![
        (
            "id",
            prop_oneof!["[a-z0-9-]{1,20}".prop_map(Value::String), text(stations)].boxed(),
        ),
        ("location", text(codes.clone())),
        ("mode", text(vec!["receive".into(), "check-out".into()])),
    ]);
    let segment = prop_oneof![
        proptest::sample::select(volumes),
        proptest::sample::select(codes),
        "[A-Za-z0-9%._~-]{0,60}",
        "%[0-9A-F]{2}[a-z%]{0,10}",
    ];
    let query = "[A-Za-z0-9%&=+,' -]{0,80}";
    prop_oneof![
        8 => scan.prop_map(|b| Request::Post("/api/v1/scans", b)),
        1 => volume.prop_map(|b| Request::Post("/api/v1/volumes", b)),
        1 => location.prop_map(|b| Request::Post("/api/v1/locations", b)),
        1 => station.prop_map(|b| Request::Post("/api/v1/stations", b)),
        1 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| Request::PostRaw("/api/v1/scans", b)),
        1 => segment.clone().prop_map(|s| Request::Get(format!("/api/v1/volumes/{s}"))),
        1 => segment.clone().prop_map(|s| Request::Get(format!("/api/v1/volumes/{s}/movements"))),
        1 => segment.prop_map(|s| Request::Get(format!("/api/v1/locations/{s}"))),
        1 => query.prop_map(|q| Request::Get(format!("/api/v1/search?q={q}"))),
        1 => query.prop_map(|q| Request::Get(format!("/api/v1/volumes/V0000001H/movements?{q}"))),
    ]
}

#[test]
fn no_generated_request_gets_a_server_error() {
    // Arrange: one server with the small hospital, driven from a runtime of its own.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, hospital) = rt.block_on(async {
        let app = TestApp::spawn().await;
        let h = app.seed().await;
        (app, h)
    });
    let locations: Vec<String> = hospital.loc.values().cloned().collect();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });

    // Act + Assert
    let result = runner.run(&requests(hospital.volumes.clone(), locations), |req| {
        let (status, body) = rt.block_on(async {
            let r = match &req {
                Request::Post(path, body) => {
                    app.http.post(format!("{}{path}", app.base)).json(body)
                }
                Request::PostRaw(path, bytes) => app
                    .http
                    .post(format!("{}{path}", app.base))
                    .header("content-type", "application/json")
                    .body(bytes.clone()),
                Request::Get(path) => app.http.get(format!("{}{path}", app.base)),
            };
            let r = r.bearer_auth(&app.admin).send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            )
        });
        prop_assert!(status < 500, "{req:?} -> {status} {body}");
        if status >= 400 {
            prop_assert!(body["error"].is_string(), "{req:?} -> {status} {body}");
        }
        Ok(())
    });
    result.unwrap();
}

/// A body over the limit is a 413 that says so, on the API, on a page's form and on the CSV
/// upload, and records nothing; one just under the limit is judged on what it says.
#[tokio::test]
async fn an_oversized_body_is_a_413_and_records_nothing() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let big = "A".repeat(1024 * 1024 + 10);
    let (s, e) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "fr-out", "barcode": big}),
        )
        .await;
    assert_eq!(s, 413, "{e}");
    assert!(e["error"].as_str().unwrap().contains("larger"), "{e}");
    let (_, stations) = app.get("/api/v1/stations", &app.admin).await;
    let fr_out = stations
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["id"] == "fr-out")
        .unwrap()
        .clone();
    assert!(
        fr_out["last_scan_at"].is_null(),
        "nothing was recorded: {fr_out}"
    );
    let (s, e) = app
        .post(
            "/api/v1/scans",
            &app.admin,
            &json!({"station": "fr-out", "barcode": "A".repeat(5000)}),
        )
        .await;
    assert!(
        s == 400 || s == 200,
        "a small body is judged on what it says: {s} {e}"
    );

    // A page's form: the session's anti-forgery check reads the form, and refuses it as too large.
    app.person("ada", chartrack::domain::Role::Admin).await;
    let admin = app.sign_in("ada").await;
    let r = app
        .browser_like()
        .post(format!("{}/admin/locations", app.base))
        .header("Cookie", &admin.cookie)
        .header("Origin", &app.base)
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("code", "BIG"),
            ("name", big.as_str()),
            ("kind", "unit"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let (_, l) = app.get("/api/v1/locations/BIG", &app.admin).await;
    assert!(l["code"].is_null(), "nothing was added: {l}");

    // The CSV upload has a 64 MB limit.
    let huge = vec![b'x'; 64 * 1024 * 1024 + 1024];
    let form = reqwest::multipart::Form::new()
        .text("what", "volumes")
        .part(
            "file",
            reqwest::multipart::Part::bytes(huge).file_name("v.csv"),
        );
    let r = app
        .browser_like()
        .post(format!("{}/admin/import", app.base))
        .header("Cookie", &admin.cookie)
        .header("Origin", &app.base)
        .header("x-csrf-token", &admin.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

/// An address whose query or path cannot be read (a field twice, a word for a number) is
/// answered like every other refusal: a page saying so, or `{"error": …}` from the API; never
/// the framework's plain text. (Before: "Failed to deserialize query string: duplicate field
/// `q`" as text/plain: fresh-eyes tester.)
#[tokio::test]
async fn an_address_that_cannot_be_read_is_refused_in_the_pages_and_the_apis_own_words() {
    let app = TestApp::spawn().await;
    let h = app.seed().await;
    app.person("sue", chartrack::domain::Role::Supervisor).await;
    let sue = app.sign_in("sue").await;
    for path in [
        "/?q=Varley&q=Smith",
        "/requests/abc",
        "/reports/activity?days=abc",
        "/locations/4W?after=A&after=B",
    ] {
        let (s, body) = app.page(&sue.cookie, path).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert!(
            body.contains("<html"),
            "{path}: a page, not plain text: {body}"
        );
        assert!(body.contains("cannot read"), "{path}: {body}");
    }
    for path in [
        "/api/v1/requests/99999999999999999999".to_owned(),
        format!("/api/v1/volumes/{}/movements?limit=-1", h.volumes[0]),
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
}
