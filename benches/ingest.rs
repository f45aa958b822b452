//! Durable scan ingest through the single writer, beside a raw rusqlite loop doing the same
//! writes (scan row, movement, current state) with the same pragmas and batch size.
//! Run: `cargo bench --bench ingest` (CHARTRACK_BENCH_SCANS to change the count).

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

fn main() {
    let scans: usize = std::env::var("CHARTRACK_BENCH_SCANS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db"), Options::default()).unwrap();
    let barcodes = seed(&store);
    let (c0, j0) = (
        store.writer_stats().commits.load(Relaxed),
        store.writer_stats().jobs.load(Relaxed),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..CONCURRENCY {
            let store = store.clone();
            let barcodes = barcodes.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = w;
                while i < scans {
                    let station = if (i / barcodes.len()) % 2 == 0 {
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
    let elapsed = started.elapsed();
    latencies.sort();
    let commits = store.writer_stats().commits.load(Relaxed) - c0;
    let jobs = store.writer_stats().jobs.load(Relaxed) - j0;
    let batch = (jobs as f64 / commits as f64).round().max(1.0) as usize;
    let rate = scans as f64 / elapsed.as_secs_f64();
    store.shutdown();

    // The raw loop: same schema, pragmas (WAL, synchronous=FULL), batch size and writes.
    let raw_path = dir.path().join("raw.db");
    let raw_store = Store::open(&raw_path, Options::default()).unwrap();
    seed(&raw_store);
    raw_store.shutdown();
    let conn = rusqlite::Connection::open(&raw_path).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .unwrap();
    let now = chartrack::clock::stamp(chrono::Utc::now());
    let raw_started = Instant::now();
    let mut i = 0;
    while i < scans {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..batch.min(scans - i) {
            let vid = (i % VOLUMES as usize) as i64 + 1;
            let (station, loc) = if (i / VOLUMES as usize) % 2 == 0 {
                ("4w", 2)
            } else {
                ("card", 3)
            };
            conn.prepare_cached("INSERT INTO scan (scan_id, station_id, value, received_at, accepted, action, response) VALUES (?1, ?2, ?3, ?4, 1, 'receive', '{}')")
                .unwrap()
                .execute(rusqlite::params![uuid::Uuid::new_v4().to_string(), station, barcodes[vid as usize - 1], now])
                .unwrap();
            let seq = conn.last_insert_rowid();
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
    let raw_rate = scans as f64 / raw_started.elapsed().as_secs_f64();

    println!("scans: {scans}, concurrency {CONCURRENCY}, volumes {VOLUMES}");
    println!("writer: {rate:.0} scans/s; commit latency p50 {:?}, p99 {:?}, max {:?}; mean batch {batch} ({commits} commits)",
        pct(&latencies, 0.50), pct(&latencies, 0.99), latencies[latencies.len() - 1]);
    println!("raw rusqlite loop (same writes, batch {batch}): {raw_rate:.0} scans/s");
    println!("ratio writer/raw: {:.0}%", 100.0 * rate / raw_rate);
}
