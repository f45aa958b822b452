//! The camera fallback: a photo of a label (PNG or JPEG, as a phone or a webcam takes it) turned
//! into the barcode's text with rxing, so it can go down the one scan path like a typed scan.
//! Bounded: the body's size is capped by the route, the picture's dimensions here, and large
//! pictures are shrunk before the search, so one photo cannot hold a core for long.

use rxing::{BarcodeFormat, DecodeHints};
use std::collections::HashSet;

/// The largest picture taken, in pixels (a 12-megapixel phone photo is 4032 × 3024).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Pictures are shrunk to at most this many pixels on the longer side before the search.
const SEARCH_SIDE: u32 = 1600;

/// Why a photo gave no barcode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("the body is not a PNG or JPEG picture (send Content-Type image/png or image/jpeg)")]
    NotAnImage,
    #[error("the picture cannot be read: {0}")]
    Unreadable(String),
    #[error("the picture is too large ({0} × {1} pixels; at most 50 megapixels)")]
    TooLarge(u32, u32),
    #[error("no barcode was found in the picture: hold the label flat, fill the frame with it, and avoid glare")]
    NoBarcode,
}

/// The picture's kind from its first bytes (whatever the Content-Type said).
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpeg")
    } else {
        None
    }
}

/// Grey levels of a PNG or JPEG picture: (pixels, width, height).
pub fn grey(bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), PhotoError> {
    match sniff(bytes).ok_or(PhotoError::NotAnImage)? {
        "png" => {
            let mut d = png::Decoder::new(std::io::Cursor::new(bytes));
            d.set_transformations(png::Transformations::normalize_to_color8());
            let bad = |e: png::DecodingError| PhotoError::Unreadable(e.to_string());
            let mut r = d.read_info().map_err(bad)?;
            let (w, h) = (r.info().width, r.info().height);
            if u64::from(w) * u64::from(h) > MAX_PIXELS {
                return Err(PhotoError::TooLarge(w, h));
            }
            let size = r
                .output_buffer_size()
                .ok_or_else(|| PhotoError::Unreadable("its size overflows".into()))?;
            let mut buf = vec![0; size];
            let info = r.next_frame(&mut buf).map_err(bad)?;
            let px = info.color_type.samples();
            let colours = if px >= 3 { 3 } else { 1 };
            let grey = buf[..info.buffer_size()]
                .chunks(px)
                .map(|p| {
                    (p[..colours].iter().map(|&c| u32::from(c)).sum::<u32>() / colours as u32) as u8
                })
                .collect();
            Ok((grey, info.width, info.height))
        }
        _ => {
            use zune_core::bytestream::ZCursor;
            use zune_core::colorspace::ColorSpace;
            use zune_core::options::DecoderOptions;
            let options = DecoderOptions::default()
                .jpeg_set_out_colorspace(ColorSpace::Luma)
                .set_max_width(20_000)
                .set_max_height(20_000);
            let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
            d.decode_headers()
                .map_err(|e| PhotoError::Unreadable(format!("{e:?}")))?;
            let (w, h) = d
                .dimensions()
                .ok_or_else(|| PhotoError::Unreadable("no size in its header".into()))?;
            let (w, h) = (w as u32, h as u32);
            if u64::from(w) * u64::from(h) > MAX_PIXELS {
                return Err(PhotoError::TooLarge(w, h));
            }
            let pixels = d
                .decode()
                .map_err(|e| PhotoError::Unreadable(format!("{e:?}")))?;
            if pixels.len() != (w * h) as usize {
                return Err(PhotoError::Unreadable("its pixels do not fill it".into()));
            }
            Ok((pixels, w, h))
        }
    }
}

/// Shrink by a whole factor (the mean of each block) until the longer side fits `side`.
fn shrink(grey: Vec<u8>, w: u32, h: u32, side: u32) -> (Vec<u8>, u32, u32) {
    let f = w.max(h).div_ceil(side).max(1);
    if f == 1 {
        return (grey, w, h);
    }
    let (nw, nh) = (w / f, h / f);
    let mut out = Vec::with_capacity((nw * nh) as usize);
    for y in 0..nh {
        for x in 0..nw {
            let mut sum = 0u32;
            for dy in 0..f {
                let row = ((y * f + dy) * w + x * f) as usize;
                sum += grey[row..row + f as usize]
                    .iter()
                    .map(|&p| u32::from(p))
                    .sum::<u32>();
            }
            out.push((sum / (f * f)) as u8);
        }
    }
    (out, nw, nh)
}

/// Stretch the grey levels to the full range: a faint, low-contrast photo reads like a sharp one.
fn stretch(grey: &mut [u8]) {
    let (lo, hi) = grey
        .iter()
        .fold((255u8, 0u8), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    if hi > lo && (hi - lo) < 200 {
        let range = u32::from(hi - lo);
        for p in grey.iter_mut() {
            *p = (u32::from(*p - lo) * 255 / range) as u8;
        }
    }
}

/// The barcode in a photo: Code 128, Code 39 or DataMatrix (what chartrack prints and scanners
/// are set up for), searching hard (rotations included).
pub fn read(bytes: &[u8]) -> Result<String, PhotoError> {
    let (grey, w, h) = grey(bytes)?;
    let (mut grey, w, h) = shrink(grey, w, h, SEARCH_SIDE);
    stretch(&mut grey);
    let hints = DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some(HashSet::from([
            BarcodeFormat::CODE_128,
            BarcodeFormat::CODE_39,
            BarcodeFormat::DATA_MATRIX,
        ])),
        ..Default::default()
    };
    let attempt = |g: Vec<u8>, w: u32, h: u32| {
        let mut hints = hints.clone();
        rxing::helpers::detect_in_luma_with_hints(g, w, h, None, &mut hints)
            .ok()
            .map(|r| r.getText().to_owned())
            .filter(|t| !t.is_empty())
    };
    if let Some(t) = attempt(grey.clone(), w, h) {
        return Ok(t);
    }
    // Upside down (a label photographed from across the desk).
    let flipped: Vec<u8> = grey.iter().rev().copied().collect();
    attempt(flipped, w, h).ok_or(PhotoError::NoBarcode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_picture_is_told_so() {
        assert_eq!(read(b"hello"), Err(PhotoError::NotAnImage));
        assert!(matches!(
            read(b"\x89PNG\r\n\x1a\nbroken"),
            Err(PhotoError::Unreadable(_))
        ));
        assert!(matches!(
            read(&[0xff, 0xd8, 0xff, 0xe0, 0, 0]),
            Err(PhotoError::Unreadable(_))
        ));
    }

    #[test]
    fn shrinking_keeps_the_mean() {
        let (g, w, h) = shrink(vec![0, 255, 0, 255, 0, 255, 0, 255], 4, 2, 2);
        assert_eq!((w, h), (2, 1));
        assert_eq!(g, vec![127, 127]);
    }
}
