//! Incident reports: staff submit what they see (HTTP, and MQTT through [`submit`]); the
//! officers of the report's country see it live; officers triage it, merge duplicates and
//! promote it to an alert. Reports of a restricted category (sexual violence) reach only
//! officers granted sensitive access, and the reporter.

mod routes;

pub use routes::router;

use chrono::Utc;
use scaan_schemas::taxonomy::IncidentGroup;
use scaan_schemas::{
    Alert, AlertPatch, Area, Certainty, Envelope, Geometry, LonLat, NewAlert, NewReport, Report, ReportStatus, Role,
    Severity, Status, TriageDecision, Urgency, User, Validate,
};
use uuid::Uuid;

use crate::audit::Actor;
use crate::auth::Caller;
use crate::delivery::Audience;
use crate::error::ApiError;
use crate::hub::Hub;

/// The circle an alert promoted from a report covers unless the officer draws another.
const PROMOTED_RADIUS_M: f64 = 5_000.0;

/// Stores a report from `reporter` and shows it to the officers concerned: the one way in for
/// HTTP and MQTT. Validates `new` itself, so a caller with a raw payload cannot skip the rules.
pub async fn submit(hub: &Hub, reporter: &User, new: NewReport) -> Result<Report, ApiError> {
    new.validate(Utc::now())?;
    if reporter.role == Role::Admin {
        return Err(ApiError::forbidden(
            "administrators manage accounts; report from a staff account",
        ));
    }
    let report = Report {
        id: Uuid::new_v4(),
        reporter_id: reporter.id,
        reporter: reporter.username.clone(),
        category: new.category,
        description: new.description,
        position: new.position,
        occurred_at: new.occurred_at,
        reported_at: Utc::now(),
        country: hub
            .atlas
            .country_at(new.position.lon, new.position.lat)
            .map(str::to_owned),
        status: ReportStatus::New,
        triage_note: None,
        triaged_by: None,
        merged_into: None,
        alert_id: None,
        restricted: new.category.restricted(),
        people_affected: new.people_affected,
        action_taken: new.action_taken,
        help_needed: new.help_needed,
    };
    hub.store.insert_report(&report).await?;
    hub.announce_report(&report).await;
    tracing::info!(report = %report.id, reporter = %report.reporter, category = report.category.code(), "incident reported");
    Ok(report)
}

/// Whether `user` may read `report`; `sensitive` says whether they hold sensitive access.
pub fn may_read(user: &User, sensitive: bool, report: &Report) -> bool {
    let cleared = !report.restricted || sensitive;
    match user.role {
        Role::Staff => report.reporter_id == user.id,
        Role::WatchOfficer => cleared || report.reporter_id == user.id,
        Role::SecurityOfficer => {
            report.reporter_id == user.id
                || (cleared && report.country.as_ref().is_some_and(|c| user.countries.contains(c)))
        }
        Role::Admin => false,
    }
}

impl Hub {
    /// Sends the report's current state to its reporter and to the officers who may read it.
    /// The change is already stored, so a failure to look up who may read a restricted report
    /// is logged, not returned: officers still find it in the list.
    async fn announce_report(&self, report: &Report) {
        let envelope = Envelope::Report { report: report.clone() };
        if report.restricted {
            let accounts = match self.store.sensitive_accounts().await {
                Ok(accounts) => accounts,
                Err(e) => {
                    tracing::error!(error = %e, report = %report.id, "could not announce a restricted report");
                    Vec::new()
                }
            };
            let mut people: Vec<Uuid> = accounts
                .into_iter()
                .filter(|u| u.role != Role::Staff && may_read(u, true, report))
                .map(|u| u.id)
                .collect();
            people.push(report.reporter_id);
            self.delivery.publish_to(&envelope, &people);
        } else {
            let countries: Vec<String> = report.country.iter().cloned().collect();
            self.delivery.publish(
                &envelope,
                Audience {
                    staff: &[report.reporter_id],
                    countries: &countries,
                },
            );
        }
    }

    /// The stored report and its revision, if the caller is an officer who may act on it.
    async fn report_to_handle(&self, caller: &Caller, id: Uuid) -> Result<(Report, i64), ApiError> {
        caller.require_officer()?;
        let sensitive = self.store.has_sensitive_access(caller.user.id).await?;
        match self.store.report(id).await? {
            Some((report, revision)) if may_read(&caller.user, sensitive, &report) && acts_on(caller, &report) => {
                Ok((report, revision))
            }
            _ => Err(ApiError::NotFound("report")),
        }
    }

    pub async fn triage_report(
        &self,
        caller: &Caller,
        id: Uuid,
        decision: TriageDecision,
        note: Option<String>,
    ) -> Result<Report, ApiError> {
        let (mut report, revision) = self.report_to_handle(caller, id).await?;
        still_open(&report)?;
        if report.alert_id.is_some() && decision == TriageDecision::Dismissed {
            return Err(ApiError::Conflict {
                code: "report_promoted",
                message: "this report became an alert; cancel the alert instead".into(),
            });
        }
        report.status = decision.into();
        report.triage_note = note.clone();
        report.triaged_by = Some(caller.user.username.clone());
        self.store.update_report(&report, revision).await?;
        self.announce_report(&report).await;
        let detail = serde_json::json!({"status": report.status.as_str(), "note": note});
        self.audit
            .record(
                Actor::Account(&caller.user),
                "report.triaged",
                report.id,
                &countries(&report),
                detail,
            )
            .await;
        Ok(report)
    }

    /// Folds a duplicate into the report it repeats.
    pub async fn merge_report(&self, caller: &Caller, id: Uuid, into: Uuid) -> Result<Report, ApiError> {
        let (mut report, revision) = self.report_to_handle(caller, id).await?;
        still_open(&report)?;
        if into == id {
            return Err(scaan_schemas::Invalid::new("into", "a report cannot be merged into itself").into());
        }
        let target = match self.report_to_handle(caller, into).await {
            Ok((target, _)) => target,
            Err(ApiError::NotFound(_)) => {
                return Err(scaan_schemas::Invalid::new("into", "names no report you can act on").into())
            }
            Err(e) => return Err(e),
        };
        if target.status == ReportStatus::Merged {
            return Err(scaan_schemas::Invalid::new(
                "into",
                "that report is itself merged; merge into the one it was merged into",
            )
            .into());
        }
        report.status = ReportStatus::Merged;
        report.merged_into = Some(into);
        report.triaged_by = Some(caller.user.username.clone());
        self.store.update_report(&report, revision).await?;
        self.announce_report(&report).await;
        self.audit
            .record(
                Actor::Account(&caller.user),
                "report.merged",
                report.id,
                &countries(&report),
                serde_json::json!({"into": into}),
            )
            .await;
        Ok(report)
    }

    /// Sends an alert pre-filled from the report (any field of `patch` overrides), and marks the
    /// report confirmed and promoted.
    pub async fn promote_report(&self, caller: &Caller, id: Uuid, patch: AlertPatch) -> Result<Alert, ApiError> {
        let (mut report, revision) = self.report_to_handle(caller, id).await?;
        still_open(&report)?;
        if report.alert_id.is_some() {
            return Err(ApiError::Conflict {
                code: "report_promoted",
                message: "this report is already an alert".into(),
            });
        }
        if report.status == ReportStatus::Dismissed {
            return Err(ApiError::Conflict {
                code: "report_dismissed",
                message: "this report was dismissed; confirm it first".into(),
            });
        }
        let content = patch.apply(&alert_from(&report));
        content.validate(Utc::now())?;
        caller.may_act_in(&self.atlas.countries_reached(&content.area))?;
        // The report records the alert's id before the alert goes out: of two officers
        // promoting it at once, one gets a 409 and no second alert is sent.
        let alert_id = Uuid::new_v4();
        let status_before = report.status;
        report.status = ReportStatus::Confirmed;
        report.alert_id = Some(alert_id);
        report.triaged_by.get_or_insert_with(|| caller.user.username.clone());
        self.store.update_report(&report, revision).await?;
        let alert = match self.send_alert_as(caller, alert_id, content).await {
            Ok(alert) => alert,
            Err(e) => {
                report.alert_id = None;
                report.status = status_before;
                if let Err(undo) = self.store.update_report(&report, revision + 1).await {
                    tracing::error!(error = %undo, report = %report.id, "a report names an alert that was never sent");
                }
                return Err(e);
            }
        };
        self.announce_report(&report).await;
        self.audit
            .record(
                Actor::Account(&caller.user),
                "report.promoted",
                report.id,
                &countries(&report),
                serde_json::json!({"alert_id": alert.id}),
            )
            .await;
        Ok(alert)
    }
}

/// A security officer acts only on reports in their countries; a watch officer on any.
fn acts_on(caller: &Caller, report: &Report) -> bool {
    match caller.role() {
        Role::WatchOfficer => true,
        Role::SecurityOfficer => report
            .country
            .as_ref()
            .is_some_and(|c| caller.user.countries.contains(c)),
        _ => false,
    }
}

fn still_open(report: &Report) -> Result<(), ApiError> {
    match report.status {
        ReportStatus::Merged => Err(ApiError::Conflict {
            code: "report_merged",
            message: "this report was merged into another; act on that one".into(),
        }),
        _ => Ok(()),
    }
}

fn countries(report: &Report) -> Vec<String> {
    report.country.iter().cloned().collect()
}

/// The alert a report suggests. A restricted report's details stay out of it: the alert reaches
/// everyone in the area.
fn alert_from(report: &Report) -> NewAlert {
    let category = report.category;
    let (headline, event, description) = if report.restricted {
        (
            "Security incident reported".to_owned(),
            "Security incident".to_owned(),
            None,
        )
    } else {
        (
            format!("{} reported", category.label()),
            category.label().to_owned(),
            Some(report.description.clone()),
        )
    };
    let area_description = match &report.country {
        Some(country) => format!("Within 5 km of the reported incident ({country})"),
        None => "Within 5 km of the reported incident".to_owned(),
    };
    NewAlert {
        headline,
        description,
        instruction: None,
        event,
        category: category.cap_category(),
        urgency: Urgency::Immediate,
        severity: match category.group() {
            IncidentGroup::NonViolent => Severity::Moderate,
            _ => Severity::Severe,
        },
        certainty: match report.status {
            ReportStatus::Confirmed => Certainty::Observed,
            _ => Certainty::Likely,
        },
        status: Status::Actual,
        area: Area {
            description: area_description,
            geometry: Geometry::Point {
                coordinates: LonLat([report.position.lon, report.position.lat]),
            },
            radius_m: Some(PROMOTED_RADIUS_M),
        },
        expires_at: Utc::now() + scaan_schemas::DEFAULT_LIFETIME,
        checkin_required: false,
        checkin_deadline_s: None,
    }
}
