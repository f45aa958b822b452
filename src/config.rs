//! `chartrack.toml`: every key optional, every default sensible.

use crate::domain::{LocationCode, Mode};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// HTTP listen address.
    pub listen: String,
    /// The embedded SQLite database file.
    pub database: PathBuf,
    /// The IANA zone every time is shown and entered in (`timezone = "America/Chicago"`); times
    /// are stored in UTC whatever it is. Default UTC: the machine's own zone is not guessed (a
    /// server or container is often on UTC whatever the hospital's clocks say).
    #[serde(deserialize_with = "zone")]
    pub timezone: chrono_tz::Tz,
    /// Seconds a station remembers a badge, destination or pending report.
    pub station_memory_seconds: u32,
    /// Seconds within which the same volume scanned again at one station is one movement.
    pub duplicate_seconds: u32,
    /// Minutes of inactivity after which a signed-in session is ended (automatic logoff).
    pub session_idle_minutes: u32,
    /// Set when chartrack is reached over HTTPS (directly or through a proxy): cookies get
    /// `Secure` and the `__Host-` prefix.
    pub secure_cookies: bool,
    /// Days a volume may stay out, by the kind of place it is at (or going to), before it is overdue.
    pub loan_days: LoanDays,
    pub stations: Vec<StationConfig>,
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
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoanDays {
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
}

/// A serial line's parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Odd,
    Even,
}

/// A serial line's flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
            loan_days: LoanDays::default(),
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
        let config: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for s in &self.stations {
            if !seen.insert(&s.id) {
                anyhow::bail!("station id '{}' appears twice in the configuration", s.id);
            }
        }
        Ok(())
    }

    pub fn sessions(&self) -> Sessions {
        Sessions {
            idle: chrono::Duration::minutes(self.session_idle_minutes.max(1).into()),
            secure_cookies: self.secure_cookies,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_example_parses() {
        let c: Config = toml::from_str(
            r#"
listen = "127.0.0.1:8080"
database = "chartrack.db"
timezone = "America/Chicago"
hl7_listen = "127.0.0.1:2575"
[[stations]]
id = "fileroom-1"
location = "FR-00-19"
mode = "check-out"
port = "/dev/ttyACM0"
baud = 9600
"#,
        )
        .unwrap();
        assert_eq!(c.stations[0].mode, Mode::CheckOut);
        assert_eq!(c.duplicate_seconds, 5);
        assert_eq!(c.timezone, chrono_tz::America::Chicago);
        c.validate().unwrap();
    }

    #[test]
    fn timezone_is_an_iana_name_and_defaults_to_utc() {
        assert_eq!(Config::default().timezone, chrono_tz::UTC);
        let c: Config = toml::from_str("timezone = \"America/Chicago\"").unwrap();
        assert_eq!(c.timezone, chrono_tz::America::Chicago);
        let e = toml::from_str::<Config>("timezone = \"America/Chicgo\"").unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("timezone = \"America/Chicgo\" is not an IANA time zone"),
            "{e}"
        );
    }

    #[test]
    fn bad_mode_is_refused() {
        let e = toml::from_str::<Config>("[[stations]]\nid='a'\nlocation='X'\nmode='juggle'\n")
            .unwrap_err();
        assert!(e.to_string().contains("juggle"), "{e}");
    }
}
