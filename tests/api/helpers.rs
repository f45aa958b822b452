use chartrack::clock::Clock;
use chartrack::config::{Config, StationConfig};
use chartrack::domain::Role;
use chartrack::server::Application;
use chartrack::store::{admin, Options, Store};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub clock: Clock,
    pub admin: String,
    pub http: reqwest::Client,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
    /// The HL7 (MLLP) listener's address, when the configuration sets `hl7_listen`.
    pub hl7: Option<std::net::SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
        .unwrap()
        .into()
}

impl TestApp {
    /// A fresh server on a fresh database with a manual clock and an admin token.
    pub async fn spawn() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chartrack.db");
        Self::spawn_on(dir, db, Clock::manual(start_time())).await
    }

    pub async fn spawn_on(dir: tempfile::TempDir, db: PathBuf, clock: Clock) -> TestApp {
        Self::spawn_configured(dir, db, clock, Vec::new(), "127.0.0.1:0").await
    }

    /// Stop, then start again on the same database with these stations in the configuration
    /// (stations need their locations to exist first, as in a real installation).
    pub async fn restart_with_stations(self, stations: Vec<StationConfig>) -> TestApp {
        let (dir, db, clock) = self.stop().await;
        Self::spawn_configured(dir, db, clock, stations, "127.0.0.1:0").await
    }

    pub async fn spawn_configured(
        dir: tempfile::TempDir,
        db: PathBuf,
        clock: Clock,
        stations: Vec<StationConfig>,
        listen: &str,
    ) -> TestApp {
        let config = Config {
            listen: listen.into(),
            database: db,
            stations,
            ..Config::default()
        };
        Self::spawn_with_config(dir, clock, config).await
    }

    /// A server with this configuration (its database and listen address included).
    pub async fn spawn_with_config(
        dir: tempfile::TempDir,
        clock: Clock,
        config: Config,
    ) -> TestApp {
        Self::spawn_logging(dir, clock, config, None).await
    }

    /// A server whose writer and readers log every statement they run into `statements`.
    pub async fn spawn_logging(
        dir: tempfile::TempDir,
        clock: Clock,
        config: Config,
        statements: Option<chartrack::store::plans::StatementLog>,
    ) -> TestApp {
        let db = config.database.clone();
        config.validate().unwrap();
        let app = Application::build(
            &config,
            Options {
                clock: clock.clone(),
                statements,
                ..Options::from_config(&config)
            },
        )
        .await
        .unwrap();
        let store = app.store().clone();
        let now = clock.now();
        let admin = store
            .write(move |c| {
                if admin::user_count(c)? == 0 {
                    admin::create_user(c, "admin", Role::Admin, None, None, false, now)?;
                }
                Ok(
                    admin::create_token(c, &admin::TokenFor::User("admin".into()), now)?
                        .expose()
                        .to_owned(),
                )
            })
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let hl7 = app.hl7_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            store,
            clock,
            admin,
            http: reqwest::Client::new(),
            db,
            dir,
            hl7,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stop the server gracefully and hand back its directory and database for a restart.
    pub async fn stop(mut self) -> (tempfile::TempDir, PathBuf, Clock) {
        self.stop.take().unwrap().send(()).unwrap();
        self.handle.take().unwrap().await.unwrap().unwrap();
        let TestApp { dir, db, clock, .. } = self;
        (dir, db, clock)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn scan(&self, station: &str, barcode: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/scans",
                &self.admin,
                &json!({"station": station, "barcode": barcode}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn token_for(&self, who: admin::TokenFor) -> String {
        let now = self.clock.now();
        self.store
            .write(move |c| Ok(admin::create_token(c, &who, now)?.expose().to_owned()))
            .await
            .unwrap()
    }

    pub async fn user(&self, name: &str, role: Role, badge: Option<&str>) -> String {
        let (n, now) = (name.to_owned(), self.clock.now());
        let badge = badge.map(|b| chartrack::domain::Barcode::parse(b).unwrap());
        self.store
            .write(move |c| admin::create_user(c, &n, role, None, badge.as_ref(), false, now))
            .await
            .unwrap();
        self.token_for(admin::TokenFor::User(name.into())).await
    }

    /// A small hospital: two shelf sections, a unit, a clinic, a cart, and stations.
    pub async fn seed(&self) -> Hospital {
        let mut barcodes = std::collections::HashMap::new();
        for (code, kind, terminal) in [
            ("FR-00-19", "shelf", Some([0, 19])),
            ("FR-40-59", "shelf", Some([40, 59])),
            ("4W", "unit", None),
            ("CARD", "clinic", None),
            ("CART-1", "container", None),
        ] {
            let mut body = json!({"code": code, "name": format!("{code} name"), "kind": kind});
            if let Some(t) = terminal {
                body["terminal"] = json!(t);
            }
            let (s, b) = self.post("/api/v1/locations", &self.admin, &body).await;
            assert_eq!(s, 201, "{b}");
            barcodes.insert(code.to_string(), b["barcode"].as_str().unwrap().to_string());
        }
        for (id, loc, mode) in [
            ("fr-out", "FR-00-19", "check-out"),
            ("fr-in", "FR-00-19", "check-in"),
            ("fr-in-40", "FR-40-59", "check-in"),
            ("fr-file", "FR-00-19", "file"),
            ("w4", "4W", "receive"),
            ("w4-transfer", "4W", "transfer"),
            ("card", "CARD", "receive"),
        ] {
            let (s, b) = self
                .post(
                    "/api/v1/stations",
                    &self.admin,
                    &json!({"id": id, "location": loc, "mode": mode}),
                )
                .await;
            assert_eq!(s, 201, "{b}");
        }
        let mut volumes = Vec::new();
        // MRN 123405 files in section 05 (FR-00-19); 123445 in 45 (FR-40-59).
        for (mrn, last, home) in [
            ("123405", "Ashdown", "FR-00-19"),
            ("123445", "O'Brien", "FR-40-59"),
            ("123410", "Quill", "FR-00-19"),
        ] {
            let (s, b) = self
                .post(
                    "/api/v1/volumes",
                    &self.admin,
                    &json!({"mrn": mrn, "last_name": last, "first_name": "Test", "home": home}),
                )
                .await;
            assert_eq!(s, 201, "{b}");
            volumes.push(b["barcode"].as_str().unwrap().to_string());
        }
        Hospital {
            loc: barcodes,
            volumes,
        }
    }

    pub async fn volume(&self, barcode: &str) -> Value {
        let (s, v) = self
            .get(&format!("/api/v1/volumes/{barcode}"), &self.admin)
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// A receive station at 4W (an HTTP station, as an agent's is) and its station token.
    pub async fn remote_station(&self, id: &str) -> String {
        let (s, b) = self
            .post(
                "/api/v1/stations",
                &self.admin,
                &json!({"id": id, "location": "4W", "mode": "receive"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        self.token_for(admin::TokenFor::Station(id.into())).await
    }

    /// The volume shown in a scan's answer is what the ledger now holds for it.
    pub async fn assert_answer_shows_stored(&self, answer: &Value) {
        let shown = &answer["volume"];
        let stored = self
            .volume(shown["barcode"].as_str().expect("answer names a volume"))
            .await;
        let view = |v: &Value| {
            (
                v["status"].clone(),
                v["location"]["code"].clone(),
                v["location"]["name"].clone(),
                v["destination"]["code"].clone(),
            )
        };
        assert_eq!(view(shown), view(&stored), "answer {answer}");
    }

    pub async fn movements(&self, barcode: &str) -> Vec<Value> {
        let (s, v) = self
            .get(&format!("/api/v1/volumes/{barcode}/movements"), &self.admin)
            .await;
        assert_eq!(s, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

pub struct Hospital {
    pub loc: std::collections::HashMap<String, String>,
    pub volumes: Vec<String>,
}

/// Poll until `f` holds, or fail after `limit`; returns how long it took.
pub async fn until<F, Fut>(limit: Duration, what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if f().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A browser-like session: the cookie and the anti-forgery token of a signed-in user.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// A client that does not follow redirects (pages answer 303s that tests look at).
    pub fn browser_like(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// A user who signs in with [`PASSWORD`].
    pub async fn person(&self, name: &str, role: Role) {
        let hash = chartrack::passwords::hash(PASSWORD).unwrap();
        let (n, now) = (name.to_owned(), self.clock.now());
        self.store
            .write(move |c| admin::create_user(c, &n, role, Some(&hash), None, false, now))
            .await
            .unwrap();
    }

    /// Give a user a home unit (what the admin page does).
    pub async fn set_home(&self, name: &'static str, code: &str) {
        let code = chartrack::domain::LocationCode::parse(code).unwrap();
        self.store
            .write(move |c| chartrack::store::admin::set_home(c, name, Some(&code)))
            .await
            .unwrap();
    }

    /// POST the sign-in form as a browser on this site would.
    pub async fn try_sign_in(&self, name: &str, password: &str) -> reqwest::Response {
        self.browser_like()
            .post(format!("{}/login", self.base))
            .header("Origin", &self.base)
            .form(&[("name", name), ("password", password), ("next", "/")])
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, name: &str) -> Session {
        let r = self.try_sign_in(name, PASSWORD).await;
        assert_eq!(r.status().as_u16(), 303, "{name} could not sign in");
        let cookie = session_cookie(&r);
        let page = self.page(&cookie, "/").await;
        assert_eq!(page.0, 200, "{}", page.1);
        let csrf = page
            .1
            .split("name=\"csrf-token\" content=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a signed-in page carries its anti-forgery token")
            .to_owned();
        Session { cookie, csrf }
    }

    /// GET a page with a session cookie: status and HTML.
    pub async fn page(&self, cookie: &str, path: &str) -> (u16, String) {
        let r = self
            .browser_like()
            .get(format!("{}{path}", self.base))
            .header("Cookie", cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// POST a form with a session (its anti-forgery token added unless `csrf` is None).
    pub async fn form(
        &self,
        s: &Session,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = fields.to_vec();
        if let Some(t) = csrf {
            fields.push(("csrf", t));
        }
        self.browser_like()
            .post(format!("{}{path}", self.base))
            .header("Cookie", &s.cookie)
            .header("Origin", &self.base)
            .form(&fields)
            .send()
            .await
            .unwrap()
    }

    /// Access log rows (actor, action, subject, remote), oldest first.
    pub async fn access_log(&self) -> Vec<(String, String, String, String)> {
        self.store
            .read(|c| {
                let rows = chartrack::store::audit::recent(c, None, None, 10_000)?;
                Ok(rows
                    .into_iter()
                    .rev()
                    .map(|r| (r.actor, r.action, r.subject, r.remote))
                    .collect())
            })
            .await
            .unwrap()
    }
}

/// The `name=value` of the session cookie a sign-in answer sets.
pub fn session_cookie(r: &reqwest::Response) -> String {
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// A route from `auth::POLICY` with its parameters filled in (a volume barcode, a unit, a
/// scanner profile, a static file, an id, a user name).
pub fn fill_route(path: &str, barcode: &str) -> String {
    path.replace("{barcode}", barcode)
        .replace("{code}", "4W")
        .replace("{profile}", "generic-rs232")
        .replace("{file}", "app.css")
        .replace("{id}", "1")
        .replace("{name}", "nobody")
}

/// Make the root page of index `index` in the (stopped) database at `db` impossible to read: its
/// B-tree page type byte and the header after it overwritten. SQLite's quick check finds it;
/// nothing that never reads that index notices.
pub fn damage_index_root(db: &std::path::Path, index: &str) {
    use std::io::{Seek, SeekFrom, Write};
    let (root, page_size): (i64, i64) = {
        let c = rusqlite::Connection::open(db).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        (
            c.query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap(),
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
        )
    };
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start(((root - 1) * page_size) as u64))
        .unwrap();
    f.write_all(&[0x55; 16]).unwrap();
}
