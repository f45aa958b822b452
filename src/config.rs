//! `chartrack.toml`: every key optional, every default sensible.

use crate::domain::{LocationCode, Mode, Role};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// HTTP listen address.
    pub listen: String,
    /// The embedded SQLite database file.
    pub database: PathBuf,
    /// The IANA zone every time is shown and entered in (`timezone = "America/Chicago"`); times
    /// are stored in UTC whatever it is. Default UTC: the machine's own zone is not guessed (a
    /// server or container is often on UTC whatever the hospital's clocks say).
    #[serde(deserialize_with = "zone", serialize_with = "zone_name")]
    pub timezone: chrono_tz::Tz,
    /// Seconds a station remembers a badge, destination or pending report.
    pub station_memory_seconds: u32,
    /// Seconds within which the same volume scanned again at one station is one movement.
    pub duplicate_seconds: u32,
    /// Minutes of inactivity after which a signed-in session is ended (automatic logoff).
    pub session_idle_minutes: u32,
    /// Set when chartrack is reached over HTTPS through a TLS-terminating reverse proxy: cookies
    /// get `Secure` and the `__Host-` prefix. On by itself when `tls_cert` is set.
    pub secure_cookies: bool,
    /// The server's certificate chain (PEM, the server's own certificate first): with `tls_key`,
    /// chartrack serves HTTPS itself (with HSTS and secure cookies). Re-read on SIGHUP and when
    /// the files change.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies (addresses or networks, e.g. `["127.0.0.1", "10.1.0.0/16"]`) whose
    /// `X-Forwarded-For` names the client. From anyone else the header is ignored, so a client
    /// cannot choose the address its sign-in failures are counted against.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Days a volume may stay out, by the kind of place it is at (or going to), before it is overdue.
    pub loan_days: LoanDays,
    /// The access log's key file (HMAC-SHA-256; created at first start, mode 0600). Default:
    /// beside the database, `<database>.audit-key`. Keep a copy with the backups, apart from them.
    pub audit_key: Option<PathBuf>,
    /// The file the access log's head is appended to (every `anchor_seconds` and at shutdown),
    /// ideally on another disk or a write-once share. Default: `<database>.anchors`.
    pub audit_anchor: Option<PathBuf>,
    /// Seconds between anchors (written only when the log has grown).
    pub anchor_seconds: u32,
    /// Label printers: raw TCP (port 9100), Zebra-compatible ZPL.
    pub printers: Vec<PrinterConfig>,
    /// A folder of label templates (`zpl/volume-4x2.zpl`, `svg/location.svg`, ...) that replace
    /// the built-in ones of the same name.
    pub label_templates: Option<PathBuf>,
    /// The barcode symbol labels are drawn with: `code128` (default) or `datamatrix`.
    pub label_symbology: String,
    /// `"litestream"` when `litestream replicate` runs beside chartrack (README, "Replication
    /// and restore"): chartrack then leaves cutting the write-ahead log to Litestream and cuts
    /// it itself only past 64 MB. Default `"none"`: chartrack keeps it under 16 MB itself.
    pub replication: Replication,
    /// `ADDR:PORT` of the HL7 v2 (MLLP) listener for the hospital's feeds (registration,
    /// transfers, merges, clinic appointments). Unset: no listener.
    pub hl7_listen: Option<String>,
    /// What the HL7 feeds do: `[hl7]` with `record_types`, `lead_minutes` and `[hl7.locations]`.
    pub hl7: Hl7Config,
    pub stations: Vec<StationConfig>,
}

/// `[hl7]`: how the hospital's feeds map onto chartrack.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hl7Config {
    /// The record types whose most recent volume a clinic appointment (SIU S12) requests.
    pub record_types: Vec<String>,
    /// Minutes before an appointment's start its charts are needed by.
    pub lead_minutes: u32,
    /// A feed's point-of-care codes (PV1-3.1, AIL-3.1) mapped to chartrack location codes
    /// (`"5E" = "5EAST"`). A code not listed is looked up as a chartrack code itself.
    pub locations: std::collections::BTreeMap<String, String>,
}

impl Default for Hl7Config {
    fn default() -> Self {
        Hl7Config {
            record_types: vec!["medical".into()],
            lead_minutes: 120,
            locations: Default::default(),
        }
    }
}

/// One `[[printers]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PrinterConfig {
    /// What `chartrack print --printer` and the pages call it.
    pub name: String,
    /// `host:port`, e.g. `10.0.0.50:9100`.
    pub address: String,
    /// The labels it holds, in inches: `2x1`, `4x2` (default) or `4x6`.
    #[serde(default = "default_printer_size")]
    pub size: String,
}

fn default_printer_size() -> String {
    "4x2".into()
}

/// An address or a network of `trusted_proxies`: `10.0.0.5` or `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustedProxy(pub ipnet::IpNet);

impl TryFrom<String> for TrustedProxy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Ok(net) = s.parse::<ipnet::IpNet>() {
            return Ok(TrustedProxy(net.trunc()));
        }
        s.parse::<std::net::IpAddr>()
            .map(|a| TrustedProxy(ipnet::IpNet::from(a)))
            .map_err(|_| format!("'{s}' is not an address or a network like 10.0.0.0/8"))
    }
}

impl From<TrustedProxy> for String {
    fn from(p: TrustedProxy) -> String {
        p.0.to_string()
    }
}

impl TrustedProxy {
    pub fn contains(&self, a: &std::net::IpAddr) -> bool {
        self.0.contains(a)
    }
}

/// Session settings (`session_idle_minutes`, `secure_cookies`).
#[derive(Debug, Clone, Copy)]
pub struct Sessions {
    /// A session unused this long is ended on the server (HIPAA automatic logoff).
    pub idle: chrono::Duration,
    /// No session outlives this, however busy.
    pub lifetime: chrono::Duration,
    /// Served over TLS (directly or behind a proxy): cookies are `Secure` and `__Host-`.
    pub secure_cookies: bool,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            idle: chrono::Duration::minutes(15),
            lifetime: chrono::Duration::hours(12),
            secure_cookies: false,
        }
    }
}

/// Loan periods in days by location kind (`[loan_days]` in `chartrack.toml`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(default)]
pub struct LoanDays {
    /// A work area in the records department (the check-in desk): a chart left there is not
    /// on its shelf.
    pub desk: u32,
    pub unit: u32,
    pub clinic: u32,
    pub office: u32,
    pub offsite: u32,
    pub person: u32,
    pub container: u32,
}

impl Default for LoanDays {
    fn default() -> Self {
        LoanDays {
            desk: 1,
            unit: 3,
            clinic: 1,
            office: 7,
            offsite: 90,
            person: 7,
            container: 2,
        }
    }
}

impl LoanDays {
    /// For each kind, the time before which a volume out there is overdue (stored-time text).
    pub fn cutoffs(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<(&'static str, String)> {
        [
            ("desk", self.desk),
            ("unit", self.unit),
            ("clinic", self.clinic),
            ("office", self.office),
            ("offsite", self.offsite),
            ("person", self.person),
            ("container", self.container),
        ]
        .into_iter()
        .map(|(k, d)| {
            (
                k,
                crate::clock::stamp(now - chrono::Duration::days(d.into())),
            )
        })
        .collect()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StationConfig {
    pub id: String,
    pub location: LocationCode,
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// A serial port path, e.g. `/dev/ttyACM0`.
    pub port: Option<String>,
    /// A USB scanner by `VID:PID[:SERIAL]` (hex ids; PID may be `*`).
    pub usb: Option<String>,
    /// A scanner profile from `firmware-config/` (serial settings and feedback).
    pub profile: Option<String>,
    /// Serial settings over the profile's (default 9600 8N1, no flow control).
    pub baud: Option<u32>,
    pub data_bits: Option<u8>,
    pub parity: Option<Parity>,
    pub stop_bits: Option<u8>,
    pub flow_control: Option<FlowControl>,
    /// The roles allowed to use this station on the scan page or with their own token, e.g.
    /// `["clerk", "supervisor"]`; with `locations` empty too, anyone may.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The home units whose staff may use it, e.g. `["4W"]` (a user's home unit), besides `roles`.
    #[serde(default)]
    pub locations: Vec<LocationCode>,
}

/// `replication`: what copies the database file elsewhere as it is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// Nothing: chartrack cuts its write-ahead log itself.
    #[default]
    None,
    /// `litestream replicate` tails the write-ahead log and cuts it after shipping it.
    Litestream,
}

/// A serial line's parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Odd,
    Even,
}

/// A serial line's flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    None,
    Software,
    Hardware,
}

/// `timezone`: an IANA zone name, refused with the key named when unknown.
fn zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.trim().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "timezone = \"{name}\" is not an IANA time zone name \
             (for example \"America/Chicago\", \"Europe/London\" or \"UTC\")"
        ))
    })
}

fn zone_name<S: serde::Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

fn default_mode() -> Mode {
    Mode::Receive
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database: PathBuf::from("chartrack.db"),
            timezone: chrono_tz::UTC,
            station_memory_seconds: 300,
            duplicate_seconds: 5,
            session_idle_minutes: 15,
            secure_cookies: false,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            loan_days: LoanDays::default(),
            audit_key: None,
            audit_anchor: None,
            anchor_seconds: 60,
            printers: Vec::new(),
            label_templates: None,
            label_symbology: "code128".into(),
            replication: Replication::None,
            hl7_listen: None,
            hl7: Hl7Config::default(),
            stations: Vec::new(),
        }
    }
}

impl Config {
    /// Read `path`, or `./chartrack.toml` when no path is given and it exists, or the defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let path = match path {
            Some(p) => p.to_owned(),
            None if Path::new("chartrack.toml").exists() => PathBuf::from("chartrack.toml"),
            None => return Ok(Config::default()),
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parse the text of a `chartrack.toml`: every key must be one chartrack knows (a misspelt
    /// key would otherwise be ignored and its default silently used).
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let de = toml::Deserializer::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut unknown = Vec::new();
        let config: Config = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(key) = unknown.first() {
            anyhow::bail!("{}", unknown_key(text, key));
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let mut printers = std::collections::HashSet::new();
        for p in &self.printers {
            let name = p.name.trim();
            if name.is_empty() || name.len() > 40 || name.chars().any(char::is_control) {
                anyhow::bail!("a printer needs a name of 1 to 40 characters");
            }
            if !printers.insert(name) {
                anyhow::bail!("printer name '{name}' appears twice in the configuration");
            }
            let port = p
                .address
                .rsplit_once(':')
                .map(|(h, port)| (h, port.parse::<u16>()));
            if !matches!(port, Some((h, Ok(n))) if !h.is_empty() && n > 0) {
                anyhow::bail!(
                    "printer '{name}': address '{}' is not host:port (raw ZPL printers listen on port 9100, e.g. 10.0.0.50:9100)",
                    p.address
                );
            }
            if !["2x1", "4x2", "4x6"].contains(&p.size.trim()) {
                anyhow::bail!(
                    "printer '{name}': size '{}' is not known: 2x1, 4x2 or 4x6 (inches)",
                    p.size
                );
            }
        }
        let symbology = self
            .label_symbology
            .to_ascii_lowercase()
            .replace(['-', '_'], "");
        if !["code128", "datamatrix"].contains(&symbology.as_str()) {
            anyhow::bail!(
                "label_symbology '{}' is not known: code128 or datamatrix",
                self.label_symbology
            );
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.stations {
            if !seen.insert(&s.id) {
                anyhow::bail!("station id '{}' appears twice in the configuration", s.id);
            }
        }
        for (feed, code) in &self.hl7.locations {
            if LocationCode::parse(code).is_err() {
                anyhow::bail!(
                    "[hl7.locations] maps '{feed}' to '{code}', which is not a chartrack location code (upper-case letters, digits and '-', e.g. 5EAST)"
                );
            }
        }
        if self.hl7.lead_minutes > 7 * 24 * 60 {
            anyhow::bail!(
                "[hl7] lead_minutes is {}: at most a week (10080 minutes)",
                self.hl7.lead_minutes
            );
        }
        // Checked before anything is created (fresh-eyes: a bad `listen` failed only after the
        // database and the audit key had been made).
        if self
            .listen
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            anyhow::bail!(
                "listen '{}' is not ADDRESS:PORT (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 for every interface)",
                self.listen
            );
        }
        if let Some(addr) = &self.hl7_listen {
            if addr
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                anyhow::bail!("hl7_listen '{addr}' is not ADDRESS:PORT (e.g. 0.0.0.0:2575)");
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => anyhow::bail!(
                "tls_cert is set but tls_key is not: HTTPS needs both the certificate and its private key"
            ),
            (None, Some(_)) => anyhow::bail!(
                "tls_key is set but tls_cert is not: HTTPS needs both the certificate and its private key"
            ),
            _ => {}
        }
        Ok(())
    }

    /// The certificate and key files when chartrack serves HTTPS itself.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => None,
        }
    }

    pub fn sessions(&self) -> Sessions {
        Sessions {
            idle: chrono::Duration::minutes(self.session_idle_minutes.max(1).into()),
            // Served over HTTPS directly: the cookies are secure whatever `secure_cookies` says.
            secure_cookies: self.secure_cookies || self.tls().is_some(),
            ..Default::default()
        }
    }
}

/// Keys of the product's configuration that this version does not act on yet: refused, saying
/// what to do instead, rather than accepted and ignored.
const NOT_YET: &[(&str, &str)] = &[];

/// The message for an unknown key (`stations.0.prot`): its line, and the nearest known key.
fn unknown_key(text: &str, path: &str) -> String {
    let segments: Vec<&str> = path.split('.').collect();
    let key = segments.last().copied().unwrap_or(path);
    let line = text
        .lines()
        .position(|l| {
            let l = l
                .trim_start()
                .trim_start_matches('[')
                .trim_start_matches('[');
            l.strip_prefix(key).is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('=') || rest.starts_with(']') || rest.starts_with('.')
            })
        })
        .map(|n| format!("line {}: ", n + 1))
        .unwrap_or_default();
    if let Some((_, why)) = NOT_YET
        .iter()
        .find(|(k, _)| *k == key && segments.len() == 1)
    {
        return format!("{line}`{key}` is not supported: {why}");
    }
    // The known keys of the table the unknown one is in.
    let known = known_keys(&segments[..segments.len() - 1]);
    let nearest = known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    let table = if segments.len() > 1 {
        format!(" in [{}]", segments[0])
    } else {
        String::new()
    };
    format!(
        "{line}unknown key `{key}`{table}{nearest}; known keys: {}",
        known.join(", ")
    )
}

/// The keys chartrack knows at a place in the file (the top, `[loan_days]`, a `[[stations]]`
/// entry), read off the structs themselves so the list cannot drift from them.
fn known_keys(table: &[&str]) -> Vec<String> {
    let value = match table.first() {
        None => serde_json::to_value(Config::default()),
        Some(&"loan_days") => serde_json::to_value(LoanDays::default()),
        Some(&"hl7") => serde_json::to_value(Hl7Config::default()),
        Some(&"printers") => serde_json::to_value(PrinterConfig {
            name: String::new(),
            address: String::new(),
            size: default_printer_size(),
        }),
        Some(&"stations") => serde_json::to_value(StationConfig {
            id: String::new(),
            location: LocationCode::parse("X").expect("a valid code"),
            mode: default_mode(),
            port: None,
            usb: None,
            profile: None,
            baud: None,
            data_bits: None,
            parity: None,
            stop_bits: None,
            flow_control: None,
            roles: Vec::new(),
            locations: Vec::new(),
        }),
        Some(_) => return Vec::new(),
    };
    match value {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
