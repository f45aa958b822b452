//! The set of label templates in use: the built-in copies of `templates/` compiled in, each
//! replaced by the file of the same name in `label_templates` when there is one. All are checked
//! at start (`Templates::load`), so a bad template stops chartrack with its file and line
//! instead of misprinting at 3 a.m.

use super::template::{Lang, Template};
use super::{Kind, Label, Symbology};
use std::collections::HashMap;
use std::path::Path;

/// A thermal label size at 203 dpi.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Size {
    #[value(name = "2x1")]
    S2x1,
    #[default]
    #[value(name = "4x2")]
    S4x2,
    #[value(name = "4x6")]
    S4x6,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::S2x1, Size::S4x2, Size::S4x6];

    pub fn name(self) -> &'static str {
        match self {
            Size::S2x1 => "2x1",
            Size::S4x2 => "4x2",
            Size::S4x6 => "4x6",
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<Size> {
        Size::ALL
            .into_iter()
            .find(|z| z.name() == s.trim())
            .ok_or_else(|| {
                anyhow::anyhow!("label size `{s}` is not known: 2x1, 4x2 or 4x6 (inches)")
            })
    }

    /// Print width in dots at 203 dpi.
    pub fn dots_wide(self) -> u32 {
        match self {
            Size::S2x1 => 406,
            Size::S4x2 | Size::S4x6 => 812,
        }
    }
}

/// A sheet of labels for an office printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Paper {
    /// US Letter, 30 labels of 66.7 × 25.4 mm (3 × 10, the common address-label sheet).
    Letter,
    /// A4, 24 labels of 70 × 37 mm (3 × 8).
    A4,
}

impl Paper {
    fn file(self) -> &'static str {
        match self {
            Paper::Letter => "sheets/letter-30.svg",
            Paper::A4 => "sheets/a4-24.svg",
        }
    }
}

/// A sheet page's geometry (from its root's `data-*` attributes, in the page's units).
#[derive(Debug, Clone)]
pub struct Sheet {
    template: Template,
    cols: u32,
    rows: u32,
    label: (f64, f64),
    first: (f64, f64),
    step: (f64, f64),
}

impl Sheet {
    pub fn per_page(&self) -> usize {
        (self.cols * self.rows) as usize
    }
}

macro_rules! builtin {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../templates/", $path)))),*]
    };
}

/// The built-in templates: `templates/` as it was built.
const BUILTIN: &[(&str, &str)] = builtin![
    "zpl/volume-2x1.zpl",
    "zpl/volume-4x2.zpl",
    "zpl/volume-4x6.zpl",
    "zpl/location-2x1.zpl",
    "zpl/location-4x2.zpl",
    "zpl/location-4x6.zpl",
    "zpl/badge-2x1.zpl",
    "zpl/badge-4x2.zpl",
    "zpl/badge-4x6.zpl",
    "zpl/container-2x1.zpl",
    "zpl/container-4x2.zpl",
    "zpl/container-4x6.zpl",
    "zpl/report-2x1.zpl",
    "zpl/report-4x2.zpl",
    "zpl/report-4x6.zpl",
    "zpl/slip-2x1.zpl",
    "zpl/slip-4x2.zpl",
    "zpl/slip-4x6.zpl",
    "svg/volume.svg",
    "svg/location.svg",
    "svg/badge.svg",
    "svg/container.svg",
    "svg/report.svg",
    "svg/slip.svg",
    "sheets/letter-30.svg",
    "sheets/a4-24.svg",
];

/// Every template, checked.
#[derive(Debug, Clone)]
pub struct Templates {
    zpl: HashMap<(Kind, Size), Template>,
    svg: HashMap<Kind, Template>,
    sheets: HashMap<Paper, Sheet>,
    pub symbology: Symbology,
}

impl Templates {
    /// The built-in templates, each replaced by `dir`'s file of the same relative name (e.g.
    /// `zpl/volume-4x2.zpl`) when `dir` has one. A file in `dir` that is not a template's name is
    /// refused (a misspelt override would otherwise be ignored in silence).
    pub fn load(dir: Option<&Path>, symbology: Symbology) -> anyhow::Result<Templates> {
        if let Some(dir) = dir {
            check_overrides(dir)?;
        }
        let text = |rel: &str, builtin: &str| -> anyhow::Result<(String, String)> {
            if let Some(dir) = dir {
                let p = dir.join(rel);
                if p.exists() {
                    let t = std::fs::read_to_string(&p)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                    return Ok((p.display().to_string(), t));
                }
            }
            Ok((format!("templates/{rel} (built in)"), builtin.to_owned()))
        };
        let mut set = Templates {
            zpl: HashMap::new(),
            svg: HashMap::new(),
            sheets: HashMap::new(),
            symbology,
        };
        for (rel, builtin) in BUILTIN {
            let (name, t) = text(rel, builtin)?;
            if let Some(stem) = rel
                .strip_prefix("zpl/")
                .and_then(|r| r.strip_suffix(".zpl"))
            {
                let (k, z) = stem.split_once('-').expect("kind-size");
                let kind = kind_named(k);
                let size = Size::parse(z)?;
                set.zpl.insert(
                    (kind, size),
                    Template::parse(&name, &t, Lang::Zpl, Some(kind))?,
                );
            } else if let Some(k) = rel
                .strip_prefix("svg/")
                .and_then(|r| r.strip_suffix(".svg"))
            {
                let kind = kind_named(k);
                set.svg
                    .insert(kind, Template::parse(&name, &t, Lang::Svg, Some(kind))?);
            } else {
                let paper = [Paper::Letter, Paper::A4]
                    .into_iter()
                    .find(|p| p.file() == *rel)
                    .expect("a sheet");
                set.sheets.insert(paper, sheet(&name, &t)?);
            }
        }
        Ok(set)
    }

    /// A thermal label in ZPL.
    pub fn zpl(&self, label: &Label, size: Size) -> anyhow::Result<String> {
        let t = &self.zpl[&(label.kind, size)];
        t.fill(
            &|f| label.get(f),
            &label.barcode,
            self.symbology,
            Some(size.dots_wide()),
        )
    }

    /// One label as an SVG document (its physical size in mm).
    pub fn svg(&self, label: &Label) -> anyhow::Result<String> {
        self.svg[&label.kind].fill(&|f| label.get(f), &label.barcode, self.symbology, None)
    }

    /// One label as a PNG picture at `dpi` (the SVG rasterised, text in the machine's fonts).
    pub fn png(&self, label: &Label, dpi: u32) -> anyhow::Result<Vec<u8>> {
        rasterise(&self.svg(label)?, dpi)
    }

    /// Sheets of labels: one SVG document a page, filled row by row.
    pub fn sheet(&self, labels: &[Label], paper: Paper) -> anyhow::Result<Vec<String>> {
        let sheet = &self.sheets[&paper];
        let mut pages = Vec::new();
        for chunk in labels.chunks(sheet.per_page()) {
            let mut cells = String::new();
            for (i, label) in chunk.iter().enumerate() {
                let (col, row) = (i as u32 % sheet.cols, i as u32 / sheet.cols);
                let x = sheet.first.0 + f64::from(col) * sheet.step.0;
                let y = sheet.first.1 + f64::from(row) * sheet.step.1;
                cells.push_str(&place(&self.svg(label)?, x, y, sheet.label)?);
                cells.push('\n');
            }
            pages.push(sheet.template.fill_sheet(&cells));
        }
        Ok(pages)
    }

    pub fn per_page(&self, paper: Paper) -> usize {
        self.sheets[&paper].per_page()
    }
}

/// The machine's fonts, read once: a PNG label's text is drawn with them.
fn fonts() -> anyhow::Result<std::sync::Arc<resvg::usvg::fontdb::Database>> {
    static FONTS: std::sync::OnceLock<std::sync::Arc<resvg::usvg::fontdb::Database>> =
        std::sync::OnceLock::new();
    let db = FONTS.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_system_fonts();
        db.set_sans_serif_family("DejaVu Sans");
        std::sync::Arc::new(db)
    });
    if db.is_empty() {
        anyhow::bail!(
            "a PNG label needs a TrueType font on this machine to draw its text (e.g. apt-get install fonts-dejavu-core); ZPL and SVG labels need none"
        );
    }
    Ok(db.clone())
}

/// An SVG document as a PNG picture at `dpi` (SVG's own unit is 1/96 in), on white.
pub fn rasterise(svg: &str, dpi: u32) -> anyhow::Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let options = usvg::Options {
        fontdb: fonts()?,
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options)
        .map_err(|e| anyhow::anyhow!("the label's SVG cannot be drawn: {e}"))?;
    let scale = dpi as f32 / 96.0;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or_else(|| anyhow::anyhow!("the label is too large to draw at {dpi} dpi"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow::anyhow!("the label is too large to draw at {dpi} dpi"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| anyhow::anyhow!("the label cannot be written as PNG: {e}"))
}

fn kind_named(k: &str) -> Kind {
    Kind::ALL
        .into_iter()
        .find(|kind| kind.name() == k)
        .expect("a built-in template names its kind")
}

/// Files in the override folder must be templates' names.
fn check_overrides(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("label_templates: {} is not a folder", dir.display());
    }
    for sub in std::fs::read_dir(dir)? {
        let sub = sub?;
        if !sub.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(sub.path())? {
            let f = f?;
            let rel = format!(
                "{}/{}",
                sub.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            );
            if !BUILTIN.iter().any(|(r, _)| *r == rel) {
                anyhow::bail!(
                    "label_templates: {} is not a template's name (a template replaces the built-in file of the same name, e.g. zpl/volume-4x2.zpl)",
                    f.path().display()
                );
            }
        }
    }
    Ok(())
}

/// A sheet template and its geometry.
fn sheet(name: &str, text: &str) -> anyhow::Result<Sheet> {
    let attr = |a: &str| -> anyhow::Result<(f64, f64)> {
        let key = format!("{a}=\"");
        let start = text
            .find(&key)
            .ok_or_else(|| anyhow::anyhow!("{name}: the sheet's root needs {a}=\"…\""))?
            + key.len();
        let v = &text[start..start + text[start..].find('"').unwrap_or(0)];
        let (x, y) = v
            .split_once(['x', ','])
            .ok_or_else(|| anyhow::anyhow!("{name}: {a}=\"{v}\" is not two numbers"))?;
        match (x.trim().parse::<f64>(), y.trim().parse::<f64>()) {
            (Ok(x), Ok(y)) if x >= 0.0 && y >= 0.0 => Ok((x, y)),
            _ => anyhow::bail!("{name}: {a}=\"{v}\" is not two numbers"),
        }
    };
    let grid = attr("data-grid")?;
    let s = Sheet {
        template: Template::parse(name, text, Lang::Sheet, None)?,
        cols: grid.0 as u32,
        rows: grid.1 as u32,
        label: attr("data-label")?,
        first: attr("data-first")?,
        step: attr("data-step")?,
    };
    if s.cols == 0 || s.rows == 0 || s.label.0 <= 0.0 || s.label.1 <= 0.0 {
        anyhow::bail!("{name}: a sheet needs at least one label of some size");
    }
    Ok(s)
}

/// A label's SVG placed at x, y in a cell of `size` on a sheet: its root's width and height
/// become the cell's, in the sheet's units, and it is centred in it.
fn place(svg: &str, x: f64, y: f64, (w, h): (f64, f64)) -> anyhow::Result<String> {
    let start = svg
        .find("<svg")
        .ok_or_else(|| anyhow::anyhow!("a label template is not SVG"))?;
    let end = start + svg[start..].find('>').unwrap_or(0);
    let mut root = svg[start..end].to_owned();
    for a in [" width=\"", " height=\""] {
        if let Some(i) = root.find(a) {
            let j = i + a.len() + root[i + a.len()..].find('"').unwrap_or(0) + 1;
            root.replace_range(i..j, "");
        }
    }
    Ok(format!(
        "{root} x=\"{x:.2}\" y=\"{y:.2}\" width=\"{w}\" height=\"{h}\" preserveAspectRatio=\"xMidYMid meet\"{}",
        &svg[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_load() {
        let t = Templates::load(None, Symbology::Code128).unwrap();
        assert_eq!(t.zpl.len(), 18);
        assert_eq!(t.per_page(Paper::Letter), 30);
        assert_eq!(t.per_page(Paper::A4), 24);
    }

    #[test]
    fn an_override_with_a_bad_placeholder_is_refused_naming_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zpl")).unwrap();
        let f = dir.path().join("zpl/volume-4x2.zpl");
        std::fs::write(
            &f,
            "^XA\n^FO1,1^FH^FD{{name}}^FS\n^FO1,1^FH^FD{{ward}}^FS\n^FO9,9{{symbol}}\n^XZ\n",
        )
        .unwrap();
        let e = Templates::load(Some(dir.path()), Symbology::Code128)
            .unwrap_err()
            .to_string();
        assert!(e.contains("volume-4x2.zpl line 3"), "{e}");
        assert!(e.contains("{{ward}}"), "{e}");
        // A misspelt file name is refused too.
        std::fs::remove_file(&f).unwrap();
        std::fs::write(dir.path().join("zpl/volume-4x3.zpl"), "").unwrap();
        let e = Templates::load(Some(dir.path()), Symbology::Code128)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a template's name"), "{e}");
    }
}
