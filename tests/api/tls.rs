//! HTTPS served by chartrack itself (`tls_cert`, `tls_key`): a throwaway CA and server
//! certificates made with the `openssl` command, the real server on a random port, the real
//! binary for SIGHUP, and the real agent.

use crate::helpers::{until, TestApp, PASSWORD};
use chartrack::clock::Clock;
use chartrack::config::Config;
use chartrack::domain::Role;
use chartrack::stations::simulator::SimulatedScanner;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Run the `openssl` command in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority in `dir`: `<name>.pem` (give it to clients) and its key.
fn ca(dir: &Path, name: &str) -> PathBuf {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(pem)
}

/// A server certificate for 127.0.0.1 and localhost signed by CA `ca`, with this serial, valid
/// for 2 days: `<name>.pem` and `<name>.key` in `dir`.
fn server_cert(dir: &Path, ca: &str, name: &str, serial: u32) -> (PathBuf, PathBuf) {
    server_cert_for(dir, ca, name, serial, 2)
}

fn server_cert_for(dir: &Path, ca: &str, name: &str, serial: u32, days: u32) -> (PathBuf, PathBuf) {
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial.to_string(),
            "-days",
            &days.to_string(),
            "-out",
            &pem,
            "-extfile",
            &ext,
        ],
    );
    (dir.join(pem), dir.join(key))
}

/// The certificate in a PEM file, as DER (what a client is shown in the handshake).
fn der(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A client trusting `ca` (or only the system's roots), with no pooled connections: each
/// request is a new handshake, so it sees the certificate served now.
fn client(ca: Option<&Path>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        b = b.add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap(),
        );
    }
    b.build().unwrap()
}

/// The certificate a new connection to `base` is shown (DER).
async fn served(http: &reqwest::Client, base: &str) -> Vec<u8> {
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("a TLS connection shows its certificate")
        .to_vec()
}

/// An error with all its causes (reqwest's own message says only "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut c = e.source();
    while let Some(x) = c {
        s += &format!(": {x}");
        c = x.source();
    }
    s
}

/// The test server over HTTPS with `cert` and `key`; its `http` client trusts `ca`.
async fn https_app(cert: &Path, key: &Path, ca: &Path) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("chartrack.db"),
        tls_cert: Some(cert.to_owned()),
        tls_key: Some(key.to_owned()),
        ..Config::default()
    };
    let mut app =
        TestApp::spawn_with_config(dir, Clock::manual(crate::helpers::start_time()), config).await;
    app.base = app.base.replacen("http://", "https://", 1);
    app.http = client(Some(ca));
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_with_hsts_secure_cookies_and_only_to_clients_that_trust_it() {
    // Arrange: a CA, a server certificate it signed, the server over HTTPS.
    let pki = tempfile::tempdir().unwrap();
    let ca_pem = ca(pki.path(), "ca");
    let (cert, key) = server_cert(pki.path(), "ca", "server", 1001);
    let app = https_app(&cert, &key, &ca_pem).await;
    app.person("nurse1", Role::Nurse).await;

    // Act + assert: a client trusting the CA is answered, with HSTS.
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    assert_eq!(served(&app.http, &app.base).await, der(&cert));

    // Signing in sets a `__Host-` cookie with `Secure` (secure_cookies was not set: TLS alone).
    let r = app
        .http
        .post(format!("{}/login", app.base))
        .header("Origin", &app.base)
        .form(&[("name", "nurse1"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-chartrack="), "{set}");
    assert!(set.split("; ").any(|a| a == "Secure"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let r = app
        .http
        .get(format!("{}/", app.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the secure cookie opens the pages");
    // The client's address reaches the gate over TLS as over HTTP (the access log names it; a
    // forwarded-for header from an untrusted client is ignored).
    let r = app
        .http
        .get(format!("{}/api/v1/search?q=TLSCHECK", app.base))
        .bearer_auth(&app.admin)
        .header("X-Forwarded-For", "10.9.8.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = app.access_log().await;
    assert!(
        log.iter()
            .any(|(_, action, subject, remote)| action == "search"
                && subject == "TLSCHECK"
                && remote == "127.0.0.1"),
        "{log:?}"
    );

    // A client that trusts only the system's roots is refused: the certificate is not theirs.
    let e = client(None)
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap_err();
    assert!(chain(&e).contains("certificate"), "{}", chain(&e));

    // Plain HTTP to the HTTPS port gets no HTTP answer, and the server goes on.
    let addr = app.base.trim_start_matches("https://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    })
    .await
    .unwrap();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    let (s, _) = app.get("/api/v1/locations", &app.admin).await;
    assert_eq!(s, 200, "still serving after a failed handshake");
    app.stop().await;

    // Over plain HTTP there is no HSTS (it would be ignored, and is not true).
    let plain = TestApp::spawn().await;
    let r = plain
        .http
        .get(format!("{}/healthz", plain.base))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_or_key_that_cannot_be_used_stops_the_start_naming_the_file() {
    let pki = tempfile::tempdir().unwrap();
    ca(pki.path(), "ca");
    let (cert, key) = server_cert(pki.path(), "ca", "server", 1);
    let (_, other_key) = server_cert(pki.path(), "ca", "other", 2);
    let garbage = pki.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = pki.path().join("missing.pem");
    let cases: [(&Path, &Path, &str, &Path); 5] = [
        (&missing, &key, "cannot read", &missing),
        (&garbage, &key, "no certificate", &garbage),
        (&cert, &missing, "cannot read", &missing),
        (&cert, &garbage, "no private key", &garbage),
        (&cert, &other_key, "is not the key", &other_key),
    ];
    for (c, k, says, names) in cases {
        // The real binary, on a port nothing else uses.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("chartrack.toml");
        std::fs::write(
            &config,
            format!(
                "database = {:?}\nlisten = \"{port}\"\ntls_cert = {c:?}\ntls_key = {k:?}\n",
                dir.path().join("t.db")
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_chartrack"))
            .args(["serve", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{c:?} {k:?}: started");
        assert!(
            err.contains(says) && err.contains(&names.display().to_string()),
            "{says} naming {names:?}: {err}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "nothing served"
        );
        assert!(
            std::net::TcpStream::connect(port).is_err(),
            "nothing served"
        );
    }
}

/// `chartrack serve` with this configuration; its address and its log lines.
fn serve(config: &Path) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["serve", "--config"])
        .arg(config)
        .env("CHARTRACK_LOG", "chartrack=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, log) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let base = crate::faults::listening(&mut child);
    (child, base, log)
}

fn signal(child: &Child, sig: &str) {
    let s = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}

/// Wait for a log line containing `needle`; the lines before it are dropped.
fn wait_for_line(log: &mpsc::Receiver<String>, needle: &str) -> String {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < until {
        if let Ok(l) = log.recv_timeout(Duration::from_millis(100)) {
            if l.contains(needle) {
                return l;
            }
        }
    }
    panic!("never logged {needle:?}");
}

/// Replace a file the way an administrator (or certbot) would: write beside, rename over.
fn replace(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_replaced_on_sighup_or_a_file_change_and_a_broken_one_is_not_taken() {
    // Arrange: the real binary serving certificate 1 from cert.pem / key.pem.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_pem = ca(d, "ca");
    let (c1, k1) = server_cert(d, "ca", "one", 1);
    let (c2, k2) = server_cert_for(d, "ca", "two", 2, 400);
    let (c3, k3) = server_cert(d, "ca", "three", 3);
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    replace(&c1, &cert);
    replace(&k1, &key);
    let config = d.join("chartrack.toml");
    std::fs::write(
        &config,
        format!(
            "database = {:?}\nlisten = \"127.0.0.1:0\"\ntls_cert = {cert:?}\ntls_key = {key:?}\n",
            d.join("t.db")
        ),
    )
    .unwrap();
    let (mut server, base, log) = serve(&config);
    assert!(base.starts_with("https://"), "{base}");
    // A certificate valid for 2 more days is served, with a warning to renew it.
    let warning = wait_for_line(&log, "renew it");
    assert!(
        warning.contains("WARN") && warning.contains("(localhost)") && warning.contains("day(s)"),
        "{warning}"
    );
    let http = client(Some(&ca_pem));
    assert_eq!(served(&http, &base).await, der(&c1));

    // Act 1: certificate 2 in place, then SIGHUP.
    replace(&c2, &cert);
    replace(&k2, &key);
    signal(&server, "-HUP");
    // Assert: new connections see certificate 2 (valid for 400 days: no warning).
    let serving = wait_for_line(&log, "serving HTTPS with tls_cert");
    assert!(
        serving.contains("INFO") && serving.contains("valid until"),
        "{serving}"
    );
    wait_for_line(&log, "TLS certificate reloaded (SIGHUP)");
    assert_eq!(served(&http, &base).await, der(&c2));

    // Act 2: a broken certificate (cut short) in place, then SIGHUP.
    let pem = std::fs::read_to_string(&c3).unwrap();
    std::fs::write(d.join("broken.pem"), &pem[..pem.len() / 2]).unwrap();
    replace(&d.join("broken.pem"), &cert);
    signal(&server, "-HUP");
    // Assert: one clear error naming the file; certificate 2 is still served.
    let error = wait_for_line(&log, "not reloaded");
    assert!(
        error.contains("ERROR") && error.contains(&cert.display().to_string()),
        "{error}"
    );
    assert!(error.contains("still serving the previous one"), "{error}");
    assert_eq!(served(&http, &base).await, der(&c2));

    // Act 3: certificate 3 replaces the files, no signal: the change is noticed by itself.
    replace(&c3, &cert);
    replace(&k3, &key);
    wait_for_line(&log, "TLS certificate reloaded (the files changed)");
    assert_eq!(served(&http, &base).await, der(&c3));
    // The broken file was reported once, not on every look at the files.
    assert!(log.try_iter().all(|l| !l.contains("not reloaded")));

    // SIGTERM still drains and stops cleanly over HTTPS.
    signal(&server, "-TERM");
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_delivers_over_https_with_its_ca_file_and_refuses_a_server_it_cannot_verify() {
    // Arrange: the server over HTTPS; a remote station; a scanner behind an agent that was
    // not given the CA.
    let pki = tempfile::tempdir().unwrap();
    let ca_pem = ca(pki.path(), "ca");
    let (cert, key) = server_cert(pki.path(), "ca", "server", 7);
    let app = https_app(&cert, &key, &ca_pem).await;
    let h = app.seed().await;
    let token = app.remote_station("remote").await;
    let port = app.dir.path().join("remote-scanner");
    let queue = app.dir.path().join("agent-queue.db");
    let mut scanner = SimulatedScanner::plug_in(&port).unwrap();
    let agent = |extra: &[&Path]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartrack"));
        cmd.args(["agent", "--server", &app.base, "--token", &token, "--port"])
            .arg(&port)
            .arg("--queue")
            .arg(&queue)
            .args(["--answer-wait-ms", "300"]);
        for ca in extra {
            cmd.arg("--ca-file").arg(ca);
        }
        let mut child = cmd
            .env("CHARTRACK_LOG", "chartrack=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        (child, rx)
    };
    let (mut untrusting, log) = agent(&[]);
    wait_for_line(&log, "scanner connected");

    // Act 1: a chart scanned.
    let volume = h.volumes[0].clone();
    let v = volume.clone();
    let mut scanner = tokio::task::spawn_blocking(move || {
        scanner.scan(&v).unwrap();
        scanner
    })
    .await
    .unwrap();

    // Assert: the agent says why it cannot deliver, and keeps the scan.
    let why = wait_for_line(&log, "cannot deliver scans");
    assert!(
        why.contains("certificate") && why.contains("--ca-file"),
        "{why}"
    );
    assert!(app.movements(&volume).await.is_empty(), "nothing delivered");
    untrusting.kill().unwrap();
    let _ = untrusting.wait();

    // Act 2: the agent again with the CA file.
    let (mut trusting, _log) = agent(&[&ca_pem]);
    // Assert: the queued scan arrives, and a new one too.
    until(
        Duration::from_secs(20),
        "the queued scan delivered",
        || async { app.movements(&volume).await.len() == 1 },
    )
    .await;
    let second = h.volumes[1].clone();
    let v = second.clone();
    scanner = tokio::task::spawn_blocking(move || {
        scanner.scan(&v).unwrap();
        scanner
    })
    .await
    .unwrap();
    until(Duration::from_secs(20), "a new scan delivered", || async {
        app.movements(&second).await.len() == 1
    })
    .await;
    trusting.kill().unwrap();
    let _ = trusting.wait();

    // A CA file that is not one stops the agent at once, naming it.
    let garbage = pki.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(["agent", "--server", &app.base, "--token", &token, "--port"])
        .arg(&port)
        .arg("--queue")
        .arg(&queue)
        .arg("--ca-file")
        .arg(&garbage)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&garbage.display().to_string()), "{err}");
    drop(scanner);
}
