//! `chartrack scanners configure`: a scanner's profile sent to it over its serial port.

use super::*;

pub(super) fn configure_scanner(
    id: &str,
    config: Option<&std::path::Path>,
    volatile: bool,
    profiles: &[crate::stations::Profile],
) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let entry = config
        .stations
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| anyhow::anyhow!("no station '{id}' in the configuration"))?;
    let name = entry.profile.as_deref().ok_or_else(|| {
        anyhow::anyhow!("station '{id}' has no profile: add profile = \"...\" to its entry")
    })?;
    let profile = profiles
        .iter()
        .find(|p| p.id == name)
        .ok_or_else(|| anyhow::anyhow!("no scanner profile '{name}'"))?;
    let station =
        crate::stations::SerialStation::from_config(entry, profiles)?.ok_or_else(|| {
            anyhow::anyhow!("station '{id}' has no port or usb: nothing to configure")
        })?;
    let mut port = crate::stations::serial::open(&station).map_err(|e| {
        anyhow::anyhow!("{e} (if chartrack serve is running, stop it first: it holds the port)")
    })?;
    let outcomes = crate::stations::configure::configure(
        &mut port,
        profile,
        !volatile,
        std::time::Duration::from_secs(2),
    )?;
    let mut failed = 0;
    for o in &outcomes {
        println!("{:<16} {:<60} {}", o.command, o.what, o.reply);
        if o.reply != crate::stations::configure::Reply::Accepted {
            failed += 1;
        }
    }
    for s in profile.settings.iter().filter(|s| s.command.is_none()) {
        println!(
            "{:<16} {:<60} by hand: {}",
            "-",
            s.what,
            s.note.as_deref().unwrap_or("")
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} command(s) not accepted", outcomes.len());
    }
    Ok(())
}
