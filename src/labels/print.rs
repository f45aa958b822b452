//! Sending labels to a printer: raw ZPL over TCP (port 9100, the way Zebra-compatible printers
//! are driven). The printer sends no reply; a connection refused, not accepted within
//! [`CONNECT`], or a write that stalls is an error naming the printer, never a silent drop.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a printer has to accept the connection.
pub const CONNECT: Duration = Duration::from_secs(3);
/// How long one write may take (a printer out of paper stops reading).
pub const WRITE: Duration = Duration::from_secs(10);

/// A configured printer, as `[[printers]]` names it.
#[derive(Debug, Clone)]
pub struct Printer {
    pub name: String,
    pub address: String,
    /// The labels it holds.
    pub size: super::set::Size,
}

/// Send `zpl` to the printer `copies` times (one connection); errors name the printer.
pub fn send(printer: &Printer, zpl: &str, copies: u32) -> anyhow::Result<()> {
    let named = |why: String| {
        anyhow::anyhow!(
            "printer {} ({}) {why}; nothing was printed",
            printer.name,
            printer.address
        )
    };
    let addrs: Vec<_> = printer
        .address
        .to_socket_addrs()
        .map_err(|e| named(format!("cannot be found: {e}")))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = stream.ok_or_else(|| {
        named(match last {
            Some(e) if e.kind() == std::io::ErrorKind::TimedOut => format!(
                "did not answer within {} s (is it on, and on the network?)",
                CONNECT.as_secs()
            ),
            Some(e) => format!("refused the connection ({e})"),
            None => "has no address".into(),
        })
    })?;
    stream
        .set_write_timeout(Some(WRITE))
        .map_err(|e| named(e.to_string()))?;
    let body = zpl.repeat(copies.max(1) as usize);
    stream
        .write_all(body.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| named(format!("stopped taking the label ({e})")))?;
    // Half-close and let the printer read to the end before the socket goes.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}
