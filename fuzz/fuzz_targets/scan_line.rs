//! Bytes from a serial port up to a barcode value: `stations::framing::Framer` cuts them into
//! lines, `domain::normalise_line` makes each a value or a refusal, `Barcode::parse` reads it.
//!
//! Properties checked, besides "never panics":
//! - a normalised value is non-empty, at most `MAX_LINE_BYTES`, free of control characters and
//!   already canonical (upper case);
//! - normalising is idempotent: a value normalises to itself;
//! - the framer gives the same lines however the bytes are split into reads (the first byte
//!   picks the cut);
//! - the two terminator parsers agree: a framed line (no terminator) normalises as the same line
//!   with its CR LF on; a line longer than the limit is refused as too long, never cut short
//!   into a value;
//! - where a value parses as a `Barcode`, the barcode is the value.
#![no_main]

use chartrack::domain::{normalise_line, Barcode, LineRefusal, MAX_LINE_BYTES};
use chartrack::stations::framing::Framer;
use libfuzzer_sys::fuzz_target;

fn check_value(raw: &[u8]) {
    let Ok(v) = normalise_line(raw) else { return };
    assert!(!v.is_empty(), "empty value from {raw:?}");
    assert!(v.len() <= MAX_LINE_BYTES, "value longer than the limit");
    assert!(!v.chars().any(char::is_control), "control character kept");
    assert_eq!(Barcode::canonical(&v), v, "value not canonical");
    assert_eq!(
        normalise_line(v.as_bytes()),
        Ok(v.clone()),
        "normalise is not idempotent on {raw:?}"
    );
    if let Ok(b) = Barcode::parse(&v) {
        assert_eq!(b.as_str(), v);
    }
}

fuzz_target!(|data: &[u8]| {
    check_value(data);

    let whole = Framer::new().push(data);
    let cut = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let mut f = Framer::new();
    let mut pieces = f.push(&data[..cut]);
    pieces.extend(f.push(&data[cut..]));
    assert_eq!(pieces, whole, "a split read changed the lines");

    // Where each framed line starts and ends in `data`, to know its full length.
    let mut lengths = Vec::new();
    let mut run = 0usize;
    for &b in data {
        if b == b'\r' || b == b'\n' {
            if run > 0 {
                lengths.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    assert_eq!(lengths.len(), whole.len(), "framed line count");
    for (line, &len) in whole.iter().zip(&lengths) {
        assert!(!line.is_empty());
        assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
        assert_eq!(line.len(), len.min(MAX_LINE_BYTES + 1));
        let mut terminated = line.clone();
        terminated.extend_from_slice(b"\r\n");
        assert_eq!(normalise_line(line), normalise_line(&terminated));
        if len > MAX_LINE_BYTES {
            assert!(matches!(normalise_line(line), Err(LineRefusal::TooLong(_))));
        }
        check_value(line);
    }
});
