//! Outside warnings: the public CAP feeds officers follow (Atom or RSS indexes of CAP messages,
//! or one CAP document's URL), polled with conditional requests and backoff, every fetch and
//! its outcome recorded; the warnings they bring (CAP 1.0, 1.1 and 1.2, every language), which
//! Updates replace and Cancels withdraw; and their promotion into an alert by an officer.
//!
//! A warning reaches officers only (their streams and the console's outside-warnings layer):
//! no staff member hears of one until an officer promotes it, and that goes through the alert
//! path with its review like any alert.
//!
//! Owns: the feeds, their fetches, the warnings. Uses: [`Alerts`] (a promotion is sent as any
//! alert), [`Audit`], the delivery fan-out (to officers) and the country atlas.

mod feed;
mod routes;
pub mod rules;

pub use routes::router;

use axum::extract::FromRef;
use chrono::{Duration, Utc};
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{StatusCode, Url};
use scaan_schemas::cap_message::{CapMessage, MAX_MESSAGE_BYTES};
use scaan_schemas::safe_xml::XmlRejected;
use scaan_schemas::{
    Alert, AlertPatch, Envelope, FeedFetch, FetchOutcome, Invalid, NewWarningFeed, Role, Validate, Warning,
    WarningFeed, WarningState,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::alerts::{AlertError, Alerts};
use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Forbidden};
use crate::countries::CountryAtlas;
use crate::delivery::{Audience, Delivery};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::storage::{MessageKey, Store, StoreError, Validators};
use feed::{read_document, Document, MAX_INDEX_BYTES};

/// How often the follower looks for feeds due.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// Feeds fetched at the same time, at most.
const FETCHES_AT_ONCE: usize = 8;
/// The longest wait between polls of a failing feed.
const MAX_BACKOFF_S: i64 = 3600;
/// Entries read from one index per poll: a huge index is worked through over several polls.
const MAX_ENTRIES_PER_POLL: usize = 200;

/// The feeds, the follower, and the warnings.
#[derive(Clone)]
pub struct Warnings {
    store: Store,
    atlas: &'static CountryAtlas,
    delivery: Arc<Delivery>,
    audit: Audit,
    alerts: Alerts,
    http: reqwest::Client,
    /// The feeds being fetched now.
    polling: Arc<std::sync::Mutex<std::collections::HashSet<Uuid>>>,
    /// How many feeds are fetched at once.
    fetches: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum WarningError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The alert a promotion sends was refused.
    #[error(transparent)]
    Alert(#[from] AlertError),
}

impl From<WarningError> for ApiError {
    fn from(e: WarningError) -> Self {
        match e {
            WarningError::Invalid(e) => e.into(),
            WarningError::Forbidden(e) => e.into(),
            WarningError::NotFound(what) => ApiError::NotFound(what),
            WarningError::Conflict { code, message } => ApiError::Conflict { code, message },
            WarningError::Store(e) => e.into(),
            WarningError::Alert(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Warnings {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.warnings.clone()
    }
}

/// A warning held for a promotion while its alert is sent: the warning names the alert first,
/// so that of two officers promoting it at once one gets a 409 and no second alert is sent.
struct Claim {
    warning: Warning,
    row_version: i64,
    alert_id: Uuid,
    content: scaan_schemas::NewAlert,
}

/// What one fetch brought.
enum Fetched {
    NotModified,
    Body { body: Vec<u8>, validators: Validators },
}

/// What a fetched document brought.
struct Applied {
    outcome: FetchOutcome,
    new_messages: u32,
    detail: Option<String>,
    /// Whether every entry of an index was dealt with.
    complete: bool,
}

impl Applied {
    fn nothing(outcome: FetchOutcome) -> Applied {
        Applied {
            outcome,
            new_messages: 0,
            detail: None,
            complete: true,
        }
    }
}

/// Why a fetch failed, for the record.
struct FetchFailure {
    http_status: Option<u16>,
    detail: String,
}

/// The wait before the next poll: the feed's interval while it answers, doubled for each
/// failure in a row, at most an hour (or the interval, when that is longer).
pub fn retry_delay(interval_s: u32, failures: u32) -> Duration {
    let interval = i64::from(interval_s);
    let backed_off = interval.saturating_mul(1 << failures.min(20));
    Duration::seconds(backed_off.min(MAX_BACKOFF_S.max(interval)))
}

impl Warnings {
    pub fn new(
        store: Store,
        atlas: &'static CountryAtlas,
        delivery: Arc<Delivery>,
        audit: Audit,
        alerts: Alerts,
    ) -> anyhow::Result<Warnings> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("scaan-hub/", env!("CARGO_PKG_VERSION"), " (CAP feed follower)"))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Warnings {
            store,
            atlas,
            delivery,
            audit,
            alerts,
            http,
            polling: Arc::default(),
            fetches: Arc::new(tokio::sync::Semaphore::new(FETCHES_AT_ONCE)),
        })
    }

    /// Follows every feed until `shutdown`: each is polled when due.
    pub fn follow(&self, shutdown: &CancellationToken, tasks: &TaskTracker) {
        let (this, shutdown, tasks) = (self.clone(), shutdown.clone(), tasks.clone());
        tasks.clone().spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(TICK) => {}
                }
                let due = match this.store.due_feeds(Utc::now()).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the feeds due");
                        continue;
                    }
                };
                for (feed, validators) in due {
                    // Each feed on its own task, so a slow or hanging one (up to the fetch's
                    // timeout) holds up no other; a feed still being fetched is not fetched again.
                    if !this.polling.lock().unwrap_or_else(|e| e.into_inner()).insert(feed.id) {
                        continue;
                    }
                    let slot = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        slot = this.fetches.clone().acquire_owned() => slot,
                    };
                    let Ok(slot) = slot else { return };
                    let (this, shutdown) = (this.clone(), shutdown.clone());
                    tasks.spawn(async move {
                        let id = feed.id;
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = this.poll(feed, validators) => {}
                        }
                        this.polling.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                        drop(slot);
                    });
                }
            }
        });
    }

    /// Fetches one feed, applies what it brought, and records the fetch and when to poll next.
    async fn poll(&self, mut feed: WarningFeed, validators: Validators) {
        let started = Utc::now();
        let (outcome, validators) = match self.fetch(&feed.url, &validators, MAX_INDEX_BYTES).await {
            Ok(Fetched::NotModified) => (Ok(Applied::nothing(FetchOutcome::NotModified)), validators),
            Ok(Fetched::Body { body, validators: new }) => {
                let applied = self.read_feed(&feed, &body).await;
                // Entries left for later must not hide behind a 304: the next fetch is whole.
                let complete = matches!(&applied, Ok(a) if a.complete);
                (applied, if complete { new } else { Validators::default() })
            }
            Err(failure) => (Err(failure), validators),
        };
        let now = Utc::now();
        let fetch = match outcome {
            Ok(Applied {
                outcome,
                new_messages,
                detail,
                ..
            }) => {
                feed.failures = 0;
                feed.last_success_at = Some(now);
                feed.last_error = None;
                FeedFetch {
                    feed_id: feed.id,
                    at: started,
                    outcome,
                    http_status: Some(if outcome == FetchOutcome::NotModified { 304 } else { 200 }),
                    new_messages,
                    detail,
                }
            }
            Err(failure) => {
                feed.failures += 1;
                feed.last_error = Some(failure.detail.clone());
                tracing::warn!(feed = %feed.url, failures = feed.failures, error = %failure.detail, "a warning feed failed");
                FeedFetch {
                    feed_id: feed.id,
                    at: started,
                    outcome: FetchOutcome::Failed,
                    http_status: failure.http_status,
                    new_messages: 0,
                    detail: Some(failure.detail),
                }
            }
        };
        feed.next_poll_at = now + retry_delay(feed.interval_s, feed.failures);
        if let Err(e) = self.store.record_fetch(&feed, &validators, &fetch).await {
            tracing::error!(error = %e, feed = %feed.url, "could not record a feed's fetch");
        }
    }

    /// GET with the validators of the last answer; at most `limit` bytes of body.
    async fn fetch(&self, url: &str, validators: &Validators, limit: usize) -> Result<Fetched, FetchFailure> {
        let failed = |detail: String| FetchFailure {
            http_status: None,
            detail,
        };
        let mut request = self.http.get(url);
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(since) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, since);
        }
        let mut response = request.send().await.map_err(|e| failed(describe(&e)))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(FetchFailure {
                http_status: Some(status.as_u16()),
                detail: format!("the server answered {status}"),
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(describe(&e)))? {
            if body.len() + chunk.len() > limit {
                return Err(failed(format!("the document is larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { body, validators })
    }

    /// Applies a fetched document: its one message, or each index entry not read before. What
    /// an entry's server refused (4xx) or sent broken is said in the detail and not fetched
    /// again; an entry that could not be fetched otherwise is tried again at the next poll.
    async fn read_feed(&self, feed: &WarningFeed, body: &[u8]) -> Result<Applied, FetchFailure> {
        let base = Url::parse(&feed.url).map_err(|e| FetchFailure {
            http_status: None,
            detail: format!("the feed's URL is not usable: {e}"),
        })?;
        let refused = |e: XmlRejected| FetchFailure {
            http_status: Some(200),
            detail: format!("the feed is neither an Atom or RSS index nor a CAP message: {e}"),
        };
        let stored = |e: StoreError| FetchFailure {
            http_status: Some(200),
            detail: format!("the hub could not store what it fetched: {e}"),
        };
        let entries = match read_document(body, &base).map_err(refused)? {
            Document::Message(message) => {
                let (new_messages, detail) = match self.receive(feed.id, *message).await.map_err(stored)? {
                    Received::New => (1, None),
                    Received::Known => (0, None),
                    Received::NotShown(why) => (0, Some(why)),
                };
                return Ok(Applied {
                    new_messages,
                    detail,
                    ..Applied::nothing(FetchOutcome::Fetched)
                });
            }
            Document::Index(entries) => entries,
        };
        let (mut new, mut notes, mut complete) = (0, Vec::new(), true);
        let mut read = 0;
        for entry in entries {
            if read == MAX_ENTRIES_PER_POLL {
                notes.push(format!(
                    "more than {MAX_ENTRIES_PER_POLL} new entries: the rest at the next poll"
                ));
                complete = false;
                break;
            }
            if self.store.feed_entry_read(feed.id, &entry.key).await.map_err(stored)? {
                continue;
            }
            read += 1;
            let body = match self
                .fetch(entry.url.as_str(), &Validators::default(), MAX_MESSAGE_BYTES)
                .await
            {
                Ok(Fetched::Body { body, .. }) => Some(body),
                Ok(Fetched::NotModified) => continue,
                Err(failure) if failure.http_status.is_some_and(|s| (400..500).contains(&s)) => {
                    notes.push(format!("{}: {}", entry.url, failure.detail));
                    None
                }
                Err(failure) => {
                    notes.push(format!(
                        "{}: {}; tried again at the next poll",
                        entry.url, failure.detail
                    ));
                    complete = false;
                    continue;
                }
            };
            if let Some(body) = body {
                match scaan_schemas::cap_message::read_message(&body) {
                    Ok(message) => match self.receive(feed.id, message).await.map_err(stored)? {
                        Received::New => new += 1,
                        Received::Known => {}
                        Received::NotShown(why) => notes.push(format!("{}: {why}", entry.url)),
                    },
                    Err(e) => notes.push(format!("{}: refused: {e}", entry.url)),
                }
            }
            // Read (or refused for good): not fetched again until the index says it changed.
            self.store
                .mark_feed_entry_read(feed.id, &entry.key)
                .await
                .map_err(stored)?;
        }
        Ok(Applied {
            outcome: FetchOutcome::Fetched,
            new_messages: new,
            detail: (!notes.is_empty()).then(|| notes.join("; ")),
            complete,
        })
    }

    /// Applies one message: a new warning, an update or cancel of the one it refers to, or
    /// nothing when it was applied before or is older than what is shown.
    async fn receive(&self, feed_id: Uuid, message: CapMessage) -> Result<Received, StoreError> {
        if let Err(why) = rules::shown(&message) {
            return Ok(Received::NotShown(why));
        }
        let key = MessageKey {
            sender: message.sender.clone(),
            identifier: message.identifier.clone(),
            sent: message.sent,
        };
        if self.store.warning_message_known(&key).await? {
            return Ok(Received::Known);
        }
        let now = Utc::now();
        let mut referred = None;
        if message.msg_type != "Alert" {
            // The latest reference first: an Update of an Update names both.
            for reference in message.references.iter().rev() {
                referred = self
                    .store
                    .warning_of_message(&reference.sender, &reference.identifier)
                    .await?;
                if referred.is_some() {
                    break;
                }
            }
        }
        let warning = match referred {
            Some((previous, _)) if rules::is_stale(&previous, &message) => return Ok(Received::Known),
            Some((previous, row_version)) => {
                let warning = rules::apply(&previous, &message, self.atlas, now);
                self.store.update_warning(&warning, row_version, Some(&key)).await?;
                warning
            }
            None => {
                let warning = rules::new_warning(&message, feed_id, self.atlas, now);
                self.store.insert_warning(&warning).await?;
                warning
            }
        };
        tracing::info!(warning = %warning.id, sender = %warning.sender, msg_type = %warning.msg_type, "outside warning received");
        self.announce(&warning);
        Ok(Received::New)
    }

    /// Officers of its countries (and watch officers) see it change live; never staff.
    fn announce(&self, warning: &Warning) {
        let warning = rules::as_of(warning.clone(), Utc::now());
        let countries = warning.countries.clone();
        self.delivery.publish(
            &Envelope::Warning { warning },
            Audience {
                staff: &[],
                countries: &countries,
            },
        );
    }

    pub async fn add_feed(&self, caller: &Caller, new: NewWarningFeed) -> Result<WarningFeed, WarningError> {
        caller.require(&[Role::WatchOfficer])?;
        new.validate(Utc::now())?;
        let url = Url::parse(new.url.trim()).map_err(|e| Invalid::new("url", format!("is not a URL: {e}")))?;
        let now = Utc::now();
        let feed = WarningFeed {
            id: Uuid::new_v4(),
            name: new.name.trim().to_owned(),
            url: url.to_string(),
            interval_s: new
                .interval_s
                .unwrap_or(scaan_schemas::warning::DEFAULT_FEED_INTERVAL_S),
            added_by: caller.user.username.clone(),
            added_at: now,
            failures: 0,
            next_poll_at: now,
            last_success_at: None,
            last_error: None,
        };
        self.store.insert_feed(&feed).await?;
        self.audit
            .record(
                Actor::Account(&caller.user),
                "warning_feed.added",
                feed.id,
                &[],
                serde_json::json!({"url": feed.url, "name": feed.name}),
            )
            .await;
        Ok(feed)
    }

    pub async fn feeds(&self, caller: &Caller) -> Result<Vec<WarningFeed>, WarningError> {
        caller.require_officer()?;
        Ok(self.store.feeds().await?)
    }

    pub async fn remove_feed(&self, caller: &Caller, id: Uuid) -> Result<(), WarningError> {
        caller.require(&[Role::WatchOfficer])?;
        let feed = self.store.feed(id).await?.ok_or(WarningError::NotFound("feed"))?;
        self.store.delete_feed(id).await?;
        self.audit
            .record(
                Actor::Account(&caller.user),
                "warning_feed.removed",
                id,
                &[],
                serde_json::json!({"url": feed.url}),
            )
            .await;
        Ok(())
    }

    pub async fn fetches(&self, caller: &Caller, id: Uuid, limit: u32) -> Result<Vec<FeedFetch>, WarningError> {
        caller.require_officer()?;
        self.store.feed(id).await?.ok_or(WarningError::NotFound("feed"))?;
        Ok(self.store.fetches(id, limit).await?)
    }

    /// The warnings the caller may see, most recently changed first: current ones only, or
    /// history too. A security officer sees those of their countries.
    pub async fn list(&self, caller: &Caller, current: bool, limit: u32) -> Result<Vec<Warning>, WarningError> {
        caller.require_officer()?;
        let now = Utc::now();
        let warnings = self.store.warnings(current.then_some(now), limit).await?;
        Ok(warnings
            .into_iter()
            .filter(|w| caller.may_see(&w.countries))
            .map(|w| rules::as_of(w, now))
            .collect())
    }

    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<Warning, WarningError> {
        Ok(rules::as_of(self.readable(caller, id).await?.0, Utc::now()))
    }

    async fn readable(&self, caller: &Caller, id: Uuid) -> Result<(Warning, i64), WarningError> {
        caller.require_officer()?;
        match self.store.warning(id).await? {
            Some((warning, version)) if caller.may_see(&warning.countries) => Ok((warning, version)),
            _ => Err(WarningError::NotFound("warning")),
        }
    }

    /// Sends an alert made from the warning (its fields, any of `patch` overriding) through the
    /// alert path. The warning is marked with the alert's id before it is sent, so a second
    /// promotion is refused, and freed again if the send is refused.
    pub async fn promote(&self, caller: &Caller, id: Uuid, patch: AlertPatch) -> Result<Alert, WarningError> {
        let claim = self.claim(caller, id, patch).await?;
        match self.alerts.send_as(caller, claim.alert_id, claim.content.clone()).await {
            Ok(alert) => {
                self.promoted(caller, claim, &alert).await;
                Ok(alert)
            }
            Err(e) => {
                self.release(claim).await;
                Err(e.into())
            }
        }
    }

    async fn claim(&self, caller: &Caller, id: Uuid, patch: AlertPatch) -> Result<Claim, WarningError> {
        let (warning, row_version) = self.readable(caller, id).await?;
        let now = Utc::now();
        if warning.alert_id.is_some() {
            return Err(conflict("warning_promoted", "this warning is already an alert"));
        }
        match rules::as_of(warning.clone(), now).state {
            WarningState::Withdrawn => return Err(conflict("warning_withdrawn", "its sender withdrew this warning")),
            WarningState::Expired => return Err(conflict("warning_expired", "this warning has expired")),
            WarningState::Active => {}
        }
        let content = rules::alert_from(&warning, patch, now)?;
        let alert_id = Uuid::new_v4();
        let claimed = Warning {
            alert_id: Some(alert_id),
            promoted_by: Some(caller.user.username.clone()),
            ..warning.clone()
        };
        self.store.update_warning(&claimed, row_version, None).await?;
        Ok(Claim {
            warning: claimed,
            row_version: row_version + 1,
            alert_id,
            content,
        })
    }

    /// The alert was sent: officers see the warning promoted.
    async fn promoted(&self, caller: &Caller, claim: Claim, alert: &Alert) {
        self.announce(&claim.warning);
        self.audit
            .record(
                Actor::Account(&caller.user),
                "warning.promoted",
                claim.warning.id,
                &alert.countries,
                serde_json::json!({"alert_id": alert.id, "sender": claim.warning.sender, "identifier": claim.warning.identifier}),
            )
            .await;
    }

    /// The alert was not sent: the warning is free to promote again.
    async fn release(&self, claim: Claim) {
        let warning = Warning {
            alert_id: None,
            promoted_by: None,
            ..claim.warning
        };
        if let Err(e) = self.store.update_warning(&warning, claim.row_version, None).await {
            tracing::error!(error = %e, warning = %warning.id, "a warning names an alert that was never sent");
        }
    }
}

enum Received {
    New,
    Known,
    NotShown(String),
}

fn conflict(code: &'static str, message: &str) -> WarningError {
    WarningError::Conflict {
        code,
        message: message.into(),
    }
}

/// A transport error in words, with its causes (reqwest's own message names only the URL).
fn describe(e: &reqwest::Error) -> String {
    let mut words = if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the fetch failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        words.push_str(": ");
        words.push_str(&cause.to_string());
        source = cause.source();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_feed_is_retried_less_and_less_often_up_to_an_hour() {
        let waits: Vec<i64> = (0..5).map(|f| retry_delay(60, f).num_seconds()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960]);
        assert_eq!(retry_delay(60, 30).num_seconds(), 3600);
        // A feed polled daily is not polled more often for failing.
        assert_eq!(retry_delay(86_400, 3).num_seconds(), 86_400);
    }
}
