//! A scanner simulator on a pseudo-terminal: it behaves like a serial scanner on the other end
//! of a port path (AIM identifier, CR suffix, human pace or a burst), and can be unplugged
//! (hang-up, device path gone) and plugged back in (a new device at the same path). The demo
//! and the tests drive real serial stations with it.

use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct SimulatedScanner {
    /// The stable path a station is configured with (a symlink to the current pty).
    link: PathBuf,
    master: Option<TTYPort>,
    /// Prefix sent before each value (`]C0` = AIM Code 128).
    pub aim: &'static str,
    /// Terminator sent after each value.
    pub suffix: &'static [u8],
}

impl SimulatedScanner {
    /// Plug a simulated scanner in at `link` (which must not exist yet).
    pub fn plug_in(link: &Path) -> std::io::Result<SimulatedScanner> {
        let mut s = SimulatedScanner {
            link: link.to_owned(),
            master: None,
            aim: "]C0",
            suffix: b"\r",
        };
        s.replug()?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.link
    }

    fn master(&mut self) -> std::io::Result<&mut TTYPort> {
        self.master.as_mut().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotConnected, "scanner unplugged")
        })
    }

    /// Bytes as they come off the wire. A scanner whose host is slow to read waits (the
    /// pseudo-terminal's buffer is small), as a real one holds its data in its own buffer.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let m = self.master()?;
        m.set_timeout(Duration::from_secs(60))?;
        m.write_all(bytes)?;
        m.flush()
    }

    /// One scan: AIM prefix, the value, the suffix.
    pub fn scan(&mut self, value: &str) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(value.len() + 4);
        line.extend_from_slice(self.aim.as_bytes());
        line.extend_from_slice(value.as_bytes());
        line.extend_from_slice(self.suffix);
        self.send_raw(&line)
    }

    /// Scans at a clerk's pace (`gap` between them) or as a burst (`Duration::ZERO`).
    pub fn scan_all(&mut self, values: &[&str], gap: Duration) -> std::io::Result<()> {
        for v in values {
            self.scan(v)?;
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
        Ok(())
    }

    /// Read what the host wrote back (feedback) until `want` bytes arrived or `timeout` passed.
    pub fn read_back(&mut self, want: usize, timeout: Duration) -> std::io::Result<Vec<u8>> {
        self.read_while(timeout, 256, |got| got.len() < want)
    }

    /// Read what the host wrote up to and including `end`, or what came before `timeout`.
    /// Byte by byte, so nothing after `end` is taken.
    pub fn read_until(&mut self, end: u8, timeout: Duration) -> std::io::Result<Vec<u8>> {
        self.read_while(timeout, 1, |got| got.last() != Some(&end))
    }

    /// Read `chunk` bytes at a time while `more` says so and `timeout` has not passed.
    fn read_while(
        &mut self,
        timeout: Duration,
        chunk: usize,
        more: impl Fn(&[u8]) -> bool,
    ) -> std::io::Result<Vec<u8>> {
        let until = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        let m = self.master()?;
        m.set_timeout(Duration::from_millis(50))?;
        while more(&out) && Instant::now() < until {
            match m.read(&mut buf) {
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                // Nobody has the device open (yet): a scanner just waits.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Pull the cable: the host sees a hang-up and the device path disappears.
    pub fn unplug(&mut self) {
        self.master = None;
        let _ = std::fs::remove_file(&self.link);
    }

    /// Plug it back in: a new device appears at the same path.
    pub fn replug(&mut self) -> std::io::Result<()> {
        self.unplug();
        let (master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        let name = slave
            .name()
            .ok_or_else(|| std::io::Error::other("pseudo-terminal without a name"))?;
        // The host opens the device itself, as it would a real scanner.
        drop(slave);
        std::os::unix::fs::symlink(name, &self.link)?;
        self.master = Some(master);
        Ok(())
    }
}

impl Drop for SimulatedScanner {
    fn drop(&mut self) {
        self.unplug();
    }
}
