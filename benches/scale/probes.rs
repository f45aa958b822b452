//! What the scale benchmark runs: the history, the server subprocess, the clients and the
//! pages measured (the disk, storage, raw-loop and import probes are in `disk`).

use super::*;

pub(crate) fn run_cli(config: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chartrack");
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

pub(crate) fn must(out: Output, what: &str) -> String {
    if !out.status.success() {
        eprintln!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Drop the database's pages from the page cache (no root needed: fsync, then
/// `POSIX_FADV_DONTNEED`, which evicts the file's clean pages).
pub(crate) fn evict(db: &Path) {
    use std::os::fd::AsRawFd;
    for p in [db.to_path_buf(), beside(db, "-wal"), beside(db, "-shm")] {
        if let Ok(f) = std::fs::File::open(&p) {
            let _ = f.sync_all();
            unsafe {
                libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}

/// The generated history, made once per size under target/scale (returns its directory and
/// how long generating took, as recorded when it was made).
/// What the generated file depends on: the schema, the generator and the scan path it copies.
/// A history made by other code is made again.
fn generator_digest() -> String {
    use sha2::{Digest, Sha256};
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files: Vec<PathBuf> = ["history", "scan"]
        .iter()
        .flat_map(|d| std::fs::read_dir(src.join(d)).into_iter().flatten())
        .flatten()
        .map(|e| e.path())
        .chain([src.join("schema.rs")])
        .collect();
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(std::fs::read(&f).unwrap_or_default());
    }
    hex::encode(&h.finalize()[..6])
}

pub(crate) fn history(volumes: u64, movements: u64) -> (PathBuf, f64, bool) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scale");
    let size = format!("v{volumes}-m{movements}-");
    let dir = root.join(format!("{size}{}", generator_digest()));
    // Histories of this size made by older code: gone (they are large).
    for old in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.starts_with(&size) && old.path() != dir {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let took = dir.join("generate-seconds");
    if let Ok(s) = std::fs::read_to_string(&took) {
        if let Ok(secs) = s.trim().parse() {
            return (dir, secs, true);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("chartrack.toml");
    std::fs::write(
        &config,
        format!("database = {:?}\n", dir.join("chartrack.db")),
    )
    .unwrap();
    println!(
        "generating {volumes} volumes and {movements} movements into {}",
        dir.display()
    );
    let t = Instant::now();
    let said = must(
        run_cli(
            &config,
            &[
                "generate",
                "--volumes",
                &volumes.to_string(),
                "--movements",
                &movements.to_string(),
            ],
            "",
        ),
        "chartrack generate",
    );
    let secs = t.elapsed().as_secs_f64();
    print!("{said}");
    std::fs::write(&took, format!("{secs:.1}\n")).unwrap();
    (dir, secs, false)
}

/// A copy of the generated database (with its key and anchors) to run on.
pub(crate) fn copy_of(from: &Path, to: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for suffix in ["", "-wal", ".audit-key", ".anchors"] {
        let src = beside(&from.join("chartrack.db"), suffix);
        if src.exists() {
            std::fs::copy(&src, beside(&to.join("chartrack.db"), suffix)).unwrap();
        }
    }
    to.join("chartrack.db")
}

pub(crate) struct Server {
    child: Child,
}

impl Server {
    /// Start `chartrack serve` and time it to the first 200 from /healthz.
    pub(crate) async fn start(config: &Path, base: &str, log: &Path) -> (Server, Duration) {
        let http = reqwest::Client::new();
        let t = Instant::now();
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            if t.elapsed() > Duration::from_secs(600) {
                eprintln!(
                    "the server did not answer /healthz in 10 minutes; see {}",
                    log.display()
                );
                std::process::exit(1);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let took = t.elapsed();
        (Server { child }, took)
    }

    pub(crate) fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub(crate) fn stop(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// The -wal file's size, polled while `on`; the peak.
pub(crate) struct WalWatch {
    peak: Arc<AtomicU64>,
    on: Arc<AtomicBool>,
}

impl WalWatch {
    pub(crate) fn start(db: &Path) -> WalWatch {
        let (peak, on) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(true)));
        let (p, o, wal) = (peak.clone(), on.clone(), beside(db, "-wal"));
        std::thread::spawn(move || {
            while o.load(Relaxed) {
                if let Ok(m) = std::fs::metadata(&wal) {
                    p.fetch_max(m.len(), Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        WalWatch { peak, on }
    }
    pub(crate) fn stop(self) -> u64 {
        self.on.store(false, Relaxed);
        self.peak.load(Relaxed)
    }
}

/// Who the requests are from: the API with a bearer token, pages with a session cookie.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) cookie: String,
}

/// xorshift64*, for picking volumes.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

impl Client {
    pub(crate) async fn get(&self, path: &str) -> Result<Duration, String> {
        let t = Instant::now();
        let req = self.http.get(format!("{}{path}", self.base));
        let req = if path.starts_with("/api/") || path == "/metrics" {
            req.bearer_auth(&self.token)
        } else {
            req.header("Cookie", &self.cookie)
        };
        let r = req.send().await.map_err(|e| format!("GET {path}: {e}"))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| format!("GET {path}: {e}"))?;
        let took = t.elapsed();
        if status != 200 {
            return Err(format!(
                "GET {path}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        Ok(took)
    }

    /// A receive scan of volume `v` at a unit: a real movement.
    pub(crate) async fn scan(&self, v: u64, unit: &str) -> Result<Duration, String> {
        let t = Instant::now();
        let body = serde_json::json!({
            "station": format!("gen-{}-in", unit.to_lowercase()),
            "barcode": issue_barcode('V', v),
        });
        let r = self
            .http
            .post(format!("{}/api/v1/scans", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("scan: {e}"))?;
        let status = r.status();
        let answer: serde_json::Value = r.json().await.map_err(|e| format!("scan: {e}"))?;
        let took = t.elapsed();
        if status != 200 || answer["accepted"] != true {
            return Err(format!("scan answered {status}: {answer}"));
        }
        Ok(took)
    }
}

/// Scans at `rate` a second until `stop`, each request on its own task (paced, not waiting for
/// the one before). Returns the latencies and the errors.
pub(crate) fn background(
    c: &Client,
    volumes: u64,
    rate: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<Duration>, Vec<String>)> {
    let c = c.clone();
    tokio::spawn(async move {
        let lat = Arc::new(Mutex::new(Vec::new()));
        let errs = Arc::new(Mutex::new(Vec::new()));
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
        let mut rng = Rng(0x5eed_0001);
        let mut tasks = Vec::new();
        while !stop.load(Relaxed) {
            tick.tick().await;
            let (c, lat, errs) = (c.clone(), lat.clone(), errs.clone());
            let v = 1 + rng.below(volumes);
            let unit = UNITS[rng.below(UNITS.len() as u64) as usize];
            tasks.push(tokio::spawn(async move {
                match c.scan(v, unit).await {
                    Ok(d) => lat.lock().unwrap().push(d),
                    Err(e) => errs.lock().unwrap().push(e),
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let lat = std::mem::take(&mut *lat.lock().unwrap());
        let errs = std::mem::take(&mut *errs.lock().unwrap());
        (lat, errs)
    })
}

/// `CLIENTS` clients scanning as fast as answered, for `secs`.
pub(crate) async fn saturate(
    c: &Client,
    volumes: u64,
    secs: f64,
) -> (f64, Vec<Duration>, Vec<String>) {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..CLIENTS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errs) = (Vec::new(), Vec::new());
            let mut rng = Rng(0x1234_5678 + w as u64 * 7919);
            while t.elapsed().as_secs_f64() < secs {
                let v = 1 + rng.below(volumes);
                match c.scan(v, UNITS[w % UNITS.len()]).await {
                    Ok(d) => lat.push(d),
                    Err(e) => errs.push(e),
                }
            }
            (lat, errs)
        }));
    }
    let (mut lat, mut errs) = (Vec::new(), Vec::new());
    for task in tasks {
        let (l, e) = task.await.unwrap();
        lat.extend(l);
        errs.extend(e);
    }
    (lat.len() as f64 / t.elapsed().as_secs_f64(), lat, errs)
}

/// Sequential GETs of one page (a person's clicks), for `secs` and at least 20 requests.
pub(crate) async fn measure(
    c: &Client,
    path: &str,
    volumes: u64,
    secs: f64,
) -> Result<Stats, String> {
    let t = Instant::now();
    let mut lat = Vec::new();
    let mut rng = Rng(0xfeed_beef);
    // A slow page stops after three times its share (at least one request), so one page that
    // reads everything cannot hold the run for hours.
    loop {
        let spent = t.elapsed().as_secs_f64();
        let enough = spent >= secs && (lat.len() >= 20 || spent >= 3.0 * secs);
        if (enough && !lat.is_empty()) || lat.len() >= 5_000 {
            break;
        }
        let p = path.replace("{barcode}", &issue_barcode('V', 1 + rng.below(volumes)));
        lat.push(c.get(&p).await?);
    }
    Ok(stats(lat))
}

/// The pages and API lists measured, by name and address (`{barcode}`: a random volume each time).
pub(crate) fn endpoints(busy: &str, request: i64) -> Vec<(String, String)> {
    let mut e: Vec<(String, String)> = [
        ("dashboard", "/".to_owned()),
        ("dashboard, name search", "/?q=Ashdown".to_owned()),
        ("locations page", "/locations".to_owned()),
        ("busy location page", format!("/locations/{busy}")),
        ("requests page", "/requests".to_owned()),
        (
            "requests page of a unit",
            format!("/requests?location={busy}"),
        ),
        ("request page", format!("/requests/{request}")),
        ("stations page", "/stations".to_owned()),
        ("metrics", "/metrics".to_owned()),
        ("exceptions page", "/exceptions".to_owned()),
        ("access log page", "/access-log".to_owned()),
        ("chart view page", "/volumes/{barcode}".to_owned()),
        ("wall page", format!("/wall/{busy}")),
        ("pull list page", "/pull-list".to_owned()),
        ("loose reports page", "/loose-reports".to_owned()),
        ("stocktakes page", "/stocktakes".to_owned()),
        ("missing page", "/missing".to_owned()),
        ("labels page", "/labels".to_owned()),
        ("labels printed page", "/labels/printed".to_owned()),
        ("reports index", "/reports".to_owned()),
        ("admin page", "/admin".to_owned()),
        ("scan page", "/scan".to_owned()),
        ("API chart view", "/api/v1/volumes/{barcode}".to_owned()),
        (
            "API movements",
            "/api/v1/volumes/{barcode}/movements".to_owned(),
        ),
        ("API search by name", "/api/v1/search?q=Ashdown".to_owned()),
        (
            "API search by barcode",
            "/api/v1/search?q={barcode}".to_owned(),
        ),
        ("API locations", "/api/v1/locations".to_owned()),
        ("API busy location", format!("/api/v1/locations/{busy}")),
        ("API stations", "/api/v1/stations".to_owned()),
        ("API exceptions", "/api/v1/exceptions".to_owned()),
        ("API requests", "/api/v1/requests".to_owned()),
        ("API request", format!("/api/v1/requests/{request}")),
        ("API pull list", "/api/v1/pull-list".to_owned()),
        (
            "API pull list, a page",
            "/api/v1/pull-list?limit=200".to_owned(),
        ),
        ("API missing", "/api/v1/missing".to_owned()),
        ("API loose reports", "/api/v1/reports".to_owned()),
        ("API stocktakes", "/api/v1/stocktakes".to_owned()),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b))
    .collect();
    for r in [
        "charged-out",
        "overdue",
        "missing",
        "pending-requests",
        "turnaround",
        "loose-reports",
        "misfiles",
        "activity",
        "break-glass",
    ] {
        e.push((format!("report {r}"), format!("/reports/{r}")));
    }
    e
}

/// Poll `/healthz` until the start's background quick check has ended (`integrity` is no longer
/// "checking"); how long that took from now, or `None` past `cap`.
pub(crate) async fn integrity_settled(c: &Client, cap: Duration) -> Option<(Duration, String)> {
    let t = Instant::now();
    loop {
        if let Ok(r) = c.http.get(format!("{}/healthz", c.base)).send().await {
            if let Ok(body) = r.json::<serde_json::Value>().await {
                match body["integrity"].as_str() {
                    Some("checking") | None => {}
                    Some(found) => return Some((t.elapsed(), found.to_owned())),
                }
            }
        }
        if t.elapsed() > cap {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many times the check stepped aside for the log, from the server's log line.
pub(crate) fn stepped_aside(log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().rev().find(|l| l.contains("stepped_aside="))?;
    let rest = &line[line.find("stepped_aside=")? + "stepped_aside=".len()..];
    rest.split(|ch: char| !ch.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The writer's stalls so far, from /metrics: transactions and cuts of the log over 100 ms.
pub(crate) async fn writer_stalls(c: &Client) -> (u64, u64) {
    let text = match c
        .http
        .get(format!("{}/metrics", c.base))
        .bearer_auth(&c.token)
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    (
        value("chartrack_writer_slow_commits_total "),
        value("chartrack_writer_slow_log_cuts_total "),
    )
}
