//! Scanner stations: serial and USB-serial scanners attached to this server. Each configured
//! station has a reader thread (the serialport crate is blocking) that frames lines, sends each
//! through the one scan path (`Store::scan`), and writes the profile's good/bad feedback back
//! to the scanner after the commit. Ports are found by path or by USB ids, and reopened by
//! themselves after an unplug.

pub mod configure;
pub mod framing;
pub mod profiles;
pub mod serial;
pub mod sheet;
#[cfg(unix)]
pub mod simulator;

use crate::config::{Config, StationConfig};
pub use crate::config::{FlowControl, Parity};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use profiles::Profile;
pub use serial::Sink;

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
        let keys = SerialKeys {
            port: s.port.clone(),
            usb: s.usb.clone(),
            profile: s.profile.clone(),
            baud: s.baud,
            data_bits: s.data_bits,
            parity: s.parity,
            stop_bits: s.stop_bits,
            flow_control: s.flow_control,
        };
        Self::resolve(&s.id, &keys, profiles)
            .map_err(|e| anyhow::anyhow!("station '{}': {e}", s.id))
    }

    /// `None` when neither a port nor USB ids are given (an HTTP station).
    pub fn resolve(id: &str, k: &SerialKeys, profiles: &[Profile]) -> anyhow::Result<Option<Self>> {
        let source = match (&k.port, &k.usb) {
            (Some(p), None) => PortSource::Path(p.clone()),
            (None, Some(u)) => PortSource::Usb(UsbMatch::parse(u).map_err(anyhow::Error::msg)?),
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => anyhow::bail!("give either port or usb, not both"),
        };
        let profile = match &k.profile {
            Some(name) => Some(profiles.iter().find(|p| &p.id == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "no scanner profile '{name}' (known: {})",
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
        settings.baud = k.baud.unwrap_or(settings.baud);
        settings.data_bits = k.data_bits.unwrap_or(settings.data_bits);
        settings.parity = k.parity.unwrap_or(settings.parity);
        settings.stop_bits = k.stop_bits.unwrap_or(settings.stop_bits);
        settings.flow_control = k.flow_control.unwrap_or(settings.flow_control);
        settings.validate().map_err(anyhow::Error::msg)?;
        Ok(Some(SerialStation {
            id: id.to_owned(),
            source,
            settings,
            feedback: profile.map(|p| p.feedback()).unwrap_or_default(),
        }))
    }
}

/// The keys that say where a scanner is and how to talk to it (a station entry's, or the
/// agent's command line).
#[derive(Debug, Clone, Default)]
pub struct SerialKeys {
    pub port: Option<String>,
    pub usb: Option<String>,
    pub profile: Option<String>,
    pub baud: Option<u32>,
    pub data_bits: Option<u8>,
    pub parity: Option<Parity>,
    pub stop_bits: Option<u8>,
    pub flow_control: Option<FlowControl>,
}

/// The running reader threads; `stop` ends them (within a read timeout).
pub struct Stations {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Stations {
    /// Start a reader for every configured station with a port or USB scanner; each reader
    /// hands its lines to a sink made by `sink` (the server's: the one scan path).
    pub fn start<S: Sink>(config: &Config, sink: impl Fn() -> S) -> anyhow::Result<Stations> {
        let profiles = profiles::built_in()?;
        let mut stations = Stations {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        for s in &config.stations {
            if let Some(station) = SerialStation::from_config(s, &profiles)? {
                stations.add(station, sink());
            }
        }
        Ok(stations)
    }

    /// Start a reader for one station (configured ones, and the demo's simulated scanner).
    pub fn add(&mut self, station: SerialStation, sink: impl Sink) {
        self.threads
            .push(serial::spawn(station, sink, self.stop.clone()));
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

/// `chartrack scanners`: each serial port, its USB ids, the profile that matches its vendor, and
/// a station entry to start from.
pub fn describe_ports(ports: &[serialport::SerialPortInfo], profiles: &[Profile]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    if ports.is_empty() {
        o.push_str("No serial ports found. A USB scanner must be in its USB serial (CDC) mode: see `chartrack scanners profiles`.\n");
        return o;
    }
    for p in ports {
        match &p.port_type {
            serialport::SerialPortType::UsbPort(u) => {
                let profile = profiles::for_vendor(profiles, u.vid);
                let _ = writeln!(
                    o,
                    "{}  USB {:04x}:{:04x}  serial {}  {} {}  profile {}",
                    p.port_name,
                    u.vid,
                    u.pid,
                    u.serial_number.as_deref().unwrap_or("-"),
                    u.manufacturer.as_deref().unwrap_or(""),
                    u.product.as_deref().unwrap_or(""),
                    profile.map(|p| p.id.as_str()).unwrap_or("(none known)")
                );
                let usb = match &u.serial_number {
                    Some(s) => format!("{:04x}:*:{s}", u.vid),
                    None => format!("{:04x}:{:04x}", u.vid, u.pid),
                };
                let _ = writeln!(
                    o,
                    "    [[stations]] id = \"...\"  location = \"...\"  usb = \"{usb}\"{}",
                    profile
                        .map(|p| format!("  profile = \"{}\"", p.id))
                        .unwrap_or_default()
                );
            }
            other => {
                let kind = match other {
                    serialport::SerialPortType::PciPort => "PCI serial port",
                    serialport::SerialPortType::BluetoothPort => "Bluetooth serial port",
                    _ => "serial port",
                };
                let _ = writeln!(o, "{}  {kind}", p.port_name);
                let _ = writeln!(
                    o,
                    "    [[stations]] id = \"...\"  location = \"...\"  port = \"{}\"  profile = \"generic-rs232\"",
                    p.port_name
                );
            }
        }
    }
    o
}

/// `chartrack scanners profiles`: each profile with the settings to make on the scanner.
pub fn describe_profiles(profiles: &[Profile]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for p in profiles {
        let _ = writeln!(o, "{} ({}: {})", p.id, p.vendor, p.models.join(", "));
        if let Some(u) = &p.usb {
            let modes: Vec<String> = u
                .product_ids
                .iter()
                .map(|(m, id)| format!("{m} {id}"))
                .collect();
            let _ = writeln!(
                o,
                "  USB vendor {}  products: {}",
                u.vendor_id,
                modes.join(", ")
            );
        }
        let s = &p.serial;
        let _ = writeln!(
            o,
            "  serial {} baud, {} data bits, parity {:?}, {} stop bit(s), flow control {:?}",
            s.baud, s.data_bits, s.parity, s.stop_bits, s.flow_control
        );
        for (i, st) in p.settings.iter().enumerate() {
            let how = match (&st.command, &st.note) {
                (Some(c), _) => format!("menu command {c}"),
                (None, Some(n)) => n.clone(),
                (None, None) => String::new(),
            };
            let _ = writeln!(o, "  {}. {}: {how}", i + 1, st.what);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_listing_names_the_profile_and_a_station_entry_for_a_usb_scanner() {
        let ports = vec![serialport::SerialPortInfo {
            port_name: "/dev/ttyACM0".into(),
            port_type: serialport::SerialPortType::UsbPort(serialport::UsbPortInfo {
                vid: 0x05e0,
                pid: 0x1701,
                serial_number: Some("S123".into()),
                manufacturer: Some("Zebra".into()),
                product: Some("Symbol Bar Code Scanner".into()),
            }),
        }];
        let text = describe_ports(&ports, &profiles::built_in().unwrap());
        assert!(
            text.contains("/dev/ttyACM0  USB 05e0:1701  serial S123"),
            "{text}"
        );
        assert!(text.contains("profile zebra-ds2208"), "{text}");
        assert!(
            text.contains("usb = \"05e0:*:S123\"  profile = \"zebra-ds2208\""),
            "{text}"
        );
    }

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
