//! Alerts: officers send, update and cancel them; the hub works out who they reach, stores
//! them with their recipients, and delivers each revision to the same people.

mod routes;

pub use routes::router;

use chrono::Utc;
use scaan_schemas::{Alert, AlertPatch, Envelope, MsgType, NewAlert, Role, Validate};
use std::collections::BTreeSet;
use uuid::Uuid;

use crate::audit::Actor;
use crate::auth::Caller;
use crate::delivery::Audience;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::targeting::TargetArea;

/// Who an area reaches: the countries it touches and the staff inside it now.
pub struct Reach {
    pub countries: Vec<String>,
    pub staff: Vec<Uuid>,
}

impl Hub {
    /// Who and which countries `content`'s area reaches now, counting the accounts the command
    /// line added or changed a moment ago.
    pub async fn reach(&self, content: &NewAlert) -> Reach {
        if let Err(e) = self.follow_accounts().await {
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

    /// Sends a new alert: targets, stores (with its recipients) and delivers it.
    pub async fn send_alert(&self, caller: &Caller, content: NewAlert) -> Result<Alert, ApiError> {
        self.send_alert_as(caller, Uuid::new_v4(), content).await
    }

    /// [`Hub::send_alert`] with the id chosen beforehand, for callers that record it first.
    pub async fn send_alert_as(&self, caller: &Caller, id: Uuid, content: NewAlert) -> Result<Alert, ApiError> {
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
            content,
            cancel_reason: None,
        };
        self.store.insert_alert(&alert, &reach.staff).await?;
        self.open_headcounts.track(&alert, &reach.staff);
        self.delivery
            .publish(
                &Envelope::Alert {
                    alert: alert.clone(),
                    wave: None,
                },
                Audience {
                    staff: &reach.staff,
                    countries: &alert.countries,
                },
            )
            .stored()
            .await;
        tracing::info!(alert = %alert.id, sender = %alert.sender, recipients = alert.recipients, "alert sent");
        let detail = serde_json::json!({"headline": alert.content.headline, "recipients": alert.recipients});
        self.audit
            .record(
                Actor::Account(&caller.user),
                "alert.sent",
                alert.id,
                &alert.countries,
                detail,
            )
            .await;
        Ok(alert)
    }

    /// Applies a patch: the new revision reaches everyone the alert reached before plus anyone
    /// a changed area now covers.
    pub async fn update_alert(&self, caller: &Caller, id: Uuid, patch: AlertPatch) -> Result<Alert, ApiError> {
        let previous = self.alert_to_change(caller, id).await?;
        if patch.is_empty() {
            return Err(ApiError::Invalid(scaan_schemas::Invalid::new(
                "",
                "the update changes nothing; send at least one field",
            )));
        }
        let changed = serde_json::to_value(&patch).map(strip_nulls).unwrap_or_default();
        let content = patch.apply(&previous.content);
        content.validate(Utc::now())?;
        let (countries, added) = if content.area == previous.content.area {
            (previous.countries.clone(), Vec::new())
        } else {
            let reach = self.reach(&content).await;
            caller.may_act_in(&reach.countries)?;
            (reach.countries, reach.staff)
        };
        let mut alert = self.next_revision(&previous, MsgType::Update);
        alert.content = content;
        alert.countries = countries;
        let alert = self.store_revision(&previous, alert, &added).await?;
        let detail = serde_json::json!({"revision": alert.revision, "changed": changed});
        self.audit
            .record(
                Actor::Account(&caller.user),
                "alert.updated",
                alert.id,
                &alert.countries,
                detail,
            )
            .await;
        Ok(alert)
    }

    pub async fn cancel_alert(&self, caller: &Caller, id: Uuid, reason: String) -> Result<Alert, ApiError> {
        let previous = self.alert_to_change(caller, id).await?;
        let mut alert = self.next_revision(&previous, MsgType::Cancel);
        alert.cancel_reason = Some(reason.clone());
        let alert = self.store_revision(&previous, alert, &[]).await?;
        self.audit
            .record(
                Actor::Account(&caller.user),
                "alert.cancelled",
                alert.id,
                &alert.countries,
                serde_json::json!({"reason": reason}),
            )
            .await;
        Ok(alert)
    }

    /// The stored alert, if the caller may change it and it is still open to change.
    async fn alert_to_change(&self, caller: &Caller, id: Uuid) -> Result<Alert, ApiError> {
        caller.require_officer()?;
        let alert = self.store.alert(id).await?.ok_or(ApiError::NotFound("alert"))?;
        if !caller.may_see(&alert.countries) {
            return Err(ApiError::NotFound("alert"));
        }
        caller.may_act_in(&alert.countries)?;
        if alert.msg_type == MsgType::Cancel {
            return Err(ApiError::Conflict {
                code: "alert_cancelled",
                message: "this alert was cancelled; send a new one".into(),
            });
        }
        Ok(alert)
    }

    fn next_revision(&self, previous: &Alert, msg_type: MsgType) -> Alert {
        Alert {
            msg_type,
            revision: previous.revision + 1,
            updated_at: Utc::now(),
            ..previous.clone()
        }
    }

    /// Stores a revision and delivers it to every recipient so far, plus `added`, and to the
    /// officers of both the old and the new countries.
    async fn store_revision(&self, previous: &Alert, mut alert: Alert, added: &[Uuid]) -> Result<Alert, ApiError> {
        let mut staff = self.store.alert_recipients(alert.id).await?;
        let known: BTreeSet<Uuid> = staff.iter().copied().collect();
        let added: Vec<Uuid> = added.iter().copied().filter(|u| !known.contains(u)).collect();
        staff.extend_from_slice(&added);
        alert.recipients = staff.len() as u32;
        self.store.update_alert(&alert, previous.revision, &added).await?;
        self.open_headcounts.track(&alert, &staff);
        let countries: Vec<String> = previous
            .countries
            .iter()
            .chain(&alert.countries)
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let envelope = match alert.msg_type {
            MsgType::Cancel => Envelope::AlertCancel { alert: alert.clone() },
            _ => Envelope::AlertUpdate { alert: alert.clone() },
        };
        self.delivery
            .publish(
                &envelope,
                Audience {
                    staff: &staff,
                    countries: &countries,
                },
            )
            .stored()
            .await;
        if !added.is_empty() && alert.msg_type != MsgType::Cancel && alert.content.checkin_required {
            // The audience grew: every open board's counts move now, not at the next answer.
            self.pulse.mark(&alert);
        }
        tracing::info!(alert = %alert.id, revision = alert.revision, msg_type = alert.msg_type.as_str(), "alert revised");
        Ok(alert)
    }

    /// Whether the caller may read this alert: officers of its countries, and its recipients.
    pub async fn may_read(&self, caller: &Caller, alert: &Alert) -> Result<bool, ApiError> {
        Ok(match caller.role() {
            Role::WatchOfficer | Role::SecurityOfficer => caller.may_see(&alert.countries),
            Role::Staff => self.store.is_recipient(alert.id, caller.user.id).await?,
            Role::Admin => false,
        })
    }
}

/// The fields a patch set (it serializes the ones it leaves alone as null).
fn strip_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        other => other,
    }
}
