//! NATS JWTs (version 2 claims, `ed25519-nkey` signatures): the operator's, the accounts', and
//! the users' the hub signs — each phone login's, the hub's own link's, the hub's system
//! connection's. Users are *bearer* users: the JWT alone admits its holder, as an MQTT client,
//! which has no way to sign the server's nonce, needs.

use base64::engine::{general_purpose::URL_SAFE_NO_PAD, Engine as _};
use nkeys::KeyPair;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::topics::{self, PhoneTopic};

/// The subjects under which NATS's MQTT layer delivers QoS 1 messages to a subscriber: the
/// server subscribes there on the client's behalf, under the client's own rights. MQTT clients
/// cannot subscribe to `$MQTT/…` topics themselves (NATS refuses them), so the grant reaches
/// no one else's deliveries.
const MQTT_DELIVERIES: &str = "$MQTT.sub.>";

/// Who may publish and subscribe to what: NATS subjects, the MQTT topic with `/` as `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl Rights {
    /// A person's: publish to their own phone → hub topics, subscribe to their own inbox.
    pub fn person(user: Uuid) -> Rights {
        Rights {
            publish: PhoneTopic::ALL
                .into_iter()
                .map(|kind| subject(&topics::phone_topic(user, kind)))
                .collect(),
            subscribe: vec![subject(&topics::inbox(user)), MQTT_DELIVERIES.to_owned()],
        }
    }

    /// The hub's link: publish to every inbox, subscribe to every phone → hub topic.
    pub fn hub() -> Rights {
        let mut subscribe: Vec<String> = topics::hub_filters().iter().map(|filter| subject(filter)).collect();
        subscribe.push(MQTT_DELIVERIES.to_owned());
        Rights {
            publish: vec![subject(&topics::every_inbox())],
            subscribe,
        }
    }
}

/// NATS's name for an MQTT topic or filter: levels joined by `.`, `+` as `*`, `#` as `>`.
/// (The contract's topics hold no `.` or spaces, which NATS would map otherwise.)
pub fn subject(topic: &str) -> String {
    topic
        .split('/')
        .map(|level| match level {
            "+" => "*",
            "#" => ">",
            level => level,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A user JWT: a bearer user with `rights`, issued by `account` for the user key `subject_key`,
/// valid until `expires_at` (Unix seconds; `None`: until revoked).
pub fn user(account: &KeyPair, subject_key: &str, name: &str, rights: &Rights, expires_at: Option<i64>) -> String {
    let nats = json!({
        "type": "user",
        "version": 2,
        "bearer_token": true,
        "pub": permission(&rights.publish),
        "sub": permission(&rights.subscribe),
        "subs": -1, "data": -1, "payload": -1,
    });
    sign(account, subject_key, name, expires_at, nats)
}

/// NATS reads an empty allow list as no restriction at all: nothing allowed is said as a deny
/// of everything.
fn permission(allowed: &[String]) -> Value {
    if allowed.is_empty() {
        json!({"deny": [">"]})
    } else {
        json!({"allow": allowed})
    }
}

/// The operator's self-signed JWT, which the server trusts (`operator:` in its configuration).
pub fn operator(operator: &KeyPair, name: &str) -> String {
    let key = operator.public_key();
    sign(operator, &key, name, None, json!({"type": "operator", "version": 2}))
}

/// An account's JWT, signed by the operator: unlimited, with JetStream (where NATS keeps MQTT
/// sessions) when `jetstream`, and the user keys revoked (key → Unix seconds: every JWT for
/// that key issued at or before then is refused, and its connections closed).
pub fn account(
    operator: &KeyPair,
    account_key: &str,
    name: &str,
    jetstream: bool,
    revocations: &BTreeMap<String, i64>,
) -> String {
    let mut limits = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
    });
    if jetstream {
        for limit in ["mem_storage", "disk_storage", "streams", "consumer"] {
            limits[limit] = json!(-1);
        }
    }
    let mut nats = json!({"type": "account", "version": 2, "limits": limits});
    if !revocations.is_empty() {
        nats["revocations"] = json!(revocations);
    }
    sign(operator, account_key, name, None, nats)
}

#[derive(Serialize)]
struct Claims<'a> {
    jti: String,
    iat: i64,
    iss: String,
    name: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    nats: Value,
}

/// `header.claims.signature`, each base64url without padding, signed by `issuer`.
fn sign(issuer: &KeyPair, subject_key: &str, name: &str, expires_at: Option<i64>, nats: Value) -> String {
    let mut claims = Claims {
        jti: String::new(),
        iat: chrono::Utc::now().timestamp(),
        iss: issuer.public_key(),
        name,
        sub: subject_key,
        exp: expires_at,
        nats,
    };
    // The JWT's id: a digest of the claims, as NATS's own tools make it.
    let digest = Sha256::digest(serde_json::to_vec(&claims).unwrap_or_default());
    claims.jti = URL_SAFE_NO_PAD.encode(digest);
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let signed = format!("{header}.{body}");
    // Signing with a seed-bearing key pair cannot fail; only a public-only one could.
    let signature = issuer.sign(signed.as_bytes()).unwrap_or_default();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Uuid = Uuid::from_u128(0x0a);

    fn claims(jwt: &str) -> Value {
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn topics_map_to_subjects_as_nats_maps_them() {
        assert_eq!(subject("scaan/v1/staff/+/inbox"), "scaan.v1.staff.*.inbox");
        assert_eq!(subject("scaan/v1/staff/#"), "scaan.v1.staff.>");
    }

    #[test]
    fn a_person_has_their_own_topics_and_no_one_elses() {
        let rights = Rights::person(A);
        assert_eq!(
            rights.subscribe,
            [format!("scaan.v1.staff.{A}.inbox"), MQTT_DELIVERIES.to_owned()]
        );
        assert_eq!(rights.publish.len(), PhoneTopic::ALL.len());
        assert!(rights
            .publish
            .iter()
            .all(|s| s.starts_with(&format!("scaan.v1.staff.{A}."))));
        assert!(!rights
            .publish
            .iter()
            .any(|s| s.ends_with(".inbox") || s.contains('*') || s.contains('>')));
    }

    #[test]
    fn a_user_jwt_is_signed_by_its_account_and_carries_its_rights() {
        let account = KeyPair::new_account();
        let user_key = KeyPair::new_user().public_key();
        let jwt = user(&account, &user_key, "amani", &Rights::person(A), Some(2_000_000_000));
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        account
            .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
            .unwrap();
        let claims = claims(&jwt);
        assert_eq!(claims["iss"], account.public_key());
        assert_eq!(claims["sub"], user_key);
        assert_eq!(claims["exp"], 2_000_000_000);
        assert_eq!(claims["nats"]["bearer_token"], true);
        assert_eq!(claims["nats"]["sub"]["allow"][0], format!("scaan.v1.staff.{A}.inbox"));
    }

    #[test]
    fn nothing_allowed_is_everything_denied() {
        let none = Rights {
            publish: Vec::new(),
            subscribe: vec!["a.b".to_owned()],
        };
        let claims = claims(&user(
            &KeyPair::new_account(),
            &KeyPair::new_user().public_key(),
            "x",
            &none,
            None,
        ));
        assert_eq!(claims["nats"]["pub"], json!({"deny": [">"]}));
        assert_eq!(claims["nats"]["sub"], json!({"allow": ["a.b"]}));
        assert!(claims.get("exp").is_none());
    }

    #[test]
    fn an_account_jwt_carries_its_revocations_and_jetstream_when_asked() {
        let operator = KeyPair::new_operator();
        let revoked = BTreeMap::from([(KeyPair::new_user().public_key(), 1_700_000_000)]);
        let jwt = account(&operator, &KeyPair::new_account().public_key(), "scaan", true, &revoked);
        assert_eq!(claims(&jwt)["nats"]["revocations"], json!(revoked));
        assert_eq!(claims(&jwt)["nats"]["limits"]["disk_storage"], -1);
        let plain = account(
            &operator,
            &KeyPair::new_account().public_key(),
            "SYS",
            false,
            &BTreeMap::new(),
        );
        assert!(claims(&plain)["nats"].get("revocations").is_none());
        assert!(claims(&plain)["nats"]["limits"].get("disk_storage").is_none());
    }
}
