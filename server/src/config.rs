//! The hub's configuration: built-in defaults, then a TOML file, then `SCAAN_…` environment
//! variables, then command-line flags; validated once at start with messages a person can act on.

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use scaan_mobile_bridge::BrokerUrl;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP (API, WebSocket, console).
    pub listen: SocketAddr,
    /// Where the embedded database lives.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// A position older than this no longer places a person (the contract's freshness window).
    pub position_freshness_s: u64,
    /// Outside an incident, and beyond the freshness window, a position is shown (and kept) only
    /// as the cell of a grid this many degrees wide that holds it: 0.1 (about 11 km north to
    /// south), a town or a city district.
    pub position_area_deg: f64,
    /// Retention limits, enforced by the hub's sweep every `retention_sweep_s`: last known
    /// positions, SOS trails (of calls resolved), check-ins (their history, and the position and
    /// note of each standing; the counts stay) and incident reports older than these are deleted.
    pub retention_positions_s: u64,
    pub retention_trails_s: u64,
    pub retention_checkins_s: u64,
    pub retention_reports_s: u64,
    pub retention_sweep_s: u64,
    /// How long a login token lasts.
    pub token_ttl_s: u64,
    /// A headcount's deadline when the alert names none.
    pub checkin_deadline_s: u64,
    /// After the deadline, how long until the silent are marked overdue.
    pub checkin_grace_s: u64,
    /// An SOS nobody acknowledged is announced again this often.
    pub sos_reannounce_s: u64,
    /// A journey's phone is reminded this long before a check-in is due.
    pub journey_remind_before_s: u64,
    /// A journey's check-in still missing this long after it was due (and asked again) raises
    /// an alarm for the officers of its countries.
    pub journey_grace_s: u64,
    /// CAP `<sender>` of this hub's alerts.
    pub cap_sender: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// A request still running after this is answered with 503.
    pub request_timeout_s: u64,
    /// A client must send a request's headers within this (slow-loris clients are cut off).
    pub header_read_timeout_s: u64,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` say who the client is (for counting
    /// failed logins per client); nobody else's is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The hub's own MQTT listener for phones, plaintext (unused when `mqtt_url` is set). MQTT
    /// passwords are bearer tokens, so it must be a loopback address unless
    /// `mqtt_plaintext_beyond_loopback` says otherwise; phones elsewhere use `mqtt_tls_listen`.
    pub mqtt_listen: SocketAddr,
    /// Serve plaintext MQTT on a non-loopback `mqtt_listen` anyway (a private network whose
    /// traffic nobody else sees); the hub warns at start.
    pub mqtt_plaintext_beyond_loopback: bool,
    /// MQTT over TLS for phones (8883 by convention), with `mqtt_tls_cert_file` (PEM chain, the
    /// server's certificate first) and `mqtt_tls_key_file` (PEM private key).
    pub mqtt_tls_listen: Option<SocketAddr>,
    pub mqtt_tls_cert_file: Option<PathBuf>,
    pub mqtt_tls_key_file: Option<PathBuf>,
    /// `mqtt://[USER:PASSWORD@]HOST:PORT`: phones use this external broker instead of the hub's
    /// own MQTT endpoint.
    pub mqtt_url: Option<String>,
    /// The external Mosquitto's dynamic-security admin: with it the hub provisions the broker
    /// (its own login, and each person's at login and logout); without it, someone else manages
    /// the broker's access control.
    pub mqtt_admin_username: Option<String>,
    /// That admin's password: a secret (`SCAAN_MQTT_ADMIN_PASSWORD`), never shown in logs.
    pub mqtt_admin_password: Option<String>,
    /// Prometheus metrics (`GET /metrics`) on a listener of their own; none when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// `text` (the default; colours only on a terminal) or `json`, one object per line.
    pub log_format: LogFormat,
    /// An external NATS server's client listener (`nats://HOST:PORT`), whose MQTT listener is
    /// `mqtt_url`: the hub signs each login's MQTT password with the keys in `nats_keys_file`
    /// and revokes logins there (`deploy/nats/README.md`).
    pub nats_url: Option<String>,
    /// The hub's NATS keys, as `scaan nats init` writes them: a secret (they sign every login).
    pub nats_keys_file: Option<PathBuf>,
    /// The secret an SMS gateway shows on each text it hands over
    /// (`POST /api/v1/sms/inbound?token=…`; `deploy/kannel/README.md`); no texts are taken
    /// without it.
    pub sms_gateway_token: Option<String>,
    /// Kannel's `sendsms` address with the hub's login and any fixed parameters
    /// (`http://127.0.0.1:13013/cgi-bin/sendsms?username=scaan&password=…&from=7226`): a
    /// secret. With it, staff whom an alert cannot reach by data are texted
    /// (`deploy/kannel/README.md`); it needs `sms_gateway_token`, which its delivery reports show.
    pub sms_kannel_url: Option<String>,
    /// The hub's address as the gateway reaches it, for delivery reports; `http://{listen}` when
    /// unset.
    pub sms_reports_url: Option<String>,
    /// A person none of whose devices has an alert that asks for a check-in this long after it
    /// was sent is texted it.
    pub sms_fallback_after_s: u64,
    /// The most texts one alert sends; those beyond are withheld, and shown so.
    pub sms_max_per_alert: u32,
    /// The most texts handed to the gateway per minute, all alerts together.
    pub sms_per_minute: u32,
    /// After a crash, how long a text that may already be with the gateway waits for its
    /// delivery report before it is sent again.
    pub sms_unsure_wait_s: u64,
    /// An online raster tile source for the console's map (`https://tiles.example.org/{z}/{x}/{y}.png`),
    /// drawn over the offline base map where the operations centre has internet; the offline
    /// map shows wherever a tile fails. None: the offline map only.
    pub map_tile_url: Option<String>,
    /// Set on each node of a deployment of several hub nodes on one PostgreSQL database (a
    /// name for its logs): the nodes share what each does, and one of them at a time runs the
    /// scheduled work. Unset: the hub is alone on its database.
    pub node_name: Option<String>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 8080).into(),
            data_dir: PathBuf::from("./scaan-data"),
            database_url: None,
            position_freshness_s: 24 * 3600,
            position_area_deg: 0.1,
            retention_positions_s: 30 * 24 * 3600,
            retention_trails_s: 90 * 24 * 3600,
            retention_checkins_s: 365 * 24 * 3600,
            retention_reports_s: 365 * 24 * 3600,
            retention_sweep_s: 3600,
            token_ttl_s: 7 * 24 * 3600,
            checkin_deadline_s: 30 * 60,
            checkin_grace_s: 15 * 60,
            sos_reannounce_s: 60,
            journey_remind_before_s: 15 * 60,
            journey_grace_s: 15 * 60,
            cap_sender: "scaan-hub@localhost".into(),
            max_body_bytes: 1 << 20,
            request_timeout_s: 30,
            header_read_timeout_s: 10,
            trusted_proxies: Vec::new(),
            mqtt_listen: ([127, 0, 0, 1], 1883).into(),
            mqtt_plaintext_beyond_loopback: false,
            mqtt_tls_listen: None,
            mqtt_tls_cert_file: None,
            mqtt_tls_key_file: None,
            mqtt_url: None,
            mqtt_admin_username: None,
            mqtt_admin_password: None,
            metrics_listen: None,
            log_format: LogFormat::Text,
            nats_url: None,
            nats_keys_file: None,
            sms_gateway_token: None,
            sms_kannel_url: None,
            sms_reports_url: None,
            sms_fallback_after_s: 120,
            sms_max_per_alert: 5_000,
            sms_per_minute: 600,
            sms_unsure_wait_s: 60,
            map_tile_url: None,
            node_name: None,
        }
    }
}

/// Settings given on the command line; `None` leaves the layers below in force.
#[derive(Debug, Default, Clone, Serialize, clap::Args)]
pub struct Overrides {
    /// HTTP listen address (API, WebSocket, console).
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded database.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://…
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// The hub's own MQTT listener for phones (plaintext; loopback unless allowed otherwise).
    #[arg(long, value_name = "ADDR:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_listen: Option<SocketAddr>,
    /// Use this external MQTT broker (mqtt://[USER:PASSWORD@]HOST:PORT) instead of the hub's own endpoint.
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_url: Option<String>,
}

impl Config {
    /// Layers the sources in order and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let config: Config = Self::layers(file, overrides)?
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// The same layers, reading only where the database is: for commands that use nothing else
    /// (`scaan user add`), so that a setting they do not use cannot stop them.
    pub fn load_storage(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        #[derive(Deserialize)]
        struct Storage {
            data_dir: PathBuf,
            database_url: Option<String>,
        }
        let storage: Storage = Self::layers(file, overrides)?
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let config = Config {
            data_dir: storage.data_dir,
            database_url: storage.database_url,
            ..Config::default()
        };
        config.validate_database_url()?;
        Ok(config)
    }

    fn layers(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Figment> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                bail!("the config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only the hub's own keys, so SCAAN_CONFIG and test variables do not read as typos.
        figment = figment.merge(Env::prefixed("SCAAN_").only(&Self::KEYS));
        for key in Self::SECRETS {
            if let Some(secret) = secret_from_file(key)? {
                figment = figment.merge(Serialized::global(key, secret));
            }
        }
        Ok(figment.merge(Serialized::globals(overrides)))
    }

    /// Keys holding secrets, which may also come from a file named by `SCAAN_{KEY}_FILE` (a
    /// container's or systemd's credentials), so the secret is in no process environment.
    const SECRETS: [&'static str; 5] = [
        "database_url",
        "mqtt_url",
        "mqtt_admin_password",
        "sms_gateway_token",
        "sms_kannel_url",
    ];

    /// `SCAAN_…` variables that set nothing: a misspelt key would otherwise be ignored in
    /// silence. Variables of the command line, the phone simulator, tests and benches are
    /// known too.
    pub fn unknown_variables() -> Vec<String> {
        const OTHERS: [&str; 4] = ["CONFIG", "LOG", "PHONE_SESSION", "CHROMIUM"];
        const FAMILIES: [&str; 2] = ["TEST_", "BENCH_"];
        std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| {
                let Some(rest) = name.strip_prefix("SCAAN_") else {
                    return false;
                };
                let key = rest.to_ascii_lowercase();
                let secret_file = key
                    .strip_suffix("_file")
                    .is_some_and(|secret| Self::SECRETS.contains(&secret));
                !(Self::KEYS.contains(&key.as_str())
                    || secret_file
                    || OTHERS.contains(&rest)
                    || FAMILIES.iter().any(|f| rest.starts_with(f)))
            })
            .collect()
    }

    const KEYS: [&'static str; 42] = [
        "listen",
        "data_dir",
        "database_url",
        "position_freshness_s",
        "position_area_deg",
        "retention_positions_s",
        "retention_trails_s",
        "retention_checkins_s",
        "retention_reports_s",
        "retention_sweep_s",
        "token_ttl_s",
        "checkin_deadline_s",
        "checkin_grace_s",
        "sos_reannounce_s",
        "journey_remind_before_s",
        "journey_grace_s",
        "cap_sender",
        "max_body_bytes",
        "request_timeout_s",
        "header_read_timeout_s",
        "trusted_proxies",
        "mqtt_listen",
        "mqtt_plaintext_beyond_loopback",
        "mqtt_tls_listen",
        "mqtt_tls_cert_file",
        "mqtt_tls_key_file",
        "mqtt_url",
        "mqtt_admin_username",
        "mqtt_admin_password",
        "metrics_listen",
        "log_format",
        "nats_url",
        "nats_keys_file",
        "sms_gateway_token",
        "sms_kannel_url",
        "sms_reports_url",
        "sms_fallback_after_s",
        "sms_max_per_alert",
        "sms_per_minute",
        "sms_unsure_wait_s",
        "map_tile_url",
        "node_name",
    ];

    fn validate_node(&self) -> anyhow::Result<()> {
        let Some(name) = &self.node_name else {
            return Ok(());
        };
        let fits = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(fits) {
            bail!("node_name '{name}' must be 1 to 64 letters, digits, '-', '_' or '.'");
        }
        if self.database_url().starts_with("sqlite:") {
            bail!(
                "node_name is set, so this hub is one of several nodes, and several nodes need one PostgreSQL database they all reach: set database_url to postgres://… (SQLite serves a single hub; unset node_name to run one)"
            );
        }
        // An external broker for several nodes must be clustered too, or it is the single point
        // of failure the nodes are there to remove: NATS is (its MQTT sessions in replicated
        // JetStream), a Mosquitto is not.
        if self.mqtt_url.is_some() && self.nats_url.is_none() {
            bail!(
                "node_name is set with mqtt_url but no nats_url: several nodes share an external broker only when it is a NATS cluster (nats_url and nats_keys_file, each node on its own server of the cluster; deploy/nodes/README.md); a single Mosquitto would be the one part whose loss stops every phone. Unset mqtt_url to serve phones on each node's own MQTT endpoint behind the load balancer"
            );
        }
        Ok(())
    }

    fn validate_database_url(&self) -> anyhow::Result<()> {
        let url = self.database_url();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            bail!(
                "database_url '{}' must start with sqlite:// or postgres://",
                redact(&url)
            );
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.validate_database_url()?;
        self.validate_node()?;
        if self.position_freshness_s == 0 {
            bail!("position_freshness_s must be at least 1 second (the default is 86400, one day)");
        }
        if !(self.position_area_deg >= 0.01 && self.position_area_deg <= 1.0) {
            bail!("position_area_deg must be between 0.01 and 1 degree (the default is 0.1, about 11 km)");
        }
        if self.retention_positions_s < self.position_freshness_s {
            bail!("retention_positions_s must be at least position_freshness_s: a position that still places its owner is kept");
        }
        let retention = [
            ("retention_trails_s", self.retention_trails_s),
            ("retention_checkins_s", self.retention_checkins_s),
            ("retention_reports_s", self.retention_reports_s),
            ("retention_sweep_s", self.retention_sweep_s),
        ];
        if let Some((key, _)) = retention.iter().find(|(_, s)| *s == 0) {
            bail!("{key} must be at least 1 second");
        }
        if self.token_ttl_s < 60 {
            bail!("token_ttl_s must be at least 60 seconds");
        }
        if !(60..=7 * 24 * 3600).contains(&self.checkin_deadline_s) {
            bail!("checkin_deadline_s must be between 60 seconds and 7 days (the default is 1800)");
        }
        if self.sos_reannounce_s == 0 {
            bail!("sos_reannounce_s must be at least 1 second (the default is 60)");
        }
        if self.journey_remind_before_s > 24 * 3600 {
            bail!("journey_remind_before_s must be at most a day (the default is 900)");
        }
        if !(1..=24 * 3600).contains(&self.journey_grace_s) {
            bail!("journey_grace_s must be between 1 second and a day (the default is 900)");
        }
        if self.cap_sender.is_empty() || self.cap_sender.contains([' ', ',', '<', '&']) {
            bail!(
                "cap_sender must be non-empty without spaces, commas, '<' or '&' (CAP 1.2), e.g. scaan@ops.example.org"
            );
        }
        if self.max_body_bytes < 4096 {
            bail!("max_body_bytes must be at least 4096");
        }
        if self.request_timeout_s == 0 {
            bail!("request_timeout_s must be at least 1");
        }
        if self.header_read_timeout_s == 0 {
            bail!("header_read_timeout_s must be at least 1 (the default is 10)");
        }
        if let Some(url) = &self.mqtt_url {
            if let Err(e) = BrokerUrl::parse(url) {
                bail!("mqtt_url '{}': {e}", redact(url));
            }
        }
        if let Some(url) = &self.map_tile_url {
            if let Err(e) = crate::console::TileSource::parse(url) {
                bail!("map_tile_url '{url}': {e}");
            }
        }
        self.validate_mqtt_admin()?;
        self.validate_nats()?;
        self.validate_mqtt_listeners()?;
        self.validate_sms()?;
        Ok(())
    }

    /// Texts go out only with a way back for their delivery reports, at a pace above zero.
    fn validate_sms(&self) -> anyhow::Result<()> {
        let Some(url) = &self.sms_kannel_url else {
            return Ok(());
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("sms_kannel_url '{}': {e}", redact(url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!(
                "sms_kannel_url '{}' must be an http:// or https:// address",
                redact(url)
            );
        }
        if self.sms_gateway_token.is_none() {
            bail!("sms_kannel_url needs sms_gateway_token: the gateway's delivery reports and replies show it");
        }
        if let Some(reports) = &self.sms_reports_url {
            reqwest::Url::parse(reports).map_err(|e| anyhow::anyhow!("sms_reports_url '{reports}': {e}"))?;
        }
        if self.sms_per_minute == 0 || self.sms_max_per_alert == 0 {
            bail!("sms_per_minute and sms_max_per_alert must be at least 1 (the defaults are 600 and 5000)");
        }
        if self.sms_fallback_after_s == 0 {
            bail!("sms_fallback_after_s must be at least 1 second (the default is 120)");
        }
        Ok(())
    }

    /// Plaintext MQTT carries bearer tokens: loopback only, unless said otherwise; TLS comes
    /// with its certificate and key.
    fn validate_mqtt_listeners(&self) -> anyhow::Result<()> {
        if self.mqtt_url.is_some() {
            return Ok(());
        }
        if !self.mqtt_listen.ip().is_loopback() && !self.mqtt_plaintext_beyond_loopback {
            bail!(
                "mqtt_listen {} is not a loopback address, and plaintext MQTT would carry every phone's \
                 token in the clear: serve phones over TLS (mqtt_tls_listen, mqtt_tls_cert_file, \
                 mqtt_tls_key_file), or set mqtt_plaintext_beyond_loopback = true for a network nobody else sees",
                self.mqtt_listen
            );
        }
        match (&self.mqtt_tls_listen, &self.mqtt_tls_cert_file, &self.mqtt_tls_key_file) {
            (None, None, None) | (Some(_), Some(_), Some(_)) => Ok(()),
            _ => bail!("set mqtt_tls_listen, mqtt_tls_cert_file and mqtt_tls_key_file together, or none of them"),
        }
    }

    /// The TLS listener and its identity, when configured.
    pub fn mqtt_tls(&self) -> Option<(SocketAddr, &Path, &Path)> {
        Some((
            self.mqtt_tls_listen?,
            self.mqtt_tls_cert_file.as_deref()?,
            self.mqtt_tls_key_file.as_deref()?,
        ))
    }

    /// The admin login comes whole, and only for an external broker that carries no login of
    /// its own in the URL: the hub makes its own at start.
    fn validate_mqtt_admin(&self) -> anyhow::Result<()> {
        let (username, password) = (&self.mqtt_admin_username, &self.mqtt_admin_password);
        if username.is_none() && password.is_none() {
            return Ok(());
        }
        let Some(url) = &self.mqtt_url else {
            bail!("mqtt_admin_username and mqtt_admin_password are for an external Mosquitto: set mqtt_url too");
        };
        if username.as_deref().is_none_or(str::is_empty) || password.as_deref().is_none_or(str::is_empty) {
            bail!("set both mqtt_admin_username and mqtt_admin_password (as SCAAN_MQTT_ADMIN_PASSWORD), or neither");
        }
        if BrokerUrl::parse(url).is_ok_and(|broker| broker.credentials.is_some()) {
            bail!(
                "mqtt_url '{}' carries a login, but with mqtt_admin_username the hub provisions its own: \
                 drop USER:PASSWORD@ from mqtt_url",
                redact(url)
            );
        }
        Ok(())
    }

    /// A NATS server comes with its keys and its MQTT listener (`mqtt_url`, no login: the hub
    /// signs its own), and not with a Mosquitto admin.
    fn validate_nats(&self) -> anyhow::Result<()> {
        let (url, keys) = match (&self.nats_url, &self.nats_keys_file) {
            (None, None) => return Ok(()),
            (Some(url), Some(keys)) => (url, keys),
            _ => bail!("set nats_url and nats_keys_file together, or neither"),
        };
        if let Err(e) = BrokerUrl::parse_nats(url) {
            bail!("nats_url: {e}");
        }
        if keys.as_os_str().is_empty() {
            bail!("nats_keys_file is empty: name the file `scaan nats init` wrote");
        }
        let Some(mqtt_url) = &self.mqtt_url else {
            bail!("nats_url needs mqtt_url too: the NATS server's MQTT listener, where phones connect");
        };
        if BrokerUrl::parse(mqtt_url).is_ok_and(|broker| broker.credentials.is_some()) {
            bail!(
                "mqtt_url '{}' carries a login, but with nats_url the hub signs its own: drop USER:PASSWORD@",
                redact(mqtt_url)
            );
        }
        if self.mqtt_admin().is_some() {
            bail!("mqtt_admin_username is for an external Mosquitto, nats_url for a NATS server: set one of them");
        }
        Ok(())
    }

    /// The external NATS server and the hub's keys file, when the broker is one.
    pub fn nats(&self) -> anyhow::Result<Option<(BrokerUrl, &Path)>> {
        match (&self.nats_url, &self.nats_keys_file) {
            (Some(url), Some(keys)) => {
                let url = BrokerUrl::parse_nats(url).map_err(|e| anyhow::anyhow!("nats_url: {e}"))?;
                Ok(Some((url, keys.as_path())))
            }
            _ => Ok(None),
        }
    }

    /// The database URL in force: the configured one, or SQLite inside `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("scaan.db").display()),
        }
    }

    /// The external broker, when `mqtt_url` is set (validated at load).
    pub fn mqtt_broker(&self) -> anyhow::Result<Option<BrokerUrl>> {
        self.mqtt_url
            .as_deref()
            .map(|url| BrokerUrl::parse(url).map_err(|e| anyhow::anyhow!("mqtt_url '{}': {e}", redact(url))))
            .transpose()
    }

    /// The dynamic-security admin's (username, password), when the hub provisions the broker.
    pub fn mqtt_admin(&self) -> Option<(&str, &str)> {
        self.mqtt_admin_username
            .as_deref()
            .zip(self.mqtt_admin_password.as_deref())
    }

    /// Creates `data_dir` when the embedded database will live there.
    pub fn prepare_data_dir(&self) -> anyhow::Result<()> {
        if self.database_url.is_none() {
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
        }
        Ok(())
    }
}

/// The secret in the file `SCAAN_{KEY}_FILE` names, without its trailing newline.
fn secret_from_file(key: &str) -> anyhow::Result<Option<String>> {
    let variable = format!("SCAAN_{}_FILE", key.to_ascii_uppercase());
    let Some(path) = std::env::var_os(&variable) else {
        return Ok(None);
    };
    let secret = std::fs::read_to_string(&path)
        .with_context(|| format!("{variable}: cannot read {}", Path::new(&path).display()))?;
    Ok(Some(secret.trim_end_matches(['\r', '\n']).to_owned()))
}

/// Hides a password in a URL (`postgres://user:secret@host` → `postgres://user:***@host`).
pub fn redact(url: &str) -> String {
    let url = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &credentials[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    // A gateway's login in its query (Kannel's `sendsms?username=…&password=…`).
    match url.find("password=") {
        Some(start) => {
            let value = start + "password=".len();
            let end = url[value..].find('&').map_or(url.len(), |e| value + e);
            format!("{}***{}", &url[..value], &url[end..])
        }
        None => url,
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact(&self.database_url()))
            .field("position_freshness_s", &self.position_freshness_s)
            .field("position_area_deg", &self.position_area_deg)
            .field("retention_positions_s", &self.retention_positions_s)
            .field("retention_trails_s", &self.retention_trails_s)
            .field("retention_checkins_s", &self.retention_checkins_s)
            .field("retention_reports_s", &self.retention_reports_s)
            .field("retention_sweep_s", &self.retention_sweep_s)
            .field("token_ttl_s", &self.token_ttl_s)
            .field("cap_sender", &self.cap_sender)
            .field("mqtt_listen", &self.mqtt_listen)
            .field("mqtt_plaintext_beyond_loopback", &self.mqtt_plaintext_beyond_loopback)
            .field("mqtt_tls_listen", &self.mqtt_tls_listen)
            .field("mqtt_tls_cert_file", &self.mqtt_tls_cert_file)
            .field("mqtt_tls_key_file", &self.mqtt_tls_key_file)
            .field("mqtt_url", &self.mqtt_url.as_deref().map(redact))
            .field("mqtt_admin_username", &self.mqtt_admin_username)
            .field("mqtt_admin_password", &self.mqtt_admin_password.as_ref().map(|_| "***"))
            .field("metrics_listen", &self.metrics_listen)
            .field("log_format", &self.log_format)
            .field("nats_url", &self.nats_url)
            .field("nats_keys_file", &self.nats_keys_file)
            .field("sms_gateway_token", &self.sms_gateway_token.as_ref().map(|_| "***"))
            .field("sms_kannel_url", &self.sms_kannel_url.as_deref().map(redact))
            .field("sms_reports_url", &self.sms_reports_url)
            .field("sms_fallback_after_s", &self.sms_fallback_after_s)
            .field("sms_max_per_alert", &self.sms_max_per_alert)
            .field("sms_per_minute", &self.sms_per_minute)
            .field("sms_unsure_wait_s", &self.sms_unsure_wait_s)
            .field("map_tile_url", &self.map_tile_url)
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\ntoken_ttl_s = 3600\n").unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.token_ttl_s, 3600);
        assert_eq!(config.position_freshness_s, 86400);
        let flags = Overrides {
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(Config::load(Some(&file), &flags).unwrap().listen.port(), 9100);
    }

    #[test]
    fn several_nodes_need_postgresql_and_their_own_mqtt_endpoints_or_a_nats_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        std::fs::write(&file, "node_name = \"hub-1\"\n").unwrap();
        let e = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("node_name") && e.contains("PostgreSQL"), "{e}");
        let postgres = "database_url = \"postgres://scaan@db/scaan\"\n";
        std::fs::write(&file, format!("{postgres}node_name = \"hub-1\"\n")).unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(config.node_name.as_deref(), Some("hub-1"));
        std::fs::write(&file, format!("{postgres}node_name = \"hub 1\"\n")).unwrap();
        assert!(
            Config::load(Some(&file), &Overrides::default()).is_err(),
            "a name with a space"
        );
        std::fs::write(
            &file,
            format!("{postgres}node_name = \"hub-1\"\nmqtt_url = \"mqtt://127.0.0.1:1883\"\n"),
        )
        .unwrap();
        let e = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("mqtt_url") && e.contains("NATS"), "{e}");
        std::fs::write(
            &file,
            format!(
                "{postgres}node_name = \"hub-1\"\nmqtt_url = \"mqtt://127.0.0.1:1883\"\n\
                 nats_url = \"nats://127.0.0.1:4222\"\nnats_keys_file = \"/etc/scaan/nats-keys.json\"\n"
            ),
        )
        .unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).expect("several nodes on a NATS cluster");
        assert!(config.nats_url.is_some() && config.node_name.is_some());
    }

    #[test]
    fn a_position_is_kept_at_least_while_it_places_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        std::fs::write(&file, "position_freshness_s = 3600\nretention_positions_s = 600\n").unwrap();
        let e = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("retention_positions_s"), "{e}");
        std::fs::write(&file, "position_area_deg = 5.0\n").unwrap();
        let e = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("position_area_deg"), "{e}");
        std::fs::write(&file, "retention_reports_s = 0\n").unwrap();
        let e = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("retention_reports_s"), "{e}");
    }

    #[test]
    fn the_shipped_production_configuration_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        std::fs::write(&file, include_str!("../../deploy/scaan.toml")).unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert!(config.mqtt_listen.ip().is_loopback());
        assert!(config.mqtt_tls().is_some(), "phones come in over TLS");
        assert_eq!(
            config.trusted_proxies,
            ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn plaintext_mqtt_stays_on_loopback_unless_said_otherwise() {
        let beyond = Overrides {
            mqtt_listen: Some("0.0.0.0:1883".parse().unwrap()),
            ..Default::default()
        };
        let e = Config::load(None, &beyond).unwrap_err().to_string();
        assert!(
            e.contains("mqtt_tls_listen") && e.contains("mqtt_plaintext_beyond_loopback"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        std::fs::write(&file, "mqtt_plaintext_beyond_loopback = true\n").unwrap();
        assert!(Config::load(Some(&file), &beyond).is_ok());
        // TLS comes whole.
        std::fs::write(&file, "mqtt_tls_listen = \"0.0.0.0:8883\"\n").unwrap();
        let e = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("mqtt_tls_cert_file"), "{e}");
    }

    #[test]
    fn a_nats_server_comes_with_its_keys_and_its_mqtt_listener_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        let load = |toml: &str| {
            std::fs::write(&file, toml).unwrap();
            Config::load(Some(&file), &Overrides::default())
        };
        let nats = "nats_url = \"nats://127.0.0.1:4222\"\nnats_keys_file = \"/etc/scaan/nats-keys.json\"\n";
        let config = load(&format!("mqtt_url = \"mqtt://127.0.0.1:1883\"\n{nats}")).unwrap();
        assert_eq!(config.nats().unwrap().map(|(url, _)| url.port), Some(4222));
        for (toml, named) in [
            (nats.to_owned(), "mqtt_url"),
            (
                "mqtt_url = \"mqtt://x:1\"\nnats_url = \"nats://x:4222\"\n".to_owned(),
                "nats_keys_file",
            ),
            (
                format!("mqtt_url = \"mqtt://hub:pw@x:1\"\n{nats}"),
                "drop USER:PASSWORD@",
            ),
            (
                format!("mqtt_url = \"mqtt://x:1\"\nmqtt_admin_username = \"a\"\nmqtt_admin_password = \"b\"\n{nats}"),
                "set one of them",
            ),
            (
                format!("mqtt_url = \"mqtt://x:1\"\n{}", nats.replace("nats://", "tls://")),
                "nats://",
            ),
        ] {
            let e = load(&toml).unwrap_err().to_string();
            assert!(e.contains(named), "{toml}: {e}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let e = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen"), "{e}");
        let flags = Overrides {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        let e = Config::load(None, &flags).unwrap_err().to_string();
        assert!(e.contains("sqlite://"), "{e}");
        let flags = Overrides {
            mqtt_url: Some("tcp://broker:1883".into()),
            ..Default::default()
        };
        let e = Config::load(None, &flags).unwrap_err().to_string();
        assert!(e.contains("mqtt_url") && e.contains("mqtt://"), "{e}");
        assert!(Config::load(Some(Path::new("/nonexistent/scaan.toml")), &Overrides::default()).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("postgres://scaan:hunter2@db:5432/scaan"),
            "postgres://scaan:***@db:5432/scaan"
        );
        assert_eq!(redact("sqlite://./x.db"), "sqlite://./x.db");
        let config = Config {
            mqtt_url: Some("mqtt://hub:hunter2@broker:1883".into()),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        let config = Config {
            mqtt_url: Some("mqtt://broker:1883".into()),
            mqtt_admin_username: Some("scaan-admin".into()),
            mqtt_admin_password: Some("hunter2".into()),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        let kannel = "http://k:13013/cgi-bin/sendsms?username=scaan&password=hunter2&from=7226";
        assert_eq!(
            redact(kannel),
            "http://k:13013/cgi-bin/sendsms?username=scaan&password=***&from=7226"
        );
        let config = Config {
            sms_kannel_url: Some(kannel.into()),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn texts_need_the_gateway_token_for_their_reports() {
        let config = Config {
            sms_kannel_url: Some("http://127.0.0.1:13013/cgi-bin/sendsms?username=a&password=b".into()),
            ..Config::default()
        };
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("sms_gateway_token"), "{refused}");
        let config = Config {
            sms_gateway_token: Some("t".into()),
            ..config
        };
        config.validate().unwrap();
        let config = Config {
            sms_kannel_url: Some("ftp://127.0.0.1/sendsms".into()),
            ..config
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_mosquitto_admin_login_needs_an_external_broker_without_a_login() {
        let flags = |url: Option<&str>| Overrides {
            mqtt_url: url.map(str::to_owned),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scaan.toml");
        std::fs::write(
            &file,
            "mqtt_admin_username = \"scaan-admin\"\nmqtt_admin_password = \"s3cret\"\n",
        )
        .unwrap();
        let e = Config::load(Some(&file), &flags(None)).unwrap_err().to_string();
        assert!(e.contains("set mqtt_url"), "{e}");
        let e = Config::load(Some(&file), &flags(Some("mqtt://hub:pw@broker:1883")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("drop USER:PASSWORD@") && !e.contains(":pw@"), "{e}");
        let config = Config::load(Some(&file), &flags(Some("mqtt://broker:1883"))).unwrap();
        assert_eq!(config.mqtt_admin(), Some(("scaan-admin", "s3cret")));

        std::fs::write(&file, "mqtt_admin_username = \"scaan-admin\"\n").unwrap();
        let e = Config::load(Some(&file), &flags(Some("mqtt://broker:1883")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SCAAN_MQTT_ADMIN_PASSWORD"), "{e}");
        assert_eq!(
            Config::load(None, &flags(Some("mqtt://broker:1883")))
                .unwrap()
                .mqtt_admin(),
            None
        );
    }
}
