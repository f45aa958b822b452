//! HL7 over MLLP, from the bytes a connection delivers to the acknowledgement: the framer finds
//! the same frames whatever sizes the reads come in (split frames, several in one read, garbage
//! between them), and no message, however malformed, panics the parser or the ACK builder.

#![no_main]
use chartrack::hl7::mllp::Framer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let frames = |n: usize| {
        let mut f = Framer::new(4096);
        let mut out = Vec::new();
        for chunk in bytes.chunks(n.max(1)) {
            out.extend(f.push(chunk));
        }
        out
    };
    // Property: the reads' sizes do not change what is framed.
    assert_eq!(frames(usize::from(split) + 1), frames(bytes.len().max(1)));
    chartrack::hl7::read_frames(bytes, usize::from(split) + 1);
    chartrack::hl7::read_message(bytes);
});
