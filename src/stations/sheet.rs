//! The scanner setup sheet: a printable HTML page for one profile. Where the vendor documents a
//! setting's menu command as text (Honeywell), the sheet prints it as a Code 128 programming
//! symbol (FNC3 + command + `.`); every other setting is listed with where to find it.

use super::Profile;
use crate::labels::{code128_modules, svg_bars, FNC3};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The sheet's content (no page around it): the page at `/stations/sheet/{profile}` puts the
/// site's layout around it; the command line wraps it in a standalone document.
pub fn sheet_body(profile: &Profile) -> anyhow::Result<Markup> {
    let mut symbols = Vec::with_capacity(profile.settings.len());
    for s in &profile.settings {
        symbols.push(match &s.command {
            Some(c) => Some(svg_bars(&code128_modules(&format!("{FNC3}{c}."))?, 2, 60)),
            None => None,
        });
    }
    let serial = &profile.serial;
    Ok(html! {
        h1 { "Scanner setup: " (profile.vendor) " " (profile.models.join(", ")) }
        p {
            "Profile " code { (profile.id) } ". Serial: " (serial.baud) " baud, " (serial.data_bits)
            " data bits, parity " (format!("{:?}", serial.parity)) ", " (serial.stop_bits)
            " stop bit(s), flow control " (format!("{:?}", serial.flow_control))
            ". Scan the settings in order, top to bottom."
        }
        p.warn {
            "Programming symbols here are generated from the vendor's documented menu command text "
            "(Code 128 with FNC3). Check them once against the vendor's printed sheet for your model "
            "before a go-live. Sources: " (profile.source.trim())
        }
        table.sheet {
            @for (i, (s, svg)) in profile.settings.iter().zip(symbols).enumerate() {
                tr {
                    td { (i + 1) }
                    td { (s.what) }
                    td {
                        @match (svg, &s.command) {
                            // Our own SVG: bars from rxing's modules, no outside text in it.
                            (Some(svg), Some(c)) => { (PreEscaped(svg)) div.cmd { (c) "." } }
                            _ => div.note { (s.note.as_deref().unwrap_or("see the vendor's guide")) }
                        }
                    }
                }
            }
        }
    })
}

/// A complete HTML document, one setting per row, ready to print (the command line's sheet).
pub fn setup_sheet(profile: &Profile) -> anyhow::Result<String> {
    let body = sheet_body(profile)?;
    Ok(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Scanner setup: " (profile.id) }
                style { (PreEscaped(SHEET_CSS)) }
            }
            body { (body) }
        }
    }
    .into_string())
}

/// The sheet's print style (the site's style sheet has the same rules).
pub const SHEET_CSS: &str = "body{font-family:sans-serif;margin:1.5cm}table{border-collapse:collapse;width:100%}td{border-bottom:1px solid #999;padding:.6em;vertical-align:middle}.cmd{font-family:monospace}.warn{border:2px solid #000;padding:.5em}@media print{tr{page-break-inside:avoid}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_honeywell_sheet_has_a_symbol_per_menu_command_and_notes_for_the_rest() {
        let profiles = super::super::profiles::built_in().unwrap();
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
