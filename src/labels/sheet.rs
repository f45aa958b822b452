//! The scanner setup sheet: a printable HTML page for one profile. Where the vendor documents a
//! setting's menu command as text (Honeywell), the sheet prints it as a Code 128 programming
//! symbol (FNC3 + command + `.`); every other setting is listed with where to find it.

use super::{code128_modules, svg_bars, FNC3};
use crate::stations::Profile;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A complete HTML document, one setting per row, ready to print.
pub fn setup_sheet(profile: &Profile) -> anyhow::Result<String> {
    let mut rows = String::new();
    for (i, s) in profile.settings.iter().enumerate() {
        let how = match &s.command {
            Some(c) => {
                let bars = code128_modules(&format!("{FNC3}{c}."))?;
                format!(
                    "{}<div class=\"cmd\">{}.</div>",
                    svg_bars(&bars, 2, 60),
                    escape(c)
                )
            }
            None => format!(
                "<div class=\"note\">{}</div>",
                escape(s.note.as_deref().unwrap_or("see the vendor's guide"))
            ),
        };
        rows += &format!(
            "<tr><td>{}</td><td>{}</td><td>{how}</td></tr>",
            i + 1,
            escape(&s.what)
        );
    }
    let serial = &profile.serial;
    Ok(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Scanner setup: {id}</title>
<style>body{{font-family:sans-serif;margin:1.5cm}}table{{border-collapse:collapse;width:100%}}td{{border-bottom:1px solid #999;padding:.6em;vertical-align:middle}}
.cmd{{font-family:monospace}}.warn{{border:2px solid #000;padding:.5em}}@media print{{tr{{page-break-inside:avoid}}}}</style></head><body>
<h1>Scanner setup: {vendor} {models}</h1>
<p>Profile <code>{id}</code>. Serial: {baud} baud, {bits} data bits, parity {parity:?}, {stop} stop bit(s), flow control {flow:?}.
Scan the settings in order, top to bottom.</p>
<p class=\"warn\">Programming symbols here are generated from the vendor's documented menu command text (Code 128 with FNC3).
Check them once against the vendor's printed sheet for your model before a go-live. Sources: {source}</p>
<table>{rows}</table></body></html>
",
        id = escape(&profile.id),
        vendor = escape(&profile.vendor),
        models = escape(&profile.models.join(", ")),
        baud = serial.baud,
        bits = serial.data_bits,
        parity = serial.parity,
        stop = serial.stop_bits,
        flow = serial.flow_control,
        source = escape(profile.source.trim()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_honeywell_sheet_has_a_symbol_per_menu_command_and_notes_for_the_rest() {
        let profiles = crate::stations::profiles::built_in().unwrap();
        let p = profiles.iter().find(|p| p.id == "honeywell-xenon").unwrap();
        let html = setup_sheet(p).unwrap();
        let commands = p.settings.iter().filter(|s| s.command.is_some()).count();
        assert_eq!(html.matches("<svg").count(), commands);
        assert!(html.contains("TRMUSB130."));
        assert!(html.contains("Host ACK On"));
        let zebra = profiles.iter().find(|p| p.id == "zebra-ds2208").unwrap();
        let html = setup_sheet(zebra).unwrap();
        assert_eq!(
            html.matches("<svg").count(),
            0,
            "no documented commands, no symbols"
        );
        assert!(html.contains("USB CDC Host"));
    }
}
