//! `chartrack label …` and `chartrack print …`: one label as ZPL or SVG, sheets of labels, and
//! labels sent to a configured printer.

use crate::config::Config;
use crate::labels::job::{self, Actor};
use crate::labels::set::{Paper, Size, Templates};
use crate::labels::Kind;
use crate::store::Store;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum LabelCommand {
    /// A volume's label (patient name, MRN in terminal-digit groups, volume, barcode).
    Volume(OneLabel),
    /// A location's label (shelf section, unit, clinic, ...), by code or barcode.
    Location(OneLabel),
    /// A user's badge (a badge barcode is issued if they have none).
    Badge(OneLabel),
    /// A container's or cart's label, by code or barcode.
    Container(OneLabel),
    /// A loose report's label.
    Report(OneLabel),
    /// A request's slip, by its barcode.
    Slip(OneLabel),
    /// A sheet of labels for an office printer: SVG, one file a page.
    Sheet(SheetArgs),
}

#[derive(clap::Args)]
pub struct OneLabel {
    /// The barcode, code or user name.
    id: String,
    #[arg(long, value_enum, default_value = "zpl")]
    format: Format,
    /// Thermal label size for ZPL, in inches.
    #[arg(long, value_enum, default_value = "4x2")]
    size: Size,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Zebra Programming Language, for thermal printers.
    Zpl,
    /// An SVG drawing at the label's physical size.
    Svg,
    /// A PNG picture of the SVG label at 300 dpi.
    Png,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SheetOf {
    Locations,
    Volumes,
}

#[derive(clap::Args)]
pub struct SheetArgs {
    /// Locations or volumes.
    #[arg(value_enum)]
    what: SheetOf,
    /// The codes (locations) or barcodes (volumes) to print, in this order.
    codes: Vec<String>,
    /// A range of location codes (with --to), in code order.
    #[arg(long, requires = "to", conflicts_with = "codes")]
    from: Option<String>,
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Volumes registered on or after this date (YYYY-MM-DD), e.g. today's new charts.
    #[arg(long, conflicts_with_all = ["codes", "from"])]
    since: Option<chrono::NaiveDate>,
    #[arg(long, value_enum, default_value = "letter")]
    paper: Paper,
    /// The first page's file (FILE.svg); further pages are FILE-2.svg, FILE-3.svg, ...
    #[arg(long)]
    out: PathBuf,
}

/// At most this many labels in one sheet run.
const SHEET_MAX: u32 = 3000;

pub fn templates(config: &Config) -> anyhow::Result<Templates> {
    Ok(crate::labels::Setup::load(config)?.templates)
}

pub fn label(command: LabelCommand, config: &Config, store: &Store) -> anyhow::Result<()> {
    let t = templates(config)?;
    let actor = Actor::command_line(config.timezone);
    let (kind, one) = match command {
        LabelCommand::Sheet(s) => return sheet(s, &t, store, &actor),
        LabelCommand::Volume(o) => (Kind::Volume, o),
        LabelCommand::Location(o) => (Kind::Location, o),
        LabelCommand::Badge(o) => (Kind::Badge, o),
        LabelCommand::Container(o) => (Kind::Container, o),
        LabelCommand::Report(o) => (Kind::Report, o),
        LabelCommand::Slip(o) => (Kind::Slip, o),
    };
    let label = job::read(store, kind, &one.id, &actor)?;
    let bytes = match one.format {
        Format::Zpl => t.zpl(&label, one.size)?.into_bytes(),
        Format::Svg => t.svg(&label)?.into_bytes(),
        Format::Png => t.png(&label, 300)?,
    };
    match one.out {
        Some(f) => {
            std::fs::write(&f, bytes).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            eprintln!(
                "{} label {} written to {}",
                kind.name(),
                label.barcode,
                f.display()
            );
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(())
}

fn sheet(s: SheetArgs, t: &Templates, store: &Store, actor: &Actor) -> anyhow::Result<()> {
    if !s
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        anyhow::bail!(
            "a sheet is written as SVG: name the file FILE.svg (not {})",
            s.out.display()
        );
    }
    let (kind, ids): (Kind, Vec<String>) = match (&s.what, &s.from, &s.to, s.since) {
        (SheetOf::Locations, Some(from), Some(to), _) => {
            let (f, t) = (from.clone(), to.clone());
            let ids = store.read_blocking(move |c| {
                crate::store::labels::location_range(c, &f, &t, SHEET_MAX)
            })?;
            if ids.is_empty() {
                anyhow::bail!("no location has a code from {from} to {to}");
            }
            (Kind::Location, ids)
        }
        (SheetOf::Volumes, _, _, Some(since)) => {
            let day = since.format("%Y-%m-%d").to_string();
            let ids = store
                .read_blocking(move |c| crate::store::labels::volumes_since(c, &day, SHEET_MAX))?;
            if ids.is_empty() {
                anyhow::bail!("no volume was registered on or after {since}");
            }
            (Kind::Volume, ids)
        }
        (SheetOf::Volumes, Some(_), _, _) => {
            anyhow::bail!(
                "--from/--to are location codes; for volumes name the barcodes or use --since"
            )
        }
        (SheetOf::Locations, _, _, Some(_)) => anyhow::bail!("--since is for volumes"),
        (what, _, _, _) => {
            if s.codes.is_empty() {
                anyhow::bail!("name the codes or barcodes to print, or give --from and --to (locations) or --since (volumes)");
            }
            let kind = match what {
                SheetOf::Locations => Kind::Location,
                SheetOf::Volumes => Kind::Volume,
            };
            (kind, s.codes.clone())
        }
    };
    if ids.len() > SHEET_MAX as usize {
        anyhow::bail!("at most {SHEET_MAX} labels in one run");
    }
    // Every label is read (and checked to exist) before any page is written.
    let labels = ids
        .iter()
        .map(|id| job::read(store, kind, id, actor))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pages = t.sheet(&labels, s.paper)?;
    let mut written = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let f = if i == 0 {
            s.out.clone()
        } else {
            let stem = s.out.file_stem().unwrap_or_default().to_string_lossy();
            s.out.with_file_name(format!("{stem}-{}.svg", i + 1))
        };
        std::fs::write(&f, page).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        written.push(f.display().to_string());
    }
    let paper = match s.paper {
        Paper::Letter => "letter",
        Paper::A4 => "a4",
    };
    job::record_sheet(store, kind, &labels, paper, actor)?;
    eprintln!(
        "{} label(s) on {} page(s): {}",
        labels.len(),
        pages.len(),
        written.join(", ")
    );
    Ok(())
}

/// `chartrack print KIND ID --printer NAME [--copies N] [--reason TEXT]`.
pub fn print(
    config: &Config,
    store: &Store,
    kind: Kind,
    id: &str,
    printer: &str,
    copies: u32,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    let setup = crate::labels::Setup::load(config)?;
    let printer = setup.printer(printer)?;
    let actor = Actor::command_line(config.timezone);
    let label = job::read(store, kind, id, &actor)?;
    job::print(
        store,
        &setup.templates,
        printer,
        &label,
        copies,
        reason,
        &actor,
    )
    .map_err(|e| {
        if e.to_string().contains("needs a reason") {
            anyhow::anyhow!("{e} (--reason \"...\")")
        } else {
            e
        }
    })?;
    eprintln!(
        "{} label {} sent to {} ({} cop{})",
        kind.name(),
        label.barcode,
        printer.name,
        copies,
        if copies == 1 { "y" } else { "ies" }
    );
    Ok(())
}
