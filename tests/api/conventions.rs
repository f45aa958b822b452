//! The HTTP conventions every route has: a request id named in each log line of the request
//! and echoed in the answer; a panicking handler answered with a 500 and a log line while the
//! server goes on.

use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Log lines written by the subscriber of this test's thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

// The subscriber is the process's global one: a thread-local one would miss spans whose interest
// another test's thread cached first. Only this test installs one; the lines are found by id.
#[tokio::test]
async fn a_panicking_handler_is_a_500_and_a_log_line_with_its_request_id() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("only this test installs one");

    let router = Router::new()
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("synthetic failure");
                }
                "unreached"
            }),
        )
        .route(
            "/ok",
            get(|| async {
                tracing::info!("inside the handler");
                "ok"
            }),
        );
    let app = chartrack::server::with_conventions(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = reqwest::Client::new();
    let res = http
        .get(format!("{base}/boom"))
        .header("X-Request-Id", "req-boom-1")
        .send()
        .await
        .expect("a panic is an answer, not a dropped connection");
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["x-request-id"], "req-boom-1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("internal error"));

    // The server goes on, and gives a request without an id one of its own.
    let res = http.get(format!("{base}/ok")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "a generated id: {id}");

    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("a handler panicked") && l.contains("req-boom-1")),
        "the panic is logged with its request id: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("inside the handler") && l.contains(&id) && l.contains("/ok")),
        "a handler's own log line names its request id and route: {lines:#?}"
    );
}

#[tokio::test]
async fn every_answer_of_the_real_server_carries_a_request_id() {
    let app = crate::helpers::TestApp::spawn().await;
    let res = reqwest::Client::new()
        .get(format!("{}/healthz", app.base))
        .header("X-Request-Id", "probe-7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "probe-7");
    let res = reqwest::get(format!("{}/no/such/page", app.base))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers().contains_key("x-request-id"));
}
