//! MLLP framing: a message is `0x0B` (VT), its bytes, then `0x1C 0x0D` (FS CR). The framer is
//! fed whatever each read returned: a frame split over reads, two frames in one read, bytes
//! between frames (dropped), a frame longer than the limit (answered as too long, its bytes
//! dropped up to its end). What is left unterminated when the peer disconnects is dropped.

pub const START: u8 = 0x0B;
pub const END: [u8; 2] = [0x1C, 0x0D];

/// A frame at most this long (1 MiB); a longer one is refused whole.
pub const MAX_FRAME: usize = 1024 * 1024;

/// How much of a frame longer than the limit is kept.
pub const HEAD: usize = 4096;

/// What a frame held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Message(Vec<u8>),
    /// Longer than the limit: its bytes were dropped but the first [`HEAD`] (its header, so the
    /// answer can name it and the exceptions page show it).
    TooLong(Vec<u8>),
}

#[derive(Debug)]
pub struct Framer {
    max: usize,
    buf: Vec<u8>,
    /// Inside a frame (after a VT).
    open: bool,
    /// The open frame passed the limit: skip to its end.
    overflow: bool,
    /// The first bytes of a frame that passed the limit.
    head: Vec<u8>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(MAX_FRAME)
    }
}

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            max,
            buf: Vec::new(),
            open: false,
            overflow: false,
            head: Vec::new(),
        }
    }

    /// Feed the bytes of one read; the frames they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        for &b in bytes {
            if !self.open {
                // Between frames only a start byte means anything.
                if b == START {
                    self.open = true;
                    self.overflow = false;
                    self.buf.clear();
                }
                continue;
            }
            // FS CR ends a frame; so does FS followed by the next frame's VT (a sender that
            // leaves out the CR): that frame is not lost.
            let ends = b == END[1] || (b == START && !self.overflow);
            if ends && self.buf.last() == Some(&END[0]) {
                self.buf.pop();
                self.open = b == START;
                if self.overflow {
                    out.push(Frame::TooLong(std::mem::take(&mut self.head)));
                } else {
                    out.push(Frame::Message(std::mem::take(&mut self.buf)));
                }
                self.buf.clear();
                continue;
            }
            if b == START && !self.overflow {
                // A new start inside a frame: the sender gave up on the one before.
                self.buf.clear();
                continue;
            }
            if self.overflow {
                // Keep only the last byte, to see FS CR.
                self.buf.clear();
                self.buf.push(b);
                continue;
            }
            self.buf.push(b);
            if self.buf.len() > self.max + 1 {
                self.overflow = true;
                self.head = self.buf[..HEAD.min(self.buf.len())].to_vec();
                let last = *self.buf.last().expect("just pushed");
                self.buf.clear();
                self.buf.push(last);
            }
        }
        out
    }

    /// Bytes of an unfinished frame (dropped at disconnect).
    pub fn pending(&self) -> bool {
        self.open
    }
}

/// A message framed for sending.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message);
    out.extend_from_slice(&END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(frames: Vec<Frame>) -> Vec<String> {
        frames
            .into_iter()
            .map(|f| match f {
                Frame::Message(m) => String::from_utf8(m).unwrap(),
                Frame::TooLong(_) => "<too long>".into(),
            })
            .collect()
    }

    #[test]
    fn frames_split_joined_and_among_garbage() {
        let mut f = Framer::default();
        assert!(f.push(b"noise\x0bMSH|a").is_empty());
        assert!(f.pending());
        assert!(f.push(b"bc\x1c").is_empty());
        assert_eq!(
            messages(f.push(b"\rjunk\x0bone\x1c\r\x0btwo\x1c\r")),
            ["MSH|abc", "one", "two"]
        );
        assert!(!f.pending());
        // An FS not followed by CR is part of the message.
        assert_eq!(messages(f.push(b"\x0ba\x1cb\x1c\r")), ["a\x1cb"]);
    }

    #[test]
    fn an_overlong_frame_is_refused_and_the_next_one_read() {
        let mut f = Framer::new(8);
        let mut input = vec![START];
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend_from_slice(&END);
        input.extend_from_slice(&frame(b"ok"));
        assert_eq!(messages(f.push(&input)), ["<too long>", "ok"]);
    }

    #[test]
    fn a_frame_ended_by_fs_alone_then_the_next_frame_is_kept() {
        let mut f = Framer::new(100);
        let input = [&[START][..], b"one", &[0x1C, START], b"two", &END].concat();
        assert_eq!(messages(f.push(&input)), ["one", "two"]);
        assert_eq!(messages(f.push(&frame(b"12345678"))), ["12345678"]);
    }
}
