//! Scanner model profiles from `firmware-config/` (compiled in): USB ids, serial settings, the
//! feedback commands written back after a scan, and the settings chartrack needs, with the menu
//! command or programming barcode text where the vendor documents one.

use super::{Feedback, SerialSettings};
use serde::Deserialize;

/// The profiles shipped in `firmware-config/`, by file.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "honeywell-xenon.toml",
        include_str!("../../firmware-config/honeywell-xenon.toml"),
    ),
    (
        "zebra-ds2208.toml",
        include_str!("../../firmware-config/zebra-ds2208.toml"),
    ),
    (
        "datalogic-gryphon.toml",
        include_str!("../../firmware-config/datalogic-gryphon.toml"),
    ),
    (
        "generic-rs232.toml",
        include_str!("../../firmware-config/generic-rs232.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The name a station's `profile` key uses.
    pub id: String,
    pub vendor: String,
    pub models: Vec<String>,
    /// Where the facts below come from.
    pub source: String,
    pub usb: Option<UsbIds>,
    #[serde(default)]
    pub serial: SerialSettings,
    #[serde(default)]
    feedback: FeedbackText,
    /// Settings to make on the scanner, in order.
    #[serde(default)]
    pub settings: Vec<Setting>,
    /// How to send menu commands over the serial link, where the scanner accepts them.
    pub serial_commands: Option<SerialCommands>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbIds {
    /// Hex USB vendor id.
    pub vendor_id: String,
    /// Hex product ids by interface mode (they change with the mode).
    #[serde(default)]
    pub product_ids: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackText {
    #[serde(default)]
    good: String,
    #[serde(default)]
    bad: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// What the setting does, in the words of the vendor's guide.
    pub what: String,
    /// The menu command / programming barcode text, where the vendor documents it.
    pub command: Option<String>,
    /// Where to find it otherwise, or what to check.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialCommands {
    /// Bytes before each command, e.g. Honeywell's SYN M CR.
    pub prefix: String,
    /// Appended to a command to store it permanently.
    pub save: String,
}

impl Profile {
    pub fn feedback(&self) -> Feedback {
        Feedback {
            good: self.feedback.good.as_bytes().to_vec(),
            bad: self.feedback.bad.as_bytes().to_vec(),
        }
    }

    /// The USB vendor id as a number.
    pub fn vendor_id(&self) -> Option<u16> {
        self.usb
            .as_ref()
            .and_then(|u| u16::from_str_radix(&u.vendor_id, 16).ok())
    }
}

/// Parse one profile file.
pub fn parse(name: &str, text: &str) -> anyhow::Result<Profile> {
    let p: Profile =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("firmware-config/{name}: {e}"))?;
    p.serial
        .validate()
        .map_err(|e| anyhow::anyhow!("firmware-config/{name}: {e}"))?;
    if let Some(u) = &p.usb {
        for id in std::iter::once(&u.vendor_id).chain(u.product_ids.values()) {
            u16::from_str_radix(id, 16)
                .map_err(|_| anyhow::anyhow!("firmware-config/{name}: USB id '{id}' is not hex"))?;
        }
    }
    Ok(p)
}

/// Every built-in profile.
pub fn built_in() -> anyhow::Result<Vec<Profile>> {
    BUILT_IN.iter().map(|(n, t)| parse(n, t)).collect()
}

/// The profile for a USB vendor id, if one is known.
pub fn for_vendor(profiles: &[Profile], vid: u16) -> Option<&Profile> {
    profiles.iter().find(|p| p.vendor_id() == Some(vid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_parses_with_a_source_and_distinct_id() {
        let ps = built_in().unwrap();
        assert_eq!(ps.len(), BUILT_IN.len());
        let mut ids: Vec<&str> = ps.iter().map(|p| p.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ps.len());
        assert!(ps
            .iter()
            .all(|p| !p.source.is_empty() && !p.settings.is_empty()));
        let honeywell = ps.iter().find(|p| p.id == "honeywell-xenon").unwrap();
        assert_eq!(honeywell.feedback().good, b"\x1b7,");
        assert_eq!(for_vendor(&ps, 0x05e0).unwrap().id, "zebra-ds2208");
    }

    #[test]
    fn a_profile_with_a_bad_usb_id_or_serial_setting_is_refused() {
        let base = "id='x'\nvendor='v'\nmodels=[]\nsource='s'\n";
        assert!(parse("a.toml", &format!("{base}[usb]\nvendor_id='zz'\n")).is_err());
        assert!(parse("b.toml", &format!("{base}[serial]\ndata_bits=9\n")).is_err());
        assert!(parse("c.toml", &format!("{base}colour='red'\n")).is_err());
    }
}
