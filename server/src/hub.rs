//! The hub's shared state: one of everything, built once from the configuration and handed to
//! every request, stream and background task.

use anyhow::Context;
use chrono::{Duration, Utc};
use scaan_schemas::{Role, User};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{LoginLimiter, PasswordChecks};
use crate::config::{redact, Config};
use crate::countries::CountryAtlas;
use crate::delivery::Delivery;
use crate::headcounts::{CheckinWriter, HeadcountPulse, OpenHeadcounts};
use crate::metrics::Metrics;
use crate::mqtt::Mqtt;
use crate::storage::Store;
use crate::targeting::{Fix, Point, StaffPlaces, Targeting};

pub struct Hub {
    pub config: Config,
    pub store: Store,
    pub targeting: Targeting,
    pub atlas: &'static CountryAtlas,
    pub delivery: Delivery,
    pub checkins: CheckinWriter,
    pub pulse: HeadcountPulse,
    pub open_headcounts: OpenHeadcounts,
    pub logins: LoginLimiter,
    /// Password checks, a bounded number at once.
    pub passwords: PasswordChecks,
    /// The MQTT broker in use and the hub's link to it.
    pub mqtt: Mqtt,
    pub metrics: Metrics,
    /// Cancelled when the hub stops; every stream and task watches it.
    pub shutdown: CancellationToken,
    /// Every task the hub spawns, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Until when accounts added or changed elsewhere (`scaan user …`) have been followed
    /// ([`Hub::follow_accounts`]).
    pub accounts_seen: tokio::sync::Mutex<crate::lifecycle::AccountsSeen>,
}

impl Hub {
    pub async fn build(config: Config) -> anyhow::Result<Hub> {
        config.prepare_data_dir()?;
        let url = config.database_url();
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        let targeting = Targeting::new(Duration::seconds(config.position_freshness_s as i64));
        let loaded_at = Utc::now();
        let staff = store.staff_records().await?;
        let mut trips = crate::trips::legs_by_traveller(store.unfinished_trips(None, Utc::now()).await?);
        targeting.load(staff.into_iter().map(|s| {
            let places = StaffPlaces {
                position: s.position.map(|(p, recorded_at)| Fix {
                    at: Point { lon: p.lon, lat: p.lat },
                    recorded_at,
                }),
                duty_station: s.duty_station.map(|p| Point { lon: p.lon, lat: p.lat }),
                trips: trips.remove(&s.id).unwrap_or_default(),
            };
            (s.id, places)
        }));
        tracing::info!(backend = store.backend(), staff = targeting.len(), "storage ready");
        let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
        let (inbox, inbox_queue) = tokio::sync::mpsc::unbounded_channel();
        let mqtt = Mqtt::start(&config, &store, inbox_queue, &shutdown, &tasks).await?;
        let metrics = Metrics::default();
        let hub = Hub {
            atlas: CountryAtlas::embedded(),
            config,
            checkins: CheckinWriter::start(store.clone(), metrics.checkin_commit.clone(), shutdown.clone(), &tasks),
            pulse: HeadcountPulse::default(),
            open_headcounts: OpenHeadcounts::default(),
            store,
            targeting,
            delivery: Delivery::with_inbox(inbox),
            mqtt,
            metrics,
            logins: LoginLimiter::default(),
            passwords: PasswordChecks::default(),
            shutdown,
            tasks,
            accounts_seen: tokio::sync::Mutex::new(crate::lifecycle::AccountsSeen::new(loaded_at)),
        };
        hub.load_open_headcounts().await?;
        Ok(hub)
    }

    /// Puts a new account's duty station into the targeting index.
    pub fn place_staff(&self, user: &User) {
        if user.role == Role::Staff {
            self.targeting
                .set_duty_station(user.id, user.duty_station.map(|p| Point { lon: p.lon, lat: p.lat }));
        }
    }
}
