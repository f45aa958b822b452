//! Faults around the real binary: SIGTERM while stations are scanning; a full disk.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub(crate) fn chartrack(config: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartrack"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn serve(config: &Path) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartrack"));
    cmd.args(["serve", "--config"]).arg(config);
    serve_with(cmd)
}

/// Wait for the line of a starting `serve` that says where it listens: its base URL. Standard
/// output goes on being drained so the server never blocks on a full pipe.
pub(crate) fn listening(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(rest) = line.strip_prefix("chartrack listening on ") {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    base
}

/// Start `serve` (perhaps wrapped) and wait for the line that says where it listens.
fn serve_with(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = crate::faults::listening(&mut child);
    (child, base)
}

const VOLUMES: usize = 40;
/// Scans that must go on being recorded after a full disk is relieved by 2 MiB.
const AFTER_RELIEF: usize = 400;
const CLIENTS: usize = 8;

/// A hospital through the command line: a shelf, two units with receive stations, 40 volumes,
/// a clerk with a token.
pub(crate) fn hospital(dir: &Path) -> (std::path::PathBuf, String) {
    let config = dir.join("chartrack.toml");
    std::fs::write(
        &config,
        format!(
            "database = {:?}\nlisten = \"127.0.0.1:0\"\n\
             [[stations]]\nid = \"w4\"\nlocation = \"4W\"\nmode = \"receive\"\n\
             [[stations]]\nid = \"card\"\nlocation = \"CARD\"\nmode = \"receive\"\n",
            dir.join("t.db")
        ),
    )
    .unwrap();
    let locs = dir.join("locations.csv");
    std::fs::write(
        &locs,
        "code,name,kind,barcode\nFR-00-19,Section 00-19,shelf,\n4W,4 West,unit,\nCARD,Cardiology,clinic,\n",
    )
    .unwrap();
    chartrack(
        &config,
        &["import", "locations", locs.to_str().unwrap()],
        "",
    );
    let mut csv =
        String::from("barcode,mrn,last_name,first_name,birth_date,volume,record_type,home\n");
    for i in 0..VOLUMES {
        csv += &format!(
            "SD{i:04},{:06},Synthetic,Pat,,1,medical,FR-00-19\n",
            500_000 + i
        );
    }
    let vols = dir.join("volumes.csv");
    std::fs::write(&vols, csv).unwrap();
    chartrack(&config, &["import", "volumes", vols.to_str().unwrap()], "");
    chartrack(
        &config,
        &["user", "add", "clerk1", "--role", "clerk"],
        "a long enough secret\n",
    );
    let token = chartrack(&config, &["token", "create", "--user", "clerk1"], "");
    (config, token.trim().to_owned())
}

#[derive(Debug, Clone)]
struct Acked {
    scan_id: String,
    barcode: String,
    station: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_acknowledged_scan_and_exits_cleanly() {
    // Arrange: the real binary serving, eight stations' worth of clients scanning in a loop.
    let dir = tempfile::tempdir().unwrap();
    let (config, token) = tokio::task::spawn_blocking({
        let d = dir.path().to_owned();
        move || hospital(&d)
    })
    .await
    .unwrap();
    let (mut child, base) = serve(&config);
    let http = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let refused = Arc::new(Mutex::new(Vec::<u16>::new()));
    let mut clients = Vec::new();
    for k in 0..CLIENTS {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let (acked, refused) = (acked.clone(), refused.clone());
        clients.push(tokio::spawn(async move {
            // Each client owns its volumes and moves them between the two units in turn,
            // so every accepted scan is exactly one movement.
            for round in 0usize.. {
                for i in (k..VOLUMES).step_by(CLIENTS) {
                    let barcode = format!("SD{i:04}");
                    let station = if round % 2 == 0 { "w4" } else { "card" };
                    let Some((status, body, id)) =
                        try_scan(&http, &base, &token, station, &barcode).await
                    else {
                        return; // the server has gone
                    };
                    if status != 200 {
                        refused.lock().unwrap().push(status);
                        return;
                    }
                    assert_eq!(body["moved"], 1, "{body}");
                    acked.lock().unwrap().push(Acked {
                        scan_id: id,
                        barcode,
                        station: station.into(),
                    });
                }
            }
        }));
    }

    // Act: SIGTERM once the stations are busy.
    crate::helpers::until(
        std::time::Duration::from_secs(60),
        "200 acknowledged scans",
        || async { acked.lock().unwrap().len() >= 200 },
    )
    .await;
    signal(&child, "-TERM");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    for c in clients {
        c.await.unwrap();
    }

    // Assert: a clean exit; anything refused was refused as unavailable, never half-done.
    assert!(status.success(), "exit status {status:?}");
    for s in refused.lock().unwrap().iter() {
        assert_eq!(*s, 503, "a scan during shutdown is refused as unavailable");
    }
    let acked = acked.lock().unwrap().clone();

    // Every acknowledged scan is a movement after a restart, and each volume stands where its
    // last movement put it.
    let (mut child, base) = serve(&config);
    let get = |path: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http.get(path).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    for i in 0..VOLUMES {
        let barcode = format!("SD{i:04}");
        let moves = get(format!(
            "{base}/api/v1/volumes/{barcode}/movements?limit=1000"
        ))
        .await;
        let moves = moves.as_array().unwrap();
        let mine: Vec<&Acked> = acked.iter().filter(|a| a.barcode == barcode).collect();
        for a in &mine {
            let m = moves
                .iter()
                .find(|m| m["scan_id"] == a.scan_id.as_str())
                .unwrap_or_else(|| panic!("acknowledged scan {a:?} was lost"));
            let unit = if a.station == "w4" { "4W" } else { "CARD" };
            assert_eq!(m["to"], unit);
        }
        // Unacknowledged scans may have committed too (the answer was lost on the way out),
        // but never more than one beyond what was acknowledged per client in flight.
        assert!(
            moves.len() <= mine.len() + 1,
            "{barcode}: {} moves, {} acked",
            moves.len(),
            mine.len()
        );
        let vol = get(format!("{base}/api/v1/volumes/{barcode}")).await;
        if let Some(last) = moves.first() {
            assert_eq!(vol["location"]["code"], last["to"], "{barcode}");
        }
    }
    assert!(acked.len() >= 200);
    signal(&child, "-TERM");
    let _ = child.wait();
}

/// Runs `serve` in its own mount namespace on a tmpfs just big enough for the database and a
/// ballast file. SIGUSR1 to the returned child deletes the ballast (frees space); SIGTERM
/// stops the server. Needs `unshare` (util-linux) and either root or user namespaces.
const FULL_DISK_SCRIPT: &str = r#"
set -e
mount -t tmpfs -o size="$SIZE_K"k tmpfs "$FULL"
cp "$SRC_DB" "$FULL/t.db"
dd if=/dev/zero of="$FULL/ballast" bs=1024 count="$BALLAST_K" 2>/dev/null
set +e
"$BIN" serve --config "$CONFIG" &
pid=$!
trap 'rm -f "$FULL/ballast"' USR1
trap 'kill -TERM $pid' TERM
# A trap interrupts `wait` (status > 128); wait again while the server runs. If it ended in
# the moment between, one more `wait` collects its own exit status instead of the trap's.
while :; do
    wait $pid
    status=$?
    if [ $status -le 128 ] || ! kill -0 $pid 2>/dev/null; then break; fi
done
if [ $status -gt 128 ]; then
    wait $pid
    status=$?
fi
exit $status
"#;

/// One scan with a fresh id: status, body and the id; `None` when the server cannot be reached.
pub(crate) async fn try_scan(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    station: &str,
    barcode: &str,
) -> Option<(u16, Value, String)> {
    let id = uuid::Uuid::new_v4().to_string();
    let r = http
        .post(format!("{base}/api/v1/scans"))
        .bearer_auth(token)
        .json(&json!({"station": station, "barcode": barcode, "id": id}))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null), id))
}

async fn post_scan(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    station: &str,
    barcode: &str,
) -> (u16, Value, String) {
    try_scan(http, base, token, station, barcode)
        .await
        .expect("the server answers")
}

fn signal(child: &Child, sig: &str) {
    let s = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_scans_keeps_serving_reads_and_recovers_when_space_returns() {
    // Arrange: the hospital's database copied onto a small tmpfs, with 1 MiB free and a 2 MiB
    // ballast file (what an operator frees).
    let dir = tempfile::tempdir().unwrap();
    let (config, token) = tokio::task::spawn_blocking({
        let d = dir.path().to_owned();
        move || hospital(&d)
    })
    .await
    .unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let full_config = dir.path().join("full.toml");
    std::fs::write(
        &full_config,
        std::fs::read_to_string(&config).unwrap().replace(
            &format!("{:?}", dir.path().join("t.db")),
            &format!("{:?}", full.join("t.db")),
        ),
    )
    .unwrap();
    let db_k = std::fs::metadata(dir.path().join("t.db")).unwrap().len() / 1024;
    let mut cmd = Command::new("unshare");
    cmd.args(["--map-root-user", "--mount", "sh", "-c", FULL_DISK_SCRIPT])
        .env("SIZE_K", (db_k + 1024 + 2048).to_string())
        .env("BALLAST_K", "2048")
        .env("FULL", &full)
        .env("SRC_DB", dir.path().join("t.db"))
        .env("BIN", env!("CARGO_BIN_EXE_chartrack"))
        .env("CONFIG", &full_config);
    let (mut child, base) = serve_with(cmd);
    let http = reqwest::Client::new();

    // Act: scan until the disk is full.
    let mut acked = Vec::new();
    let mut refusal = None;
    'fill: for round in 0..10_000 {
        for i in 0..VOLUMES {
            let station = if round % 2 == 0 { "w4" } else { "card" };
            let barcode = format!("SD{i:04}");
            let (status, body, id) = post_scan(&http, &base, &token, station, &barcode).await;
            match status {
                200 => acked.push((barcode, id)),
                _ => {
                    refusal = Some((status, body, barcode, id));
                    break 'fill;
                }
            }
        }
    }

    // Assert: refused as unavailable with a clear reason, and nothing of it recorded.
    let (status, body, barcode, id) = refusal.expect("the disk never filled");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    assert!(
        acked.len() > 10,
        "the database filled before any scan: {}",
        acked.len()
    );
    // Reads that show no patient go on; a chart's history cannot be shown unless the view is
    // written to the access log first, so it is refused too (fail closed), not shown unaudited.
    let get = |path: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http.get(path).bearer_auth(&token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, body) = get(format!("{base}/api/v1/locations")).await;
    assert_eq!(s, 200, "reads go on while the disk is full: {body}");
    let movements = format!("{base}/api/v1/volumes/{barcode}/movements?limit=10000");
    // A small access-log row may still fit in a page the failed scan could not use; each view
    // shown was logged first, so the log fills too and the views are then refused.
    let mut refused = None;
    for _ in 0..5_000 {
        let (s, body) = get(movements.clone()).await;
        if s != 200 {
            refused = Some((s, body));
            break;
        }
    }
    let (s, body) = refused.expect("chart views went on being shown on a full disk");
    assert_eq!(s, 503, "an unaudited view of a chart: {body}");
    assert!(
        body["error"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    // Space returns: writes resume without a restart.
    signal(&child, "-USR1");
    let mut resumed = false;
    for _ in 0..100 {
        let (status, body, _) = post_scan(&http, &base, &token, "w4", &barcode).await;
        if status == 200 {
            assert_eq!(body["accepted"], true, "{body}");
            resumed = true;
            break;
        }
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(resumed, "scans did not resume after space was freed");
    // Nothing of the refused scan was recorded; the last acknowledged one is where it was left.
    let (s, moves) = get(movements).await;
    assert_eq!(s, 200, "{moves}");
    assert!(moves
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["scan_id"] != id.as_str()));
    let last_acked = acked.iter().rev().find(|(b, _)| *b == barcode);
    if let Some((_, acked_id)) = last_acked {
        // Newest first: the scan after recovery (unless it fell in the duplicate window), then
        // the last acknowledged one.
        let newest: Vec<&Value> = moves
            .as_array()
            .unwrap()
            .iter()
            .take(2)
            .map(|m| &m["scan_id"])
            .collect();
        assert!(
            newest.contains(&&Value::from(acked_id.as_str())),
            "the last acknowledged scan is its last movement before recovery: {moves}"
        );
    }
    // And they go on: the write-ahead log does not eat the freed space again (it used to,
    // within a few dozen scans). Each scan moves its volume (two stations in turn).
    for n in 0..AFTER_RELIEF {
        let station = if n % 2 == 0 { "card" } else { "w4" };
        let (status, body, _) = post_scan(&http, &base, &token, station, &barcode).await;
        assert_eq!(
            status, 200,
            "scan {n} after 2 MiB were freed was refused: {body}"
        );
    }
    signal(&child, "-TERM");
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// SIGKILL under load, round after round on one database (`CHARTRACK_CRASH_ROUNDS`, default 3;
/// the README's figures come from 100 rounds, `CHARTRACK_CRASH_SEED` picks the kill moments).
/// Each round: the real binary serves eight clients scanning; at a moment drawn at random it is
/// killed with SIGKILL; then, with nothing running, the database passes `PRAGMA
/// integrity_check`, `chartrack check` (every volume's state is what its movements say) and
/// `chartrack audit verify`. At the end every acknowledged scan is there exactly once, with
/// exactly the movements its answer reported: lost 0, doubled 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_round_after_round_loses_and_doubles_nothing() {
    let rounds: usize = std::env::var("CHARTRACK_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut seed: u64 = std::env::var("CHARTRACK_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_F00D)
        | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let dir = tempfile::tempdir().unwrap();
    let (config, token) = tokio::task::spawn_blocking({
        let d = dir.path().to_owned();
        move || hospital(&d)
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    // (scan id, movements its answer reported)
    let acked = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let mut slowest_start = std::time::Duration::ZERO;
    for round in 0..rounds {
        let started = std::time::Instant::now();
        let (mut child, base) = serve(&config);
        slowest_start = slowest_start.max(started.elapsed());
        let before = acked.lock().unwrap().len();
        let mut clients = Vec::new();
        for k in 0..CLIENTS {
            let (http, base, token, acked) =
                (http.clone(), base.clone(), token.clone(), acked.clone());
            clients.push(tokio::spawn(async move {
                for turn in 0usize.. {
                    for i in (k..VOLUMES).step_by(CLIENTS) {
                        let station = if (turn + i) % 2 == 0 { "w4" } else { "card" };
                        let barcode = format!("SD{i:04}");
                        let Some((status, body, id)) =
                            try_scan(&http, &base, &token, station, &barcode).await
                        else {
                            return; // killed
                        };
                        if status != 200 {
                            return; // a body cut short as it died
                        }
                        acked
                            .lock()
                            .unwrap()
                            .push((id, body["moved"].as_u64().unwrap_or(0)));
                    }
                }
            }));
        }
        // Kill at a moment drawn at random once the clients are busy.
        crate::helpers::until(
            std::time::Duration::from_secs(60),
            "scans acknowledged this round",
            || async { acked.lock().unwrap().len() >= before + 20 },
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(next() % 700)).await;
        signal(&child, "-KILL");
        let _ = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap();
        for c in clients {
            c.await.unwrap();
        }
        // Nothing running: the database is whole and agrees with itself.
        let db = dir.path().join("t.db");
        let integrity: String = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "round {round}");
        chartrack(&config, &["check"], "");
        chartrack(&config, &["audit", "verify"], "");
    }
    let acked = acked.lock().unwrap().clone();
    let c = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let (mut lost, mut doubled) = (0, 0);
    for (id, moved) in &acked {
        let found: Vec<i64> = c
            .prepare_cached(
                "SELECT (SELECT count(*) FROM movement m WHERE m.scan_seq = s.scan_seq) FROM scan s WHERE s.scan_id = ?1",
            )
            .unwrap()
            .query_map([id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        match found.as_slice() {
            [] => lost += 1,
            [n] if *n as u64 == *moved => {}
            _ => doubled += 1,
        }
    }
    eprintln!(
        "kill -9: {rounds} rounds, {} scans acknowledged, lost {lost}, doubled {doubled}, slowest start to listening {slowest_start:?}",
        acked.len()
    );
    assert_eq!((lost, doubled), (0, 0));
    assert!(acked.len() >= rounds * 20);
}
