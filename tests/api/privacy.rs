//! No patient identifier in diagnostic logs: the real `chartrack serve`, with every log level
//! on, is driven through searches, chart views, scans, pages and bad requests carrying canary
//! names and an MRN; its standard error must not contain them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const LAST: &str = "Canarywick";
const FIRST: &str = "Zelphine";
const MRN: &str = "8675309";
const DOB: &str = "1961-07-04";

fn chartrack(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(args)
        .arg("--config")
        .arg(dir.join("chartrack.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_never_carry_a_patients_name_mrn_or_birth_date() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chartrack.toml"),
        format!(
            "database = {:?}\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("t.db")
        ),
    )
    .unwrap();
    let password = "correct horse battery staple";
    let out = chartrack(
        dir.path(),
        &["user", "add", "ada", "--role", "admin"],
        password,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = chartrack(dir.path(), &["token", "create", "--user", "ada"], "");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let log = dir.path().join("stderr.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(dir.path().join("chartrack.toml"))
        .env("CHARTRACK_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the listening line")
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let get = |path: String| http.get(format!("{base}{path}")).bearer_auth(&token).send();
    let r = post(
        "/api/v1/locations",
        serde_json::json!({"code": "FR-00-19", "name": "Section 00-19", "kind": "shelf", "terminal": [0, 99]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    post(
        "/api/v1/locations",
        serde_json::json!({"code": "4W", "name": "4 West", "kind": "unit"}),
    )
    .await
    .unwrap();
    post(
        "/api/v1/stations",
        serde_json::json!({"id": "fr-out", "location": "FR-00-19", "mode": "check-out"}),
    )
    .await
    .unwrap();
    let r = post(
        "/api/v1/volumes",
        serde_json::json!({"mrn": MRN, "last_name": LAST, "first_name": FIRST, "birth_date": DOB, "home": "FR-00-19"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let barcode = r.json::<serde_json::Value>().await.unwrap()["barcode"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same MRN with another name: refused (the refusal itself is not logged with it).
    let r = post(
        "/api/v1/volumes",
        serde_json::json!({"mrn": MRN, "last_name": "Other", "first_name": FIRST, "home": "FR-00-19"}),
    )
    .await
    .unwrap();
    assert!(r.status().is_client_error());
    for q in [LAST, MRN, &format!("{LAST}, {FIRST} {DOB}")] {
        let r = get(format!("/api/v1/search?q={q}")).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(
        get(format!("/api/v1/volumes/{barcode}"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // Names and MRNs where a barcode belongs: unknown, refused, recorded as exceptions.
    for line in [barcode.as_str(), MRN, LAST, &format!("{LAST} {FIRST}")] {
        let r = post(
            "/api/v1/scans",
            serde_json::json!({"station": "fr-out", "barcode": line}),
        )
        .await
        .unwrap();
        assert!(r.status().as_u16() < 500);
    }
    for path in [
        format!("/api/v1/volumes/{MRN}"),
        format!("/api/v1/volumes/{LAST}/movements?limit=x{MRN}"),
        format!("/api/v1/search?q={}", LAST.repeat(40)),
        format!("/no/such/{LAST}"),
    ] {
        let r = get(path).await.unwrap();
        assert!(r.status().is_client_error());
    }
    // The pages too: sign in, search, open the chart.
    let r = http
        .post(format!("{base}/login"))
        .header("Origin", &base)
        .form(&[("name", "ada"), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    for path in [
        format!("/?q={LAST}"),
        format!("/?q={MRN}"),
        format!("/volumes/{barcode}"),
        format!("/requests?q={LAST}"),
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 20,
        "trace logging was on, so the run logged plenty: {text}"
    );
    for canary in [LAST, FIRST, MRN, DOB] {
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(canary)).collect();
        assert!(hits.is_empty(), "{canary} in the logs: {hits:#?}");
    }
}
