//! Labels: every barcode chartrack depends on (volumes, locations, badges, carts, request slips,
//! loose reports), laid out by the templates in `templates/` (ZPL for thermal printers, SVG for
//! sheets), encoded with rxing, and sent to printers over raw TCP (`print`).

pub mod job;
pub mod photo;
pub mod print;
pub mod set;
pub mod template;

use rxing::{BarcodeFormat, EncodeHints, MultiFormatWriter, Writer};

/// The labels as configured: the templates in use and the printers.
#[derive(Debug, Clone)]
pub struct Setup {
    pub templates: set::Templates,
    pub printers: Vec<print::Printer>,
}

impl Setup {
    /// From `chartrack.toml`: every template checked (a bad one is an error naming its file and
    /// line), every printer's size known.
    pub fn load(config: &crate::config::Config) -> anyhow::Result<Setup> {
        let templates = set::Templates::load(
            config.label_templates.as_deref(),
            Symbology::parse(&config.label_symbology)?,
        )?;
        let printers = config
            .printers
            .iter()
            .map(|p| {
                Ok(print::Printer {
                    name: p.name.trim().to_owned(),
                    address: p.address.clone(),
                    size: set::Size::parse(&p.size)?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Setup {
            templates,
            printers,
        })
    }

    /// The printer named `name`, or an error listing the configured ones.
    pub fn printer(&self, name: &str) -> anyhow::Result<&print::Printer> {
        self.printers
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.printers.iter().map(|p| p.name.as_str()).collect();
                anyhow::anyhow!(
                    "no printer named {name} in the configuration ({})",
                    if known.is_empty() {
                        "none is configured: add a [[printers]] entry".to_owned()
                    } else {
                        format!("known: {}", known.join(", "))
                    }
                )
            })
    }
}

/// What a label is of. `chartrack label KIND ID` and `chartrack print KIND ID` name them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Volume,
    Location,
    Badge,
    Container,
    Report,
    /// A request's slip (its Q barcode, as on the pull list).
    Slip,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Volume,
        Kind::Location,
        Kind::Badge,
        Kind::Container,
        Kind::Report,
        Kind::Slip,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Location => "location",
            Kind::Badge => "badge",
            Kind::Container => "container",
            Kind::Report => "report",
            Kind::Slip => "slip",
        }
    }

    /// The placeholders its templates may use (besides `{{symbol}}`).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Volume => &[
                "barcode",
                "name",
                "last_name",
                "first_name",
                "mrn",
                "mrn_grouped",
                "birth_date",
                "volume",
                "record_type",
                "home",
                "tens_digit",
                "units_digit",
                "tens_colour",
                "units_colour",
            ],
            Kind::Location | Kind::Container => &["barcode", "code", "name", "kind"],
            Kind::Badge => &["barcode", "user", "role"],
            Kind::Report => &["barcode", "name", "mrn", "mrn_grouped", "description"],
            Kind::Slip => &[
                "barcode",
                "name",
                "mrn",
                "mrn_grouped",
                "volume_barcode",
                "destination",
                "destination_name",
                "priority",
                "needed_by",
                "requested_by",
            ],
        }
    }
}

/// The symbol a label's barcode is drawn as (`label_symbology` in chartrack.toml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Symbology {
    /// Code 128: what every scanner reads.
    #[default]
    Code128,
    /// DataMatrix: small labels (a 2D imager is needed).
    DataMatrix,
}

impl Symbology {
    pub fn parse(s: &str) -> anyhow::Result<Symbology> {
        match s.to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
            "code128" => Ok(Symbology::Code128),
            "datamatrix" => Ok(Symbology::DataMatrix),
            _ => anyhow::bail!("label symbology `{s}` is not known: code128 or datamatrix"),
        }
    }
}

/// One label's content: its barcode and the values of its kind's fields.
#[derive(Debug, Clone)]
pub struct Label {
    pub kind: Kind,
    pub barcode: String,
    pub fields: Vec<(&'static str, String)>,
}

impl Label {
    /// A label of `kind` from what the store read, with the fields made from it (the MRN in
    /// terminal-digit groups, the terminal digits and their band colours).
    pub fn new(kind: Kind, data: crate::store::labels::LabelData, tz: chrono_tz::Tz) -> Label {
        let mut fields = data.fields;
        // Times as the hospital reads them, not as stored.
        for (k, v) in fields.iter_mut() {
            if *k == "needed_by" && !v.is_empty() {
                *v = local_time(v, tz);
            }
        }
        let mrn = fields
            .iter()
            .find(|(k, _)| *k == "mrn")
            .map(|(_, v)| v.clone());
        if let Some(mrn) = mrn {
            fields.push(("mrn_grouped", mrn_grouped(&mrn)));
            if kind == Kind::Volume {
                let [(tens, tc), (units, uc)] = terminal_digits(&mrn);
                fields.push(("tens_digit", tens));
                fields.push(("tens_colour", tc));
                fields.push(("units_digit", units));
                fields.push(("units_colour", uc));
            }
        }
        Label {
            kind,
            barcode: data.barcode,
            fields,
        }
    }

    pub fn get(&self, field: &str) -> String {
        self.fields
            .iter()
            .find(|(k, _)| *k == field)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// A stored UTC stamp as `2026-12-13 05:00 CST` in `tz` (the stamp itself if it is not one).
pub fn local_time(stamp: &str, tz: chrono_tz::Tz) -> String {
    crate::clock::parse_stamp(stamp)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_else(|| stamp.to_owned())
}

/// A "LAST, First" name cut to `max` characters keeping the first name's initial
/// ("FEATHERSTONEHA…, M."); `ellipsis` marks the cut (SVG) or not (ZPL).
pub fn fit_name(name: &str, max: usize, ellipsis: bool) -> String {
    if name.chars().count() <= max {
        return name.to_owned();
    }
    let cut = |s: &str, n: usize| -> String {
        let mut t: String = s.chars().take(n).collect();
        if ellipsis {
            t.pop();
            t.push('…');
        }
        t
    };
    match name.split_once(", ") {
        Some((last, first)) if max > 6 => {
            let initial: String = first.chars().take(1).collect();
            format!("{}, {initial}.", cut(last, max - 4))
        }
        _ => cut(name, max),
    }
}

/// An MRN in terminal-digit groups of two from the right: 123456 → 12-34-56.
pub fn mrn_grouped(mrn: &str) -> String {
    let chars: Vec<char> = mrn.chars().collect();
    let mut groups: Vec<String> = chars.rchunks(2).map(|c| c.iter().collect()).collect();
    groups.reverse();
    groups.join("-")
}

/// The colours of terminal-digit bands (0–9), one per digit: a misfiled chart stands out on the
/// shelf because its bands differ from its neighbours'.
pub const BAND_COLOURS: [&str; 10] = [
    "#c62828", "#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#ad1457", "#f9a825", "#4e342e",
    "#00838f", "#616161",
];

/// The terminal digits of an MRN (tens, units) and their band colours; blanks for an MRN that
/// does not end in two digits.
pub fn terminal_digits(mrn: &str) -> [(String, String); 2] {
    let digits: Vec<u32> = mrn
        .chars()
        .rev()
        .take(2)
        .filter_map(|c| c.to_digit(10))
        .collect();
    match digits.as_slice() {
        [units, tens] => [
            (tens.to_string(), BAND_COLOURS[*tens as usize].to_owned()),
            (units.to_string(), BAND_COLOURS[*units as usize].to_owned()),
        ],
        _ => [
            (String::new(), "#ffffff".into()),
            (String::new(), "#ffffff".into()),
        ],
    }
}

/// Runs of dark modules: (start, length).
pub fn runs(modules: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
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
        out.push((start, x - start));
    }
    out
}

/// The modules of a DataMatrix symbol, row by row (its quiet zone is added where it is drawn).
pub fn datamatrix_modules(text: &str) -> anyhow::Result<Vec<Vec<bool>>> {
    let hints = EncodeHints {
        Margin: Some("0".into()),
        ..Default::default()
    };
    let m = MultiFormatWriter
        .encode_with_hints(text, &BarcodeFormat::DATA_MATRIX, 0, 0, &hints)
        .map_err(|e| anyhow::anyhow!("cannot encode {text:?} as DataMatrix: {e}"))?;
    Ok((0..m.getHeight())
        .map(|y| (0..m.getWidth()).map(|x| m.get(x, y)).collect())
        .collect())
}

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

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn a_slips_time_is_shown_in_the_hospitals_zone_and_a_long_name_keeps_its_initial() {
        let data = crate::store::labels::LabelData {
            barcode: "Q0000001X".into(),
            fields: vec![
                ("name", "FEATHERSTONEHAUGH-MONTGOMERY, Maximiliana".into()),
                ("needed_by", "2026-12-13T11:00:00.000Z".into()),
            ],
        };
        let l = Label::new(Kind::Slip, data, chrono_tz::America::Chicago);
        assert_eq!(l.get("needed_by"), "2026-12-13 05:00 CST");
        assert_eq!(
            fit_name(&l.get("name"), 24, false),
            "FEATHERSTONEHAUGH-MO, M."
        );
        assert_eq!(fit_name("SHORT, Ann", 24, false), "SHORT, Ann");
    }
}
