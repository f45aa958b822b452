//! Scanner stations: serial and USB-serial scanners attached to this server. Each configured
//! station has a reader thread (the serialport crate is blocking) that frames lines, sends each
//! through the one scan path (`Store::scan`), and writes the profile's good/bad feedback back
//! to the scanner after the commit. Ports are found by path or by USB ids, and reopened by
//! themselves after an unplug.

pub mod framing;
pub mod profiles;
pub mod serial;
#[cfg(unix)]
pub mod simulator;

use crate::config::{Config, StationConfig};
use crate::metrics::Metrics;
use crate::store::Store;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use profiles::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Odd,
    Even,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    None,
    Software,
    Hardware,
}

/// Line settings. Scanners are almost all 9600 8N1 without flow control; USB-serial (CDC-ACM)
/// scanners ignore them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SerialSettings {
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
    pub flow_control: FlowControl,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings {
            baud: 9600,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow_control: FlowControl::None,
        }
    }
}

impl SerialSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(5..=8).contains(&self.data_bits) {
            return Err(format!("data_bits must be 5 to 8, not {}", self.data_bits));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(format!("stop_bits must be 1 or 2, not {}", self.stop_bits));
        }
        if self.baud == 0 {
            return Err("baud must be above 0".into());
        }
        Ok(())
    }
}

/// A USB scanner by vendor id, product id (`*` for any: the id changes with the interface
/// mode) and serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbMatch {
    pub vid: u16,
    pub pid: Option<u16>,
    pub serial: Option<String>,
}

impl UsbMatch {
    /// `VID:PID[:SERIAL]` in hex, PID may be `*`.
    pub fn parse(s: &str) -> Result<UsbMatch, String> {
        let mut parts = s.splitn(3, ':');
        let hex = |p: Option<&str>, what: &str| -> Result<Option<u16>, String> {
            match p {
                Some("*") => Ok(None),
                Some(h) if !h.is_empty() && h.len() <= 4 => u16::from_str_radix(h, 16)
                    .map(Some)
                    .map_err(|_| format!("usb '{s}': {what} '{h}' is not a hex number")),
                _ => Err(format!(
                    "usb '{s}': expected VID:PID[:SERIAL], e.g. 0c2e:*:17052B3A99"
                )),
            }
        };
        let vid = hex(parts.next(), "vendor id")?
            .ok_or_else(|| format!("usb '{s}': the vendor id cannot be '*'"))?;
        let pid = hex(parts.next(), "product id")?;
        let serial = parts.next().filter(|x| !x.is_empty()).map(str::to_owned);
        Ok(UsbMatch { vid, pid, serial })
    }

    pub fn matches(&self, vid: u16, pid: u16, serial: Option<&str>) -> bool {
        self.vid == vid
            && self.pid.is_none_or(|p| p == pid)
            && self.serial.as_deref().is_none_or(|s| Some(s) == serial)
    }
}

impl std::fmt::Display for UsbMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}:", self.vid)?;
        match self.pid {
            Some(p) => write!(f, "{p:04x}")?,
            None => f.write_str("*")?,
        }
        if let Some(s) = &self.serial {
            write!(f, ":{s}")?;
        }
        Ok(())
    }
}

/// Where a station's scanner is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSource {
    Path(String),
    Usb(UsbMatch),
}

impl std::fmt::Display for PortSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSource::Path(p) => f.write_str(p),
            PortSource::Usb(u) => write!(f, "usb {u}"),
        }
    }
}

/// Bytes written back to the scanner after a scan: good (recorded) or bad (refused, or not
/// recorded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feedback {
    pub good: Vec<u8>,
    pub bad: Vec<u8>,
}

/// Everything a reader thread needs for one station.
#[derive(Debug, Clone)]
pub struct SerialStation {
    pub id: String,
    pub source: PortSource,
    pub settings: SerialSettings,
    pub feedback: Feedback,
}

impl SerialStation {
    /// The station's serial settings: its profile's, then its own keys over them.
    pub fn from_config(s: &StationConfig, profiles: &[Profile]) -> anyhow::Result<Option<Self>> {
        let source = match (&s.port, &s.usb) {
            (Some(p), None) => PortSource::Path(p.clone()),
            (None, Some(u)) => PortSource::Usb(
                UsbMatch::parse(u).map_err(|e| anyhow::anyhow!("station '{}': {e}", s.id))?,
            ),
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                anyhow::bail!("station '{}': give either port or usb, not both", s.id)
            }
        };
        let profile = match &s.profile {
            Some(name) => Some(profiles.iter().find(|p| &p.id == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "station '{}': no scanner profile '{name}' (known: {})",
                    s.id,
                    profiles
                        .iter()
                        .map(|p| p.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?),
            None => None,
        };
        let mut settings = profile.map(|p| p.serial).unwrap_or_default();
        if let Some(b) = s.baud {
            settings.baud = b;
        }
        if let Some(d) = s.data_bits {
            settings.data_bits = d;
        }
        if let Some(p) = s.parity {
            settings.parity = p;
        }
        if let Some(b) = s.stop_bits {
            settings.stop_bits = b;
        }
        if let Some(f) = s.flow_control {
            settings.flow_control = f;
        }
        settings
            .validate()
            .map_err(|e| anyhow::anyhow!("station '{}': {e}", s.id))?;
        Ok(Some(SerialStation {
            id: s.id.clone(),
            source,
            settings,
            feedback: profile.map(|p| p.feedback()).unwrap_or_default(),
        }))
    }
}

/// The running reader threads; `stop` ends them (within a read timeout).
pub struct Stations {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Stations {
    /// Start a reader for every configured station with a port or USB scanner.
    pub fn start(
        config: &Config,
        store: &Store,
        metrics: &Arc<Metrics>,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<Stations> {
        let profiles = profiles::built_in()?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for s in &config.stations {
            if let Some(station) = SerialStation::from_config(s, &profiles)? {
                let sink = serial::StoreSink {
                    store: store.clone(),
                    metrics: metrics.clone(),
                    rt: runtime.clone(),
                };
                threads.push(serial::spawn(station, sink, stop.clone()));
            }
        }
        Ok(Stations { stop, threads })
    }

    pub fn count(&self) -> usize {
        self.threads.len()
    }

    /// Stop reading; a line being committed finishes first.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usb_ids_parse_with_any_product_and_a_serial_number() {
        let m = UsbMatch::parse("0c2e:*:17052B3A99").unwrap();
        assert_eq!(
            m,
            UsbMatch {
                vid: 0x0c2e,
                pid: None,
                serial: Some("17052B3A99".into())
            }
        );
        assert!(m.matches(0x0c2e, 0x0b81, Some("17052B3A99")));
        assert!(!m.matches(0x0c2e, 0x0b81, Some("OTHER")));
        assert!(!m.matches(0x05e0, 0x1701, Some("17052B3A99")));
        let any = UsbMatch::parse("05e0:1701").unwrap();
        assert!(any.matches(0x05e0, 0x1701, None));
        assert!(!any.matches(0x05e0, 0x1200, None));
        assert_eq!(any.to_string(), "05e0:1701");
        for bad in ["", "*:1701", "zz:1701", "0c2e", "12345:1"] {
            assert!(UsbMatch::parse(bad).is_err(), "{bad}");
        }
    }
}
