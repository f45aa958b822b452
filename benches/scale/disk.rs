//! The scale benchmark's probes of the disk and the database: storage per table (`dbstat`),
//! the disk's fsync, the raw rusqlite loop beside the server, and `import volumes`.

use super::*;

/// Database size, bytes per movement, and per table and index (`dbstat`, or page counts).
pub(crate) fn storage(db: &Path, report: &mut Report) -> (u64, Option<String>) {
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
pub(crate) fn fsync_p99(dir: &Path) -> Duration {
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

/// The raw rusqlite loop (as benches/ingest.rs): scan row and its answer, movement and current state, batches
/// of `CLIENTS` per transaction, on the big database, for `secs`.
pub(crate) fn raw_loop(db: &Path, volumes: u64, secs: f64) -> f64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .unwrap();
    let (response, station, to): (String, String, i64) = c
        .query_row(
            "SELECT a.response, s.station_id, l.location_id FROM scan s JOIN scan_answer a ON a.scan_seq = s.scan_seq
             JOIN station t USING (station_id)
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
            c.prepare_cached("INSERT INTO scan (scan_id, station_id, value, received_at, accepted, action) VALUES (?1, ?2, ?3, ?4, 1, 'receive')")
                .unwrap()
                .execute(rusqlite::params![uuid::Uuid::new_v4().to_string(), station, issue_barcode('V', v as u64), now])
                .unwrap();
            let seq = c.last_insert_rowid();
            c.prepare_cached("INSERT INTO scan_answer (scan_seq, response) VALUES (?1, ?2)")
                .unwrap()
                .execute(rusqlite::params![seq, response])
                .unwrap();
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
pub(crate) fn import(dir: &Path, rows: u64, report: &mut Report) {
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
