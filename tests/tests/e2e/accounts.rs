//! Login, tokens, roles, health and the API description.

use crate::harness::{Backend, TestHub, PASSWORD};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

on_both_backends!(
    login_gives_a_token_that_names_the_account,
    logout_revokes_the_token_and_closes_its_streams,
    expired_tokens_are_refused,
    repeated_failed_logins_are_slowed_down,
    guesses_hold_back_the_guesser_not_the_owner_nor_anyone_else,
    guesses_sent_at_once_get_no_further_than_the_limit,
    only_admins_create_accounts,
    health_and_api_description,
    accounts_have_phone_numbers_in_e164,
);

async fn login_gives_a_token_that_names_the_account(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let amani = hub.account("amani", Role::Staff, &[], Some((0.49, 29.47))).await;
    let (status, login) = hub
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "amani", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(login["user"]["username"], "amani");
    assert_eq!(login["user"]["role"], "staff");
    assert!(login["expires_at"].as_str().unwrap().ends_with('Z'));
    let (status, me) = hub.get("/api/v1/me", &amani).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], login["user"]["id"]);
    assert_eq!(me["duty_station"], json!({"lat": 0.49, "lon": 29.47}));
    let (status, body) = hub.login("amani", "wrong password!").await.unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert_eq!(
        hub.login("nobody", PASSWORD).await.unwrap_err().0,
        StatusCode::UNAUTHORIZED
    );
    hub.stop().await;
}

async fn logout_revokes_the_token_and_closes_its_streams(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let mut stream = hub.stream(&amani).await;
    let (status, _) = hub.call("POST", "/api/v1/auth/logout", Some(&amani.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let closed = stream
        .next_within(std::time::Duration::from_secs(2))
        .await
        .expect("stream closed");
    assert_eq!(closed["code"], 1008, "{closed}");
    let (status, body) = hub.get("/api/v1/me", &amani).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["message"].as_str().unwrap().contains("revoked"));
    hub.stop().await;
}

async fn expired_tokens_are_refused(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let token = "an-expired-token-of-amani";
    let issued = chrono::Utc::now() - chrono::Duration::days(8);
    hub.app
        .store
        .insert_token(
            &scaan_server::auth::token_hash(token),
            amani.user.id,
            issued,
            issued + chrono::Duration::days(7),
        )
        .await
        .unwrap();
    let (status, _) = hub.call("GET", "/api/v1/me", Some(token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hub.call("GET", "/api/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = hub
        .http
        .get(format!("{}/api/v1/me", hub.base))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    hub.stop().await;
}

async fn repeated_failed_logins_are_slowed_down(backend: Backend) {
    let hub = TestHub::start(backend).await;
    hub.account("amani", Role::Staff, &[], None).await;
    for _ in 0..5 {
        assert_eq!(
            hub.login("amani", "guess guess guess").await.unwrap_err().0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Held back now, from here, even with the right password.
    let (status, body) = hub.login("amani", PASSWORD).await.unwrap_err();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert!(body["error"]["retry_after_s"].as_u64().unwrap() > 0);
    hub.stop().await;
}

/// A hub behind a reverse proxy on loopback, which says who each client is.
async fn behind_a_proxy(backend: Backend) -> TestHub {
    TestHub::start_configured(backend, |c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await
}

/// A login as the proxy forwards it from `client`.
async fn login_from(hub: &TestHub, client: &str, username: &str, password: &str) -> StatusCode {
    hub.http
        .post(format!("{}/api/v1/auth/login", hub.base))
        .header("x-forwarded-for", client)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn guesses_hold_back_the_guesser_not_the_owner_nor_anyone_else(backend: Backend) {
    let hub = behind_a_proxy(backend).await;
    hub.account("watch", Role::WatchOfficer, &[], None).await;
    hub.account("amani", Role::Staff, &[], None).await;
    // Twenty wrong passwords for the watch officer from one client...
    let mut answers = Vec::new();
    for _ in 0..20 {
        answers.push(login_from(&hub, "203.0.113.66", "watch", "a guess at it").await);
    }
    assert_eq!(answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 5);
    assert!(
        answers[5..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    // ...do not keep the officer out from their desk, nor anyone else out from theirs.
    assert_eq!(
        login_from(&hub, "198.51.100.10", "watch", PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        login_from(&hub, "198.51.100.11", "amani", PASSWORD).await,
        StatusCode::OK
    );
    // A header from anyone but the proxy is not believed: this is still the proxy's address.
    hub.stop().await;
}

async fn guesses_sent_at_once_get_no_further_than_the_limit(backend: Backend) {
    let hub = behind_a_proxy(backend).await;
    hub.account("amani", Role::Staff, &[], None).await;
    let guesses = (0..50).map(|_| login_from(&hub, "203.0.113.66", "amani", "a guess at it"));
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(checked, 5, "{answers:?}");
    assert_eq!(
        answers.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(),
        45
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_takes_as_long_for_an_unknown_username_as_for_a_known_one() {
    let hub = behind_a_proxy(Backend::Sqlite).await;
    hub.account("amani", Role::Staff, &[], None).await;
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..7 {
        for (i, username) in ["amani", "nobody-by-this-name"].into_iter().enumerate() {
            // A client per guess, so the limiter never answers first.
            let client = format!("203.0.113.{}", round * 2 + i + 1);
            let started = std::time::Instant::now();
            assert_eq!(
                login_from(&hub, &client, username, "wrong").await,
                StatusCode::UNAUTHORIZED
            );
            times[i].push(started.elapsed().as_secs_f64());
        }
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let (known, unknown) = (median(&mut times[0]), median(&mut times[1]));
    // Before the decoy was checked: ~20 ms against ~1 ms.
    let ratio = known / unknown;
    assert!(
        (0.5..2.0).contains(&ratio),
        "known {known:.4} s, unknown {unknown:.4} s"
    );
    hub.stop().await;
}

async fn only_admins_create_accounts(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let staff = hub.account("amani", Role::Staff, &[], None).await;
    let new = json!({"username": "kivu.officer", "password": "long enough password", "role": "security_officer",
        "name": "Kivu Officer", "countries": ["CD", "RW"]});
    let (status, body) = hub.post("/api/v1/users", &staff, new.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, created) = hub.post("/api/v1/users", &admin, new.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["countries"], json!(["CD", "RW"]));
    let (status, body) = hub.post("/api/v1/users", &admin, new).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "username_taken");
    let bad_country = json!({"username": "x.officer", "password": "long enough password", "role": "security_officer", "countries": ["ZZ"]});
    let (status, body) = hub.post("/api/v1/users", &admin, bad_country).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "countries[0]");
    hub.login("kivu.officer", "long enough password")
        .await
        .expect("the new account logs in");
    hub.stop().await;
}

async fn health_and_api_description(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let (status, health) = hub.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    let (status, doc) = hub.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/me/location",
        "/api/v1/users",
        "/api/v1/alerts",
        "/api/v1/alerts/preview",
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{id}/cap",
        "/api/v1/alerts/{id}/update",
        "/api/v1/alerts/{id}/cancel",
        "/api/v1/alerts/{id}/drill-report",
        "/api/v1/headcounts/summary",
        "/api/v1/stream",
        "/api/v1/warning-feeds",
        "/api/v1/warnings",
        "/api/v1/warnings/{id}/promote",
    ] {
        assert!(paths.contains_key(path), "{path} is not described in /openapi.json");
    }
    assert!(doc["components"]["schemas"]["Envelope"].is_object());
    let (status, body) = hub.call("GET", "/api/v1/nothing-here", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = hub.call("DELETE", "/api/v1/alerts", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_description_says_what_the_hub_accepts() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let (_, doc) = hub.call("GET", "/openapi.json", None, None).await;
    // It is a valid OpenAPI document (openapi-spec-validator; scripts/test.sh installs it).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let checked = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    // Parameters are where they are: a path parameter names a `{…}` of its path.
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name} is no path parameter"
                    );
                }
            }
        }
    }
    let enum_of = |schema: &str| -> Vec<String> {
        serde_json::from_value(doc["components"]["schemas"][schema]["enum"].clone())
            .unwrap_or_else(|_| panic!("{schema} has its values listed"))
    };
    // An alert built from the document's own values is taken, for every value.
    let mut alert = crate::harness::circle_alert("From the document", 0.49, 29.47, 1000.0);
    for (field, schema) in [
        ("category", "Category"),
        ("urgency", "Urgency"),
        ("severity", "Severity"),
        ("certainty", "Certainty"),
        ("status", "Status"),
    ] {
        for value in enum_of(schema) {
            alert[field] = json!(value);
            let (status, body) = hub.post("/api/v1/alerts/preview", &watch, alert.clone()).await;
            assert_eq!(status, StatusCode::OK, "{field} = {value}: {body}");
        }
        alert[field] = json!(enum_of(schema)[0]);
    }
    // Incident categories by their codes, as the taxonomy lists them.
    let (_, taxonomy) = hub.call("GET", "/api/v1/taxonomy/incidents", None, None).await;
    let mut codes: Vec<String> = taxonomy["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect();
    let mut described = enum_of("IncidentCategory");
    codes.sort();
    described.sort();
    assert_eq!(described, codes);
    hub.stop().await;
}

/// A body built from a schema of the document: each required field, of its declared type and
/// format (enums: their first value; arrays: as few items as they allow).
fn sample(doc: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return sample(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = serde_json::Map::new();
        for part in parts {
            if let Value::Object(fields) = sample(doc, part) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(choices) = schema[key].as_array() {
            let choice = choices.iter().find(|c| c["type"] != "null").unwrap_or(&choices[0]);
            return sample(doc, choice);
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values[0].clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap_or(Value::Null),
        kind => kind.clone(),
    };
    match kind.as_str().unwrap_or("object") {
        "object" => {
            let mut fields = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                fields.insert(name.to_owned(), sample(doc, &schema["properties"][name]));
            }
            Value::Object(fields)
        }
        "array" => {
            let items = schema["minItems"].as_u64().unwrap_or(0);
            Value::Array((0..items).map(|_| sample(doc, &schema["items"])).collect())
        }
        "string" => match schema["format"].as_str() {
            Some("date-time") => json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()),
            Some("uuid") => json!(uuid::Uuid::new_v4()),
            _ => json!("x".repeat(schema["minLength"].as_u64().unwrap_or(1) as usize)),
        },
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1)),
        "number" => json!(schema["minimum"].as_f64().unwrap_or(1.0)),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

/// Requests built from the document itself: for every operation with a JSON body, a body made
/// from its schema is never refused for its shape — not a 400, nor a 422 for an unknown field, a
/// missing one, a wrong type or an unknown value — and never fails (5xx). What types cannot
/// say (a headline's length, a point inside a country, an unknown id, a role) may still be a
/// 422, 403 or 404: the shape the document gives is the shape the hub takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_built_from_the_api_description_are_taken_in_its_shape() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let (_, doc) = hub.call("GET", "/openapi.json", None, None).await;
    // serde's words for a misfit, and the hub's for a field missing or unknown (a rule across
    // fields, "radius_m is required with a Point", is a value's, not the shape's).
    let shape_errors = ["unknown variant", "invalid type", "is not a field", "invalid length"];
    let mut refused = Vec::new();
    let mut tried = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let Some(schema) = operation["requestBody"]["content"]
                .get("application/json")
                .map(|c| &c["schema"])
            else {
                continue;
            };
            let body = sample(&doc, schema);
            let target = path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{country}", "CD")
                .replace("{session}", "00");
            let (status, answer) = hub
                .call(&method.to_uppercase(), &target, Some(&watch.token), Some(body.clone()))
                .await;
            tried += 1;
            let message = answer["error"]["message"].as_str().unwrap_or("");
            let misfit = status == StatusCode::UNPROCESSABLE_ENTITY
                && (shape_errors.iter().any(|e| message.contains(e)) || message.ends_with(": is required"));
            if status == StatusCode::BAD_REQUEST || status.is_server_error() || misfit {
                refused.push(format!("{method} {path} {body} → {status} {answer}"));
            }
        }
    }
    assert!(tried >= 20, "only {tried} operations with a JSON body");
    assert!(refused.is_empty(), "refused for its shape:\n{}", refused.join("\n"));
    hub.stop().await;
}

/// A stream lasts no longer than the token it was opened with, as an MQTT connection does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_token_expires() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let token = scaan_server::auth::new_token();
    let now = chrono::Utc::now();
    hub.app
        .store
        .insert_token(
            &scaan_server::auth::token_hash(&token),
            amani.user.id,
            now,
            now + chrono::Duration::seconds(2),
        )
        .await
        .unwrap();
    let short = crate::harness::Account {
        user: amani.user.clone(),
        token,
    };
    let mut stream = hub.stream(&short).await;
    let mut lasting = hub.stream(&amani).await;
    let started = std::time::Instant::now();
    let closed = stream
        .next_within(std::time::Duration::from_secs(6))
        .await
        .expect("the stream outlived its token");
    assert_eq!(closed["code"], 1008, "{closed}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    lasting.expect_silence().await;
    hub.stop().await;
}

async fn accounts_have_phone_numbers_in_e164(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("admin", Role::Admin, &[], None).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.security", Role::SecurityOfficer, &["CD"], None).await;
    let jean = hub.account("jean", Role::Staff, &[], Some((0.49, 29.47))).await;
    let new = |username: &str, phones: Value| {
        json!({"username": username, "password": PASSWORD, "role": "staff", "duty_station": {"lat": 0.49, "lon": 29.47},
               "phones": phones})
    };

    // Created with numbers as people write them, stored normalised in their order; a number
    // that is not E.164 is refused and named, and no account is made.
    let (status, amani) = hub
        .post(
            "/api/v1/users",
            &admin,
            new("amani", json!(["+243 970-000-001", "00243 (81) 0000001"])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{amani}");
    assert_eq!(amani["phones"], json!(["+243970000001", "+243810000001"]));
    for (bad, field) in [
        (json!(["0970000001"]), "phones[0]"),
        (json!(["+243970000001", "+0243970000001"]), "phones[1]"),
        (json!(["+243"]), "phones[0]"),
        (json!(["+2439700000011234"]), "phones[0]"),
        (json!(["+243970000001", "+243 970 000 001"]), "phones[1]"),
    ] {
        let (status, body) = hub.post("/api/v1/users", &admin, new("grace", bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(body["error"]["field"], field, "{bad}");
    }
    let (_, users) = hub.get("/api/v1/users", &admin).await;
    assert!(!users.as_array().unwrap().iter().any(|u| u["username"] == "grace"));

    // Changed by an administrator, or by the person; a bad number changes nothing; [] removes
    // them all.
    let path = format!("/api/v1/users/{}/phones", jean.user.id);
    let put = |who: &str, body: Value| {
        let (hub, path, who) = (&hub, path.clone(), who.to_owned());
        async move { hub.call("PUT", &path, Some(&who), Some(body)).await }
    };
    let (status, changed) = put(&admin.token, json!({"phones": ["+243970000002"]})).await;
    assert_eq!(
        (status, &changed["phones"]),
        (StatusCode::OK, &json!(["+243970000002"]))
    );
    let (status, body) = put(&admin.token, json!({"phones": ["+243970000002", "970-000-003"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (Some("invalid_field"), Some("phones[1]"))
    );
    let (_, me) = hub.get("/api/v1/me", &jean).await;
    assert_eq!(me["phones"], json!(["+243970000002"]), "the bad number changed nothing");
    let (status, own) = put(&jean.token, json!({"phones": ["+243970000002", "+243810000002"]})).await;
    assert_eq!(
        (status, &own["phones"]),
        (StatusCode::OK, &json!(["+243970000002", "+243810000002"]))
    );
    // Nobody else changes them.
    for who in [&watch.token, &kivu.token] {
        let (status, _) = put(who, json!({"phones": ["+243970000009"]})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = hub
        .call(
            "PUT",
            &format!("/api/v1/users/{}/phones", admin.user.id),
            Some(&jean.token),
            Some(json!({"phones": ["+243970000009"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not another person's");
    let (status, body) = hub
        .call(
            "PUT",
            &format!("/api/v1/users/{}/phones", uuid::Uuid::new_v4()),
            Some(&admin.token),
            Some(json!({"phones": []})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Who reads them: administrators and watch officers; each person their own; no staff
    // member another's.
    for who in [&admin, &watch] {
        let (status, users) = hub.get("/api/v1/users", who).await;
        assert_eq!(status, StatusCode::OK);
        let jean_seen = users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "jean")
            .unwrap()
            .clone();
        assert_eq!(jean_seen["phones"], json!(["+243970000002", "+243810000002"]));
    }
    for who in [&kivu, &jean] {
        let (status, _) = hub.get("/api/v1/users", who).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let login = hub.login("amani", PASSWORD).await.unwrap();
    let (_, own) = hub.call("GET", "/api/v1/me", Some(&login), None).await;
    assert_eq!(own["phones"], json!(["+243970000001", "+243810000001"]));

    // Each change is audited; removing the numbers takes them off the account.
    let (_, entries) = hub.get("/api/v1/audit", &admin).await;
    let changes: Vec<&Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "account.phones_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{entries}");
    let first = changes
        .iter()
        .find(|e| e["detail"]["previous_phones"] == json!([]))
        .expect("the first change");
    assert_eq!(first["detail"]["phones"], json!(["+243970000002"]));
    let (status, removed) = put(&admin.token, json!({"phones": []})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(removed.get("phones").is_none(), "{removed}");
    hub.stop().await;
}
