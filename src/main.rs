//! The `accountd` binary: parse configuration, start logging, hand over to the library.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use accountd::auth::keyring;
use accountd::auth::sealing::{self, Sealer};
use accountd::config::{Config, ConfigArgs};
use accountd::key_handover::{self, Handover};
use accountd::moving::from_api::{ApiSource, Paging, import_from_api};
use accountd::moving::import::{FileFormat, ImportOptions, ImportReport};
use accountd::moving::progress::Progress;
use accountd::moving::{export, import};
use accountd::store::{self};
use accountd::time::{Clock, SystemClock};
use accountd::wire::Links;
use accountd::{Application, env_file, events, telemetry};
use clap::{Parser, Subcommand};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Account management authentication tokens for B2B storefronts, wire-compatible with Elastic
/// Path's Account Management API. Every option can also be set through the environment variable
/// shown with it (or a `.env` file in the working directory).
#[derive(Parser)]
#[command(
    name = "accountd",
    version,
    after_help = "Logging: RUST_LOG filters log lines (default: info), e.g. RUST_LOG=accountd=debug."
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage JWT signing keys kept in the database.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Exit 0 if the server on ACCOUNTD_LISTEN answers /healthz (for container health checks).
    Healthcheck,
    /// Write a consistent copy of the SQLite database to PATH (a new file), while the server
    /// runs. Restore by pointing DATABASE_URL at the copy. PostgreSQL: use pg_dump.
    Backup {
        /// Where to write the copy; must not exist yet.
        path: std::path::PathBuf,
    },
    /// Print the OpenAPI document that GET /v2/openapi.json serves, and exit.
    Openapi,
    /// Import accounts, members (with their password hashes) and memberships from JSON Lines,
    /// or member rows from a .csv file. Idempotent: records that exist are left unchanged. Each
    /// refused line is reported on standard error as `line N: reason`; the exit status is 1 when
    /// a line was refused. See docs/moving-in.md.
    Import {
        /// The file: JSON Lines, or CSV when its name ends in .csv. Left out with --from-api.
        #[arg(required_unless_present = "from_api", conflicts_with = "from_api")]
        file: Option<std::path::PathBuf>,
        /// Copy from a running server that speaks the Account Management API (another
        /// accountd, or Elastic Path) instead of a file: its base URL. Members arrive without
        /// passwords, which such an API never gives out.
        #[arg(long, requires_all = ["api_client_id", "api_client_secret"])]
        from_api: Option<String>,
        /// The client id of an application key of the source (client credentials).
        #[arg(long, requires = "from_api")]
        api_client_id: Option<String>,
        /// Its secret; safer in ACCOUNTD_IMPORT_API_CLIENT_SECRET than on the command line,
        /// where other users of the machine can read it.
        #[arg(
            long,
            env = "ACCOUNTD_IMPORT_API_CLIENT_SECRET",
            hide_env_values = true
        )]
        api_client_secret: Option<String>,
        /// The password profile of the members' logins (its id, or a name only one profile
        /// has); overrides any profile in the file. Default: the realm's only profile.
        #[arg(long)]
        password_profile: Option<String>,
        /// Check every line against the database and report, then write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write no events (no webhooks) for what is imported, for a first bulk load; audit rows
        /// are still written. The summary says so.
        #[arg(long)]
        quiet_events: bool,
    },
    /// Export every account, member and membership as JSON Lines that `accountd import` reads,
    /// to PATH (a new file, created 0600) or standard output.
    Export {
        /// Include the members' password hashes (a secret: anyone holding them can attack them
        /// offline).
        #[arg(long)]
        include_password_hashes: bool,
        /// The file to create; standard output when left out.
        path: Option<std::path::PathBuf>,
    },
    /// Development only: receive webhooks and print them, one-time codes included, so that
    /// passwordless login can be tried without a mail service. Never part of `serve`.
    WebhookSink {
        /// Address to listen on; point an integration's `configuration.url` at it.
        #[arg(long, default_value = "127.0.0.1:9000")]
        address: std::net::SocketAddr,
        /// The integration's secret key, to check each delivery's `X-Accountd-Signature` and
        /// Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
        #[arg(long, env = "ACCOUNTD_SINK_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// For downstream services that verify tokens: under EdDSA or ES256 the public JWK Set (as
    /// /.well-known/jwks.json serves it); under HS256 the persisted secrets as ACCOUNTD_JWT_KEYS.
    Export,
    /// Add a new persisted key of ACCOUNTD_JWT_ALG and make it the one that signs; the previous
    /// key keeps verifying (and stays published) until its tokens have expired.
    Rotate,
    /// Retire an inactive persisted key at once: the tokens it signed stop working.
    Remove {
        /// The kid to remove.
        kid: String,
    },
    /// Encrypt every stored secret (JWT keys, OIDC client secrets, integration secret keys)
    /// under ACCOUNTD_MASTER_KEY: those sealed with ACCOUNTD_MASTER_KEY_PREVIOUS are re-encrypted,
    /// plain-text ones encrypted. One transaction: nothing changes if any secret cannot be opened.
    Rewrap,
}

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one stops the start rather than half-configure it.
    if let Err(error) = env_file::load(std::path::Path::new(".env")) {
        eprintln!("accountd: {error}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    if let Some(Command::WebhookSink {
        address,
        secret_key,
    }) = cli.command
    {
        // Needs none of the server's configuration, so a half-configured .env cannot stop it.
        return webhook_sink(address, secret_key);
    }
    let config = match Config::from_args(cli.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("accountd: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Healthcheck) => return healthcheck(&config.listen),
        Some(Command::Openapi) => {
            return match accountd::http::openapi_document().to_pretty_json() {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("accountd: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    telemetry::init(config.log_format, std::io::stderr, ansi);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(&config).await,
            Command::Keys {
                command: KeysCommand::Export,
            } => export_keys(&config).await,
            Command::Keys {
                command: KeysCommand::Rotate,
            } => rotate_key(&config).await,
            Command::Keys {
                command: KeysCommand::Remove { kid },
            } => remove_key(&config, &kid).await,
            Command::Keys {
                command: KeysCommand::Rewrap,
            } => rewrap_secrets(&config).await,
            Command::Backup { path } => backup(&config, &path).await,
            Command::Import {
                file,
                from_api,
                api_client_id,
                api_client_secret,
                password_profile,
                dry_run,
                quiet_events,
            } => {
                let options = ImportOptions {
                    password_profile,
                    dry_run,
                    quiet_events,
                    firebase: config.firebase_scrypt.clone(),
                };
                match (file, from_api, api_client_id, api_client_secret) {
                    (_, Some(url), Some(client_id), Some(secret)) => {
                        let source = ApiSource {
                            url,
                            client_id,
                            client_secret: accountd::auth::secret::Secret::new(secret),
                        };
                        import_api(&config, &source, &options).await
                    }
                    (Some(file), None, _, _) => import_file(&config, &file, &options).await,
                    _ => Err(
                        "give a FILE, or --from-api with --api-client-id and --api-client-secret"
                            .into(),
                    ),
                }
            }
            Command::Export {
                include_password_hashes,
                path,
            } => export_records(&config, include_password_hashes, path.as_deref()).await,
            Command::Healthcheck | Command::Openapi | Command::WebhookSink { .. } => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let log_format = config.log_format;
    let database_url = config.database_url.clone();
    let application = Application::build(config).await?;
    if let Some((client_id, secret)) = application.generated_client() {
        // Only the hash is stored: this is the one chance to see the secret.
        let stdout = std::io::stdout();
        let terminal = std::io::IsTerminal::is_terminal(&stdout);
        let handover = key_handover::hand_over(
            client_id,
            secret.expose(),
            log_format,
            terminal,
            database_url.expose(),
            &mut stdout.lock(),
        )
        .map_err(|error| {
            format!(
                "the generated bootstrap application key could not be handed over ({error}); \
                 set ACCOUNTD_CLIENT_ID and ACCOUNTD_CLIENT_SECRET to replace it"
            )
        })?;
        if let Handover::Written(path) = handover {
            tracing::warn!(
                path = %path.display(),
                "a bootstrap application key was generated and written to {}; keep it in a \
                 secret store and delete the file",
                path.display()
            );
        }
    }
    let address = application.local_addr()?;
    tracing::info!(
        %address,
        backend = application.state().store.backend(),
        "accountd listening on http://{address}"
    );
    if let Some(management) = application.management_addr() {
        tracing::info!(%management, "metrics on http://{management}/metrics");
    }
    application
        .run_until(accountd::lifecycle::shutdown_signal())
        .await?;
    Ok(())
}

async fn import_api(
    config: &Config,
    source: &ApiSource,
    options: &ImportOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(config).await?;
    store.migrate().await?;
    let mut progress = Progress::for_stderr(None);
    let report = import_from_api(
        store.as_ref(),
        &SystemClock,
        source,
        Paging::default(),
        options,
        &mut std::io::stderr(),
        &mut progress,
    )
    .await?;
    eprintln!(
        "import: {} accounts, {} members and {} memberships listed by {}",
        report.accounts, report.members, report.memberships, source.url
    );
    summarise(&report.import, options, "records");
    eprintln!(
        "import: members arrive without passwords (the API never gives them out): they log in \
         with a one-time password, or set one through a password reset"
    );
    if report.unreachable > 0 {
        eprintln!(
            "import: {} listed records could not be reached by paging (past the offset cap, \
             where the source cannot page by created_at)",
            report.unreachable
        );
    }
    refused(&report.import, "records")?;
    if report.unreachable > 0 {
        return Err(format!("{} records could not be reached", report.unreachable).into());
    }
    Ok(())
}

/// The summary line of an import on standard error.
fn summarise(report: &ImportReport, options: &ImportOptions, unit: &str) {
    eprintln!(
        "import: {} {unit}: {} created, {} unchanged, {} rejected{}{}",
        report.lines,
        report.created,
        report.unchanged,
        report.rejected,
        if options.dry_run {
            "; dry run: nothing was written"
        } else {
            ""
        },
        if options.quiet_events {
            "; --quiet-events: no events or audit rows were written for them, one audit row for the run"
        } else {
            ""
        },
    );
}

/// An error when records were refused, so the exit status says so.
fn refused(report: &ImportReport, unit: &str) -> Result<(), Box<dyn std::error::Error>> {
    if report.rejected > 0 {
        let noun = if report.rejected == 1 {
            unit.trim_end_matches('s')
        } else {
            unit
        };
        return Err(format!("{} {noun} rejected", report.rejected).into());
    }
    Ok(())
}

async fn import_file(
    config: &Config,
    path: &std::path::Path,
    options: &ImportOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::fs::File::open(path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    let size = file.metadata().ok().map(|metadata| metadata.len());
    let store = open_store(config).await?;
    store.migrate().await?;
    let mut progress = Progress::for_stderr(size);
    let report = import::import(
        store.as_ref(),
        &SystemClock,
        std::io::BufReader::new(file),
        FileFormat::of_path(path),
        options,
        &mut std::io::stderr(),
        &mut progress,
    )
    .await?;
    summarise(&report, options, "lines");
    refused(&report, "lines")?;
    Ok(())
}

async fn export_records(
    config: &Config,
    include_password_hashes: bool,
    path: Option<&std::path::Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(config).await?;
    store.migrate().await?;
    let report = match path {
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options
                .open(path)
                .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let report = export::export(store.as_ref(), &mut out, include_password_hashes).await?;
            out.into_inner()
                .map_err(|error| error.into_error())?
                .sync_all()?;
            report
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            export::export(store.as_ref(), &mut out, include_password_hashes).await?
        }
    };
    eprintln!(
        "export: {} accounts, {} members, {} memberships{}",
        report.accounts,
        report.members,
        report.memberships,
        if include_password_hashes {
            ", with password hashes"
        } else {
            ", without password hashes"
        }
    );
    Ok(())
}

fn webhook_sink(address: std::net::SocketAddr, secret_key: Option<String>) -> ExitCode {
    let served = tokio::runtime::Runtime::new().and_then(|runtime| {
        runtime.block_on(events::sink::run(
            address,
            secret_key,
            Box::new(std::io::stdout()),
        ))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("accountd webhook-sink: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The store for the maintenance commands, with the master keys of the configuration; they
/// write no events, but the store needs to know how events would look.
async fn open_store(
    config: &Config,
) -> Result<std::sync::Arc<dyn store::Store>, Box<dyn std::error::Error>> {
    let links = Links::new(&config.public_base_url);
    let options = store::ConnectOptions {
        db_timeout: config.db_timeout,
    };
    Ok(store::connect_sealed(
        config.database_url.expose(),
        std::sync::Arc::new(links),
        &options,
        sealer_of(config),
    )
    .await?)
}

fn sealer_of(config: &Config) -> Sealer {
    Sealer::new(
        config.master_key.clone(),
        config.master_key_previous.clone(),
    )
}

async fn rewrap_secrets(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(config).await?;
    store.migrate().await?;
    let sealer = sealer_of(config);
    let done = sealing::rewrap(store.as_ref(), &sealer).await?;
    println!(
        "Secrets now under master key {}: {} re-encrypted from the previous key, {} encrypted \
         from plain text, {} already under it.",
        sealer.current_key_id().unwrap_or_default(),
        done.resealed,
        done.sealed,
        done.unchanged
    );
    Ok(())
}

async fn migrate(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(config).await?;
    store.migrate().await?;
    tracing::info!(backend = store.backend(), "migrations applied");
    Ok(())
}

async fn backup(config: &Config, path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(config).await?;
    store.backup_into(path).await?;
    println!("Backed up the database to {}.", path.display());
    Ok(())
}

async fn export_keys(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(config).await?;
    store.migrate().await?;
    let stored = store.jwt_keys().await?;
    let plan = keyring::KeyPlan::from_config(config);
    let export = keyring::export(&plan, &stored, SystemClock.now()).ok_or(
        "no keys to export: the HS256 keys are configured (ACCOUNTD_JWT_SECRET or \
         ACCOUNTD_JWT_KEYS), or accountd never started",
    )?;
    println!("{export}");
    Ok(())
}

fn refuse_configured_keys(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    if keyring::KeyPlan::from_config(config).signs_with_persisted() {
        Ok(())
    } else {
        Err(
            "the signing key is configured (ACCOUNTD_JWT_SECRET, ACCOUNTD_JWT_KEYS or \
             ACCOUNTD_JWT_PRIVATE_KEYS): rotate it there"
                .into(),
        )
    }
}

async fn rotate_key(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    refuse_configured_keys(config)?;
    let store = open_store(config).await?;
    store.migrate().await?;
    let key = keyring::rotate(store.as_ref(), config.jwt_algorithm, SystemClock.now()).await?;
    println!(
        "New active {} signing key {}. Running servers take it up within a minute; the previous \
         key keeps verifying its tokens until they have expired (the token timeout plus a \
         minute), or until `accountd keys remove <kid>`.",
        key.algorithm, key.kid
    );
    Ok(())
}

async fn remove_key(config: &Config, kid: &str) -> Result<(), Box<dyn std::error::Error>> {
    refuse_configured_keys(config)?;
    let store = open_store(config).await?;
    store.migrate().await?;
    if !keyring::remove(store.as_ref(), kid, SystemClock.now()).await? {
        return Err(format!("no persisted key with kid {kid:?}").into());
    }
    println!(
        "Removed key {kid}; tokens it signed are refused once servers reload (within a minute)."
    );
    Ok(())
}

fn healthcheck(listen: &str) -> ExitCode {
    let probe = || -> std::io::Result<bool> {
        let address = listen
            .parse()
            .map_err(|_| std::io::Error::other("bad listen address"))?;
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.ends_with(b" 200"))
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
