//! Incident reports: staff submit what they see (HTTP, and MQTT through [`Reports::submit`]);
//! the officers of the report's country see it live; officers triage it, merge duplicates and
//! promote it to an alert. Reports of a restricted category (sexual violence) reach only
//! officers granted sensitive access, and the reporter.
//!
//! Owns: the reports, their triage and merges, and who holds sensitive access. Uses:
//! [`Alerts`] (a promoted report is sent as an alert), [`Audit`], the delivery fan-out and the
//! country atlas (a report's country).

mod routes;

pub use routes::router;

use axum::extract::FromRef;
use chrono::{DateTime, Utc};
use scaan_schemas::taxonomy::IncidentGroup;
use scaan_schemas::{
    Alert, AlertPatch, Area, Certainty, Envelope, Geometry, Invalid, LonLat, NewAlert, NewReport, Report, ReportStatus,
    Role, Severity, Status, TriageDecision, Urgency, User, Validate,
};
use std::sync::Arc;
use uuid::Uuid;

use crate::alerts::{AlertError, Alerts};
use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Forbidden};
use crate::countries::CountryAtlas;
use crate::delivery::{Audience, Delivery};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::storage::{ReportScope, Store, StoreError};
use crate::time_zones;

/// The circle an alert promoted from a report covers unless the officer draws another.
const PROMOTED_RADIUS_M: f64 = 5_000.0;

/// Reports: submitting, reading, triage, merging and promotion.
#[derive(Clone)]
pub struct Reports {
    store: Store,
    atlas: &'static CountryAtlas,
    delivery: Arc<Delivery>,
    audit: Audit,
    alerts: Alerts,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such report, or not one the caller may read or act on.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Conflict(#[from] ReportConflict),
    /// Promotion: the alert was not sent.
    #[error(transparent)]
    Alert(#[from] AlertError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a report is in no state for what was asked.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ReportConflict {
    #[error("this report was merged into another; act on that one")]
    Merged,
    #[error("this report became an alert; cancel the alert instead")]
    PromotedNotDismissed,
    #[error("this report is already an alert")]
    AlreadyPromoted,
    #[error("this report was dismissed; confirm it first")]
    Dismissed,
}

impl ReportConflict {
    /// The contract's code for it, on every channel.
    pub fn code(self) -> &'static str {
        match self {
            ReportConflict::Merged => "report_merged",
            ReportConflict::PromotedNotDismissed | ReportConflict::AlreadyPromoted => "report_promoted",
            ReportConflict::Dismissed => "report_dismissed",
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Forbidden(e) => e.into(),
            ReportError::Invalid(e) => e.into(),
            ReportError::NotFound(what) => ApiError::NotFound(what),
            ReportError::Conflict(conflict) => ApiError::Conflict {
                code: conflict.code(),
                message: conflict.to_string(),
            },
            ReportError::Alert(e) => e.into(),
            ReportError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Reports {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.reports.clone()
    }
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

impl Reports {
    pub fn new(
        store: Store,
        atlas: &'static CountryAtlas,
        delivery: Arc<Delivery>,
        audit: Audit,
        alerts: Alerts,
    ) -> Reports {
        Reports {
            store,
            atlas,
            delivery,
            audit,
            alerts,
        }
    }

    /// Stores a report from `reporter` and shows it to the officers concerned: the one way in
    /// for HTTP and MQTT. Validates `new` itself, so a caller with a raw payload cannot skip the
    /// rules.
    pub async fn submit(&self, reporter: &User, new: NewReport) -> Result<Report, ReportError> {
        new.validate(Utc::now())?;
        if reporter.role == Role::Admin {
            return Err(Forbidden::new("administrators manage accounts; report from a staff account").into());
        }
        let country = self
            .atlas
            .country_at(new.position.lon, new.position.lat)
            .map(str::to_owned);
        let report = new_report(reporter, new, country, Utc::now());
        self.store.insert_report(&report).await?;
        self.announce(&report).await;
        tracing::info!(report = %report.id, reporter = %report.reporter, category = report.category.code(), "incident reported");
        Ok(report)
    }

    /// Reports the caller may read, newest first: at most `limit` (default 100, at most 1000).
    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<ReportStatus>,
        limit: Option<u32>,
    ) -> Result<Vec<Report>, ReportError> {
        let restricted = self.store.has_sensitive_access(caller.user.id).await?;
        let scope = scope_of(caller, restricted)?;
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        Ok(self.store.reports(&scope, status, limit).await?)
    }

    /// The report, if the caller may read it.
    pub async fn readable(&self, caller: &Caller, id: Uuid) -> Result<Report, ReportError> {
        let sensitive = self.store.has_sensitive_access(caller.user.id).await?;
        match self.store.report(id).await? {
            Some((report, _)) if may_read(&caller.user, sensitive, &report) => Ok(report),
            _ => Err(ReportError::NotFound("report")),
        }
    }

    /// Grants or withdraws an officer's access to restricted reports (administrators).
    pub async fn set_sensitive_access(&self, caller: &Caller, id: Uuid, granted: bool) -> Result<(), ReportError> {
        caller.require(&[Role::Admin])?;
        let user = self.store.user(id).await?.ok_or(ReportError::NotFound("account"))?;
        if granted && !matches!(user.role, Role::SecurityOfficer | Role::WatchOfficer) {
            return Err(Invalid::new("granted", "only officers can be granted access to restricted reports").into());
        }
        self.store
            .set_sensitive_access(user.id, granted, caller.user.id, Utc::now())
            .await?;
        tracing::info!(admin = %caller.user.username, account = %user.username, granted, "sensitive access changed");
        Ok(())
    }

    /// Sends the report's current state to its reporter and to the officers who may read it.
    /// The change is already stored, so a failure to look up who may read a restricted report
    /// is logged, not returned: officers still find it in the list.
    async fn announce(&self, report: &Report) {
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
            let countries = countries(report);
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
    async fn to_handle(&self, caller: &Caller, id: Uuid) -> Result<(Report, i64), ReportError> {
        caller.require_officer()?;
        let sensitive = self.store.has_sensitive_access(caller.user.id).await?;
        match self.store.report(id).await? {
            Some((report, revision)) if may_read(&caller.user, sensitive, &report) && acts_on(caller, &report) => {
                Ok((report, revision))
            }
            _ => Err(ReportError::NotFound("report")),
        }
    }

    pub async fn triage(
        &self,
        caller: &Caller,
        id: Uuid,
        decision: TriageDecision,
        note: Option<String>,
    ) -> Result<Report, ReportError> {
        let (mut report, revision) = self.to_handle(caller, id).await?;
        triage(&mut report, &caller.user, decision, note.clone())?;
        self.store.update_report(&report, revision).await?;
        self.announce(&report).await;
        let detail = serde_json::json!({"status": report.status.as_str(), "note": note});
        self.audited(caller, "report.triaged", &report, detail).await;
        Ok(report)
    }

    /// Folds a duplicate into the report it repeats.
    pub async fn merge(&self, caller: &Caller, id: Uuid, into: Uuid) -> Result<Report, ReportError> {
        let (mut report, revision) = self.to_handle(caller, id).await?;
        still_open(&report)?;
        if into == id {
            return Err(Invalid::new("into", "a report cannot be merged into itself").into());
        }
        let target = match self.to_handle(caller, into).await {
            Ok((target, _)) => target,
            Err(ReportError::NotFound(_)) => return Err(Invalid::new("into", "names no report you can act on").into()),
            Err(e) => return Err(e),
        };
        merge(&mut report, &target, &caller.user)?;
        self.store.update_report(&report, revision).await?;
        self.announce(&report).await;
        let detail = serde_json::json!({"into": into});
        self.audited(caller, "report.merged", &report, detail).await;
        Ok(report)
    }

    /// Sends an alert pre-filled from the report (any field of `patch` overrides), and marks the
    /// report confirmed and promoted.
    pub async fn promote(&self, caller: &Caller, id: Uuid, patch: AlertPatch) -> Result<Alert, ReportError> {
        let (mut report, revision) = self.to_handle(caller, id).await?;
        promotable(&report)?;
        let content = patch.apply(&alert_from(&report, Utc::now()));
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
        let alert = match self.alerts.send_as(caller, alert_id, content).await {
            Ok(alert) => alert,
            Err(e) => {
                report.alert_id = None;
                report.status = status_before;
                if let Err(undo) = self.store.update_report(&report, revision + 1).await {
                    tracing::error!(error = %undo, report = %report.id, "a report names an alert that was never sent");
                }
                return Err(e.into());
            }
        };
        self.announce(&report).await;
        let detail = serde_json::json!({"alert_id": alert.id});
        self.audited(caller, "report.promoted", &report, detail).await;
        Ok(alert)
    }

    /// Records what the caller did to `report`, for the officers of its country.
    async fn audited(&self, caller: &Caller, action: &str, report: &Report, detail: serde_json::Value) {
        self.audit
            .record(
                Actor::Account(&caller.user),
                action,
                report.id,
                &countries(report),
                detail,
            )
            .await;
    }
}

/// A new report from `reporter`, in `country`, waiting for triage.
fn new_report(reporter: &User, new: NewReport, country: Option<String>, now: DateTime<Utc>) -> Report {
    Report {
        id: Uuid::new_v4(),
        reporter_id: reporter.id,
        reporter: reporter.username.clone(),
        category: new.category,
        description: new.description,
        position: new.position,
        occurred_at: new.occurred_at,
        reported_at: now,
        country,
        time_zone: time_zones::zone_at(new.position.lon, new.position.lat),
        status: ReportStatus::New,
        triage_note: None,
        triaged_by: None,
        merged_into: None,
        alert_id: None,
        restricted: new.category.restricted(),
        people_affected: new.people_affected,
        action_taken: new.action_taken,
        help_needed: new.help_needed,
    }
}

/// Which reports the caller lists: staff their own, security officers those of their
/// countries, watch officers all; restricted ones only with sensitive access (or one's own).
fn scope_of(caller: &Caller, restricted: bool) -> Result<ReportScope, Forbidden> {
    match caller.role() {
        Role::Staff => Ok(ReportScope {
            reporter: Some(caller.user.id),
            countries: None,
            restricted: true,
        }),
        Role::SecurityOfficer => Ok(ReportScope {
            reporter: None,
            countries: Some(caller.user.countries.clone()),
            restricted,
        }),
        Role::WatchOfficer => Ok(ReportScope {
            reporter: None,
            countries: None,
            restricted,
        }),
        Role::Admin => Err(Forbidden::new("administrators manage accounts, not reports")),
    }
}

/// Confirms or dismisses an open report; one that became an alert is not dismissed.
fn triage(report: &mut Report, by: &User, decision: TriageDecision, note: Option<String>) -> Result<(), ReportError> {
    still_open(report)?;
    if report.alert_id.is_some() && decision == TriageDecision::Dismissed {
        return Err(ReportConflict::PromotedNotDismissed.into());
    }
    report.status = decision.into();
    report.triage_note = note;
    report.triaged_by = Some(by.username.clone());
    Ok(())
}

/// Marks `report` a duplicate of `target`, which must not itself be merged.
fn merge(report: &mut Report, target: &Report, by: &User) -> Result<(), ReportError> {
    if target.status == ReportStatus::Merged {
        return Err(Invalid::new(
            "into",
            "that report is itself merged; merge into the one it was merged into",
        )
        .into());
    }
    report.status = ReportStatus::Merged;
    report.merged_into = Some(target.id);
    report.triaged_by = Some(by.username.clone());
    Ok(())
}

/// A report becomes an alert once, and not once dismissed or merged.
fn promotable(report: &Report) -> Result<(), ReportError> {
    still_open(report)?;
    if report.alert_id.is_some() {
        return Err(ReportConflict::AlreadyPromoted.into());
    }
    if report.status == ReportStatus::Dismissed {
        return Err(ReportConflict::Dismissed.into());
    }
    Ok(())
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

fn still_open(report: &Report) -> Result<(), ReportError> {
    match report.status {
        ReportStatus::Merged => Err(ReportConflict::Merged.into()),
        _ => Ok(()),
    }
}

fn countries(report: &Report) -> Vec<String> {
    report.country.iter().cloned().collect()
}

/// The alert a report suggests. A restricted report's details stay out of it: the alert reaches
/// everyone in the area.
fn alert_from(report: &Report, now: DateTime<Utc>) -> NewAlert {
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
        expires_at: now + scaan_schemas::DEFAULT_LIFETIME,
        checkin_required: false,
        checkin_deadline_s: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaan_schemas::{IncidentCategory, Position};

    use crate::testing::{caller, user as person};

    fn report(category: IncidentCategory, reporter: &User) -> Report {
        let new = NewReport {
            category,
            description: "Gunfire near the market".into(),
            position: Position::new(0.49, 29.47),
            occurred_at: None,
            people_affected: None,
            action_taken: None,
            help_needed: None,
        };
        new_report(reporter, new, Some("CD".into()), Utc::now())
    }

    #[test]
    fn restricted_reports_reach_only_officers_with_sensitive_access_and_the_reporter() {
        let amani = person(Role::Staff, &[]);
        let restricted = report(IncidentCategory::SexualViolence, &amani);
        assert!(restricted.restricted);
        let officer = person(Role::SecurityOfficer, &["CD"]);
        assert!(!may_read(&officer, false, &restricted));
        assert!(may_read(&officer, true, &restricted));
        assert!(!may_read(&person(Role::WatchOfficer, &[]), false, &restricted));
        assert!(may_read(&amani, false, &restricted), "the reporter");
        assert!(
            !may_read(&person(Role::Staff, &[]), true, &restricted),
            "another staff member"
        );
        assert!(
            !may_read(&person(Role::SecurityOfficer, &["UG"]), true, &restricted),
            "another country"
        );
        assert!(!may_read(&person(Role::Admin, &[]), true, &restricted));
    }

    #[test]
    fn security_officers_act_on_reports_of_their_countries_watch_officers_on_any() {
        let shooting = report(IncidentCategory::Shooting, &person(Role::Staff, &[]));
        assert!(acts_on(&caller(Role::WatchOfficer, &[]), &shooting));
        assert!(acts_on(&caller(Role::SecurityOfficer, &["CD"]), &shooting));
        assert!(!acts_on(&caller(Role::SecurityOfficer, &["UG"]), &shooting));
        for role in [Role::Staff, Role::Admin] {
            assert!(!acts_on(&caller(role, &["CD"]), &shooting));
        }
        let offshore = Report {
            country: None,
            ..shooting
        };
        assert!(!acts_on(&caller(Role::SecurityOfficer, &["CD"]), &offshore));
        assert!(acts_on(&caller(Role::WatchOfficer, &[]), &offshore));
    }

    #[test]
    fn a_promoted_report_is_confirmed_but_not_dismissed_and_a_merged_one_not_triaged() {
        let officer = person(Role::SecurityOfficer, &["CD"]);
        let mut shooting = report(IncidentCategory::Shooting, &person(Role::Staff, &[]));
        triage(&mut shooting, &officer, TriageDecision::Confirmed, Some("seen".into())).unwrap();
        assert_eq!(shooting.status, ReportStatus::Confirmed);
        assert_eq!(shooting.triaged_by.as_deref(), Some("kasongo"));
        shooting.alert_id = Some(Uuid::new_v4());
        let e = triage(&mut shooting, &officer, TriageDecision::Dismissed, None).unwrap_err();
        assert!(matches!(e, ReportError::Conflict(ReportConflict::PromotedNotDismissed)));
        assert_eq!(shooting.status, ReportStatus::Confirmed, "unchanged");
        shooting.status = ReportStatus::Merged;
        let e = triage(&mut shooting, &officer, TriageDecision::Confirmed, None).unwrap_err();
        assert!(matches!(e, ReportError::Conflict(ReportConflict::Merged)));
    }

    #[test]
    fn a_report_is_promoted_once_and_not_once_dismissed_or_merged() {
        let mut shooting = report(IncidentCategory::Shooting, &person(Role::Staff, &[]));
        assert!(promotable(&shooting).is_ok());
        shooting.status = ReportStatus::Dismissed;
        assert!(matches!(
            promotable(&shooting),
            Err(ReportError::Conflict(ReportConflict::Dismissed))
        ));
        shooting.status = ReportStatus::Confirmed;
        shooting.alert_id = Some(Uuid::new_v4());
        assert!(matches!(
            promotable(&shooting),
            Err(ReportError::Conflict(ReportConflict::AlreadyPromoted))
        ));
        shooting.status = ReportStatus::Merged;
        assert!(matches!(
            promotable(&shooting),
            Err(ReportError::Conflict(ReportConflict::Merged))
        ));
        for (conflict, code) in [
            (ReportConflict::Merged, "report_merged"),
            (ReportConflict::AlreadyPromoted, "report_promoted"),
            (ReportConflict::PromotedNotDismissed, "report_promoted"),
            (ReportConflict::Dismissed, "report_dismissed"),
        ] {
            assert_eq!(conflict.code(), code);
        }
    }

    #[test]
    fn a_report_is_merged_only_into_one_not_itself_merged() {
        let officer = person(Role::WatchOfficer, &[]);
        let staff = person(Role::Staff, &[]);
        let mut duplicate = report(IncidentCategory::Shooting, &staff);
        let mut original = report(IncidentCategory::Shooting, &staff);
        original.status = ReportStatus::Merged;
        let e = merge(&mut duplicate, &original, &officer).unwrap_err();
        assert!(matches!(e, ReportError::Invalid(ref i) if i.field == "into"), "{e}");
        assert_eq!(duplicate.status, ReportStatus::New, "unchanged");
        original.status = ReportStatus::Confirmed;
        merge(&mut duplicate, &original, &officer).unwrap();
        assert_eq!(duplicate.status, ReportStatus::Merged);
        assert_eq!(duplicate.merged_into, Some(original.id));
    }

    #[test]
    fn a_promoted_alert_keeps_a_restricted_reports_details_out() {
        let now = Utc::now();
        let staff = person(Role::Staff, &[]);
        let restricted = report(IncidentCategory::SexualViolence, &staff);
        let alert = alert_from(&restricted, now);
        assert_eq!(alert.headline, "Security incident reported");
        assert_eq!(alert.description, None);
        assert!(!alert.headline.contains("Sexual"));
        let mut crime = report(IncidentCategory::Crime, &staff);
        let alert = alert_from(&crime, now);
        assert_eq!(alert.headline, "Crime reported");
        assert_eq!(alert.description.as_deref(), Some("Gunfire near the market"));
        assert_eq!(
            (alert.severity, alert.certainty),
            (Severity::Moderate, Certainty::Likely)
        );
        assert_eq!(alert.area.radius_m, Some(PROMOTED_RADIUS_M));
        assert_eq!(alert.expires_at, now + scaan_schemas::DEFAULT_LIFETIME);
        crime.status = ReportStatus::Confirmed;
        assert_eq!(alert_from(&crime, now).certainty, Certainty::Observed);
        let shooting = report(IncidentCategory::Shooting, &staff);
        assert_eq!(alert_from(&shooting, now).severity, Severity::Severe);
        assert!(alert_from(&shooting, now).validate(now).is_ok());
    }

    #[test]
    fn who_lists_which_reports() {
        let staff = caller(Role::Staff, &[]);
        let own = scope_of(&staff, false).unwrap();
        assert_eq!((own.reporter, own.restricted), (Some(staff.user.id), true));
        let officer = scope_of(&caller(Role::SecurityOfficer, &["CD"]), false).unwrap();
        assert_eq!(
            (officer.countries, officer.restricted),
            (Some(vec!["CD".to_owned()]), false)
        );
        let watch = scope_of(&caller(Role::WatchOfficer, &[]), true).unwrap();
        assert_eq!((watch.countries, watch.restricted), (None, true));
        assert!(scope_of(&caller(Role::Admin, &[]), true).is_err());
    }
}
