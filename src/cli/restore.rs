//! `chartrack restore`: a restored copy of the database checked, then put into service.

use super::*;

/// `chartrack restore`: the checks said one per line, then what was done.
pub(super) fn restore(
    from: &std::path::Path,
    check_only: bool,
    config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use store::restore::{restore, AuditPaths};
    let config = Config::load(config)?;
    let db = &config.database;
    let paths = AuditPaths::new(
        db,
        config.audit_key.as_deref(),
        config.audit_anchor.as_deref(),
    );
    let now = crate::clock::Clock::default().now();
    let r = restore(from, db, &paths, now, check_only)?;
    let c = &r.checked;
    println!("{}: integrity ok; foreign keys ok", from.display());
    if c.schema_found < store::schema::latest() {
        println!(
            "schema version {} migrated to {}",
            c.schema_found,
            store::schema::latest()
        );
    }
    match &c.anchored {
        Some(a) => println!(
            "access log intact: {} entries; agrees with the anchor written at {} (entry {})",
            c.log.entries, a.at, a.entries
        ),
        None => println!(
            "access log intact: {} entries; no anchor to hold it against ({})",
            c.log.entries,
            paths.anchors.display()
        ),
    }
    if let Some(a) = &c.newer_anchor {
        println!(
            "{} access log entries are lost: the anchor written at {} names entry {}, this copy ends at entry {} (they were written after its last sync)",
            c.lost_entries, a.at, a.entries, c.log.entries
        );
    }
    println!(
        "{} volume(s) agree with their {} movement(s)",
        c.volumes.volumes, c.volumes.movements
    );
    println!(
        "{} scan(s); the newest received at {}",
        c.scans,
        c.newest_scan.as_deref().unwrap_or("-")
    );
    if check_only {
        println!("checked only: nothing was changed");
        return Ok(());
    }
    println!("put into service as {}", db.display());
    if let Some(aside) = &r.aside {
        println!("the database it replaced is kept as {}", aside.display());
    }
    if c.log.entries > 0 {
        println!("the restore is recorded in {}", paths.anchors.display());
    }
    println!("start chartrack serve, then litestream replicate again");
    Ok(())
}
