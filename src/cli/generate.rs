//! `chartrack generate`: a synthetic history at hospital scale (`store::history`) written into
//! the configured database, which must hold no volume yet. For the scale benchmark and for
//! trying the pages on a large file; synthetic data only.

use super::*;

pub(super) fn generate(
    config: Option<&PathBuf>,
    volumes: u32,
    movements: u64,
    seed: u64,
) -> anyhow::Result<()> {
    let (_, store) = open(config)?;
    let started = std::time::Instant::now();
    let spec = store::history::Spec {
        volumes,
        movements,
        seed,
        now: store.clock().now(),
    };
    let mut said = std::time::Instant::now();
    let r = store::history::generate(&store, &spec, &mut |g| {
        if said.elapsed().as_secs() >= 5 {
            said = std::time::Instant::now();
            eprintln!(
                "generating: {} of about {} movements ({:.0} s)",
                g.movements,
                movements,
                started.elapsed().as_secs_f64()
            );
        }
    });
    store.shutdown();
    let g = r?;
    println!(
        "generated {} volumes of {} patients, {} movements in {} scans ({} refused, {} exceptions), {} access-log entries, {} open requests and {} past ones; {} volumes out ({:.1} s)",
        g.volumes,
        g.patients,
        g.movements,
        g.scans,
        g.refused,
        g.exceptions,
        g.access_entries,
        g.requests,
        g.past_requests,
        g.out,
        started.elapsed().as_secs_f64()
    );
    // The generated staff cannot sign in (they have no password) and `serve` makes a first
    // admin only in an empty database.
    println!(
        "no one can sign in yet: add an admin with `chartrack user add NAME --role admin{}`",
        config
            .map(|c| format!(" --config {}", c.display()))
            .unwrap_or_default()
    );
    Ok(())
}
