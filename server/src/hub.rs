//! The composition root: one of every handle (store, targeting index, atlas, delivery, MQTT)
//! and every domain service, built once from the configuration and handed to every request,
//! stream and background task. Each service holds only the handles it uses; handlers take
//! theirs from here through axum state (`FromRef`). Nothing here does the domains' work.

use anyhow::Context;
use chrono::{Duration, Utc};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounts::Accounts;
use crate::advisories::Advisories;
use crate::alerts::Alerts;
use crate::audit::Audit;
use crate::auth::Logins;
use crate::config::{redact, Config};
use crate::countries::CountryAtlas;
use crate::delivery::Delivery;
use crate::headcounts::{CheckinWriter, Deadlines, HeadcountPulse, Headcounts, LateArrivals, OpenHeadcounts};
use crate::journeys::{JourneyTimings, Journeys};
use crate::lifecycle::AccountFollower;
use crate::metrics::Metrics;
use crate::mqtt::Mqtt;
use crate::nodes::leadership::Leadership;
use crate::nodes::{Nodes, ReadMark};
use crate::positions::Positions;
use crate::privacy::erasure::PersonRecords;
use crate::privacy::retention::{Limits, Retention};
use crate::privacy::LocationPrivacy;
use crate::reports::Reports;
use crate::sms::{FallbackSettings, Gateway, Kannel, TextFallback, Texts};
use crate::sos::SosCalls;
use crate::storage::Store;
use crate::targeting::{Fix, Point, StaffPlaces, Targeting};
use crate::trips::Trips;
use crate::warnings::Warnings;

pub struct Hub {
    pub config: Config,
    pub store: Store,
    pub delivery: Arc<Delivery>,
    pub checkins: CheckinWriter,
    pub pulse: Arc<HeadcountPulse>,
    pub open_headcounts: Arc<OpenHeadcounts>,
    pub logins: Logins,
    /// The MQTT broker in use and the hub's link to it.
    pub mqtt: Arc<Mqtt>,
    pub metrics: Metrics,
    /// Cancelled when the hub stops; every stream and task watches it.
    pub shutdown: CancellationToken,
    /// Every task the hub spawns, so shutdown can wait for them.
    pub tasks: TaskTracker,
    pub accounts: Accounts,
    pub follower: AccountFollower,
    pub positions: Positions,
    pub privacy: LocationPrivacy,
    pub person_records: PersonRecords,
    pub alerts: Alerts,
    pub reports: Reports,
    pub audit: Audit,
    pub advisories: Advisories,
    pub trips: Trips,
    pub journeys: Journeys,
    pub sos: SosCalls,
    pub headcounts: Headcounts,
    pub texts: Texts,
    /// The SMS fallback, when a gateway is configured.
    pub text_fallback: Option<TextFallback>,
    pub warnings: Warnings,
    pub retention: Retention,
    /// Where staff are, for alerts; kept current from the other nodes too.
    pub targeting: Arc<Targeting>,
    /// The other nodes of the deployment (none when the hub is alone on its database).
    pub nodes: Arc<Nodes>,
    /// Whether this node runs the scheduled work (always, when alone).
    pub leadership: Leadership,
    /// With several nodes: how far this one has applied the others' events (taken by
    /// [`crate::nodes::follow`] when serving starts).
    pub node_events: std::sync::Mutex<Option<ReadMark>>,
}

impl Hub {
    pub async fn build(config: Config) -> anyhow::Result<Hub> {
        config.prepare_data_dir()?;
        let url = config.database_url();
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        // Read before anything is loaded: what other nodes do meanwhile is applied over it.
        let node_events = match config.node_name {
            Some(_) => Some(ReadMark::from(store.last_node_event().await?)),
            None => None,
        };
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
        let (nodes, leadership) = match &config.node_name {
            Some(name) => {
                tracing::info!(node = name, "one of several nodes on this database");
                let nodes = Nodes::cluster(store.clone(), shutdown.clone(), &tasks);
                (nodes, Leadership::campaign(url.clone(), shutdown.clone(), &tasks))
            }
            None => (Nodes::single(), Leadership::alone()),
        };
        let nodes = Arc::new(nodes);
        let (inbox, inbox_queue) = tokio::sync::mpsc::unbounded_channel();
        let mqtt = Arc::new(Mqtt::start(&config, &store, inbox_queue, &shutdown, &tasks).await?);
        let metrics = Metrics::default();
        let atlas = CountryAtlas::embedded();
        let delivery = Arc::new(Delivery::with_inbox(inbox, nodes.clone(), &shutdown));
        let position_freshness = Duration::seconds(config.position_freshness_s as i64);
        let targeting = Arc::new(targeting);
        let pulse = Arc::new(HeadcountPulse::default());
        let open_headcounts = Arc::new(OpenHeadcounts::default());
        let late_arrivals = LateArrivals::new(
            store.clone(),
            targeting.clone(),
            delivery.clone(),
            open_headcounts.clone(),
            pulse.clone(),
            nodes.clone(),
        );
        let audit = Audit::new(store.clone());
        let accounts = Accounts::new(store.clone(), audit.clone());
        let follower = AccountFollower::new(
            store.clone(),
            targeting.clone(),
            delivery.clone(),
            mqtt.clone(),
            nodes.clone(),
            loaded_at,
        );
        let deadlines = Deadlines {
            default_deadline: Duration::seconds(config.checkin_deadline_s as i64),
            grace: Duration::seconds(config.checkin_grace_s as i64),
        };
        let checkins = CheckinWriter::start(store.clone(), metrics.checkin_commit.clone(), shutdown.clone(), &tasks);
        let headcounts = Headcounts::new(
            store.clone(),
            checkins.clone(),
            open_headcounts.clone(),
            pulse.clone(),
            delivery.clone(),
            nodes.clone(),
            audit.clone(),
            deadlines,
            metrics.escalation_waves.clone(),
            atlas,
        );
        let trips = Trips::new(
            store.clone(),
            atlas,
            targeting.clone(),
            late_arrivals.clone(),
            delivery.clone(),
            nodes.clone(),
            audit.clone(),
        );
        let privacy = LocationPrivacy::new(store.clone(), config.position_area_deg);
        let journeys = Journeys::new(
            store.clone(),
            delivery.clone(),
            audit.clone(),
            privacy.clone(),
            JourneyTimings {
                remind_before: Duration::seconds(config.journey_remind_before_s as i64),
                grace: Duration::seconds(config.journey_grace_s as i64),
            },
        );
        let sos = SosCalls::new(
            store.clone(),
            atlas,
            delivery.clone(),
            audit.clone(),
            privacy.clone(),
            Duration::seconds(config.sos_reannounce_s as i64),
        );
        let logins = Logins::new(
            store.clone(),
            mqtt.clone(),
            follower.clone(),
            Duration::seconds(config.token_ttl_s as i64),
            &config.trusted_proxies,
            metrics.failed_logins.clone(),
            metrics.throttled_logins.clone(),
        );
        let person_records = PersonRecords::new(store.clone(), audit.clone(), follower.clone());
        let retention = Retention::new(
            store.clone(),
            Limits::of(&config),
            config.position_area_deg,
            std::time::Duration::from_secs(config.retention_sweep_s),
        );
        let positions = Positions::new(
            store.clone(),
            atlas,
            targeting.clone(),
            sos.clone(),
            late_arrivals.clone(),
            privacy.clone(),
            nodes.clone(),
            position_freshness,
        );
        let alerts = Alerts::new(
            store.clone(),
            atlas,
            targeting.clone(),
            follower.clone(),
            headcounts.clone(),
            delivery.clone(),
            audit.clone(),
            &config.cap_sender,
        );
        let reports = Reports::new(store.clone(), atlas, delivery.clone(), audit.clone(), alerts.clone());
        let advisories = Advisories::new(
            store.clone(),
            atlas,
            delivery.clone(),
            audit.clone(),
            position_freshness,
        );
        let texts = Texts::new(
            store.clone(),
            headcounts.clone(),
            sos.clone(),
            config.sms_gateway_token.as_deref(),
        );
        let text_fallback = match &config.sms_kannel_url {
            Some(sendsms) => {
                let reports = config
                    .sms_reports_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", config.listen));
                let token = config.sms_gateway_token.as_deref().unwrap_or_default();
                let gateway = Gateway::Kannel(Kannel::new(sendsms, &reports, token)?);
                let settings = FallbackSettings {
                    after: Duration::seconds(config.sms_fallback_after_s as i64),
                    max_per_alert: config.sms_max_per_alert,
                    per_minute: config.sms_per_minute,
                    unsure_wait: Duration::seconds(config.sms_unsure_wait_s as i64),
                };
                let fallback = TextFallback::start(
                    store.clone(),
                    open_headcounts.clone(),
                    deadlines,
                    gateway,
                    settings,
                    metrics.texts_handed.clone(),
                )
                .await?;
                Some(fallback)
            }
            None => None,
        };
        let warnings = Warnings::new(store.clone(), atlas, delivery.clone(), audit.clone(), alerts.clone())?;
        let hub = Hub {
            config,
            checkins,
            pulse,
            open_headcounts,
            store,
            delivery,
            mqtt,
            metrics,
            logins,
            shutdown,
            tasks,
            accounts,
            follower,
            positions,
            privacy,
            person_records,
            alerts,
            reports,
            audit,
            advisories,
            trips,
            journeys,
            sos,
            headcounts,
            texts,
            text_fallback,
            warnings,
            retention,
            targeting,
            nodes,
            leadership,
            node_events: std::sync::Mutex::new(node_events),
        };
        hub.headcounts.load_open().await?;
        Ok(hub)
    }
}
