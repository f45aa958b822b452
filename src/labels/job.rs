//! A print job from end to end, for the command line and the pages alike: read each label (its
//! access-log entry written first), draw it, send it to the printer, and record the print; a
//! reprint needs a reason. Blocking: pages run it on the blocking pool.

use super::print::{self, Printer};
use super::set::Templates;
use super::{Kind, Label};
use crate::store::audit::Access;
use crate::store::labels::{self as data, PrintJob, What};
use crate::store::Store;

/// Who is printing, as the access log and the print record name them.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub name: String,
    pub remote: String,
    /// The zone times on labels and in messages are shown in (`timezone`).
    pub tz: chrono_tz::Tz,
}

impl Actor {
    /// The command line: `cli:` and the operating-system user (its login name, or its uid when
    /// the environment names none, as under a service manager or cron).
    pub fn command_line(tz: chrono_tz::Tz) -> Actor {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
            .unwrap_or_else(|| {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata("/proc/self")
                    .map(|m| format!("uid {}", m.uid()))
                    .unwrap_or_else(|_| "unknown".into())
            });
        Actor {
            user_id: None,
            name: format!("cli:{user}"),
            remote: "local".into(),
            tz,
        }
    }

    fn access(&self, subject: &str) -> Access {
        Access {
            user_id: self.user_id,
            actor: self.name.clone(),
            action: "label",
            subject: subject.to_owned(),
            remote: self.remote.clone(),
        }
    }
}

/// What `id` names for a label of `kind`.
pub fn what(kind: Kind, id: &str) -> What {
    let id = id.trim().to_owned();
    match kind {
        Kind::Volume => What::Volume(id),
        Kind::Location => What::Location(id),
        Kind::Container => What::Container(id),
        Kind::Badge => What::Badge(id),
        Kind::Report => What::Report(id),
        Kind::Slip => What::Slip(id),
    }
}

/// Read one label (written to the access log first, in the same transaction).
pub fn read(store: &Store, kind: Kind, id: &str, actor: &Actor) -> anyhow::Result<Label> {
    let what = what(kind, id);
    let access = actor.access(id.trim());
    let now = store.clock().now();
    let d = store.write_blocking(move |c| data::read(c, &what, &access, now))?;
    Ok(Label::new(kind, d, actor.tz))
}

/// Print `label` on `printer` (`copies` times). The first print of an item needs no reason; a
/// reprint does, and says when and by whom it was printed before.
pub fn print(
    store: &Store,
    templates: &Templates,
    printer: &Printer,
    label: &Label,
    copies: u32,
    reason: Option<&str>,
    actor: &Actor,
) -> anyhow::Result<i64> {
    if !(1..=100).contains(&copies) {
        anyhow::bail!("copies must be 1 to 100");
    }
    let item = item_of(label);
    let (kind, i) = (label.kind.name().to_owned(), item.clone());
    let before = store.read_blocking(move |c| data::printed_before(c, &kind, &i))?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let (Some((at, who, on)), None) = (&before, reason) {
        anyhow::bail!(
            "{item} was printed before ({} by {who} on {on}): a reprint needs a reason",
            super::local_time(at, actor.tz)
        );
    }
    let zpl = templates.zpl(label, printer.size)?;
    print::send(printer, &zpl, copies)?;
    let job = PrintJob {
        actor: actor.name.clone(),
        user_id: actor.user_id,
        kind: label.kind.name().into(),
        items: item,
        count: 1,
        printer: printer.name.clone(),
        copies,
        reason: before.and(reason.map(str::to_owned)),
    };
    let now = store.clock().now();
    store
        .write_blocking(move |c| data::record(c, &job, now))
        .map_err(|e| anyhow::anyhow!("the label was printed but could not be recorded: {e}"))
}

/// What the print record names: the barcode, or the user for a badge.
fn item_of(label: &Label) -> String {
    match label.kind {
        Kind::Badge => label.get("user"),
        _ => label.barcode.clone(),
    }
}

/// Record a sheet written or shown (not sent to a printer): kind, items, paper.
pub fn record_sheet(
    store: &Store,
    kind: Kind,
    labels: &[Label],
    paper: &str,
    actor: &Actor,
) -> anyhow::Result<i64> {
    let items: Vec<String> = labels.iter().map(item_of).collect();
    let job = PrintJob {
        actor: actor.name.clone(),
        user_id: actor.user_id,
        kind: format!("sheet:{}", kind.name()),
        items: items.join(","),
        count: items.len() as u32,
        printer: format!("sheet:{paper}"),
        copies: 1,
        reason: None,
    };
    let now = store.clock().now();
    Ok(store.write_blocking(move |c| data::record(c, &job, now))?)
}
