//! The incident taxonomy staff report against, published at `GET /api/v1/taxonomy/incidents`.
//!
//! It follows the humanitarian sector's own vocabularies: the means and context of attack of
//! the Aid Worker Security Database (AWSD: shooting, kidnapping, explosive devices, bodily
//! assault, shelling, crossfire, mob violence, detention, …), plus the non-violent incidents a
//! security focal point also tracks (crime, civil unrest, natural hazard, health, road
//! accident). A report's fields are those of the Security Incident Information Management
//! (SIIM) immediate report: who, what, where, when, what was done and what help is needed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Category;

/// Bumped whenever a category is added or its meaning changes; codes are never reused.
pub const TAXONOMY_VERSION: &str = "2026-11.1";

/// Which family a category belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentGroup {
    /// AWSD means of attack.
    MeansOfAttack,
    /// AWSD context of attack.
    ContextOfAttack,
    /// Incidents that are not attacks.
    NonViolent,
}

macro_rules! incident_categories {
    ($($variant:ident => $code:literal, $label:literal, $group:ident, $cap:ident, $restricted:literal, $about:literal;)+) => {
        /// An incident category, by its stable code.
        // `rename_all` is for the OpenAPI document (utoipa cannot read a `rename` from a macro
        // argument): every code is its variant in snake case, which a test checks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum IncidentCategory {
            $(#[serde(rename = $code)] $variant),+
        }

        impl IncidentCategory {
            pub const ALL: &'static [IncidentCategory] = &[$(IncidentCategory::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }

            /// The name people read.
            pub fn label(self) -> &'static str {
                match self { $(Self::$variant => $label),+ }
            }

            pub fn group(self) -> IncidentGroup {
                match self { $(Self::$variant => IncidentGroup::$group),+ }
            }

            /// The CAP category an alert promoted from such a report gets.
            pub fn cap_category(self) -> Category {
                match self { $(Self::$variant => Category::$cap),+ }
            }

            /// Reports of this category are visible only to officers with sensitive access.
            pub fn restricted(self) -> bool {
                match self { $(Self::$variant => $restricted),+ }
            }

            fn about(self) -> &'static str {
                match self { $(Self::$variant => $about),+ }
            }
        }
    };
}

incident_categories! {
    Shooting => "shooting", "Shooting", MeansOfAttack, Security, false, "Small arms or light weapons fire aimed at people, vehicles or premises.";
    Kidnapping => "kidnapping", "Kidnapping", MeansOfAttack, Security, false, "Abduction or hostage-taking, whatever its length or outcome.";
    KidnapKilling => "kidnap_killing", "Kidnap-killing", MeansOfAttack, Security, false, "A kidnapping in which the victim was killed.";
    Ied => "ied", "Improvised explosive device", MeansOfAttack, Security, false, "Roadside, body-borne or vehicle-borne IED, or another improvised explosive.";
    Landmine => "landmine", "Landmine or unexploded ordnance", MeansOfAttack, Security, false, "Mines, explosive remnants of war or unexploded ordnance.";
    Shelling => "shelling", "Shelling, missile or mortar", MeansOfAttack, Security, false, "Indirect fire: artillery, rockets, missiles or mortars.";
    AerialBombardment => "aerial_bombardment", "Aerial bombardment", MeansOfAttack, Security, false, "Air strikes or armed drones.";
    ComplexAttack => "complex_attack", "Complex attack", MeansOfAttack, Security, false, "Coordinated attack combining several means (e.g. explosives and gunmen).";
    BodilyAssault => "bodily_assault", "Bodily assault", MeansOfAttack, Security, false, "Beating, stabbing or other physical assault without firearms.";
    SexualViolence => "sexual_violence", "Sexual violence", MeansOfAttack, Security, true, "Rape, sexual assault or sexual harassment. Visible only to officers with sensitive access.";
    Ambush => "ambush", "Ambush", ContextOfAttack, Security, false, "An attack on people travelling, typically on a road.";
    Crossfire => "crossfire", "Crossfire", ContextOfAttack, Security, false, "Caught in combat between armed parties, not the target.";
    MobViolence => "mob_violence", "Mob violence", ContextOfAttack, Security, false, "Violence by a crowd, riot or lynching.";
    Raid => "raid", "Raid", ContextOfAttack, Security, false, "Armed entry into an office, compound or residence.";
    Detention => "detention", "Arrest or detention", ContextOfAttack, Security, false, "Arrest, detention or interrogation by authorities or armed groups.";
    Crime => "crime", "Crime", NonViolent, Safety, false, "Theft, robbery, burglary, carjacking or fraud.";
    CivilUnrest => "civil_unrest", "Civil unrest", NonViolent, Security, false, "Demonstrations, strikes, road blocks or political violence not aimed at us.";
    NaturalHazard => "natural_hazard", "Natural hazard", NonViolent, Met, false, "Flood, storm, earthquake, landslide, fire or another natural hazard.";
    Health => "health", "Health", NonViolent, Health, false, "Disease outbreak, medical emergency or other health threat.";
    RoadAccident => "road_accident", "Road accident", NonViolent, Transport, false, "A traffic accident involving staff, vehicles or beneficiaries.";
    Other => "other", "Other", NonViolent, Other, false, "Anything else that threatens staff, premises or operations.";
}

/// One category as the taxonomy endpoint lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentCategoryInfo {
    pub code: IncidentCategory,
    pub label: String,
    pub group: IncidentGroup,
    pub description: String,
    /// The CAP category of an alert promoted from such a report.
    pub cap_category: Category,
    /// Reports of this category are visible only to officers with sensitive access.
    pub restricted: bool,
}

/// A SIIM immediate-report question and the report field that answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportField {
    pub question: String,
    pub field: String,
}

/// `GET /api/v1/taxonomy/incidents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentTaxonomy {
    pub version: String,
    pub categories: Vec<IncidentCategoryInfo>,
    /// The SIIM immediate-report questions, mapped to the fields of a report.
    pub report_fields: Vec<ReportField>,
}

impl IncidentTaxonomy {
    pub fn current() -> IncidentTaxonomy {
        let fields = [
            ("Who was affected, and who reports it?", "people_affected, reporter"),
            ("What happened?", "category, description"),
            ("Where?", "position"),
            ("When?", "occurred_at"),
            ("What has been done?", "action_taken"),
            ("What help is needed?", "help_needed"),
        ];
        IncidentTaxonomy {
            version: TAXONOMY_VERSION.to_owned(),
            categories: IncidentCategory::ALL
                .iter()
                .map(|&c| IncidentCategoryInfo {
                    code: c,
                    label: c.label().to_owned(),
                    group: c.group(),
                    description: c.about().to_owned(),
                    cap_category: c.cap_category(),
                    restricted: c.restricted(),
                })
                .collect(),
            report_fields: fields
                .into_iter()
                .map(|(q, f)| ReportField {
                    question: q.to_owned(),
                    field: f.to_owned(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_read_back() {
        let mut codes: Vec<&str> = IncidentCategory::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), IncidentCategory::ALL.len());
        for c in IncidentCategory::ALL {
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.code()));
            assert_eq!(serde_json::from_str::<IncidentCategory>(&json).unwrap(), *c);
        }
        assert!(serde_json::from_str::<IncidentCategory>("\"weather\"").is_err());
    }

    #[test]
    fn only_sexual_violence_is_restricted() {
        let restricted: Vec<_> = IncidentCategory::ALL.iter().filter(|c| c.restricted()).collect();
        assert_eq!(restricted, [&IncidentCategory::SexualViolence]);
    }
}
