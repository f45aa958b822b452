//! Bytes from a scanner into lines. CR, LF and CRLF each end a line (an empty line between a CR
//! and its LF is no line). A line longer than the limit is cut at the limit plus one byte, so
//! the scan path refuses it as too long, and the framer resynchronises at the next terminator.
//! A partial line is only ever handed on with its terminator: `reset` (the device went away)
//! discards it.

use crate::domain::MAX_LINE_BYTES;

#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of the current line dropped past the limit.
    dropped: usize,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Feed bytes; returns the complete lines they finish, in order, without terminators.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                if !self.buf.is_empty() || self.dropped > 0 {
                    out.push(std::mem::take(&mut self.buf));
                    self.dropped = 0;
                }
            } else if self.buf.len() <= MAX_LINE_BYTES {
                // Keep one byte past the limit: enough for the scan path to say "too long".
                self.buf.push(b);
            } else {
                self.dropped += 1;
            }
        }
        out
    }

    /// Bytes of an unfinished line waiting for its terminator.
    pub fn pending(&self) -> usize {
        self.buf.len() + self.dropped
    }

    /// Forget an unfinished line (the device disappeared mid-line).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cr_lf_and_crlf_each_end_one_line() {
        let mut f = Framer::new();
        assert_eq!(
            f.push(b"A1\rB2\nC3\r\nD4"),
            vec![b"A1".to_vec(), b"B2".to_vec(), b"C3".to_vec()]
        );
        assert_eq!(f.pending(), 2);
        assert_eq!(f.push(b"\r"), vec![b"D4".to_vec()]);
    }

    #[test]
    fn a_line_split_across_reads_is_one_line() {
        let mut f = Framer::new();
        assert!(f.push(b"]C0V00").is_empty());
        assert_eq!(f.push(b"00001H\r\n"), vec![b"]C0V0000001H".to_vec()]);
    }

    #[test]
    fn an_overlong_line_is_cut_and_the_next_line_is_whole() {
        let mut f = Framer::new();
        let mut input = vec![b'X'; 10_000];
        input.extend_from_slice(b"\rOK1\r");
        let lines = f.push(&input);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES + 1);
        assert_eq!(lines[1], b"OK1");
    }

    #[test]
    fn reset_discards_a_partial_line() {
        let mut f = Framer::new();
        f.push(b"V00000");
        f.reset();
        assert_eq!(f.push(b"01H\r"), vec![b"01H".to_vec()]);
    }

    proptest! {
        /// However the bytes are split into reads, the lines are the same.
        #[test]
        fn splitting_never_changes_the_lines(
            data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..8),
        ) {
            let whole = Framer::new().push(&data);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort();
            let mut f = Framer::new();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                pieces.extend(f.push(&data[at..c]));
                at = c;
            }
            prop_assert_eq!(pieces, whole);
        }
    }
}
