//! Label templates: ZPL and SVG files with `{{field}}` placeholders and one `{{symbol …}}` (the
//! barcode), checked when they are loaded — an unknown placeholder or option is refused, naming
//! the file and the line — and filled in with each value escaped for its language.

use super::{Kind, Symbology};
use std::fmt::Write as _;

/// The language of a template: how values are escaped and how the symbol is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zpl,
    Svg,
    /// A sheet page: `{{labels}}` only.
    Sheet,
}

/// One piece of a template.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    /// A field, cut to at most this many characters (`{{name max=24}}`).
    Field(String, Option<usize>),
    /// The barcode, with its options (`module`, `height` in dots for ZPL; `x`, `y`, `width`,
    /// `height` in the label's units for SVG).
    Symbol(Vec<(String, f64)>),
    Labels,
}

/// A checked template.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    lang: Lang,
    pieces: Vec<Piece>,
}

const SYMBOL_OPTIONS_ZPL: &[&str] = &["module", "height"];
const SYMBOL_OPTIONS_SVG: &[&str] = &["x", "y", "width", "height"];

impl Template {
    /// Parse and check `text` (from `name`) as a template of `kind` (None: a sheet page).
    pub fn parse(name: &str, text: &str, lang: Lang, kind: Option<Kind>) -> anyhow::Result<Self> {
        let mut pieces = Vec::new();
        let mut symbols = 0;
        for (n, line) in text.split_inclusive('\n').enumerate() {
            let at = |why: String| anyhow::anyhow!("{name} line {}: {why}", n + 1);
            let mut rest = line;
            while let Some(open) = rest.find("{{") {
                pieces.push(Piece::Text(rest[..open].to_owned()));
                let after = &rest[open + 2..];
                let close = after
                    .find("}}")
                    .ok_or_else(|| at("a placeholder `{{` is not closed with `}}`".into()))?;
                let inner = after[..close].trim();
                let mut words = inner.split_whitespace();
                let word = words.next().unwrap_or_default();
                match (lang, word) {
                    (Lang::Sheet, "labels") => pieces.push(Piece::Labels),
                    (Lang::Sheet, other) => {
                        return Err(at(format!(
                            "unknown placeholder {{{{{other}}}}}: a sheet has only {{{{labels}}}}"
                        )))
                    }
                    (_, "symbol") => {
                        let allowed = if lang == Lang::Zpl {
                            SYMBOL_OPTIONS_ZPL
                        } else {
                            SYMBOL_OPTIONS_SVG
                        };
                        let mut opts = Vec::new();
                        for w in words {
                            let (k, v) = w.split_once('=').ok_or_else(|| {
                                at(format!("symbol option `{w}` is not written key=value"))
                            })?;
                            if !allowed.contains(&k) {
                                return Err(at(format!(
                                    "unknown symbol option `{k}` (known: {})",
                                    allowed.join(", ")
                                )));
                            }
                            let v: f64 = v
                                .parse()
                                .ok()
                                .filter(|v: &f64| v.is_finite() && *v > 0.0 || k == "x" || k == "y")
                                .ok_or_else(|| {
                                    at(format!("symbol option {k}={v} is not a positive number"))
                                })?;
                            opts.push((k.to_owned(), v));
                        }
                        if lang == Lang::Svg {
                            for k in SYMBOL_OPTIONS_SVG {
                                if !opts.iter().any(|(o, _)| o == k) {
                                    return Err(at(format!(
                                        "the symbol needs {k}=… (x, y, width, height)"
                                    )));
                                }
                            }
                        }
                        if lang == Lang::Zpl && !rest[..open].contains("^FO") {
                            return Err(at(
                                "put the symbol after its ^FO x,y on the same line".into()
                            ));
                        }
                        symbols += 1;
                        pieces.push(Piece::Symbol(opts));
                    }
                    (_, field) => {
                        let kind = kind.expect("a label template has a kind");
                        if !kind.fields().contains(&field) {
                            return Err(at(format!(
                                "unknown placeholder {{{{{inner}}}}} for a {} label (known: {}, symbol)",
                                kind.name(),
                                kind.fields().join(", ")
                            )));
                        }
                        let mut max = None;
                        for w in words {
                            match w.split_once('=') {
                                Some(("max", n)) => {
                                    max = Some(n.parse::<usize>().ok().filter(|n| (1..=500).contains(n)).ok_or_else(|| {
                                        at(format!("max={n} is not a number of characters from 1 to 500"))
                                    })?)
                                }
                                _ => {
                                    return Err(at(format!(
                                        "unknown option `{w}` in {{{{{inner}}}}} (a field takes max=N, the most characters shown)"
                                    )))
                                }
                            }
                        }
                        if lang == Lang::Zpl {
                            // Values are escaped as ^FH hex (_5E for ^): the field must say so.
                            let before = &line[..line.len() - rest.len() + open];
                            let fd = before.rfind("^FD");
                            let fh = before.rfind("^FH");
                            if !matches!((fh, fd), (Some(h), Some(d)) if h < d) {
                                return Err(at(format!(
                                    "{{{{{field}}}}} must be inside a ^FH^FD…^FS field, so its value is escaped"
                                )));
                            }
                        }
                        pieces.push(Piece::Field(field.to_owned(), max));
                    }
                }
                rest = &after[close + 2..];
            }
            pieces.push(Piece::Text(rest.to_owned()));
        }
        match lang {
            Lang::Sheet if !pieces.iter().any(|p| matches!(p, Piece::Labels)) => {
                anyhow::bail!("{name}: a sheet needs {{{{labels}}}}")
            }
            Lang::Zpl | Lang::Svg if symbols != 1 => {
                anyhow::bail!(
                    "{name}: a label needs exactly one {{{{symbol …}}}} (found {symbols})"
                )
            }
            _ => {}
        }
        if lang == Lang::Zpl && !(text.contains("^XA") && text.contains("^XZ")) {
            anyhow::bail!("{name}: a ZPL label starts with ^XA and ends with ^XZ");
        }
        Ok(Template {
            name: name.to_owned(),
            lang,
            pieces,
        })
    }

    /// Fill in the fields and draw the symbol for `value`.
    pub fn fill(
        &self,
        fields: &dyn Fn(&str) -> String,
        value: &str,
        symbology: Symbology,
        dots_wide: Option<u32>,
    ) -> anyhow::Result<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f, max) => {
                    let mut v = fields(f);
                    if let Some(max) = *max {
                        if f == "name" {
                            // A name keeps its first initial when cut.
                            v = super::fit_name(&v, max, self.lang != Lang::Zpl);
                        } else if v.chars().count() > max {
                            // Cut to fit; an SVG label shows that it was cut.
                            v = match self.lang {
                                Lang::Zpl => v.chars().take(max).collect(),
                                _ => v.chars().take(max - 1).chain(['…']).collect(),
                            };
                        }
                    }
                    match self.lang {
                        Lang::Zpl => out.push_str(&zpl_escape(&v)),
                        _ => out.push_str(&xml_escape(&v)),
                    }
                }
                Piece::Symbol(opts) => {
                    let opt = |k: &str| opts.iter().find(|(o, _)| o == k).map(|(_, v)| *v);
                    match self.lang {
                        Lang::Zpl => {
                            // Where the symbol starts: the ^FO just before it.
                            let x = out
                                .rfind("^FO")
                                .and_then(|i| out[i + 3..].split(',').next()?.trim().parse().ok())
                                .unwrap_or(0u32);
                            let symbol = zpl_symbol(
                                value,
                                symbology,
                                opt("module").unwrap_or(2.0) as u32,
                                opt("height").unwrap_or(100.0) as u32,
                                dots_wide.map(|w| w.saturating_sub(x + 10)),
                            )
                            .map_err(|e| anyhow::anyhow!("{}: {e}", self.name))?;
                            out.push_str(&symbol)
                        }
                        _ => out.push_str(&svg_symbol(
                            value,
                            symbology,
                            [
                                opt("x").unwrap_or(0.0),
                                opt("y").unwrap_or(0.0),
                                opt("width").unwrap_or(50.0),
                                opt("height").unwrap_or(10.0),
                            ],
                        )?),
                    }
                }
                Piece::Labels => {}
            }
        }
        Ok(out)
    }

    /// A sheet page with `labels` (already positioned SVG) in place of `{{labels}}`.
    pub fn fill_sheet(&self, labels: &str) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Labels => out.push_str(labels),
                _ => {}
            }
        }
        out
    }
}

/// A value inside `^FH^FD…^FS`: `^`, `~` and the hex indicator `_` as hex escapes; control
/// characters (a line break would end nothing in ZPL but confuses readers) as spaces.
pub fn zpl_escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '^' => o.push_str("_5E"),
            '~' => o.push_str("_7E"),
            '_' => o.push_str("_5F"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

pub fn xml_escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The printer draws the symbol itself: Code 128 (`^BY`/`^BC`, with the value printed under it)
/// or DataMatrix (`^BX`). The module shrinks when the symbol would run past the label's edge
/// (`room` dots); below one dot it is refused.
fn zpl_symbol(
    value: &str,
    symbology: Symbology,
    module: u32,
    height: u32,
    room: Option<u32>,
) -> anyhow::Result<String> {
    let data = zpl_escape(value);
    match symbology {
        Symbology::Code128 => {
            // Without quiet zones: the label's margin is the quiet zone.
            let modules = super::code128_modules(value)?.len() as u32 - 20;
            let mut m = module.max(1);
            if let Some(room) = room {
                while m > 1 && modules * m > room {
                    m -= 1;
                }
                if modules * m > room {
                    anyhow::bail!(
                        "the barcode {value} ({modules} modules) is too wide for this label even at 1 dot a module: use a larger size"
                    );
                }
            }
            Ok(format!(
                "^BY{m},3,{height}^BCN,{height},Y,N,N^FH^FD{data}^FS"
            ))
        }
        Symbology::DataMatrix => {
            // An element of `module` × 3 dots (a 16 × 16 symbol at module 2 is about 5 mm).
            Ok(format!("^BXN,{},200^FH^FD{data}^FS", (module * 3).max(3)))
        }
    }
}

/// A nested `<svg>` at x, y of width × height (the label's units) holding the symbol's modules
/// as runs of rectangles; Code 128 stretched to the width, DataMatrix square in the box.
fn svg_symbol(value: &str, symbology: Symbology, [x, y, w, h]: [f64; 4]) -> anyhow::Result<String> {
    let mut o = String::new();
    match symbology {
        Symbology::Code128 => {
            let m = super::code128_modules(value)?;
            let _ = write!(
                o,
                "<svg x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {} 1\" preserveAspectRatio=\"none\" shape-rendering=\"crispEdges\">",
                m.len()
            );
            for (start, len) in super::runs(&m) {
                let _ = write!(o, "<rect x=\"{start}\" width=\"{len}\" height=\"1\"/>");
            }
        }
        Symbology::DataMatrix => {
            let rows = super::datamatrix_modules(value)?;
            let n = rows.len();
            let cols = rows.first().map_or(0, Vec::len);
            let _ = write!(
                o,
                "<svg x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" viewBox=\"-2 -2 {} {}\" preserveAspectRatio=\"xMinYMid meet\" shape-rendering=\"crispEdges\">",
                cols + 4,
                n + 4
            );
            for (r, row) in rows.iter().enumerate() {
                for (start, len) in super::runs(row) {
                    let _ = write!(
                        o,
                        "<rect x=\"{start}\" y=\"{r}\" width=\"{len}\" height=\"1\"/>"
                    );
                }
            }
        }
    }
    o.push_str("</svg>");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_placeholder_is_refused_with_its_file_and_line() {
        let t =
            "^XA\n^FO10,10^FH^FD{{name}}^FS\n^FO10,40^FH^FD{{nmae}}^FS\n^FO10,80{{symbol}}\n^XZ\n";
        let e = Template::parse("volume-4x2.zpl", t, Lang::Zpl, Some(Kind::Volume))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("volume-4x2.zpl line 3:"), "{e}");
        assert!(e.contains("{{nmae}}"), "{e}");
    }

    #[test]
    fn a_zpl_field_without_hex_escapes_an_unknown_symbol_option_and_a_missing_symbol_are_refused() {
        let bad = [
            ("^XA\n^FO1,1^FD{{name}}^FS\n^FO1,9{{symbol}}\n^XZ", "^FH"),
            (
                "^XA\n^FO1,9{{symbol modul=2}}\n^XZ",
                "unknown symbol option `modul`",
            ),
            ("^XA\n^FO1,1^FH^FD{{name}}^FS\n^XZ", "exactly one"),
            ("^XA\n^FO1,9{{symbol module=0}}\n^XZ", "positive"),
            ("^XA\n^FO1,9{{symbol}\n^XZ", "not closed"),
        ];
        for (t, why) in bad {
            let e = Template::parse("t.zpl", t, Lang::Zpl, Some(Kind::Volume))
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{t:?}: {e}");
        }
    }

    #[test]
    fn a_long_value_is_cut_to_its_max() {
        let t = Template::parse(
            "t.svg",
            "<svg><text>{{name max=8}}</text>{{symbol x=0 y=0 width=9 height=9}}</svg>",
            Lang::Svg,
            Some(Kind::Volume),
        )
        .unwrap();
        let out = t
            .fill(
                &|_| "SYNTHETICLASTNAME, Pat".into(),
                "V1",
                Symbology::Code128,
                None,
            )
            .unwrap();
        assert!(
            out.contains("<text>SYN…, P.</text>"),
            "the initial kept: {out}"
        );
        let e = Template::parse(
            "t.svg",
            "<svg>{{name maxx=8}}</svg>",
            Lang::Svg,
            Some(Kind::Volume),
        )
        .unwrap_err();
        assert!(e.to_string().contains("maxx=8"), "{e}");
    }

    #[test]
    fn values_are_escaped_for_their_language() {
        assert_eq!(zpl_escape("A^B~C_D\nE"), "A_5EB_7EC_5FD E");
        assert_eq!(
            xml_escape("O'Brien & <Co>"),
            "O&apos;Brien &amp; &lt;Co&gt;"
        );
    }

    #[test]
    fn a_code128_symbol_shrinks_to_fit_its_label_or_is_refused() {
        let s = zpl_symbol("V0000001X", Symbology::Code128, 4, 100, Some(300)).unwrap();
        assert!(s.starts_with("^BY2,"), "{s}");
        let long = "X".repeat(60);
        let e = zpl_symbol(&long, Symbology::Code128, 2, 100, Some(300)).unwrap_err();
        assert!(e.to_string().contains("too wide"), "{e}");
    }
}
