//! The long-running commands: `serve` (the server, with the demo's hospital and simulated
//! scanners when asked) and `agent` (a scanner's station on another machine).

use super::AgentArgs;
use crate::config::Config;
use crate::server::{self, Application};
use crate::store;
use std::path::PathBuf;

pub(super) fn agent(a: AgentArgs) -> anyhow::Result<()> {
    let keys = crate::stations::SerialKeys {
        port: a.port,
        usb: a.usb,
        profile: a.profile,
        baud: a.baud,
        ..Default::default()
    };
    let station = crate::stations::SerialStation::resolve(
        "agent",
        &keys,
        &crate::stations::profiles::built_in()?,
    )?
    .ok_or_else(|| anyhow::anyhow!("give --port or --usb"))?;
    let opts = crate::agent::AgentOptions {
        server: a.server,
        token: crate::domain::Secret::new(a.token),
        station,
        queue: a.queue,
        answer_wait: std::time::Duration::from_millis(a.answer_wait_ms),
        ca_file: a.ca_file,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::agent::run(opts, server::shutdown_signal()))
}

pub(super) fn serve(config_path: Option<PathBuf>, demo: bool) -> anyhow::Result<()> {
    let mut config = Config::load(config_path.as_deref())?;
    if demo && config.database == Config::default().database {
        config.database = PathBuf::from("chartrack-demo.db");
    }
    let _served = serve_lock(&config.database)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let options = store::Options::from_config(&config);
        let mut app = Application::build(&config, options).await?;
        let store = app.store().clone();
        let s = store.clone();
        if let Some(password) =
            tokio::task::spawn_blocking(move || server::bootstrap_admin(&s)).await??
        {
            println!("First start: user 'admin' created with one-time password: {password}");
            match &config_path {
                // The demo's database is not the configured default: say how to reach it.
                _ if demo => println!(
                    "Create an API token with: printf 'database = \"{}\"\\n' > demo.toml; chartrack token create --user admin --config demo.toml",
                    config.database.display()
                ),
                Some(c) => println!(
                    "Create an API token with: chartrack token create --user admin --config {}",
                    c.display()
                ),
                None => println!("Create an API token with: chartrack token create --user admin"),
            }
        }
        if demo {
            let s = store.clone();
            if let Some(pw) =
                tokio::task::spawn_blocking(move || crate::demo::seed(&s, 3000)).await??
            {
                println!(
                    "Demo hospital seeded: users clerk1, nurse1, supervisor1 with password {pw}"
                );
            }
            let (scanner, station) = crate::demo::serial_scanner()?;
            app.add_serial_station(station);
            tokio::spawn(crate::demo::simulate(
                store.clone(),
                std::time::Duration::from_millis(1500),
                Some(scanner),
            ));
        }
        println!(
            "chartrack listening on {}://{} (database {}; times in {})",
            app.scheme(),
            app.local_addr(),
            config.database.display(),
            config.timezone.name()
        );
        if let Some(hl7) = app.hl7_addr() {
            println!("HL7 (MLLP) feeds taken on {hl7}");
        }
        app.run_until(server::shutdown_signal()).await
    })
}

/// One server per database: a lock on `<database>.lock`, held while this process serves (the
/// kernel lets go of it when the process ends, however it ends). A second server on the same
/// file would keep its own station memory, anchors and background checks beside the first's.
/// Commands (`check`, `backup`, `audit verify`) still run beside a server.
fn serve_lock(database: &std::path::Path) -> anyhow::Result<Option<std::fs::File>> {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        // No such directory: opening the database says so, in its own words.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot open {}: {e}", path.display()),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the database {} is already being served by another chartrack (it holds {}): stop that one first, or give this one another database",
            database.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            anyhow::bail!("cannot lock {}: {e}", path.display())
        }
    }
}
