//! The scale benchmark (issue 18): a generated hospital-sized history (`chartrack generate`), the
//! real server run as a subprocess on a copy of it, and every figure the issue names, printed
//! and written to BENCHMARKS.md with its method, its target and whether it was met.
//!
//! Run: `cargo bench --bench scale`. Environment:
//! - `CHARTRACK_SCALE_VOLUMES` (1,000,000), `CHARTRACK_SCALE_MOVEMENTS` (20,000,000): the history;
//!   generated once into `target/scale/v{volumes}-m{movements}/` and reused by later runs;
//! - `CHARTRACK_SCALE_SECONDS` (30): how long each loaded phase runs (ingest, the background
//!   scanner, the raw loop); each page is measured for a third of it (at least 1 s, 20 requests);
//! - `CHARTRACK_SCALE_IMPORT` (the volumes): rows in the `import volumes` file;
//! - `CHARTRACK_BENCH_OUT` (BENCHMARKS.md in the crate root): where the table goes.
//!
//! It fails (exit 1) only on errors: a request refused or failed, a command that failed. Never on
//! a timing: the targets are reported, met or not.

use chartrack::domain::issue_barcode;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "scale benchmark password 1";
const CLIENTS: usize = 32;
const BACKGROUND_RATE: u64 = 200;
const UNITS: [&str; 8] = ["2E", "3W", "4N", "5E", "6W", "7N", "CARD", "ONC"];

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chartrack")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One line of the table.
struct Row {
    figure: String,
    method: String,
    measured: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    errors: Vec<String>,
    notes: Vec<String>,
}

impl Report {
    fn row(
        &mut self,
        figure: &str,
        method: &str,
        measured: String,
        target: &str,
        met: Option<bool>,
    ) {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "-",
        };
        println!("{figure:<48} {measured:<44} target {target} [{mark}]");
        self.rows.push(Row {
            figure: figure.into(),
            method: method.into(),
            measured,
            target: target.into(),
            met,
        });
    }
    fn error(&mut self, e: String) {
        eprintln!("ERROR: {e}");
        self.errors.push(e);
    }
}

/// Latencies of one series.
struct Stats {
    n: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    over_100ms: usize,
}

fn stats(mut t: Vec<Duration>) -> Stats {
    t.sort();
    let at = |p: f64| t[((t.len() as f64 - 1.0) * p).round() as usize];
    Stats {
        n: t.len(),
        p50: if t.is_empty() {
            Duration::ZERO
        } else {
            at(0.5)
        },
        p99: if t.is_empty() {
            Duration::ZERO
        } else {
            at(0.99)
        },
        max: t.last().copied().unwrap_or_default(),
        over_100ms: t
            .iter()
            .filter(|d| **d > Duration::from_millis(100))
            .count(),
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms, {} over 100 ms (n={})",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.over_100ms,
            self.n
        )
    }
}

fn run_cli(config: &Path, args: &[&str], stdin: &str) -> Output {
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

fn must(out: Output, what: &str) -> String {
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

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Drop the database's pages from the page cache (no root needed: fsync, then
/// `POSIX_FADV_DONTNEED`, which evicts the file's clean pages).
fn evict(db: &Path) {
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
fn history(volumes: u64, movements: u64) -> (PathBuf, f64, bool) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scale");
    let dir = root.join(format!("v{volumes}-m{movements}"));
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
fn copy_of(from: &Path, to: &Path) -> PathBuf {
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

struct Server {
    child: Child,
}

impl Server {
    /// Start `chartrack serve` and time it to the first 200 from /healthz.
    async fn start(config: &Path, base: &str, log: &Path) -> (Server, Duration) {
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

    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// The -wal file's size, polled while `on`; the peak.
struct WalWatch {
    peak: Arc<AtomicU64>,
    on: Arc<AtomicBool>,
}

impl WalWatch {
    fn start(db: &Path) -> WalWatch {
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
    fn stop(self) -> u64 {
        self.on.store(false, Relaxed);
        self.peak.load(Relaxed)
    }
}

/// Who the requests are from: the API with a bearer token, pages with a session cookie.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    cookie: String,
}

/// xorshift64*, for picking volumes.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

impl Client {
    async fn get(&self, path: &str) -> Result<Duration, String> {
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
    async fn scan(&self, v: u64, unit: &str) -> Result<Duration, String> {
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
fn background(
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
async fn saturate(c: &Client, volumes: u64, secs: f64) -> (f64, Vec<Duration>, Vec<String>) {
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
async fn measure(c: &Client, path: &str, volumes: u64, secs: f64) -> Result<Stats, String> {
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
fn endpoints(busy: &str, request: i64) -> Vec<(String, String)> {
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

/// Database size, bytes per movement, and per table and index (`dbstat`, or page counts).
fn storage(db: &Path, report: &mut Report) -> (u64, Option<String>) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let movements: i64 = c
        .query_row("SELECT count(*) FROM movement", [], |r| r.get(0))
        .unwrap();
    let size = std::fs::metadata(db).unwrap().len()
        + std::fs::metadata(beside(db, "-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    let per = size as f64 / movements.max(1) as f64;
    report.row(
        "bytes per movement",
        "database file (with any -wal) / movements, on the generated history",
        format!(
            "{per:.0} B ({:.2} GB, {movements} movements)",
            size as f64 / 1e9
        ),
        "≤ 200 B",
        Some(per <= 200.0),
    );
    let rows: rusqlite::Result<Vec<(String, i64)>> = c
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 16")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect());
    let table = match rows {
        Ok(rows) => {
            let mut t =
                String::from("| table or index | bytes | bytes per movement |\n|---|---:|---:|\n");
            for (name, bytes) in rows {
                t += &format!(
                    "| {name} | {bytes} | {:.1} |\n",
                    bytes as f64 / movements.max(1) as f64
                );
            }
            Some(t)
        }
        Err(e) => {
            report.notes.push(format!(
                "dbstat is not available in the bundled SQLite ({e}); only the file size is given"
            ));
            None
        }
    };
    (movements as u64, table)
}

/// p99 of a 4 KiB write and fdatasync on this disk (the floor of a durable commit).
fn fsync_p99(dir: &Path) -> Duration {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let mut lat = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        f.write_all(&[7u8; 4096]).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    stats(lat).p99
}

/// The raw rusqlite loop (as benches/ingest.rs): scan row, movement and current state, batches
/// of `CLIENTS` per transaction, on the big database, for `secs`.
fn raw_loop(db: &Path, volumes: u64, secs: f64) -> f64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .unwrap();
    let (response, station, to): (String, String, i64) = c
        .query_row(
            "SELECT s.response, s.station_id, l.location_id FROM scan s JOIN station t USING (station_id)
             JOIN location l ON l.location_id = t.location_id WHERE s.accepted ORDER BY s.scan_seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let mut rng = Rng(0xabcdef);
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..CLIENTS {
            let v = 1 + rng.below(volumes) as i64;
            let now = chartrack::clock::stamp(chrono::Utc::now());
            c.prepare_cached("INSERT INTO scan (scan_id, station_id, value, received_at, accepted, action, response) VALUES (?1, ?2, ?3, ?4, 1, 'receive', ?5)")
                .unwrap()
                .execute(rusqlite::params![uuid::Uuid::new_v4().to_string(), station, issue_barcode('V', v as u64), now, response])
                .unwrap();
            let seq = c.last_insert_rowid();
            c.prepare_cached("INSERT INTO movement (scan_seq, volume_id, action, from_id, to_id, at, station_id) VALUES (?1, ?2, 'receive', ?3, ?3, ?4, ?5)")
                .unwrap()
                .execute(rusqlite::params![seq, v, to, now, station])
                .unwrap();
            let m = c.last_insert_rowid();
            c.prepare_cached("UPDATE volume_state SET status='at_location', location_id=?2, last_movement_id=?3, last_scan_at=?4, last_station_id=?5 WHERE volume_id=?1")
                .unwrap()
                .execute(rusqlite::params![v, to, m, now, station])
                .unwrap();
            n += 1;
        }
        c.execute_batch("COMMIT").unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// `chartrack import volumes` of `rows` rows into a new database: wall time, peak memory
/// (wait4's rusage), and the progress lines it wrote to a pipe.
fn import(dir: &Path, rows: u64, report: &mut Report) {
    use std::io::Write;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("chartrack.toml");
    std::fs::write(&config, format!("database = {:?}\n", dir.join("import.db"))).unwrap();
    let locs = dir.join("locations.csv");
    std::fs::write(&locs, "code,name,kind,barcode\nFR-00-99,File room,shelf,\n").unwrap();
    must(
        run_cli(
            &config,
            &["import", "locations", locs.to_str().unwrap()],
            "",
        ),
        "import locations",
    );
    let csv = dir.join("volumes.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(
        f,
        "barcode,mrn,last_name,first_name,birth_date,volume,record_type,home"
    )
    .unwrap();
    for i in 1..=rows {
        writeln!(
            f,
            "{},{:08},Ashdown,Ada,1970-01-01,1,medical,FR-00-99",
            issue_barcode('V', i),
            10_000_000 + i
        )
        .unwrap();
    }
    drop(f);
    let t = Instant::now();
    let child = Command::new(bin())
        .args(["import", "volumes", csv.to_str().unwrap(), "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Read its output on threads, then reap it with wait4 for its rusage.
    let mut child = child;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::wait4(pid, &mut status, 0, &mut usage);
    }
    let took = t.elapsed().as_secs_f64();
    let (stdout, stderr) = (o.join().unwrap(), e.join().unwrap());
    std::mem::forget(child);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        report.error(format!("import volumes failed: {stdout}{stderr}"));
        return;
    }
    let peak_mb = usage.ru_maxrss as f64 / 1024.0;
    let progress = stderr.lines().filter(|l| !l.trim().is_empty()).count();
    report.row(
        &format!("import volumes, {rows} rows"),
        "`chartrack import volumes` of a synthetic CSV into a new database; wall time; peak RSS from wait4's rusage",
        format!("{took:.1} s, {peak_mb:.0} MB peak"),
        "≤ 15 s per 1M rows, ≤ 150 MB",
        Some(took <= 15.0 * rows as f64 / 1e6 && peak_mb <= 150.0),
    );
    report.notes.push(format!(
        "`import volumes` wrote {progress} line(s) to its standard error, a pipe (progress when not on a terminal is a target)"
    ));
    let _ = std::fs::remove_file(&csv);
}

fn page_row(name: &str, path: &str, idle: &Stats, loaded: &Stats) -> (String, bool) {
    let strict = name.contains("chart view") || name == "metrics";
    let (idle_t, loaded_t) = (20.0, if strict { 20.0 } else { 50.0 });
    let met = ms(idle.p99) <= idle_t && ms(loaded.p99) <= loaded_t;
    println!("{name:<28} idle {idle}\n{:<28} loaded {loaded}", "");
    (
        format!(
            "| {name} | `{path}` | {:.1} / {:.1} / {:.0} | {:.1} / {:.1} / {:.0} | {} | ≤ {idle_t:.0} / ≤ {loaded_t:.0} | {} |\n",
            ms(idle.p50),
            ms(idle.p99),
            ms(idle.max),
            ms(loaded.p50),
            ms(loaded.p99),
            ms(loaded.max),
            loaded.over_100ms,
            if met { "met" } else { "NOT met" }
        ),
        met,
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map(|k| format!("{:.0} GB RAM", k / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} × {cpu}, {mem}")
}

#[tokio::main]
async fn main() {
    let volumes = env_num("CHARTRACK_SCALE_VOLUMES", 1e6) as u64;
    let movements = env_num("CHARTRACK_SCALE_MOVEMENTS", 2e7) as u64;
    let secs = env_num("CHARTRACK_SCALE_SECONDS", 30.0).max(1.0);
    let import_rows = env_num("CHARTRACK_SCALE_IMPORT", volumes as f64) as u64;
    let page_secs = (secs / 3.0).max(1.0);
    let out = std::env::var_os("CHARTRACK_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scale");
    let mut report = Report::default();
    let begun = Instant::now();

    let (hist, gen_secs, cached) = history(volumes, movements);
    report.row(
        "generate the history",
        if cached {
            "`chartrack generate` wall time, recorded when the cached history under target/scale was made"
        } else {
            "`chartrack generate` wall time in this run"
        },
        format!("{gen_secs:.0} s ({volumes} volumes, {movements} movements)"),
        "minutes at 1M/20M (≤ 10 min)",
        Some(gen_secs <= 600.0),
    );
    let run = root.join("run");
    let db = copy_of(&hist, &run);
    let (_, by_table) = storage(&db, &mut report);
    let (busy, request): (String, i64) = {
        let c =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let busy = c
            .query_row(
                "SELECT l.code FROM volume_state s JOIN location l ON l.location_id = s.location_id
                 WHERE l.kind IN ('unit','clinic') GROUP BY s.location_id ORDER BY count(*) DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| "2E".into());
        let request = c
            .query_row(
                "SELECT coalesce(min(request_id), 1) FROM request",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (busy, request)
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = run.join("chartrack.toml");
    std::fs::write(
        &config,
        format!("database = {db:?}\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    must(
        run_cli(
            &config,
            &["user", "add", "bench", "--role", "admin"],
            PASSWORD,
        ),
        "user add",
    );
    let token = must(
        run_cli(&config, &["token", "create", "--user", "bench"], ""),
        "token create",
    )
    .trim()
    .to_owned();
    let fsync = fsync_p99(&run);
    report.row(
        "fsync p99 of this disk",
        "200 × (4 KiB write + fdatasync) beside the database",
        format!("{:.1} ms", ms(fsync)),
        "reference",
        None,
    );

    // Cold start: the page cache emptied of the database as far as a user can (fadvise), then warm.
    evict(&db);
    let (server, cold) = Server::start(&config, &base, &run.join("server-cold.log")).await;
    server.stop();
    let (server, warm) = Server::start(&config, &base, &run.join("server.log")).await;
    for (what, how, took) in [
        (
            "cold start, database evicted from the page cache",
            "spawn `chartrack serve` to the first 200 from /healthz, after fsync + POSIX_FADV_DONTNEED on the database files (as cold as a user without root can make it)",
            cold,
        ),
        (
            "cold start, page cache warm",
            "spawn `chartrack serve` to the first 200 from /healthz, right after the start above",
            warm,
        ),
    ] {
        report.row(
            what,
            how,
            format!("{:.0} ms", ms(took)),
            "≤ 1 s",
            Some(took <= Duration::from_secs(1)),
        );
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let signed = http
        .post(format!("{base}/login"))
        .header("Origin", &base)
        .form(&[("name", "bench"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.split(';').next())
        .map(str::to_owned);
    let Some(cookie) = cookie else {
        eprintln!("sign-in failed: {}", signed.status());
        std::process::exit(1);
    };
    let c = Client {
        http,
        base: base.clone(),
        token,
        cookie,
    };
    let pages = endpoints(&busy, request);

    // Idle: one page after another, nothing else running.
    let mut idle = Vec::new();
    for (name, path) in &pages {
        match measure(&c, path, volumes, page_secs).await {
            Ok(s) => idle.push(Some(s)),
            Err(e) => {
                report.error(format!("{name}: {e}"));
                idle.push(None)
            }
        }
    }

    // Ingest at saturation, then the pages under 200 scans/s; the WAL watched throughout.
    let wal = WalWatch::start(&db);
    let (rate, lat, errs) = saturate(&c, volumes, secs).await;
    for e in errs.into_iter().take(5) {
        report.error(e);
    }
    let sat = stats(lat);
    let stop = Arc::new(AtomicBool::new(false));
    let bg = background(&c, volumes, BACKGROUND_RATE, stop.clone());
    let mut loaded = Vec::new();
    for (name, path) in &pages {
        match measure(&c, path, volumes, page_secs).await {
            Ok(s) => loaded.push(Some(s)),
            Err(e) => {
                report.error(format!("{name} (under load): {e}"));
                loaded.push(None)
            }
        }
    }
    stop.store(true, Relaxed);
    let (bg_lat, bg_errs) = bg.await.unwrap();
    for e in bg_errs.into_iter().take(5) {
        report.error(e);
    }
    let bg_rate = bg_lat.len() as f64;
    let bg = stats(bg_lat);
    let wal_peak = wal.stop();
    let rss = server.peak_rss_kib();
    server.stop();

    report.row(
        &format!("ingest over HTTP, {CLIENTS} clients at saturation"),
        &format!("{CLIENTS} clients POST /api/v1/scans (receive at a unit, random volume) as fast as answered, {secs:.0} s"),
        format!("{rate:.0} scans/s; {sat}"),
        "≥ 10,000 scans/s, p99 ≤ 50 ms",
        Some(rate >= 10_000.0 && sat.p99 <= Duration::from_millis(50)),
    );
    let raw = raw_loop(&db, volumes, secs);
    report.row(
        "raw rusqlite loop, same run",
        &format!("scan row + movement + volume_state, {CLIENTS} per transaction, WAL, synchronous=FULL, on the same database after the server stopped, {secs:.0} s"),
        format!("{raw:.0} scans/s"),
        "reference",
        None,
    );
    report.row(
        &format!("ingest at {BACKGROUND_RATE} scans/s (background)"),
        "paced scanner, one request every 5 ms on its own task, while the pages were measured under load",
        format!("{bg}; {bg_rate} scans"),
        &format!("p99 ≤ fsync p99 + 2 ms = {:.1} ms", ms(fsync) + 2.0),
        Some(ms(bg.p99) <= ms(fsync) + 2.0),
    );
    let loaded_max = loaded
        .iter()
        .flatten()
        .map(|s| s.max)
        .max()
        .unwrap_or_default();
    let loaded_over: usize = loaded.iter().flatten().map(|s| s.over_100ms).sum();
    let stalls = sat.over_100ms + bg.over_100ms + loaded_over;
    let worst = sat.max.max(bg.max).max(loaded_max);
    report.row(
        "stalls in the loaded phases",
        "requests over 100 ms and the longest, across ingest at saturation, the background scanner and the pages under load",
        format!("{stalls} over 100 ms (saturation {}, background {}, pages {loaded_over}); max {:.0} ms", sat.over_100ms, bg.over_100ms, ms(worst)),
        "none over 100 ms (at 200 scans/s)",
        Some(bg.over_100ms + loaded_over == 0),
    );
    report.row(
        "WAL peak",
        "size of the -wal file polled every 10 ms through ingest and the loaded pages",
        format!("{:.1} MB", wal_peak as f64 / 1e6),
        "≤ 128 MB",
        Some(wal_peak <= 128 * 1024 * 1024),
    );
    report.row(
        "server peak RSS",
        "VmHWM of the server process (/proc/PID/status) after all phases",
        format!("{:.0} MB", rss as f64 / 1024.0),
        "reported",
        None,
    );
    import(&root.join("import"), import_rows, &mut report);

    let mut table = String::from(
        "| page or list | address | idle p50 / p99 / max (ms) | under 200 scans/s p50 / p99 / max (ms) | over 100 ms (loaded) | target p99 (ms) | |\n|---|---|---|---|---|---|---|\n",
    );
    let mut pages_met = 0;
    for (i, (name, path)) in pages.iter().enumerate() {
        match (&idle[i], &loaded[i]) {
            (Some(a), Some(b)) => {
                let (line, met) = page_row(name, path, a, b);
                pages_met += met as usize;
                table += &line;
            }
            _ => table += &format!("| {name} | `{path}` | error | error | | | |\n"),
        }
    }
    let _ = std::fs::remove_dir_all(&run);

    let rev = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut md = format!(
        "# Benchmarks\n\nWritten by `cargo bench --bench scale` (benches/scale.rs) on {}, commit {rev}, on {}.\n\
         History: {volumes} volumes and {movements} movements made by `chartrack generate` (seed 1); \
         the real server run as a subprocess on a copy of it; loaded phases {secs:.0} s, each page {page_secs:.0} s \
         (at least 20 requests, one at a time). Every request was checked for its status (200; scans accepted). \
         Targets are issue 18's, set for 1M volumes and 20M movements{}.\n\n\
         | figure | method | measured | target | |\n|---|---|---|---|---|\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine(),
        if volumes < 1_000_000 || movements < 20_000_000 { "; this run is smaller, so they are for reference" } else { "" },
    );
    for r in &report.rows {
        let mark = match r.met {
            Some(true) => "met",
            Some(false) => "**NOT met**",
            None => "",
        };
        md += &format!(
            "| {} | {} | {} | {} | {mark} |\n",
            r.figure, r.method, r.measured, r.target
        );
    }
    md += &format!(
        "\n## Pages and API lists\n\nEach view of a chart writes its access-log entry. {pages_met} of {} meet their targets \
         (p99 ≤ 20 ms idle; ≤ 50 ms under {BACKGROUND_RATE} scans/s, ≤ 20 ms for /metrics and chart views). \
         `{{barcode}}` is a random generated volume each time; the busy location is the unit or clinic holding most volumes ({busy}).\n\n{table}",
        pages.len()
    );
    if let Some(t) = by_table {
        md += &format!(
            "\n## Storage by table and index (SQLite `dbstat`, before the run's scans)\n\n{t}"
        );
    }
    if !report.notes.is_empty() || !report.errors.is_empty() {
        md += "\n## Notes\n\n";
        for n in &report.notes {
            md += &format!("- {n}\n");
        }
        for e in &report.errors {
            md += &format!("- ERROR: {e}\n");
        }
    }
    std::fs::write(&out, md).unwrap();
    println!(
        "wrote {} ({:.0} s)",
        out.display(),
        begun.elapsed().as_secs_f64()
    );
    if !report.errors.is_empty() {
        eprintln!("{} error(s)", report.errors.len());
        std::process::exit(1);
    }
}
