//! A CSV file read row by row, never whole, each row with its physical line (CR, LF and CRLF
//! each end one; a quoted field that spans lines counts each of its lines).

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;

/// The bytes a CSV reader has read and whose lines are not counted yet (the reader reads ahead
/// of the record it gives; the record's line is counted from these).
#[derive(Default)]
struct Window {
    bytes: Vec<u8>,
    /// The offset in the file of `bytes[0]`.
    base: u64,
}

/// A reader that keeps what it reads in a `Window`, for `Lines`.
struct Tee<R> {
    inner: R,
    window: Rc<RefCell<Window>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.borrow_mut().bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Physical line numbers of byte offsets in a file read once, front to back: a line ends at LF,
/// at CRLF, or at a CR alone, and a quoted field that spans lines counts each of its lines.
/// (The csv crate's own line count follows LF only, and places a record after CRLF on the line
/// before it.) Only the bytes not yet counted are kept.
struct Lines {
    window: Rc<RefCell<Window>>,
    pos: u64,
    line: u64,
}

impl Lines {
    fn new(window: Rc<RefCell<Window>>) -> Self {
        Lines {
            window,
            pos: 0,
            line: 1,
        }
    }

    /// The line of the record that starts at `byte`: the line of its first character (its
    /// position may point at the line ending before it, or at blank lines). Records come in
    /// file order; a position before one already counted is on the line counted last.
    fn of(&mut self, byte: u64) -> u64 {
        let mut w = self.window.borrow_mut();
        let end = w.base + w.bytes.len() as u64;
        let at = |w: &Window, i: u64| w.bytes[(i - w.base) as usize];
        let mut start = byte.min(end);
        if start < self.pos {
            return self.line;
        }
        while start < end && matches!(at(&w, start), b'\r' | b'\n') {
            start += 1;
        }
        while self.pos < start {
            match at(&w, self.pos) {
                b'\n' => self.line += 1,
                b'\r' if self.pos + 1 >= end || at(&w, self.pos + 1) != b'\n' => self.line += 1,
                _ => {}
            }
            self.pos += 1;
        }
        let counted = (self.pos - w.base) as usize;
        if counted >= 1 << 16 {
            w.bytes.drain(..counted);
            w.base = self.pos;
        }
        self.line
    }
}

/// A CSV file read row by row (never whole), each row with its physical line.
pub(super) struct Rows<R: Read> {
    rdr: csv::Reader<Tee<R>>,
    lines: Lines,
    width: usize,
    record: csv::StringRecord,
}

impl<R: Read> Rows<R> {
    /// The file's rows, after its header is checked.
    pub(super) fn open(input: R, columns: &[&str]) -> anyhow::Result<Self> {
        let window = Rc::new(RefCell::new(Window::default()));
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(Tee {
                inner: input,
                window: window.clone(),
            });
        let headers = rdr.headers()?.clone();
        let got: Vec<&str> = headers.iter().collect();
        if got != columns {
            anyhow::bail!(
                "line 1: the columns must be exactly {} (found {})",
                columns.join(","),
                got.join(",")
            );
        }
        Ok(Rows {
            rdr,
            lines: Lines::new(window),
            width: columns.len(),
            record: csv::StringRecord::new(),
        })
    }

    /// The next row and its line, or the problem of a row that cannot be read as a row at all
    /// (a wrong number of fields, text that is not UTF-8): reported with every other problem of
    /// the file, not instead of them. `None` at the end.
    #[allow(clippy::type_complexity)]
    pub(super) fn next(
        &mut self,
    ) -> anyhow::Result<Option<(u64, Result<&csv::StringRecord, String>)>> {
        match self.rdr.read_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let r = &self.record;
                let line = r.position().map(|p| self.lines.of(p.byte())).unwrap_or(0);
                if r.len() != self.width {
                    let problem = format!("expected {} fields, found {}", self.width, r.len());
                    Ok(Some((line, Err(problem))))
                } else {
                    Ok(Some((line, Ok(r))))
                }
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                Err(anyhow::anyhow!("cannot read the file: {e}"))
            }
            Err(e) => Ok(Some((
                e.position().map(|p| self.lines.of(p.byte())).unwrap_or(0),
                Err(format!("unreadable row: {e}")),
            ))),
        }
    }

    /// How far into the file the reader is, in bytes.
    pub(super) fn byte(&self) -> u64 {
        self.rdr.position().byte()
    }
}

#[cfg(test)]
mod tests {
    use super::{Lines, Window};
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn lines_end_at_lf_crlf_or_a_lone_cr() {
        for text in ["a\nb\n\nc\nd", "a\r\nb\r\n\r\nc\r\nd", "a\rb\r\rc\rd"] {
            let bytes = text.as_bytes();
            let window = Window {
                bytes: bytes.to_vec(),
                base: 0,
            };
            let mut lines = Lines::new(Rc::new(RefCell::new(window)));
            let at = |ch: u8| bytes.iter().position(|&b| b == ch).unwrap() as u64;
            // A position at the ending before a record counts as the record's own line.
            assert_eq!(lines.of(at(b'a')), 1, "{text:?}");
            assert_eq!(lines.of(at(b'b') - 1), 2, "{text:?}");
            assert_eq!(lines.of(at(b'c')), 4, "{text:?}");
            assert_eq!(lines.of(at(b'd')), 5, "{text:?}");
        }
    }
}
