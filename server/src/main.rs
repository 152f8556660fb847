//! `scaan`: runs the hub (`scaan serve`), manages accounts (`scaan user add|disable|enable|passwd|
//! set-role`), backs up and restores its SQLite database (`scaan backup`, `scaan restore`), makes
//! the keys for an external NATS server (`scaan nats init`), and plays a phone (`scaan phone …`,
//! the demo client).

use anyhow::Context;
use clap::{Parser, Subcommand};
use scaan_schemas::{NewUser, PasswordReset, PhonesChange, Position, Role, RoleChange, User};
use scaan_server::accounts::{AccountError, Accounts};
use scaan_server::audit::{Actor, Audit};
use scaan_server::config::LogFormat;
use scaan_server::error::ApiError;
use scaan_server::storage::Store;
use scaan_server::{backups, App, Config, Overrides};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "scaan",
    version,
    about = "SCAAN hub: staff-security alerts, headcounts and advisories"
)]
struct Cli {
    /// A TOML configuration file (every key is also settable as SCAAN_KEY in the environment).
    #[arg(long, global = true, env = "SCAAN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the hub.
    Serve {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Manages accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Copies the embedded SQLite database to DEST, consistently, while the hub runs (PostgreSQL:
    /// pg_dump).
    Backup {
        /// The new file (it must not exist yet).
        dest: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Puts a copy made by `scaan backup` in place of the SQLite database; the hub must be stopped.
    Restore {
        /// A file made by `scaan backup`.
        src: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// The hub's keys for an external NATS server.
    Nats {
        #[command(subcommand)]
        command: NatsCommand,
    },
    /// Plays a staff member's phone: logs in, listens to the inbox, sends check-ins, locations and SOS.
    Phone {
        #[command(subcommand)]
        command: scaan_mobile_bridge::phone::Command,
    },
}

#[derive(Subcommand)]
enum NatsCommand {
    /// Makes new keys: DIR/nats-keys.json (the hub's nats_keys_file, secret) and
    /// DIR/scaan-trust.conf (for nats-server's configuration to include).
    Init {
        /// Where to write both files.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Where nats-server will keep the account JWT the hub pushes.
        #[arg(long, value_name = "DIR", default_value = "/var/lib/nats/scaan-resolver")]
        resolver_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Creates an account; reads the password from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// staff, security_officer, watch_officer or admin
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        name: Option<String>,
        /// ISO 3166-1 alpha-2 codes, comma-separated (security officers: where they may act).
        #[arg(long, value_delimiter = ',')]
        countries: Vec<String>,
        /// LAT,LON of the person's duty station.
        #[arg(long, value_parser = parse_position, value_name = "LAT,LON", allow_hyphen_values = true)]
        duty_station: Option<Position>,
        /// The numbers to call or text the person on, in E.164 (+243970000001), comma-separated
        /// in order of preference.
        #[arg(long, value_delimiter = ',', value_parser = parse_phone)]
        phones: Vec<String>,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Disables an account: it cannot log in, and its sessions end (a running hub closes its
    /// streams and MQTT connections within seconds).
    Disable {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Enables a disabled account.
    Enable {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Sets an account's password (read from standard input); every session of it ends.
    Passwd {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Gives an account a new role and countries; its open streams and MQTT connections
    /// reconnect with them.
    SetRole {
        #[arg(long)]
        username: String,
        /// staff, security_officer, watch_officer or admin
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// ISO 3166-1 alpha-2 codes, comma-separated (security officers: where they may act).
        #[arg(long, value_delimiter = ',')]
        countries: Vec<String>,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Sets an account's phone numbers, in E.164 (+243970000001), comma-separated in order of
    /// preference; without --phones, removes them.
    SetPhones {
        #[arg(long)]
        username: String,
        #[arg(long, value_delimiter = ',', value_parser = parse_phone)]
        phones: Vec<String>,
        #[command(flatten)]
        overrides: Overrides,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| "must be staff, security_officer, watch_officer or admin".into())
}

/// A number as written, normalised (spaces and dashes dropped); E.164 is checked with the rest.
fn parse_phone(value: &str) -> Result<String, String> {
    Ok(scaan_schemas::normalise_phone(value))
}

fn parse_position(value: &str) -> Result<Position, String> {
    let (lat, lon) = value.split_once(',').ok_or("expected LAT,LON such as 0.49,29.47")?;
    let parse = |v: &str| v.trim().parse::<f64>().map_err(|_| format!("'{v}' is not a number"));
    Ok(Position::new(parse(lat)?, parse(lon)?))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scaan: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { overrides } => {
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            init_logs(config.log_format);
            for name in Config::unknown_variables() {
                tracing::warn!(variable = %name, "{name} sets nothing: it is not one of the hub's settings (misspelt?)");
            }
            serve(config).await
        }
        Command::Backup { dest, overrides } => {
            init_logs(LogFormat::Text);
            let config = Config::load_storage(cli.config.as_deref(), &overrides)?;
            let copied = backups::backup(&config.database_url(), &dest).await?;
            println!("{}", serde_json::to_string(&copied)?);
            Ok(())
        }
        Command::Restore { src, overrides } => {
            init_logs(LogFormat::Text);
            let config = Config::load_storage(cli.config.as_deref(), &overrides)?;
            config.prepare_data_dir()?;
            let copied = backups::restore(&src, &config.database_url()).await?;
            println!("{}", serde_json::to_string(&copied)?);
            Ok(())
        }
        Command::Phone { command } => {
            init_logs(LogFormat::Text);
            command.run().await
        }
        Command::Nats {
            command: NatsCommand::Init { dir, resolver_dir },
        } => {
            init_logs(LogFormat::Text);
            let (keys, trust) = scaan_mobile_bridge::nats::keys::init(&dir, &resolver_dir)?;
            println!("{}\n{}", keys.display(), trust.display());
            Ok(())
        }
        Command::User { command } => {
            init_logs(LogFormat::Text);
            user_command(cli.config.as_deref(), command).await
        }
    }
}

/// `scaan user …`: opens only the database (settings it does not use cannot stop it), and
/// runs the same account functions as the API; a running hub follows within seconds.
async fn user_command(config_file: Option<&std::path::Path>, command: UserCommand) -> anyhow::Result<()> {
    let overrides = match &command {
        UserCommand::Add { overrides, .. }
        | UserCommand::Disable { overrides, .. }
        | UserCommand::Enable { overrides, .. }
        | UserCommand::Passwd { overrides, .. }
        | UserCommand::SetRole { overrides, .. }
        | UserCommand::SetPhones { overrides, .. } => overrides,
    };
    let config = Config::load_storage(config_file, overrides)?;
    config.prepare_data_dir()?;
    let store = Store::connect(&config.database_url()).await?;
    let done = run_user_command(&store, command).await;
    store.close().await;
    println!("{}", serde_json::to_string(&done?)?);
    Ok(())
}

async fn run_user_command(store: &Store, command: UserCommand) -> anyhow::Result<User> {
    // Said as the API says it.
    let said = |e: AccountError| anyhow::anyhow!("{}", ApiError::from(e).body().error.message_with_field());
    let accounts = Accounts::new(store.clone(), Audit::new(store.clone()));
    let account = |username: String| async move {
        store
            .user_by_username(&username)
            .await?
            .map(|u| u.id)
            .ok_or_else(|| anyhow::anyhow!("there is no account '{username}'"))
    };
    let by = Actor::CommandLine;
    match command {
        UserCommand::Add {
            username,
            role,
            name,
            countries,
            duty_station,
            phones,
            ..
        } => {
            let new = NewUser {
                username,
                password: read_password()?,
                role,
                name,
                countries,
                duty_station,
                phones,
            };
            accounts.create(by, &new).await.map_err(said)
        }
        UserCommand::Disable { username, .. } => accounts.disable(by, account(username).await?).await.map_err(said),
        UserCommand::Enable { username, .. } => accounts.enable(by, account(username).await?).await.map_err(said),
        UserCommand::Passwd { username, .. } => {
            let id = account(username).await?;
            let reset = PasswordReset {
                password: read_password()?,
            };
            accounts.reset_password(by, id, &reset).await.map_err(said)
        }
        UserCommand::SetRole {
            username,
            role,
            countries,
            ..
        } => {
            let id = account(username).await?;
            let change = RoleChange { role, countries };
            accounts.change_role(by, id, &change).await.map_err(said)
        }
        UserCommand::SetPhones { username, phones, .. } => {
            let id = account(username).await?;
            accounts
                .change_phones(by, id, &PhonesChange { phones })
                .await
                .map_err(said)
        }
    }
}

/// Log lines on standard error, filtered by `SCAAN_LOG` (`info` by default): text, coloured only
/// on a terminal (a file or the journal gets no escape codes), or one JSON object per line.
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SCAAN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {} for HTTP; is another hub running? choose another with --listen",
            config.listen
        )
    })?;
    let app = App::build(config).await?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: finishing requests in flight");
        on_signal.cancel();
    });
    app.serve(listener, shutdown).await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
