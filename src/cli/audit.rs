//! `chartrack audit verify` and `chartrack audit reanchor`: the access log's chain checked and
//! said in words, and a lost anchor file accepted with a reason.

use crate::store::{self, Store};

/// Walk the chain; exit 0 with what was checked, or an error naming the first bad entry.
pub(super) fn verify(store: &Store) -> anyhow::Result<()> {
    let r = store.verify_audit_blocking();
    match r? {
        Ok(v) => {
            println!("access log intact: {} entries; head {}", v.entries, v.head);
            if v.keyed_from > 1 {
                println!(
                    "entries before {} were written before the log was keyed (plain SHA-256 chain)",
                    v.keyed_from
                );
            }
            match &v.anchor {
                Some(a) => println!(
                    "agrees with the newest anchor: entry {} written at {} ({})",
                    a.entries,
                    a.at,
                    store.anchor_path().display()
                ),
                None => {
                    println!("no anchor written yet ({})", store.anchor_path().display())
                }
            }
            for (entry, at, why) in &v.reanchored {
                println!(
                    "the anchor file was lost and a new one begun at entry {entry} ({at}): {why}"
                );
            }
            // Restores put the log back to an older head: say what they cost.
            for a in store::anchor::all(store.anchor_path())? {
                if let Some(r) = &a.restored {
                    println!(
                        "restored at {} from {}: back to entry {}; {} anchored entr{} written before were lost",
                        a.at,
                        r.from,
                        a.entries,
                        r.lost_entries,
                        if r.lost_entries == 1 { "y" } else { "ies" }
                    );
                }
            }
            Ok(())
        }
        Err(broken) => anyhow::bail!("{broken}"),
    }
}

/// Accept a lost anchor file, recorded in the access log with the reason.
pub(super) fn reanchor(store: &Store, reason: &str) -> anyhow::Result<()> {
    let actor = crate::labels::job::Actor::command_line(chrono_tz::UTC).name;
    let entry = store.reanchor_blocking(reason, &actor)?;
    println!(
        "the anchor file's loss is accepted and recorded in the access log (entry {entry}); anchors go on in {}",
        store.anchor_path().display()
    );
    Ok(())
}
