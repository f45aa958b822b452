//! One serial station's reader thread: find and open the port, read and frame lines, hand each
//! to its [`Sink`] (on the server: `Store::scan`; in the agent: the durable queue), write the
//! feedback back, and when the device goes away report the link down, drop any partial line and
//! reopen it with backoff. A lost scanner is logged once per outage, not once per retry.

use super::framing::Framer;
use super::{FlowControl, Parity, PortSource, SerialStation, UsbMatch};
use serialport::{SerialPortInfo, SerialPortType};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a read waits before checking whether to stop.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// Retry delays while the scanner is absent: doubling from the first to the last, so a scanner
/// that comes back is reopened within about a second.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_millis(1000);

/// The port path of the first USB serial device matching `m`.
pub fn find_usb(ports: &[SerialPortInfo], m: &UsbMatch) -> Option<String> {
    ports.iter().find_map(|p| match &p.port_type {
        SerialPortType::UsbPort(u) if m.matches(u.vid, u.pid, u.serial_number.as_deref()) => {
            Some(p.port_name.clone())
        }
        _ => None,
    })
}

/// Open a station's port with its settings (finding a USB scanner by its ids).
pub fn open(station: &SerialStation) -> Result<Box<dyn serialport::SerialPort>, String> {
    let path = match &station.source {
        PortSource::Path(p) => p.clone(),
        PortSource::Usb(m) => {
            let ports = serialport::available_ports().map_err(|e| e.to_string())?;
            find_usb(&ports, m).ok_or_else(|| format!("no USB serial device {m} present"))?
        }
    };
    let s = &station.settings;
    serialport::new(&path, s.baud)
        .data_bits(match s.data_bits {
            5 => serialport::DataBits::Five,
            6 => serialport::DataBits::Six,
            7 => serialport::DataBits::Seven,
            _ => serialport::DataBits::Eight,
        })
        .parity(match s.parity {
            Parity::None => serialport::Parity::None,
            Parity::Odd => serialport::Parity::Odd,
            Parity::Even => serialport::Parity::Even,
        })
        .stop_bits(if s.stop_bits == 2 {
            serialport::StopBits::Two
        } else {
            serialport::StopBits::One
        })
        .flow_control(match s.flow_control {
            FlowControl::None => serialport::FlowControl::None,
            FlowControl::Software => serialport::FlowControl::Software,
            FlowControl::Hardware => serialport::FlowControl::Hardware,
        })
        .timeout(READ_TIMEOUT)
        .open()
        .map_err(|e| format!("{path}: {e}"))
}

/// Where a reader's lines go.
pub trait Sink: Send + 'static {
    /// Record one line; true when it was accepted (good feedback), false otherwise.
    fn submit(&self, station: &str, line: Vec<u8>) -> bool;
    /// The scanner connected, or was lost (with the reason).
    fn link(&self, station: &str, connected: bool, error: Option<String>);
}

struct Reader<S> {
    station: SerialStation,
    sink: S,
    stop: Arc<AtomicBool>,
}

pub fn spawn<S: Sink>(
    station: SerialStation,
    sink: S,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let name = format!("station-{}", station.id);
    let r = Reader {
        station,
        sink,
        stop,
    };
    std::thread::Builder::new()
        .name(name)
        .spawn(move || r.run())
        .expect("spawn station reader thread")
}

impl<S: Sink> Reader<S> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn set_link(&self, connected: bool, error: Option<String>) {
        self.sink.link(&self.station.id, connected, error);
    }

    /// Sleep up to `d`, waking early to stop.
    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
    }

    fn run(self) {
        let mut backoff = BACKOFF_FIRST;
        let mut outage_reported = false;
        while !self.stopping() {
            match open(&self.station) {
                Ok(port) => {
                    tracing::info!(station = %self.station.id, source = %self.station.source, "scanner connected");
                    self.set_link(true, None);
                    backoff = BACKOFF_FIRST;
                    let lost = self.read_until_lost(port);
                    match lost {
                        None => break, // stopping
                        Some(reason) => {
                            tracing::warn!(station = %self.station.id, %reason, "scanner lost; reconnecting");
                            self.set_link(false, Some(format!("scanner lost: {reason}")));
                            outage_reported = true;
                        }
                    }
                }
                Err(reason) => {
                    if !outage_reported {
                        tracing::warn!(station = %self.station.id, %reason, "scanner not available; retrying");
                        self.set_link(false, Some(reason));
                        outage_reported = true;
                    }
                    self.pause(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Read lines until the device goes away (its reason) or the station stops (`None`).
    fn read_until_lost(&self, mut port: Box<dyn serialport::SerialPort>) -> Option<String> {
        let mut framer = Framer::new();
        let mut buf = [0u8; 512];
        loop {
            if self.stopping() {
                return None;
            }
            match port.read(&mut buf) {
                Ok(0) => return Some("end of file".into()),
                Ok(n) => {
                    for line in framer.push(&buf[..n]) {
                        let good = self.sink.submit(&self.station.id, line);
                        let fb = &self.station.feedback;
                        let bytes = if good { &fb.good } else { &fb.bad };
                        if !bytes.is_empty() {
                            if let Err(e) = port.write_all(bytes).and_then(|_| port.flush()) {
                                tracing::debug!(station = %self.station.id, error = %e, "feedback not written");
                            }
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if framer.pending() > 0 {
                        tracing::info!(station = %self.station.id, bytes = framer.pending(), "partial line discarded");
                    }
                    framer.reset();
                    return Some(e.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serialport::UsbPortInfo;

    fn usb(name: &str, vid: u16, pid: u16, serial: Option<&str>) -> SerialPortInfo {
        SerialPortInfo {
            port_name: name.into(),
            port_type: SerialPortType::UsbPort(UsbPortInfo {
                vid,
                pid,
                serial_number: serial.map(str::to_owned),
                manufacturer: None,
                product: None,
            }),
        }
    }

    #[test]
    fn a_usb_scanner_is_found_by_its_serial_number_whatever_its_port_number() {
        let ports = vec![
            SerialPortInfo {
                port_name: "/dev/ttyS0".into(),
                port_type: SerialPortType::Unknown,
            },
            usb("/dev/ttyACM0", 0x0c2e, 0x0b81, Some("AAA111")),
            usb("/dev/ttyACM3", 0x0c2e, 0x0b81, Some("BBB222")),
        ];
        let m = UsbMatch::parse("0c2e:*:BBB222").unwrap();
        assert_eq!(find_usb(&ports, &m).as_deref(), Some("/dev/ttyACM3"));
        let m = UsbMatch::parse("05e0:1701").unwrap();
        assert_eq!(find_usb(&ports, &m), None);
    }
}
