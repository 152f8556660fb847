//! `scaan phone …`: a phone on the command line. `login` saves a session file that the other
//! commands read, so a demo is one `listen` in a terminal and check-ins, locations or an SOS
//! sent from another.

use std::{io::Write as _, path::PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use scaan_schemas::{CheckinStatus, LocationUpdate, NewCheckin, NewSos, Position, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{login, BrokerUrl, Phone, PhoneOptions};

#[derive(Subcommand)]
pub enum Command {
    /// Logs in to the hub (the password is read from standard input) and saves the session.
    Login {
        /// The hub's HTTP address.
        #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
        hub: String,
        /// The broker the hub uses.
        #[arg(long, default_value = "mqtt://127.0.0.1:1883", value_name = "mqtt://HOST:PORT")]
        mqtt: BrokerUrl,
        #[arg(long)]
        username: String,
        #[command(flatten)]
        session: SessionFile,
    },
    /// Subscribes to the inbox and prints each envelope as a JSON line, until interrupted.
    /// The session is persistent: what arrived while not listening comes first. The sending
    /// commands briefly take the connection over (one per person) and print what came meanwhile.
    Listen {
        #[command(flatten)]
        session: SessionFile,
    },
    /// Answers an alert's headcount.
    Checkin {
        #[arg(long, value_name = "ALERT_ID")]
        alert: Uuid,
        /// safe or need_help
        #[arg(long, value_parser = parse_status)]
        status: CheckinStatus,
        /// LAT,LON of where the person is.
        #[arg(long, value_parser = parse_position, value_name = "LAT,LON", allow_hyphen_values = true)]
        at: Option<Position>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        session: SessionFile,
    },
    /// Reports where the phone is.
    Location {
        #[arg(long, value_parser = parse_position, value_name = "LAT,LON", allow_hyphen_values = true)]
        at: Position,
        /// Accuracy of the fix, in metres.
        #[arg(long, value_name = "METRES")]
        accuracy: Option<f64>,
        #[command(flatten)]
        session: SessionFile,
    },
    /// Raises an SOS.
    Sos {
        #[arg(long, value_parser = parse_position, value_name = "LAT,LON", allow_hyphen_values = true)]
        at: Option<Position>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        session: SessionFile,
    },
}

/// Where `login` keeps the token for the other commands.
#[derive(Args)]
pub struct SessionFile {
    #[arg(
        long = "session",
        env = "SCAAN_PHONE_SESSION",
        default_value = "scaan-phone.json",
        value_name = "FILE"
    )]
    path: PathBuf,
}

/// What `login` saves.
#[derive(Serialize, Deserialize)]
struct Session {
    hub: String,
    mqtt: BrokerUrl,
    token: String,
    /// The MQTT password when the broker takes another than the token (a NATS server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mqtt_password: Option<String>,
    expires_at: DateTime<Utc>,
    user: User,
}

impl SessionFile {
    fn load(&self) -> anyhow::Result<Session> {
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("no session in {}: run `scaan phone login` first", self.path.display()))?;
        let session: Session =
            serde_json::from_str(&text).with_context(|| format!("{} is not a phone session", self.path.display()))?;
        if session.expires_at <= Utc::now() {
            anyhow::bail!(
                "the session expired at {}: run `scaan phone login` again",
                session.expires_at
            );
        }
        Ok(session)
    }

    /// Readable by its owner only: it holds a token.
    fn save(&self, session: &Session) -> anyhow::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        file.write_all(serde_json::to_string_pretty(session)?.as_bytes())?;
        Ok(())
    }
}

impl Session {
    fn options(&self) -> PhoneOptions {
        let password = self.mqtt_password.as_deref().unwrap_or(&self.token);
        PhoneOptions::persistent(self.mqtt.clone(), &self.user.username, password, self.user.id)
    }

    /// Connects as the person's phone, sends one message, and prints whatever the session
    /// brought meanwhile: a `listen` running elsewhere is disconnected (one connection per
    /// person), reconnects by itself, and would not see those envelopes again.
    async fn send_one(&self, send: impl AsyncFnOnce(&mut Phone) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let mut phone = Phone::connect(self.options()).await?;
        send(&mut phone).await?;
        let mut stdout = std::io::stdout().lock();
        for received in phone.disconnect().await {
            writeln!(stdout, "{}", envelope_line(&received.payload))?;
        }
        Ok(())
    }
}

/// One line per envelope, whatever the hub's spacing.
fn envelope_line(payload: &[u8]) -> String {
    match serde_json::from_slice::<Value>(payload) {
        Ok(envelope) => envelope.to_string(),
        Err(_) => serde_json::json!({"unreadable": String::from_utf8_lossy(payload)}).to_string(),
    }
}

impl Command {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Login {
                hub,
                mqtt,
                username,
                session,
            } => {
                let mut password = String::new();
                std::io::stdin()
                    .read_line(&mut password)
                    .context("cannot read the password from standard input")?;
                let password = password.trim_end_matches(['\r', '\n']);
                let answer = login(&reqwest::Client::new(), &hub, &username, password).await?;
                session.save(&Session {
                    hub,
                    mqtt,
                    token: answer.token,
                    mqtt_password: answer.mqtt_password,
                    expires_at: answer.expires_at,
                    user: answer.user,
                })?;
                eprintln!("logged in; session saved in {}", session.path.display());
                Ok(())
            }
            Command::Listen { session } => {
                let session = session.load()?;
                let mut phone = Phone::connect(session.options()).await?;
                phone.subscribe_inbox().await?;
                eprintln!("listening to {}'s inbox on {}", session.user.username, session.mqtt);
                let mut stdout = std::io::stdout().lock();
                loop {
                    let received = phone.next_envelope().await?;
                    // One line per envelope, whatever the hub's spacing.
                    let line = match serde_json::from_slice::<Value>(&received.payload) {
                        Ok(envelope) => envelope.to_string(),
                        Err(_) => {
                            serde_json::json!({"unreadable": String::from_utf8_lossy(&received.payload)}).to_string()
                        }
                    };
                    writeln!(stdout, "{line}")?;
                    stdout.flush()?;
                }
            }
            Command::Checkin {
                alert,
                status,
                at,
                note,
                session,
            } => {
                let checkin = NewCheckin {
                    status,
                    position: at,
                    note,
                    staff_id: None,
                    via: None,
                };
                session
                    .load()?
                    .send_one(async |phone| {
                        let ack = phone.checkin_confirmed(alert, &checkin).await?;
                        println!("{ack}");
                        Ok(())
                    })
                    .await
            }
            Command::Location { at, accuracy, session } => {
                let location = LocationUpdate {
                    lat: at.lat,
                    lon: at.lon,
                    accuracy_m: accuracy,
                    recorded_at: Some(Utc::now()),
                };
                session
                    .load()?
                    .send_one(async |phone| phone.location(&location).await)
                    .await
            }
            Command::Sos { at, note, session } => {
                let sos = NewSos { position: at, note };
                session.load()?.send_one(async |phone| phone.sos(&sos).await).await
            }
        }
    }
}

fn parse_status(value: &str) -> Result<CheckinStatus, String> {
    serde_json::from_value(Value::from(value)).map_err(|_| "must be safe or need_help".to_owned())
}

fn parse_position(value: &str) -> Result<Position, String> {
    let (lat, lon) = value.split_once(',').ok_or("expected LAT,LON such as 0.49,29.47")?;
    let parse = |v: &str| v.trim().parse::<f64>().map_err(|_| format!("'{v}' is not a number"));
    Ok(Position::new(parse(lat)?, parse(lon)?))
}
