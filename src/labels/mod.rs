//! Barcode symbols: encoded with rxing and drawn as SVG bars (runs of modules, not one rectangle
//! per pixel). Chart and location label layouts (ZPL, sheets) come with their own issue.

use rxing::{BarcodeFormat, EncodeHints, MultiFormatWriter, Writer};

/// Code 128's function character 3, which marks a reader-programming symbol (rxing maps this
/// character to FNC3).
pub const FNC3: char = '\u{00f3}';

/// The modules (true = bar) of a Code 128 symbol, quiet zones of 10 modules on each side included.
pub fn code128_modules(text: &str) -> anyhow::Result<Vec<bool>> {
    let hints = EncodeHints {
        Margin: Some("20".into()),
        ..Default::default()
    };
    let m = MultiFormatWriter
        .encode_with_hints(text, &BarcodeFormat::CODE_128, 0, 1, &hints)
        .map_err(|e| anyhow::anyhow!("cannot encode {text:?} as Code 128: {e}"))?;
    Ok((0..m.getWidth()).map(|x| m.get(x, 0)).collect())
}

/// An SVG of 1D bars: one rectangle per run of dark modules.
pub fn svg_bars(modules: &[bool], module_px: u32, height_px: u32) -> String {
    let width = modules.len() as u32 * module_px;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height_px}\" viewBox=\"0 0 {width} {height_px}\" shape-rendering=\"crispEdges\"><rect width=\"{width}\" height=\"{height_px}\" fill=\"#fff\"/>"
    );
    let mut x = 0;
    while x < modules.len() {
        if !modules[x] {
            x += 1;
            continue;
        }
        let start = x;
        while x < modules.len() && modules[x] {
            x += 1;
        }
        o += &format!(
            "<rect x=\"{}\" width=\"{}\" height=\"{height_px}\"/>",
            start as u32 * module_px,
            (x - start) as u32 * module_px
        );
    }
    o + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draw the modules as a grey image and read it back with rxing's decoder.
    fn decode(modules: &[bool]) -> String {
        let (scale, h) = (3usize, 40usize);
        let w = modules.len() * scale;
        let mut luma = vec![255u8; w * h];
        for (i, &dark) in modules.iter().enumerate() {
            if dark {
                for y in 0..h {
                    for dx in 0..scale {
                        luma[y * w + i * scale + dx] = 0;
                    }
                }
            }
        }
        rxing::helpers::detect_in_luma(luma, w as u32, h as u32, Some(BarcodeFormat::CODE_128))
            .unwrap()
            .getText()
            .to_owned()
    }

    #[test]
    fn a_code_128_symbol_reads_back_as_its_text() {
        assert_eq!(decode(&code128_modules("V0000001H").unwrap()), "V0000001H");
        let programming = code128_modules(&format!("{FNC3}TRMUSB130.")).unwrap();
        assert!(decode(&programming).contains("TRMUSB130."));
    }

    #[test]
    fn svg_bars_merge_runs() {
        let svg = svg_bars(&[false, true, true, false, true], 2, 10);
        assert_eq!(svg.matches("<rect x=").count(), 2);
        assert!(svg.contains("<rect x=\"2\" width=\"4\" height=\"10\"/>"));
    }
}
