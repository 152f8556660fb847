//! The MQTT topic names of the contract (`scaan/v1/staff/{user_id}/…`) and who may use which.
//!
//! Every check is an exact comparison with the canonical spelling (lower-case hyphenated UUID),
//! so one person's topics have exactly one name and no wildcard or `$share/…` filter can reach
//! past a person's own topics.

use uuid::Uuid;

const PREFIX: &str = "scaan/v1/staff/";

/// What a phone publishes about its owner: the phone → hub topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneTopic {
    Checkin,
    Location,
    Sos,
    Report,
    /// The app has shown an alert to its person: `{"alert_id"}` (a delivery receipt).
    Ack,
    /// A journey's check-in: `{"journey_id", "status"}`.
    JourneyCheckin,
}

impl PhoneTopic {
    pub const ALL: [PhoneTopic; 6] = [
        Self::Checkin,
        Self::Location,
        Self::Sos,
        Self::Report,
        Self::Ack,
        Self::JourneyCheckin,
    ];

    /// The last topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checkin => "checkin",
            Self::Location => "location",
            Self::Sos => "sos",
            Self::Report => "report",
            Self::Ack => "ack",
            Self::JourneyCheckin => "journey_checkin",
        }
    }

    fn from_level(level: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == level)
    }
}

/// `scaan/v1/staff/{user}/inbox`: every envelope for that person (hub → phone).
pub fn inbox(user: Uuid) -> String {
    format!("{PREFIX}{user}/inbox")
}

/// `scaan/v1/staff/+/inbox`: every person's inbox, which only the hub may publish to.
pub fn every_inbox() -> String {
    format!("{PREFIX}+/inbox")
}

/// `scaan/v1/staff/{user}/{kind}` (phone → hub).
pub fn phone_topic(user: Uuid, kind: PhoneTopic) -> String {
    format!("{PREFIX}{user}/{}", kind.as_str())
}

/// The filters the hub may subscribe to: every person's phone → hub topics.
pub fn hub_filters() -> Vec<String> {
    PhoneTopic::ALL.into_iter().map(hub_filter).collect()
}

/// `scaan/v1/staff/+/{kind}`: one phone → hub topic of everyone.
pub fn hub_filter(kind: PhoneTopic) -> String {
    format!("{PREFIX}+/{}", kind.as_str())
}

/// Whose and which phone → hub topic this is; `None` for anything else.
/// The owner comes from the topic, which the broker has already checked against the connection.
pub fn parse_phone_topic(topic: &str) -> Option<(Uuid, PhoneTopic)> {
    let (user, level) = topic.strip_prefix(PREFIX)?.split_once('/')?;
    let user = canonical_uuid(user)?;
    Some((user, PhoneTopic::from_level(level)?))
}

/// A person may subscribe to their own inbox and nothing else.
pub fn may_subscribe(user: Uuid, filter: &str) -> bool {
    filter == inbox(user)
}

/// A person may publish only to their own phone → hub topics.
pub fn may_publish(user: Uuid, topic: &str) -> bool {
    parse_phone_topic(topic).is_some_and(|(owner, _)| owner == user)
}

/// Only the canonical spelling, so that `ABC…` and `abc…` cannot name two topics for one person.
fn canonical_uuid(level: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(level).ok()?;
    (id.hyphenated().to_string() == level).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Uuid = Uuid::from_u128(0x0a);
    const B: Uuid = Uuid::from_u128(0x0b);

    #[test]
    fn a_person_subscribes_only_to_their_own_inbox() {
        assert!(may_subscribe(A, &inbox(A)));
        for filter in [
            inbox(B),
            format!("{PREFIX}+/inbox"),
            format!("{PREFIX}{A}/#"),
            "#".to_owned(),
            format!("$share/g/{}", inbox(A)),
            inbox(A).to_uppercase(),
            phone_topic(A, PhoneTopic::Sos),
        ] {
            assert!(!may_subscribe(A, &filter), "{filter}");
        }
    }

    #[test]
    fn a_person_publishes_only_to_their_own_phone_topics() {
        for kind in PhoneTopic::ALL {
            assert!(may_publish(A, &phone_topic(A, kind)));
            assert!(!may_publish(B, &phone_topic(A, kind)));
        }
        for topic in [
            inbox(A),
            format!("{PREFIX}{A}/checkin/extra"),
            format!("{PREFIX}{}/checkin", A.to_string().to_uppercase()),
            format!("{PREFIX}{}/checkin", A.simple()),
            format!("{PREFIX}+/checkin"),
        ] {
            assert!(!may_publish(A, &topic), "{topic}");
        }
    }

    #[test]
    fn phone_topics_parse_back() {
        assert_eq!(
            parse_phone_topic(&phone_topic(B, PhoneTopic::Location)),
            Some((B, PhoneTopic::Location))
        );
        assert_eq!(parse_phone_topic(&inbox(B)), None);
    }
}
