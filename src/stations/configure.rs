//! `chartrack scanners configure STATION`: send a profile's menu commands to a scanner over its
//! serial link and report each answer. Honeywell's syntax: `SYN M CR` + command + storage
//! (`.` keeps it through a power cycle, `!` until then); the scanner echoes the command with a
//! status byte before the storage character: ACK (good), ENQ (unknown tag or subtag), NAK (data
//! out of range).

use super::Profile;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const ACK: u8 = 0x06;
const ENQ: u8 = 0x05;
const NAK: u8 = 0x15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Accepted,
    UnknownCommand,
    OutOfRange,
    NoAnswer,
    Unreadable(String),
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Accepted => f.write_str("ok"),
            Reply::UnknownCommand => {
                f.write_str("refused: the scanner does not know this command (ENQ)")
            }
            Reply::OutOfRange => f.write_str("refused: value out of range (NAK)"),
            Reply::NoAnswer => f.write_str(
                "no answer (is the scanner in serial mode, and is this the right port?)",
            ),
            Reply::Unreadable(s) => write!(f, "unreadable answer {s:?}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub what: String,
    pub command: String,
    pub reply: Reply,
}

/// What a scanner's echo says about one command.
pub fn parse_reply(bytes: &[u8], storage: u8) -> Reply {
    let Some(end) = bytes.iter().rposition(|&b| b == storage) else {
        return if bytes.is_empty() {
            Reply::NoAnswer
        } else {
            Reply::Unreadable(String::from_utf8_lossy(bytes).into_owned())
        };
    };
    match end.checked_sub(1).map(|i| bytes[i]) {
        Some(ACK) => Reply::Accepted,
        Some(ENQ) => Reply::UnknownCommand,
        Some(NAK) => Reply::OutOfRange,
        _ => Reply::Unreadable(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// Send each setting that has a menu command; `permanent` stores them through a power cycle.
pub fn configure<P: Read + Write + ?Sized>(
    port: &mut P,
    profile: &Profile,
    permanent: bool,
    wait: Duration,
) -> anyhow::Result<Vec<Outcome>> {
    let Some(cmds) = &profile.serial_commands else {
        anyhow::bail!(
            "the {} profile has no serial commands: make its settings with the vendor's barcodes or tool (chartrack scanners profiles)",
            profile.id
        );
    };
    let storage = if permanent {
        cmds.save.as_bytes().first().copied().unwrap_or(b'.')
    } else {
        b'!'
    };
    let mut out = Vec::new();
    for s in &profile.settings {
        let Some(command) = &s.command else { continue };
        let mut msg = cmds.prefix.as_bytes().to_vec();
        msg.extend_from_slice(command.as_bytes());
        msg.push(storage);
        port.write_all(&msg)?;
        port.flush()?;
        let mut answer = Vec::new();
        let until = Instant::now() + wait;
        let mut buf = [0u8; 128];
        while !answer.contains(&storage) && Instant::now() < until {
            match port.read(&mut buf) {
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e.into()),
            }
        }
        out.push(Outcome {
            what: s.what.clone(),
            command: command.clone(),
            reply: parse_reply(&answer, storage),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_from_the_status_byte_before_the_storage_character() {
        assert_eq!(parse_reply(b"TRMUSB130\x06.", b'.'), Reply::Accepted);
        assert_eq!(parse_reply(b"XYZABC\x05.", b'.'), Reply::UnknownCommand);
        assert_eq!(parse_reply(b"232BAD9\x15!", b'!'), Reply::OutOfRange);
        assert_eq!(parse_reply(b"", b'.'), Reply::NoAnswer);
        assert!(matches!(
            parse_reply(b"garbage", b'.'),
            Reply::Unreadable(_)
        ));
    }
}
