//! The scale benchmark (issue 18): a generated hospital-sized history (`chartrack generate`), the
//! real server run as a subprocess on a copy of it, and every figure the issue names, printed
//! and written to BENCHMARKS.md with its method, its target and whether it was met.
//!
//! Run: `cargo bench --bench scale`. Environment:
//! - `CHARTRACK_SCALE_VOLUMES` (1,000,000), `CHARTRACK_SCALE_MOVEMENTS` (20,000,000): the history;
//!   generated once into `target/scale/v{volumes}-m{movements}-{digest}/` (the digest of the
//!   schema, the generator and the scan path) and reused by later runs;
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
/// The heading of BENCHMARKS.md's hand-written section, kept when the table is written again.
const KEPT: &str = "## What bounds the figures not met";
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

mod disk;
mod probes;
use disk::*;
use probes::*;

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

    // The start's background quick check reads the whole file: the pages are measured once it
    // has ended (as they are all day after it); it is run again under load at the end.
    match integrity_settled(&c, Duration::from_secs(1800)).await {
        Some((took, found)) => report.row(
            "background quick check at start, idle",
            "from the first 200 of /healthz to its `integrity` leaving \"checking\" (SQLite's quick check table by table, then the access log's chain), nothing else running",
            format!("{:.0} s ({found})", took.as_secs_f64()),
            "in the background, never in the way of serving",
            Some(found == "ok"),
        ),
        None => report.error("the start's background check did not end in 30 minutes".into()),
    }

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
    let sat_writer = writer_stalls(&c).await;
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
    let all_writer = writer_stalls(&c).await;
    let rss = server.peak_rss_kib();
    server.stop();

    // A start under load: the background quick check reads the whole file while scans arrive at
    // 200 a second; it must step aside so the log stays bounded.
    let wal = WalWatch::start(&db);
    let check_log = run.join("server-check.log");
    let (server, _) = Server::start(&config, &base, &check_log).await;
    let stop = Arc::new(AtomicBool::new(false));
    let scanner = background(&c, volumes, BACKGROUND_RATE, stop.clone());
    let settled = integrity_settled(&c, Duration::from_secs(1800)).await;
    stop.store(true, Relaxed);
    let (check_lat, check_errs) = scanner.await.unwrap();
    for e in check_errs.into_iter().take(5) {
        report.error(e);
    }
    let check_wal = wal.stop();
    server.stop();
    let check_bg = stats(check_lat);

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
        "requests over 100 ms and the longest, across ingest at saturation, the background scanner and the pages under load; beside them the writer's own stalls, counted by the server",
        format!(
            "{stalls} over 100 ms (saturation {}, background {}, pages {loaded_over}); max {:.0} ms. The writer's own (/metrics): {} transactions and {} log cuts over 100 ms at saturation, {} and {} under 200 scans/s",
            sat.over_100ms, bg.over_100ms, ms(worst),
            sat_writer.0, sat_writer.1, all_writer.0 - sat_writer.0, all_writer.1 - sat_writer.1
        ),
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
    match settled {
        Some((took, found)) => report.row(
            &format!("background quick check at start, under {BACKGROUND_RATE} scans/s"),
            "the server restarted on the same file with the paced scanner running until `integrity` left \"checking\"; times it stepped aside for the log from its log line",
            format!(
                "{:.0} s ({found}); stepped aside {} time(s); scans meanwhile {check_bg}",
                took.as_secs_f64(),
                stepped_aside(&check_log).map_or("?".into(), |n| n.to_string())
            ),
            "ends; scans p99 ≤ 50 ms",
            Some(found == "ok" && check_bg.p99 <= Duration::from_millis(50)),
        ),
        None => report.error("the background check under load did not end in 30 minutes".into()),
    }
    report.row(
        "WAL peak while the start's check runs under load",
        "size of the -wal file polled every 10 ms from the restart until the check ended",
        format!("{:.1} MB", check_wal as f64 / 1e6),
        "≤ 128 MB",
        Some(check_wal <= 128 * 1024 * 1024),
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
        "# Benchmarks\n\nWritten by `cargo bench --bench scale` (benches/scale/) on {}, commit {rev}, on {}.\n\
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
    // The hand-written analysis at the end of the file is kept.
    if let Some(tail) = std::fs::read_to_string(&out)
        .ok()
        .and_then(|old| old.find(KEPT).map(|at| old[at..].to_owned()))
    {
        md += "\n";
        md += &tail;
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
