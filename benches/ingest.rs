//! Durable scan ingest through the single writer, beside a raw rusqlite loop doing the same
//! writes (scan row, movement, current state) with the same pragmas and batch size.
//! The disk's fsync time varies from second to second, so the two are run in alternating rounds
//! and the medians compared.
//! Run: `cargo bench --bench ingest` (CHARTRACK_BENCH_SCANS per round, CHARTRACK_BENCH_ROUNDS).

use chartrack::domain::{LocationCode, LocationKind, Mode, Mrn};
use chartrack::store::admin::{self, NewLocation, NewStation, NewVolume};
use chartrack::store::{Options, ScanInput, Store};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

const VOLUMES: u32 = 5_000;
const CONCURRENCY: usize = 64;

fn seed(store: &Store) -> Vec<String> {
    let now = store.clock().now();
    store
        .write_blocking(move |c| {
            let code = |s: &str| LocationCode::parse(s).unwrap();
            admin::create_location(
                c,
                &NewLocation {
                    code: code("FR-00-99"),
                    name: "File room".into(),
                    kind: LocationKind::Shelf,
                    barcode: None,
                    terminal: Some((0, 99)),
                },
                now,
            )?;
            for u in ["4W", "CARD"] {
                admin::create_location(
                    c,
                    &NewLocation {
                        code: code(u),
                        name: u.into(),
                        kind: LocationKind::Unit,
                        barcode: None,
                        terminal: None,
                    },
                    now,
                )?;
                admin::upsert_station(
                    c,
                    &NewStation {
                        id: u.to_lowercase(),
                        location: code(u),
                        mode: Mode::Receive,
                        port: None,
                        usb: None,
                        roles: vec![],
                        locations: vec![],
                    },
                    now,
                )?;
            }
            let mut out = Vec::new();
            for i in 0..VOLUMES {
                let v = NewVolume {
                    barcode: None,
                    mrn: Mrn::parse(&format!("{:06}", 100_000 + i)).unwrap(),
                    last_name: "Bench".into(),
                    first_name: "Synthetic".into(),
                    birth_date: None,
                    volume: 1,
                    record_type: "medical".into(),
                    home: code("FR-00-99"),
                    restricted: false,
                };
                out.push(admin::create_volume(c, &v, now)?);
            }
            Ok(out)
        })
        .unwrap()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

struct WriterRound {
    rate: f64,
    latencies: Vec<Duration>,
    commits: u64,
    jobs: u64,
}

/// Scans `from..to` (scan i moves volume i mod VOLUMES to 4W or CARD, alternating by pass)
/// through `Store::scan` from CONCURRENCY tasks.
fn writer_round(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    barcodes: &[String],
    from: usize,
    to: usize,
) -> WriterRound {
    let (c0, j0) = (
        store.writer_stats().commits.load(Relaxed),
        store.writer_stats().jobs.load(Relaxed),
    );
    let started = Instant::now();
    let latencies: Vec<Duration> = rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..CONCURRENCY {
            let store = store.clone();
            let barcodes = barcodes.to_vec();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = from + w;
                while i < to {
                    let station = if (i / barcodes.len()).is_multiple_of(2) {
                        "4w"
                    } else {
                        "card"
                    };
                    let input = ScanInput {
                        station: station.into(),
                        line: format!("{}\r", barcodes[i % barcodes.len()]).into_bytes(),
                        id: Some(uuid::Uuid::new_v4()),
                        scanned_at: None,
                        user: None,
                    };
                    let t = Instant::now();
                    let a = store.scan(input).await.unwrap();
                    assert!(a.accepted && a.moved == 1, "{a:?}");
                    lat.push(t.elapsed());
                    i += CONCURRENCY;
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let rate = (to - from) as f64 / started.elapsed().as_secs_f64();
    WriterRound {
        rate,
        latencies,
        commits: store.writer_stats().commits.load(Relaxed) - c0,
        jobs: store.writer_stats().jobs.load(Relaxed) - j0,
    }
}

/// The same writes as the scan path's scan row, movement and current state, in transactions of
/// `batch`, on a plain connection with the same pragmas.
fn raw_round(
    conn: &rusqlite::Connection,
    barcodes: &[String],
    from: usize,
    to: usize,
    batch: usize,
) -> f64 {
    let now = chartrack::clock::stamp(chrono::Utc::now());
    let started = Instant::now();
    let mut i = from;
    while i < to {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..batch.min(to - i) {
            let vid = (i % VOLUMES as usize) as i64 + 1;
            let (station, loc) = if (i / VOLUMES as usize).is_multiple_of(2) {
                ("4w", 2)
            } else {
                ("card", 3)
            };
            conn.prepare_cached("INSERT INTO scan (scan_id, station_id, value, received_at, accepted, action) VALUES (?1, ?2, ?3, ?4, 1, 'receive')")
                .unwrap()
                .execute(rusqlite::params![uuid::Uuid::new_v4().to_string(), station, barcodes[vid as usize - 1], now])
                .unwrap();
            let seq = conn.last_insert_rowid();
            conn.prepare_cached("INSERT INTO scan_answer (scan_seq, response) VALUES (?1, '{}')")
                .unwrap()
                .execute(rusqlite::params![seq])
                .unwrap();
            conn.prepare_cached("INSERT INTO movement (scan_seq, volume_id, action, from_id, to_id, at, station_id) VALUES (?1, ?2, 'receive', 1, ?3, ?4, ?5)")
                .unwrap()
                .execute(rusqlite::params![seq, vid, loc, now, station])
                .unwrap();
            let mid = conn.last_insert_rowid();
            conn.prepare_cached("UPDATE volume_state SET status='at_location', location_id=?2, last_movement_id=?3, last_scan_at=?4, last_station_id=?5 WHERE volume_id=?1")
                .unwrap()
                .execute(rusqlite::params![vid, loc, mid, now, station])
                .unwrap();
            i += 1;
        }
        conn.execute_batch("COMMIT").unwrap();
    }
    (to - from) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let scans = env_or("CHARTRACK_BENCH_SCANS", 20_000);
    let rounds = env_or("CHARTRACK_BENCH_ROUNDS", 3).max(1);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db"), Options::default()).unwrap();
    let barcodes = seed(&store);

    // The raw loop's database: same schema and seed, then a plain connection.
    let raw_path = dir.path().join("raw.db");
    let raw_store = Store::open(&raw_path, Options::default()).unwrap();
    seed(&raw_store);
    raw_store.shutdown();
    let conn = rusqlite::Connection::open(&raw_path).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "scans: {scans} per round, {rounds} rounds, concurrency {CONCURRENCY}, volumes {VOLUMES}"
    );
    let (mut writer_rates, mut raw_rates, mut ratios, mut latencies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut commits, mut jobs) = (0, 0);
    for round in 0..rounds {
        let (from, to) = (round * scans, (round + 1) * scans);
        let w = writer_round(&rt, &store, &barcodes, from, to);
        let batch = (w.jobs as f64 / w.commits as f64).round().max(1.0) as usize;
        let raw = raw_round(&conn, &barcodes, from, to, batch);
        println!(
            "round {}: writer {:.0} scans/s (mean batch {batch}), raw loop {raw:.0} scans/s, ratio {:.0}%",
            round + 1,
            w.rate,
            100.0 * w.rate / raw
        );
        writer_rates.push(w.rate);
        raw_rates.push(raw);
        ratios.push(w.rate / raw);
        latencies.extend(w.latencies);
        commits += w.commits;
        jobs += w.jobs;
    }
    store.shutdown();
    latencies.sort();
    println!(
        "writer: median {:.0} scans/s; commit latency p50 {:?}, p99 {:?}, max {:?}; mean batch {:.0} ({commits} commits)",
        median(writer_rates),
        pct(&latencies, 0.50),
        pct(&latencies, 0.99),
        latencies[latencies.len() - 1],
        jobs as f64 / commits as f64
    );
    println!(
        "raw rusqlite loop (same writes, same batch): median {:.0} scans/s",
        median(raw_rates)
    );
    println!("ratio writer/raw: median {:.0}%", 100.0 * median(ratios));
}
