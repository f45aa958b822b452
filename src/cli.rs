//! The command line (clap): serve, user, token, import, audit, check, backup, restore, agent, scanners, generate. Only commands
//! that work are listed.

use crate::config::Config;
use crate::domain::{Barcode, Role};
use crate::store::{self, admin, Store};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

mod audit;
mod daemons;
mod generate;
mod labels;
mod restore;
mod scanners;

#[derive(Parser)]
#[command(
    name = "chartrack",
    version,
    about = "Tracks paper medical charts and loose reports with barcode scanners"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates and migrates the database on first start).
    Serve {
        /// Configuration file (default: ./chartrack.toml when present).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed a demo hospital and run simulated stations (database chartrack-demo.db unless configured).
        #[arg(long)]
        demo: bool,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Create bearer tokens for stations and users.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Import existing charts, locations or loose reports from CSV (all or nothing).
    Import {
        #[command(subcommand)]
        what: ImportCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// The access log: check that its chain is intact.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// SQLite's quick check of the whole file, then every volume's current state recomputed from
    /// its movements: exit 0 when the file passes and each volume agrees with the stored state,
    /// non-zero naming the damage or every volume that differs.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a consistent copy of the live database to DEST (SQLite online backup).
    Backup {
        dest: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Put a restored copy of the database (`litestream restore`, a backup) into service as the
    /// configured database, only if it passes every check (integrity, foreign keys, the access
    /// log under its key and anchors, every volume's state); the database it replaces is kept.
    Restore {
        /// The restored file.
        #[arg(long)]
        from: PathBuf,
        /// Only check the file; change nothing.
        #[arg(long)]
        check_only: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Forward a local scanner to a chartrack server, queueing scans while it is unreachable.
    Agent(AgentArgs),
    /// Draw labels: one as ZPL or SVG (standard output unless --out), or sheets of them.
    Label {
        #[command(subcommand)]
        what: labels::LabelCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Send a label to a configured printer (raw ZPL over TCP).
    Print {
        #[arg(value_enum)]
        kind: crate::labels::Kind,
        /// The barcode, code or user name.
        id: String,
        /// A `[[printers]]` name from the configuration.
        #[arg(long)]
        printer: String,
        #[arg(long, default_value_t = 1)]
        copies: u32,
        /// Why it is printed again (needed when it was printed before).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a synthetic history (volumes, their movements over five years, scans, access-log
    /// entries, open requests) into the configured database, which must hold no volume yet.
    Generate {
        #[arg(long)]
        volumes: u32,
        #[arg(long)]
        movements: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serial ports present (with USB ids) and the scanner profiles chartrack knows.
    Scanners {
        #[command(subcommand)]
        command: Option<ScannersCommand>,
        /// Configuration file (for `configure`: the station entries).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct AgentArgs {
    /// The server's base URL, e.g. https://chartrack.example.org
    #[arg(long)]
    server: String,
    /// A station token (`chartrack token create --station ID` on the server).
    #[arg(long)]
    token: String,
    /// The scanner's serial port, e.g. /dev/ttyACM0.
    #[arg(long, conflicts_with = "usb", required_unless_present = "usb")]
    port: Option<String>,
    /// The scanner by USB ids, VID:PID[:SERIAL] in hex (PID may be *).
    #[arg(long)]
    usb: Option<String>,
    /// Scanner profile from firmware-config/ (serial settings, feedback).
    #[arg(long)]
    profile: Option<String>,
    #[arg(long)]
    baud: Option<u32>,
    /// The durable queue of scans not yet answered by the server.
    #[arg(long, default_value = "chartrack-agent.db")]
    queue: PathBuf,
    /// Milliseconds the scanner waits for the server's answer before it is told "queued".
    #[arg(long, default_value_t = 1500)]
    answer_wait_ms: u64,
    /// A CA certificate file (PEM) to trust for the server's certificate, besides the system's
    /// trust store: the hospital's own CA. The server's certificate is always verified.
    #[arg(long)]
    ca_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the whole chain: exit 0 when intact, non-zero naming the first bad entry.
    Verify,
    /// Accept that the anchor file was lost (after looking for its copy): recorded in the access
    /// log with your reason; anchors go on in a new file and `audit verify` passes again.
    Reanchor {
        /// Why the loss is accepted (10 to 300 characters), e.g. "disk replaced, no copy".
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum ScannersCommand {
    /// The serial ports present, with USB ids and the matching profile (the default).
    List,
    /// The scanner profiles and the settings each needs.
    Profiles,
    /// A printable setup sheet (HTML) for a profile: programming barcodes where the vendor
    /// documents the commands, the settings to make otherwise.
    Sheet {
        profile: String,
        /// Write to FILE instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Send a station's profile settings to its scanner over the serial link (Honeywell menu
    /// commands) and report each answer. Stop `chartrack serve` first: it holds the port.
    Configure {
        station: String,
        /// Apply until the next power cycle only (default: store them permanently).
        #[arg(long)]
        volatile: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long)]
        role: Role,
        /// The barcode on the user's badge.
        #[arg(long)]
        badge: Option<Barcode>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new bearer token, nothing else.
    Create {
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        station: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Columns: barcode,mrn,last_name,first_name,birth_date,volume,record_type,home
    Volumes { file: PathBuf },
    /// Columns: code,name,kind,barcode
    Locations { file: PathBuf },
    /// Loose reports to file. Columns: barcode,mrn,description (a blank barcode is issued)
    Reports { file: PathBuf },
}

pub fn main() -> ExitCode {
    ignore_file_size_signal();
    private_files();
    let cli = Cli::parse();
    init_tracing();
    let detail = std::env::var("CHARTRACK_PANIC_DETAIL").is_ok_and(|v| v == "1");
    std::panic::set_hook(Box::new(move |info| {
        // Not eprintln!: a standard error that cannot be written would panic inside the hook,
        // and a panic in the hook aborts the whole server.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{}", panic_line(info, detail));
    }));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chartrack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A write past the process's file-size limit (`ulimit -f`, a service manager's LimitFSIZE)
/// raises SIGXFSZ, whose default action kills the process: the server would die in the middle of
/// a write and every station would lose it. Ignored, the write fails with EFBIG instead, which
/// SQLite reports as an I/O error: the write is refused, nothing of it is acknowledged, reads go
/// on, and writes resume when the limit is raised (`tests/api/io_faults.rs`).
fn ignore_file_size_signal() {
    // SAFETY: called first thing in `main`, before any other thread exists; SIG_IGN installs
    // no handler code, so there is nothing to be async-signal-safe.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Every file chartrack creates holds patient data or what protects it (the database, its log,
/// backups, labels, the audit key and anchors): readable by chartrack's own user only, whatever
/// the umask of the shell or service that started it.
fn private_files() {
    // SAFETY: umask only sets the process's file-creation mask; called first thing in `main`.
    unsafe {
        libc::umask(0o077);
    }
}

/// A panic is a bug, and its message can quote what was being handled (a scanned value, a
/// patient's name from a row): standard error gets where it happened and on which thread, not
/// what it said, unless `CHARTRACK_PANIC_DETAIL=1` (for a developer with synthetic data).
fn panic_line(info: &std::panic::PanicHookInfo<'_>, detail: bool) -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("unnamed");
    let place = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_else(|| "an unknown place".into());
    let what = if detail {
        let payload = info.payload();
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(not text)".into())
    } else {
        "message withheld: it may quote patient data; CHARTRACK_PANIC_DETAIL=1 shows it".into()
    };
    format!("chartrack: a bug: thread '{name}' panicked at {place} ({what})")
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CHARTRACK_LOG")
        .unwrap_or_else(|_| EnvFilter::new("chartrack=info,warn"));
    // A log line that cannot be written (standard error a file on a full disk or past a
    // file-size limit) is dropped: the subscriber's own report of it would go to the same
    // standard error, fail, and abort the server in the middle of a write.
    // Colour only on a terminal: a log file or a service manager's pipe gets plain text that a
    // log reader or grep can use.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .try_init();
}

fn open(config: Option<&PathBuf>) -> anyhow::Result<(Config, Store)> {
    let config = Config::load(config.map(|p| p.as_path()))?;
    let store = Store::open(&config.database, store::Options::from_config(&config))?;
    Ok((config, store))
}

/// [`open`] for a command that checks or copies the records (`check`, `backup`, `audit`): a
/// database that is not there is an error, never a new empty one that then "passes" (a typo in
/// `database` would otherwise make every nightly backup an empty file, exit 0).
fn open_existing(config: Option<&PathBuf>) -> anyhow::Result<(Config, Store)> {
    let loaded = Config::load(config.map(|p| p.as_path()))?;
    if !loaded.database.exists() {
        anyhow::bail!(
            "there is no database at {} (`database` in {}): check the path; only `chartrack serve`, `user add`, `import` and `generate` make a new one",
            loaded.database.display(),
            config.map_or_else(
                || "chartrack.toml or the default".to_owned(),
                |p| p.display().to_string()
            )
        );
    }
    open(config)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, demo } => daemons::serve(config, demo),
        Command::User {
            command: UserCommand::Add { name, role, badge },
            config,
        } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            crate::passwords::check_policy(&password)?;
            let hash = crate::passwords::hash(&password)?;
            let (_, store) = open(config.as_ref())?;
            let now = store.clock().now();
            let n = name.clone();
            store.write_blocking(move |c| {
                admin::create_user(c, &n, role, Some(&hash), badge.as_ref(), false, now)
            })?;
            store.shutdown();
            eprintln!("user {name} added as {role}");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { station, user },
            config,
        } => {
            let who = match (station, user) {
                (Some(s), _) => admin::TokenFor::Station(s),
                (None, Some(u)) => admin::TokenFor::User(u),
                (None, None) => anyhow::bail!("give --station ID or --user NAME"),
            };
            let (config, store) = open(config.as_ref())?;
            let now = store.clock().now();
            // The configuration's stations are applied first (as `serve` does at start), so a
            // station just added to chartrack.toml has its token without a restart.
            let configured: Vec<admin::NewStation> =
                config.stations.iter().map(Into::into).collect();
            let token = store.write_blocking(move |c| {
                admin::apply_configured_stations(c, &configured, now)?;
                admin::create_token(c, &who, now)
            });
            store.shutdown();
            println!("{}", token?.expose());
            Ok(())
        }
        Command::Import { what, config } => {
            let (_, store) = open(config.as_ref())?;
            let result = match &what {
                ImportCommand::Volumes { file } => {
                    crate::import::volumes(&store, file).map(|n| format!("{n} volume(s) imported"))
                }
                ImportCommand::Locations { file } => crate::import::locations(&store, file)
                    .map(|n| format!("{n} location(s) imported")),
                ImportCommand::Reports { file } => crate::import::reports(&store, file)
                    .map(|n| format!("{n} loose report(s) registered")),
            };
            store.shutdown();
            eprintln!("{}", result?);
            Ok(())
        }
        Command::Agent(a) => daemons::agent(a),
        Command::Label { what, config } => {
            let (config, store) = open(config.as_ref())?;
            let r = labels::label(what, &config, &store);
            store.shutdown();
            r
        }
        Command::Print {
            kind,
            id,
            printer,
            copies,
            reason,
            config,
        } => {
            let (config, store) = open(config.as_ref())?;
            let r = labels::print(
                &config,
                &store,
                kind,
                &id,
                &printer,
                copies,
                reason.as_deref(),
            );
            store.shutdown();
            r
        }
        Command::Restore {
            from,
            check_only,
            config,
        } => restore::restore(&from, check_only, config.as_deref()),
        Command::Scanners { command, config } => {
            let profiles = crate::stations::profiles::built_in()?;
            match command.unwrap_or(ScannersCommand::List) {
                ScannersCommand::List => {
                    let ports = serialport::available_ports()
                        .map_err(|e| anyhow::anyhow!("cannot list serial ports: {e}"))?;
                    print!("{}", crate::stations::describe_ports(&ports, &profiles));
                }
                ScannersCommand::Profiles => {
                    print!("{}", crate::stations::describe_profiles(&profiles))
                }
                ScannersCommand::Sheet { profile, out } => {
                    let p = profiles.iter().find(|p| p.id == profile).ok_or_else(|| {
                        anyhow::anyhow!(
                            "no scanner profile '{profile}' (chartrack scanners profiles lists them)"
                        )
                    })?;
                    let html = crate::stations::sheet::setup_sheet(p)?;
                    match out {
                        Some(f) => {
                            std::fs::write(&f, html)?;
                            eprintln!("setup sheet written to {}", f.display());
                        }
                        None => print!("{html}"),
                    }
                }
                ScannersCommand::Configure { station, volatile } => {
                    scanners::configure_scanner(&station, config.as_deref(), volatile, &profiles)?
                }
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify,
            config,
        } => {
            let (_, store) = open_existing(config.as_ref())?;
            let r = audit::verify(&store);
            store.shutdown();
            r
        }
        Command::Audit {
            command: AuditCommand::Reanchor { reason },
            config,
        } => {
            let (_, store) = open_existing(config.as_ref())?;
            let r = audit::reanchor(&store, &reason);
            store.shutdown();
            r
        }
        Command::Generate {
            volumes,
            movements,
            seed,
            config,
        } => generate::generate(config.as_ref(), volumes, movements, seed),
        Command::Check { config } => {
            let (_, store) = open_existing(config.as_ref())?;
            let started = std::time::Instant::now();
            // The whole file first: a damaged B-tree can leave every volume looking right.
            let quick = store::integrity::quick_check_whole(store.path());
            let quick_took = started.elapsed().as_secs_f64();
            let started = std::time::Instant::now();
            let r = match quick {
                Ok(None) => store.check_volumes_blocking().map_err(anyhow::Error::from),
                Ok(Some(problem)) => Err(anyhow::anyhow!(
                    "the database fails SQLite's quick check: {problem}; restore it from a backup (`chartrack restore`)"
                )),
                Err(e) => Err(e),
            };
            store.shutdown();
            let checked = r?;
            for d in &checked.differences {
                println!("{d}");
            }
            let took = started.elapsed().as_secs_f64();
            if checked.differing > 0 {
                let more = checked.differences.len() == store::check::MAX_LISTED;
                anyhow::bail!(
                    "{} of {} volume(s) differ from what their movements say{}; the movements are the record: find out who changed the current state around chartrack",
                    checked.differing,
                    checked.volumes,
                    if more { " (the first differences are listed)" } else { "" }
                );
            }
            println!("the file passes SQLite's quick check ({quick_took:.1} s)");
            println!(
                "{} volume(s) agree with their {} movement(s) ({took:.1} s)",
                checked.volumes, checked.movements
            );
            Ok(())
        }
        Command::Backup { dest, config } => {
            let (_, store) = open_existing(config.as_ref())?;
            let r = store.backup_to(&dest);
            store.shutdown();
            r?;
            eprintln!("backup written to {}", dest.display());
            eprintln!(
                "the access log's key is not in it: keep a copy of {} apart from the backups (without it the log cannot be verified)",
                store.audit_key_path().display()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
