//! Alerts: officers send, update and cancel them; the hub works out who they reach, stores
//! them with their recipients, and delivers each revision to the same people.
//!
//! Owns: the alerts, their revisions and recipients, and their CAP export. Uses: the targeting
//! index and the country atlas (who and which countries an area reaches), [`AccountFollower`]
//! (accounts the command line changed a moment ago are counted before targeting),
//! [`Headcounts`] (an alert asking for check-ins opens a headcount, a revision moves or closes
//! it), the delivery fan-out and [`Audit`].

mod routes;

pub use routes::router;

use axum::extract::FromRef;
use chrono::{DateTime, Utc};
use scaan_schemas::{Alert, AlertPatch, Envelope, Invalid, MsgType, NewAlert, Role, Validate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Forbidden};
use crate::countries::CountryAtlas;
use crate::delivery::{Audience, Delivery};
use crate::error::ApiError;
use crate::headcounts::Headcounts;
use crate::hub::Hub;
use crate::lifecycle::AccountFollower;
use crate::storage::{AlertScope, AlertState, Page, Store, StoreError};
use crate::targeting::{TargetArea, Targeting};
use crate::time_zones;

/// How many names a preview carries.
const PREVIEW_NAMES: usize = 8;

/// How many people an alert would reach, and in which countries, without sending it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AlertPreview {
    pub recipients: u32,
    pub countries: Vec<String>,
    /// Some of the people it reaches (at most [`PREVIEW_NAMES`], alphabetical), so the officer
    /// sees whom the send is about before sending.
    pub names: Vec<String>,
}

/// Sending, revising and reading alerts.
#[derive(Clone)]
pub struct Alerts {
    store: Store,
    atlas: &'static CountryAtlas,
    targeting: Arc<Targeting>,
    accounts: AccountFollower,
    headcounts: Headcounts,
    delivery: Arc<Delivery>,
    audit: Audit,
    /// The sender CAP exports name (`cap_sender`).
    cap_sender: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such alert, or not one the caller may see.
    #[error("alert not found")]
    NotFound,
    #[error("this alert was cancelled; send a new one")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::Forbidden(e) => e.into(),
            AlertError::Invalid(e) => e.into(),
            AlertError::NotFound => ApiError::NotFound("alert"),
            AlertError::Cancelled => ApiError::Conflict {
                code: "alert_cancelled",
                message: e.to_string(),
            },
            AlertError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Alerts {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.alerts.clone()
    }
}

/// Who an area reaches: the countries it touches and the staff inside it now.
pub struct Reach {
    pub countries: Vec<String>,
    pub staff: Vec<Uuid>,
}

impl Alerts {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        atlas: &'static CountryAtlas,
        targeting: Arc<Targeting>,
        accounts: AccountFollower,
        headcounts: Headcounts,
        delivery: Arc<Delivery>,
        audit: Audit,
        cap_sender: &str,
    ) -> Alerts {
        Alerts {
            store,
            atlas,
            targeting,
            accounts,
            headcounts,
            delivery,
            audit,
            cap_sender: cap_sender.into(),
        }
    }

    /// Who and which countries `content`'s area reaches now, counting the accounts the command
    /// line added or changed a moment ago.
    async fn reach(&self, content: &NewAlert) -> Reach {
        if let Err(e) = self.accounts.follow().await {
            tracing::warn!(
                error = format!("{e:#}"),
                "could not look for accounts changed elsewhere; targeting with those the hub holds"
            );
        }
        Reach {
            countries: self.atlas.countries_reached(&content.area),
            staff: self.targeting.recipients(&TargetArea::new(&content.area), Utc::now()),
        }
    }

    /// How many people an alert would reach, and in which countries, without sending it.
    pub async fn preview(&self, caller: &Caller, content: &NewAlert) -> Result<AlertPreview, AlertError> {
        caller.require_officer()?;
        let reach = self.reach(content).await;
        caller.may_act_in(&reach.countries)?;
        let mut names = Vec::with_capacity(PREVIEW_NAMES);
        for id in reach.staff.iter().take(PREVIEW_NAMES) {
            if let Some(user) = self.store.user(*id).await? {
                names.push(user.name);
            }
        }
        names.sort();
        Ok(AlertPreview {
            recipients: reach.staff.len() as u32,
            countries: reach.countries,
            names,
        })
    }

    /// Sends a new alert: targets, stores (with its recipients) and delivers it.
    pub async fn send(&self, caller: &Caller, content: NewAlert) -> Result<Alert, AlertError> {
        self.send_as(caller, Uuid::new_v4(), content).await
    }

    /// [`Alerts::send`] with the id chosen beforehand, for callers that record it first.
    pub async fn send_as(&self, caller: &Caller, id: Uuid, content: NewAlert) -> Result<Alert, AlertError> {
        caller.require_officer()?;
        let reach = self.reach(&content).await;
        caller.may_act_in(&reach.countries)?;
        let now = Utc::now();
        let alert = Alert {
            id,
            msg_type: MsgType::Alert,
            revision: 1,
            sent_at: now,
            updated_at: now,
            sender: caller.user.username.clone(),
            recipients: reach.staff.len() as u32,
            countries: reach.countries,
            time_zone: time_zones::zone_of(&content.area),
            content,
            cancel_reason: None,
        };
        self.store.insert_alert(&alert, &reach.staff).await?;
        self.headcounts.track(&alert, &reach.staff);
        // Audited before it goes out: once its inbox message is stored, its per-person rows are
        // written, and on SQLite a write after that would wait for them.
        let detail = serde_json::json!({"headline": alert.content.headline, "recipients": alert.recipients});
        self.audited(caller, "alert.sent", &alert, detail).await;
        self.delivery
            .publish_revision(
                &alert,
                &Envelope::Alert {
                    alert: alert.clone(),
                    wave: None,
                },
                Audience {
                    staff: &reach.staff,
                    countries: &alert.countries,
                },
            )
            .await;
        tracing::info!(alert = %alert.id, sender = %alert.sender, recipients = alert.recipients, "alert sent");
        Ok(alert)
    }

    /// Sends an alert read from a CAP document, recording where it came from.
    pub async fn import(
        &self,
        caller: &Caller,
        content: NewAlert,
        identifier: &str,
        sender: &str,
    ) -> Result<Alert, AlertError> {
        let alert = self.send(caller, content).await?;
        let detail = serde_json::json!({"identifier": identifier, "sender": sender});
        self.audited(caller, "alert.imported", &alert, detail).await;
        Ok(alert)
    }

    /// Applies a patch: the new revision reaches everyone the alert reached before plus anyone
    /// a changed area now covers.
    pub async fn update(&self, caller: &Caller, id: Uuid, patch: AlertPatch) -> Result<Alert, AlertError> {
        let previous = self.to_change(caller, id).await?;
        let changed = serde_json::to_value(&patch).map(strip_nulls).unwrap_or_default();
        let content = revised_content(&previous, patch, Utc::now())?;
        let mut alert = next_revision(&previous, MsgType::Update, Utc::now());
        let added = if content.area == previous.content.area {
            Vec::new()
        } else {
            let reach = self.reach(&content).await;
            caller.may_act_in(&reach.countries)?;
            alert.countries = reach.countries;
            alert.time_zone = time_zones::zone_of(&content.area);
            reach.staff
        };
        alert.content = content;
        let alert = self.store_revision(&previous, alert, &added).await?;
        let detail = serde_json::json!({"revision": alert.revision, "changed": changed});
        self.audited(caller, "alert.updated", &alert, detail).await;
        Ok(alert)
    }

    pub async fn cancel(&self, caller: &Caller, id: Uuid, reason: String) -> Result<Alert, AlertError> {
        let previous = self.to_change(caller, id).await?;
        let mut alert = next_revision(&previous, MsgType::Cancel, Utc::now());
        alert.cancel_reason = Some(reason.clone());
        let alert = self.store_revision(&previous, alert, &[]).await?;
        let detail = serde_json::json!({"reason": reason});
        self.audited(caller, "alert.cancelled", &alert, detail).await;
        Ok(alert)
    }

    /// Records what the caller did to `alert`, for the officers of its countries.
    async fn audited(&self, caller: &Caller, action: &str, alert: &Alert, detail: serde_json::Value) {
        self.audit
            .record(Actor::Account(&caller.user), action, alert.id, &alert.countries, detail)
            .await;
    }

    /// The stored alert, if the caller may change it and it is still open to change.
    async fn to_change(&self, caller: &Caller, id: Uuid) -> Result<Alert, AlertError> {
        caller.require_officer()?;
        let alert = self.store.alert(id).await?.ok_or(AlertError::NotFound)?;
        may_change(caller, &alert)?;
        Ok(alert)
    }

    /// Stores a revision and delivers it to every recipient so far, plus `added`, and to the
    /// officers of both the old and the new countries.
    async fn store_revision(&self, previous: &Alert, mut alert: Alert, added: &[Uuid]) -> Result<Alert, AlertError> {
        let mut staff = self.store.alert_recipients(alert.id).await?;
        let added = newly_reached(&staff, added);
        staff.extend_from_slice(&added);
        alert.recipients = staff.len() as u32;
        self.store.update_alert(&alert, previous.revision, &added).await?;
        self.headcounts.track(&alert, &staff);
        let countries = countries_of_revision(previous, &alert);
        let envelope = match alert.msg_type {
            MsgType::Cancel => Envelope::AlertCancel { alert: alert.clone() },
            _ => Envelope::AlertUpdate { alert: alert.clone() },
        };
        self.delivery
            .publish_revision(
                &alert,
                &envelope,
                Audience {
                    staff: &staff,
                    countries: &countries,
                },
            )
            .await;
        if !added.is_empty() && alert.msg_type != MsgType::Cancel && alert.content.checkin_required {
            // The audience grew: every open board's counts move now, not at the next answer.
            self.headcounts.audience_grew(&alert);
        }
        tracing::info!(alert = %alert.id, revision = alert.revision, msg_type = alert.msg_type.as_str(), "alert revised");
        Ok(alert)
    }

    /// Alerts the caller may see in `state`, newest first, a page at a time.
    pub async fn list(&self, caller: &Caller, state: AlertState, page: Page) -> Result<Vec<Alert>, AlertError> {
        Ok(self.store.alerts(&scope_of(caller)?, state, page).await?)
    }

    /// The alert, if the caller may read it: officers of its countries, and its recipients.
    pub async fn readable(&self, caller: &Caller, id: Uuid) -> Result<Alert, AlertError> {
        let Some(alert) = self.store.alert(id).await? else {
            return Err(AlertError::NotFound);
        };
        let may_read = match caller.role() {
            Role::WatchOfficer | Role::SecurityOfficer => caller.may_see(&alert.countries),
            Role::Staff => self.store.is_recipient(alert.id, caller.user.id).await?,
            Role::Admin => false,
        };
        match may_read {
            true => Ok(alert),
            false => Err(AlertError::NotFound),
        }
    }

    /// The alert as an OASIS CAP 1.2 document, if the caller may read it.
    pub async fn cap_xml(&self, caller: &Caller, id: Uuid) -> Result<String, AlertError> {
        let alert = self.readable(caller, id).await?;
        Ok(scaan_schemas::cap::to_cap_xml(&alert, &self.cap_sender))
    }
}

/// Whether the caller may change `alert`: an officer who sees it, acting in every one of its
/// countries, while it is not cancelled.
fn may_change(caller: &Caller, alert: &Alert) -> Result<(), AlertError> {
    caller.require_officer()?;
    if !caller.may_see(&alert.countries) {
        return Err(AlertError::NotFound);
    }
    caller.may_act_in(&alert.countries)?;
    if alert.msg_type == MsgType::Cancel {
        return Err(AlertError::Cancelled);
    }
    Ok(())
}

/// What the alert says once `patch` is applied; a patch that changes nothing is refused.
fn revised_content(previous: &Alert, patch: AlertPatch, now: DateTime<Utc>) -> Result<NewAlert, AlertError> {
    if patch.is_empty() {
        return Err(Invalid::new("", "the update changes nothing; send at least one field").into());
    }
    let content = patch.apply(&previous.content);
    content.validate(now)?;
    Ok(content)
}

fn next_revision(previous: &Alert, msg_type: MsgType, now: DateTime<Utc>) -> Alert {
    Alert {
        msg_type,
        revision: previous.revision + 1,
        updated_at: now,
        ..previous.clone()
    }
}

/// Of `added`, those not already among the recipients `known`.
fn newly_reached(known: &[Uuid], added: &[Uuid]) -> Vec<Uuid> {
    let known: BTreeSet<Uuid> = known.iter().copied().collect();
    added.iter().copied().filter(|u| !known.contains(u)).collect()
}

/// A revision reaches the officers of the countries before and after it.
fn countries_of_revision(previous: &Alert, alert: &Alert) -> Vec<String> {
    previous
        .countries
        .iter()
        .chain(&alert.countries)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Which alerts the caller lists: watch officers all, security officers their countries',
/// staff those sent to them.
fn scope_of(caller: &Caller) -> Result<AlertScope, Forbidden> {
    match caller.role() {
        Role::WatchOfficer => Ok(AlertScope::All),
        Role::SecurityOfficer => Ok(AlertScope::Countries(caller.user.countries.clone())),
        Role::Staff => Ok(AlertScope::Recipient(caller.user.id)),
        Role::Admin => Err(Forbidden::new("administrators manage accounts, not alerts")),
    }
}

/// The fields a patch set (it serializes the ones it leaves alone as null).
fn strip_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use scaan_schemas::Severity;

    use crate::testing::caller;

    fn beni(countries: &[&str]) -> Alert {
        crate::testing::alert_near_beni(countries)
    }

    #[test]
    fn officers_change_an_alert_only_where_every_country_is_theirs() {
        let alert = beni(&["CD", "UG"]);
        assert!(may_change(&caller(Role::WatchOfficer, &[]), &alert).is_ok());
        assert!(may_change(&caller(Role::SecurityOfficer, &["CD", "UG"]), &alert).is_ok());
        assert!(
            matches!(
                may_change(&caller(Role::SecurityOfficer, &["CD"]), &alert),
                Err(AlertError::Forbidden(e)) if e.0.contains("UG")
            ),
            "seen (one country is theirs) but not theirs to change"
        );
        assert!(
            matches!(
                may_change(&caller(Role::SecurityOfficer, &["RW"]), &alert),
                Err(AlertError::NotFound)
            ),
            "an alert of other countries is not even seen"
        );
        for role in [Role::Staff, Role::Admin] {
            assert!(matches!(
                may_change(&caller(role, &["CD", "UG"]), &alert),
                Err(AlertError::Forbidden(_))
            ));
        }
    }

    #[test]
    fn a_cancelled_alert_is_not_changed_again() {
        let cancelled = next_revision(&beni(&["CD"]), MsgType::Cancel, Utc::now());
        let e = may_change(&caller(Role::WatchOfficer, &[]), &cancelled).unwrap_err();
        assert!(matches!(e, AlertError::Cancelled));
        match ApiError::from(e) {
            ApiError::Conflict { code, .. } => assert_eq!(code, "alert_cancelled"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_revision_counts_up_and_keeps_what_it_does_not_change() {
        let first = beni(&["CD"]);
        let later = first.updated_at + Duration::minutes(5);
        let second = next_revision(&first, MsgType::Update, later);
        assert_eq!((second.revision, second.msg_type), (2, MsgType::Update));
        assert_eq!(second.updated_at, later);
        assert_eq!((second.id, second.sent_at), (first.id, first.sent_at));
        assert_eq!(second.content, first.content);
    }

    #[test]
    fn an_update_must_change_something_and_leave_a_valid_alert() {
        let alert = beni(&["CD"]);
        let now = Utc::now();
        let e = revised_content(&alert, AlertPatch::default(), now).unwrap_err();
        assert!(e.to_string().contains("changes nothing"), "{e}");
        let expired = AlertPatch {
            expires_at: Some(now - Duration::hours(1)),
            ..AlertPatch::default()
        };
        assert!(matches!(
            revised_content(&alert, expired, now),
            Err(AlertError::Invalid(e)) if e.field == "expires_at"
        ));
        let louder = AlertPatch {
            severity: Some(Severity::Extreme),
            ..AlertPatch::default()
        };
        let content = revised_content(&alert, louder, now).unwrap();
        assert_eq!(content.severity, Severity::Extreme);
        assert_eq!(content.headline, alert.content.headline);
    }

    #[test]
    fn a_revision_reaches_the_recipients_so_far_plus_the_new_ones_once() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(newly_reached(&[a, b], &[b, c]), vec![c]);
        assert!(newly_reached(&[a], &[a]).is_empty());
        let before = beni(&["CD"]);
        let mut moved = before.clone();
        moved.countries = vec!["UG".into(), "CD".into()];
        assert_eq!(countries_of_revision(&before, &moved), vec!["CD", "UG"]);
    }

    #[test]
    fn who_lists_which_alerts() {
        assert!(matches!(
            scope_of(&caller(Role::WatchOfficer, &[])),
            Ok(AlertScope::All)
        ));
        assert!(matches!(
            scope_of(&caller(Role::SecurityOfficer, &["CD"])),
            Ok(AlertScope::Countries(c)) if c == ["CD"]
        ));
        let staff = caller(Role::Staff, &[]);
        assert!(matches!(scope_of(&staff), Ok(AlertScope::Recipient(id)) if id == staff.user.id));
        assert!(scope_of(&caller(Role::Admin, &[])).is_err());
    }
}
