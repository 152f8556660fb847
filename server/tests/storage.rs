//! The storage conformance suite: every public query of [`Store`] pinned down — what it finds,
//! what it leaves out, its order and limit, what it refuses — and each test run on SQLite (a
//! temporary file) and on PostgreSQL (a fresh database on `SCAAN_TEST_POSTGRES_URL`; without
//! it the PostgreSQL half says SKIPPED). The queries are written once for both backends; this
//! suite is what shows they mean the same on both. No hub, no broker: only the store.

#[path = "../../tests/common/databases.rs"]
mod databases;

use chrono::{DateTime, Duration, TimeZone, Utc};
use databases::Backend;
use scaan_schemas::{
    Advisory, Alert, AuditEntry, Channel, Checkin, CheckinStatus, FeedFetch, FetchOutcome, NewUser, PersonStatus,
    Position, ReceiptStatus, Report, ReportStatus, Role, Sos, SosStatus, Trip, TripStatus, User, Via, Warning,
    WarningFeed, WarningState,
};
use scaan_server::storage::{
    AlertScope, AlertState, Conflict, InboxStep, MessageKey, OutboxEnvelope, OwedRow, Page, ReceiptRow, Refused,
    ReportScope, SosScope, Store, StoreError, TextReason, TextReceiptRow, TextReport, TripScope, Validators,
};
use serde_json::json;
use std::collections::HashSet;
use std::future::Future;
use uuid::Uuid;

/// Runs each test once per backend, on a store of its own: `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::run(super::Backend::Sqlite, super::$name).await
            })+
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                if let Some(backend) = super::Backend::postgres() {
                    super::run(backend, super::$name).await
                }
            })+
        }
    };
}

on_both_backends!(
    connecting_and_migrating,
    accounts_are_found_by_id_and_username_in_username_order,
    a_username_is_taken_once,
    a_constraint_outside_the_table_is_named_not_a_conflict,
    credentials_are_only_for_enabled_accounts,
    tokens_live_until_expired_revoked_or_their_account_disabled,
    disabling_revokes_tokens_and_spares_the_last_administrator,
    a_role_change_spares_the_last_administrator,
    phones_and_passwords_change_and_a_password_change_ends_other_sessions,
    sessions_are_newest_first_and_only_the_owner_revokes_one,
    an_older_position_never_replaces_a_newer_one,
    staff_records_are_enabled_staff_only,
    alerts_are_listed_newest_first_by_scope_activity_and_limit,
    an_alert_update_from_a_stale_revision_is_refused,
    recipients_are_added_once,
    recipients_above_the_sqlite_parameter_limit_are_inserted_in_chunks,
    an_older_answer_never_overwrites_a_newer_one,
    a_batch_of_checkins_above_the_sqlite_parameter_limit_is_stored_whole,
    the_tally_counts_the_silent_not_reached_and_the_second_wave_is_claimed_once,
    the_board_lists_recipients_by_username_with_reach_and_open_sos,
    sos_calls_change_only_from_the_status_they_were_read_at,
    sos_calls_are_listed_newest_first_and_found_for_reminders,
    the_audit_trail_is_newest_first_filtered_and_limited,
    reports_change_only_from_the_revision_they_were_read_at,
    reports_are_listed_by_scope_and_restriction,
    sensitive_access_is_granted_once_and_withdrawn,
    advisories_keep_one_current_version_and_their_history,
    trips_change_only_from_the_status_they_were_read_at,
    trips_are_listed_by_scope_and_found_while_unfinished,
    the_inbox_keeps_order_and_marks_each_step_once,
    receipts_record_the_first_time_of_each_step,
    an_alert_s_revisions_are_tracked_on_its_recipients_rows,
    feeds_are_followed_once_by_url_and_polled_when_due,
    fetches_are_recorded_newest_first_with_the_feeds_state,
    index_entries_are_read_once,
    warnings_are_found_by_their_messages_and_change_only_from_the_version_read,
    current_warnings_leave_out_the_withdrawn_and_the_expired,
    every_reader_of_an_alerts_recipients_finds_them_while_they_are_one_list,
    every_reader_of_the_outbox_finds_its_rows_while_they_are_one_list,
    texts_are_owed_once_to_the_unreached_with_a_number_up_to_the_ceiling,
    a_text_is_handed_over_once_and_a_failure_moves_it_to_the_next_number,
    texts_still_waiting_when_their_alert_is_cancelled_are_withheld,
    node_events_are_read_in_order_after_an_id_and_pruned_by_age,
);

/// A store on a fresh database of `backend` for `test`, closed after it.
async fn run<F: Future<Output = ()>>(backend: Backend, test: fn(Store) -> F) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&backend.fresh_database(dir.path()).await)
        .await
        .expect("connect to a fresh database");
    test(store.clone()).await;
    store.close().await;
}

/// A fixed moment plus `s` seconds: whole seconds, stored alike by both backends.
fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(s)
}

fn new_user(username: &str, role: Role) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password: String::new(),
        role,
        name: None,
        countries: vec![],
        duty_station: None,
        phones: vec![],
    }
}

async fn account(store: &Store, username: &str, role: Role) -> User {
    store
        .create_user(&new_user(username, role), "hash", t(0))
        .await
        .expect("create an account")
}

/// Many staff accounts, written straight in one transaction: a fixture for the tests above
/// SQLite's parameter limit (a commit each through `create_user` would take minutes).
async fn many_accounts(store: &Store, n: usize) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    macro_rules! insert {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await.unwrap();
            for chunk in ids.chunks(1_000) {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO users (id, username, name, role, password_hash, created_at) ");
                q.push_values(chunk, |mut row, id| {
                    row.push_bind(*id)
                        .push_bind(id.to_string())
                        .push_bind("many")
                        .push_bind("staff")
                        .push_bind("hash")
                        .push_bind(t(0));
                });
                q.build().execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }};
    }
    match store {
        Store::Sqlite(pool) => insert!(pool),
        Store::Postgres(pool) => insert!(pool),
    }
    ids
}

fn alert(sent_at: DateTime<Utc>, expires_at: DateTime<Utc>, countries: &[&str]) -> Alert {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "msg_type": "alert", "revision": 1, "sent_at": sent_at, "updated_at": sent_at,
        "sender": "watch", "recipients": 0, "countries": countries,
        "headline": "Armed clashes", "event": "Armed clash", "category": "security",
        "urgency": "immediate", "severity": "severe", "certainty": "observed",
        "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 5000.0},
        "expires_at": expires_at, "checkin_required": true
    }))
    .expect("an alert")
}

fn checkin(alert: Uuid, staff: Uuid, status: CheckinStatus, at: DateTime<Utc>, note: &str) -> Checkin {
    Checkin {
        id: Uuid::new_v4(),
        alert_id: alert,
        staff_id: staff,
        status,
        via: Via::App,
        position: Some(Position::new(0.5, 29.5)),
        note: Some(note.to_owned()),
        recorded_by: staff,
        recorded_at: at,
        channel: Channel::Http,
    }
}

fn sos(staff: &User, raised_at: DateTime<Utc>) -> Sos {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "staff_id": staff.id, "username": staff.username, "name": staff.name,
        "status": "open", "countries": ["CD"], "raised_at": raised_at, "announcements": 1
    }))
    .expect("an SOS")
}

fn report(reporter: &User, reported_at: DateTime<Utc>, country: Option<&str>, restricted: bool) -> Report {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "reporter_id": reporter.id, "reporter": reporter.username,
        "category": scaan_schemas::IncidentCategory::ALL[0], "description": "a roadblock",
        "position": {"lat": 0.49, "lon": 29.47}, "reported_at": reported_at, "country": country,
        "status": "new", "restricted": restricted
    }))
    .expect("a report")
}

fn trip(traveller: &User, country: &str, depart_at: DateTime<Utc>, return_at: DateTime<Utc>) -> Trip {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "traveller_id": traveller.id, "traveller": traveller.username,
        "destination": {"country": country, "lat": 0.49, "lon": 29.47},
        "depart_at": depart_at, "return_at": return_at, "status": "planned", "created_at": t(0)
    }))
    .expect("a trip")
}

fn advisory(country: &str, revision: u32, risk_level: u8) -> Advisory {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "country": country, "risk_level": risk_level, "risk_label": "high",
        "summary": format!("revision {revision}"), "updated_at": t(i64::from(revision)), "updated_by": "watch",
        "revision": revision
    }))
    .expect("an advisory")
}

fn audit_entry(action: &str, subject: Uuid, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        id: Uuid::new_v4(),
        at,
        actor: "watch".into(),
        action: action.into(),
        subject,
        countries: vec!["CD".into(), "UG".into()],
        detail: json!({"why": action}),
    }
}

fn is_conflict(result: Result<impl std::fmt::Debug, StoreError>, expected: Conflict) -> bool {
    matches!(result, Err(StoreError::Conflict(c)) if c == expected)
}

async fn connecting_and_migrating(store: Store) {
    store.ping().await.expect("ping");
    assert!(["sqlite", "postgres"].contains(&store.backend()));
    assert!(matches!(
        Store::connect("mysql://localhost/scaan").await,
        Err(StoreError::BadUrl(_))
    ));
}

async fn accounts_are_found_by_id_and_username_in_username_order(store: Store) {
    let mut new = new_user("zoe", Role::SecurityOfficer);
    new.name = Some("Zoe K".into());
    new.countries = vec!["CD".into(), "UG".into()];
    new.duty_station = Some(Position::new(0.49, 29.47));
    new.phones = vec!["+243000000001".into()];
    let zoe = store.create_user(&new, "hash", t(10)).await.unwrap();
    let amani = account(&store, "amani", Role::Staff).await;
    assert_eq!(store.user(zoe.id).await.unwrap().as_ref(), Some(&zoe));
    assert_eq!(zoe.name, "Zoe K");
    assert_eq!(zoe.countries, ["CD", "UG"]);
    assert_eq!(store.user(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(store.user_by_username("zoe").await.unwrap(), Some(zoe.clone()));
    assert_eq!(store.user_by_username("nobody").await.unwrap(), None);
    let names: Vec<String> = store.users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["amani", "zoe"]);
    assert_eq!(amani.name, "amani", "the name defaults to the username");
    let since: Vec<(Uuid, DateTime<Utc>)> = store
        .users_created_since(t(5))
        .await
        .unwrap()
        .iter()
        .map(|(u, at)| (u.id, *at))
        .collect();
    assert_eq!(since, [(zoe.id, t(10))], "created at or after, with when");
    assert_eq!(store.users_created_since(t(10)).await.unwrap().len(), 1);
    assert_eq!(store.users_created_count_since(t(5)).await.unwrap(), 1);
    assert_eq!(store.users_created_count_since(t(0)).await.unwrap(), 2);
    assert_eq!(store.users_created_count_since(t(11)).await.unwrap(), 0);
}

async fn a_username_is_taken_once(store: Store) {
    account(&store, "amani", Role::Staff).await;
    let again = store.create_user(&new_user("amani", Role::Admin), "hash", t(1)).await;
    assert!(is_conflict(again, Conflict::UsernameTaken));
    assert_eq!(store.users().await.unwrap().len(), 1);
}

async fn a_constraint_outside_the_table_is_named_not_a_conflict(store: Store) {
    // A token for no account breaks a foreign key no request is expected to break.
    let broken = store.insert_token(&[1; 32], Uuid::new_v4(), t(0), t(60)).await;
    match broken {
        Err(e @ StoreError::Constraint { .. }) => {
            let text = e.to_string();
            assert!(text.contains("constraint"), "{text}");
            if store.backend() == "postgres" {
                assert!(text.contains("tokens_user_id_fkey"), "names the constraint: {text}");
            }
        }
        other => panic!("expected an unexpected-constraint error, got {other:?}"),
    }
}

async fn credentials_are_only_for_enabled_accounts(store: Store) {
    let amani = store
        .create_user(&new_user("amani", Role::Staff), "argon2-hash", t(0))
        .await
        .unwrap();
    let (user, hash) = store.credentials("amani").await.unwrap().expect("credentials");
    assert_eq!((user.id, hash.as_str()), (amani.id, "argon2-hash"));
    assert!(store.credentials("nobody").await.unwrap().is_none());
    account(&store, "admin", Role::Admin).await;
    store.set_disabled(amani.id, true, t(1)).await.unwrap().unwrap();
    assert!(store.credentials("amani").await.unwrap().is_none());
}

async fn tokens_live_until_expired_revoked_or_their_account_disabled(store: Store) {
    account(&store, "admin", Role::Admin).await;
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    store.insert_token(&[1; 32], amani.id, t(0), t(100)).await.unwrap();
    store.insert_token(&[2; 32], amani.id, t(0), t(100)).await.unwrap();
    store.insert_token(&[3; 32], olivier.id, t(0), t(100)).await.unwrap();
    let (user, expires) = store.token_user(&[1; 32], t(50)).await.unwrap().expect("live");
    assert_eq!((user.id, expires), (amani.id, t(100)));
    assert!(
        store.token_user(&[1; 32], t(100)).await.unwrap().is_none(),
        "expired at its expiry"
    );
    assert!(store.token_user(&[9; 32], t(50)).await.unwrap().is_none(), "unknown");

    store.revoke_token(&[2; 32], t(10)).await.unwrap();
    store.revoke_token(&[2; 32], t(20)).await.unwrap();
    assert!(store.token_user(&[2; 32], t(50)).await.unwrap().is_none(), "revoked");
    assert_eq!(
        store.revoked_tokens(None, t(50)).await.unwrap(),
        [(vec![2; 32], t(10))],
        "the first revocation counts"
    );
    assert_eq!(store.revoked_tokens(Some(olivier.id), t(50)).await.unwrap(), []);
    assert_eq!(store.revoked_tokens(Some(amani.id), t(50)).await.unwrap().len(), 1);
    assert_eq!(
        store.revoked_tokens(None, t(100)).await.unwrap(),
        [],
        "expired ones need no revoking"
    );

    // Many tokens in one look (phones logging in at once): only those that open an account.
    let both = store
        .token_users(&[[3; 32], [1; 32], [2; 32], [9; 32], [1; 32]], t(50))
        .await
        .unwrap();
    let owners: HashSet<([u8; 32], Uuid)> = both.iter().map(|(key, (user, _))| (*key, user.id)).collect();
    assert_eq!(owners, HashSet::from([([1; 32], amani.id), ([3; 32], olivier.id)]));
    // More than one statement's parameters: the last one is still looked at.
    let mut many = vec![[9; 32]; 70_000];
    many.push([1; 32]);
    assert_eq!(store.token_users(&many, t(50)).await.unwrap().len(), 1);

    store.set_disabled(olivier.id, true, t(30)).await.unwrap().unwrap();
    assert!(
        store.token_user(&[3; 32], t(50)).await.unwrap().is_none(),
        "disabled account"
    );
}

async fn disabling_revokes_tokens_and_spares_the_last_administrator(store: Store) {
    let admin = account(&store, "admin", Role::Admin).await;
    let amani = account(&store, "amani", Role::Staff).await;
    store.insert_token(&[1; 32], amani.id, t(0), t(100)).await.unwrap();

    let (user, changed) = store.set_disabled(amani.id, true, t(5)).await.unwrap().unwrap();
    assert!(user.disabled && changed);
    assert_eq!(
        store.revoked_tokens(Some(amani.id), t(6)).await.unwrap(),
        [(vec![1; 32], t(5))]
    );
    let (_, changed) = store.set_disabled(amani.id, true, t(6)).await.unwrap().unwrap();
    assert!(!changed, "already disabled");
    let (user, changed) = store.set_disabled(amani.id, false, t(7)).await.unwrap().unwrap();
    assert!(!user.disabled && changed);

    assert_eq!(
        store.set_disabled(admin.id, true, t(8)).await.unwrap(),
        Err(Refused::LastAdmin)
    );
    assert_eq!(
        store.set_disabled(Uuid::new_v4(), true, t(8)).await.unwrap(),
        Err(Refused::NotFound)
    );
    let second = account(&store, "second", Role::Admin).await;
    assert!(store.set_disabled(admin.id, true, t(9)).await.unwrap().is_ok());
    assert_eq!(
        store.set_disabled(second.id, true, t(9)).await.unwrap(),
        Err(Refused::LastAdmin)
    );

    let changed: Vec<Uuid> = store
        .users_changed_since(t(7))
        .await
        .unwrap()
        .iter()
        .map(|(u, _)| u.id)
        .collect();
    assert_eq!(changed.len(), 2, "amani (t7) and admin (t9): {changed:?}");
    assert!(changed.contains(&amani.id) && changed.contains(&admin.id));
}

async fn a_role_change_spares_the_last_administrator(store: Store) {
    let admin = account(&store, "admin", Role::Admin).await;
    let amani = account(&store, "amani", Role::Staff).await;
    let countries = vec!["CD".to_owned()];
    let (before, after) = store
        .set_role(amani.id, Role::SecurityOfficer, &countries, t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((before.role, after.role), (Role::Staff, Role::SecurityOfficer));
    assert_eq!(after.countries, countries);
    assert_eq!(
        store.set_role(admin.id, Role::Staff, &[], t(2)).await.unwrap(),
        Err(Refused::LastAdmin)
    );
    assert_eq!(
        store.set_role(Uuid::new_v4(), Role::Staff, &[], t(2)).await.unwrap(),
        Err(Refused::NotFound)
    );
    store.set_role(amani.id, Role::Admin, &[], t(3)).await.unwrap().unwrap();
    let (_, after) = store.set_role(admin.id, Role::Staff, &[], t(4)).await.unwrap().unwrap();
    assert_eq!(after.role, Role::Staff, "another administrator remains");
}

async fn phones_and_passwords_change_and_a_password_change_ends_other_sessions(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let numbers = vec!["+243000000002".to_owned(), "+243000000001".to_owned()];
    let (before, after) = store.set_phones(amani.id, &numbers).await.unwrap().unwrap();
    assert_eq!((before.phones, &after.phones), (vec![], &numbers), "kept in order");
    assert_eq!(store.user(amani.id).await.unwrap().unwrap().phones, numbers);
    let found = store.users_by_phone("+243000000001").await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [amani.id]);
    let (_, after) = store.set_phones(amani.id, &[]).await.unwrap().unwrap();
    assert_eq!(after.phones, Vec::<String>::new());
    assert!(store.users_by_phone("+243000000001").await.unwrap().is_empty());
    assert!(store.set_phones(Uuid::new_v4(), &[]).await.unwrap().is_none());
    assert!(
        store.users_changed_since(t(0)).await.unwrap().is_empty(),
        "a phone changes no rights"
    );

    store.insert_token(&[1; 32], amani.id, t(0), t(100)).await.unwrap();
    store.insert_token(&[2; 32], amani.id, t(0), t(100)).await.unwrap();
    let user = store
        .set_password(amani.id, "new-hash", Some(&[1; 32]), t(5))
        .await
        .unwrap();
    assert_eq!(user.map(|u| u.id), Some(amani.id));
    assert_eq!(store.credentials("amani").await.unwrap().unwrap().1, "new-hash");
    assert!(
        store.token_user(&[1; 32], t(6)).await.unwrap().is_some(),
        "the one kept"
    );
    assert!(store.token_user(&[2; 32], t(6)).await.unwrap().is_none());
    store.set_password(amani.id, "newer-hash", None, t(7)).await.unwrap();
    assert!(store.token_user(&[1; 32], t(8)).await.unwrap().is_none(), "none kept");
    assert!(store
        .set_password(Uuid::new_v4(), "h", None, t(8))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.users_changed_since(t(7)).await.unwrap().len(), 1);
}

async fn sessions_are_newest_first_and_only_the_owner_revokes_one(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    store.insert_token(&[1; 32], amani.id, t(1), t(100)).await.unwrap();
    store.insert_token(&[2; 32], amani.id, t(3), t(100)).await.unwrap();
    store.insert_token(&[3; 32], amani.id, t(2), t(10)).await.unwrap();
    let sessions = store.sessions(amani.id, t(5)).await.unwrap();
    let hashes: Vec<[u8; 32]> = sessions.iter().map(|s| s.token_hash).collect();
    assert_eq!(hashes, [[2; 32], [3; 32], [1; 32]]);
    assert_eq!((sessions[0].issued_at, sessions[0].expires_at), (t(3), t(100)));
    assert_eq!(
        store.sessions(amani.id, t(10)).await.unwrap().len(),
        2,
        "expired left out"
    );

    assert!(
        !store.revoke_session(olivier.id, &[1; 32], t(11)).await.unwrap(),
        "not theirs"
    );
    assert!(store.revoke_session(amani.id, &[1; 32], t(11)).await.unwrap());
    assert!(
        !store.revoke_session(amani.id, &[1; 32], t(12)).await.unwrap(),
        "no longer live"
    );
    assert_eq!(store.sessions(amani.id, t(12)).await.unwrap().len(), 1);
}

async fn an_older_position_never_replaces_a_newer_one(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let mut fix = Position::new(1.0, 2.0);
    fix.accuracy_m = Some(15.0);
    assert!(store.record_position(amani.id, fix, t(10)).await.unwrap());
    assert!(!store
        .record_position(amani.id, Position::new(3.0, 4.0), t(5))
        .await
        .unwrap());
    assert!(
        !store
            .record_position(amani.id, Position::new(3.0, 4.0), t(10))
            .await
            .unwrap(),
        "same time"
    );
    let record = store.staff_record(amani.id).await.unwrap().unwrap();
    assert_eq!(
        record.position.map(|(p, at)| (p.lat, p.lon, at)),
        Some((1.0, 2.0, t(10)))
    );
    assert!(store
        .record_position(amani.id, Position::new(5.0, 6.0), t(10) + Duration::milliseconds(1))
        .await
        .unwrap());
    let record = store.staff_record(amani.id).await.unwrap().unwrap();
    assert_eq!(record.position.map(|(p, _)| (p.lat, p.lon)), Some((5.0, 6.0)));
}

async fn staff_records_are_enabled_staff_only(store: Store) {
    account(&store, "admin", Role::Admin).await;
    let officer = account(&store, "officer", Role::SecurityOfficer).await;
    let mut new = new_user("amani", Role::Staff);
    new.duty_station = Some(Position::new(0.49, 29.47));
    let amani = store.create_user(&new, "hash", t(0)).await.unwrap();
    let gone = account(&store, "gone", Role::Staff).await;
    store.set_disabled(gone.id, true, t(1)).await.unwrap().unwrap();

    let records = store.staff_records().await.unwrap();
    assert_eq!(records.iter().map(|r| r.id).collect::<Vec<_>>(), [amani.id]);
    assert_eq!(records[0].duty_station.map(|p| (p.lat, p.lon)), Some((0.49, 29.47)));
    assert!(records[0].position.is_none());
    assert!(store.staff_record(officer.id).await.unwrap().is_none());
    assert!(store.staff_record(gone.id).await.unwrap().is_none());
}

async fn alerts_are_listed_newest_first_by_scope_activity_and_limit(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let old = alert(t(10), t(1000), &["CD"]);
    let new = alert(t(20), t(1000), &["UG"]);
    let expired = alert(t(30), t(40), &["CD", "UG"]);
    store.insert_alert(&old, &[amani.id]).await.unwrap();
    store.insert_alert(&new, &[]).await.unwrap();
    store.insert_alert(&expired, &[amani.id]).await.unwrap();
    let ids = |alerts: Vec<Alert>| alerts.into_iter().map(|a| a.id).collect::<Vec<_>>();

    assert_eq!(store.alert(old.id).await.unwrap(), Some(old.clone()));
    assert_eq!(store.alert(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        ids(store
            .alerts(&AlertScope::All, AlertState::Any, Page::first(10))
            .await
            .unwrap()),
        [expired.id, new.id, old.id]
    );
    assert_eq!(
        ids(store
            .alerts(&AlertScope::All, AlertState::Any, Page::first(2))
            .await
            .unwrap()),
        [expired.id, new.id]
    );
    assert_eq!(
        ids(store
            .alerts(&AlertScope::All, AlertState::ActiveAt(t(40)), Page::first(10))
            .await
            .unwrap()),
        [new.id, old.id]
    );
    let cd = AlertScope::Countries(vec!["CD".into()]);
    assert_eq!(
        ids(store.alerts(&cd, AlertState::Any, Page::first(10)).await.unwrap()),
        [expired.id, old.id]
    );
    let both = AlertScope::Countries(vec!["CD".into(), "UG".into()]);
    assert_eq!(
        ids(store.alerts(&both, AlertState::Any, Page::first(10)).await.unwrap()),
        [expired.id, new.id, old.id],
        "once each"
    );
    assert!(store
        .alerts(&AlertScope::Countries(vec![]), AlertState::Any, Page::first(10))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(store
            .alerts(
                &AlertScope::Recipient(amani.id),
                AlertState::ActiveAt(t(40)),
                Page::first(10)
            )
            .await
            .unwrap()),
        [old.id]
    );

    let mut cancel = old.clone();
    cancel.revision = 2;
    cancel.msg_type = scaan_schemas::MsgType::Cancel;
    store.update_alert(&cancel, 1, &[]).await.unwrap();
    assert_eq!(
        ids(store
            .alerts(&AlertScope::All, AlertState::ActiveAt(t(40)), Page::first(10))
            .await
            .unwrap()),
        [new.id],
        "cancelled"
    );
    // The history: cancelled ones only, found however many newer alerts there are, and paged.
    assert_eq!(
        ids(store
            .alerts(&AlertScope::All, AlertState::Cancelled, Page::first(1))
            .await
            .unwrap()),
        [old.id]
    );
    let older_than = |before, limit| Page {
        before: Some(before),
        limit,
    };
    assert_eq!(
        ids(store
            .alerts(&AlertScope::All, AlertState::Any, older_than(t(30), 1))
            .await
            .unwrap()),
        [new.id]
    );
    assert_eq!(
        ids(store
            .alerts(&AlertScope::All, AlertState::Any, older_than(t(20), 10))
            .await
            .unwrap()),
        [old.id],
        "strictly older"
    );
}

async fn an_alert_update_from_a_stale_revision_is_refused(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    let first = alert(t(10), t(1000), &["CD"]);
    store.insert_alert(&first, &[amani.id]).await.unwrap();
    let mut second = first.clone();
    second.revision = 2;
    second.countries = vec!["UG".into()];
    store.update_alert(&second, 1, &[olivier.id, amani.id]).await.unwrap();
    assert_eq!(store.alert(first.id).await.unwrap(), Some(second.clone()));
    assert!(store
        .alerts(
            &AlertScope::Countries(vec!["CD".into()]),
            AlertState::Any,
            Page::first(10)
        )
        .await
        .unwrap()
        .is_empty());
    let mut recipients = store.alert_recipients(first.id).await.unwrap();
    recipients.sort();
    let mut expected = vec![amani.id, olivier.id];
    expected.sort();
    assert_eq!(recipients, expected);

    let mut stale = first.clone();
    stale.revision = 2;
    stale.content.headline = "stale".into();
    assert!(is_conflict(
        store.update_alert(&stale, 1, &[]).await,
        Conflict::ChangedMeanwhile
    ));
    assert_eq!(store.alert(first.id).await.unwrap(), Some(second), "unchanged");
}

async fn recipients_are_added_once(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &[amani.id]).await.unwrap();
    assert_eq!(
        store.add_recipients(a.id, &[amani.id, olivier.id]).await.unwrap(),
        [olivier.id]
    );
    assert!(store.add_recipients(a.id, &[olivier.id]).await.unwrap().is_empty());
    assert!(store.is_recipient(a.id, olivier.id).await.unwrap());
    assert!(!store.is_recipient(Uuid::new_v4(), olivier.id).await.unwrap());
}

async fn recipients_above_the_sqlite_parameter_limit_are_inserted_in_chunks(store: Store) {
    // Two parameters a recipient: 17,000 in one statement would be 34,000, and SQLite takes
    // at most 32,766.
    let people = many_accounts(&store, 17_500).await;
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &people[..17_000]).await.unwrap();
    let mut b = a.clone();
    b.revision = 2;
    store.update_alert(&b, 1, &people).await.unwrap();
    assert_eq!(store.alert_recipients(a.id).await.unwrap().len(), 17_500);
    assert_eq!(store.silent_recipients(a.id).await.unwrap().len(), 17_500);
}

async fn an_older_answer_never_overwrites_a_newer_one(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &[amani.id]).await.unwrap();
    let standing = |store: Store| async move {
        let people = store.headcount_people(a.id).await.unwrap();
        (people[0].status, people[0].note.clone().unwrap_or_default())
    };
    // Within a batch, the latest answer is the standing whatever the order.
    store
        .record_checkins(&[
            checkin(a.id, amani.id, CheckinStatus::NeedHelp, t(20), "later"),
            checkin(a.id, amani.id, CheckinStatus::Safe, t(10), "earlier"),
        ])
        .await
        .unwrap();
    assert_eq!(standing(store.clone()).await, (PersonStatus::NeedHelp, "later".into()));
    // An older answer in a later batch stays in the history only.
    store
        .record_checkins(&[checkin(a.id, amani.id, CheckinStatus::Safe, t(15), "late arrival")])
        .await
        .unwrap();
    assert_eq!(standing(store.clone()).await, (PersonStatus::NeedHelp, "later".into()));
    // One a millisecond newer wins (SQLite compares timestamps as text: fractions must order).
    store
        .record_checkins(&[checkin(
            a.id,
            amani.id,
            CheckinStatus::Safe,
            t(20) + Duration::milliseconds(1),
            "newer",
        )])
        .await
        .unwrap();
    assert_eq!(standing(store.clone()).await, (PersonStatus::Safe, "newer".into()));
    store
        .record_checkins(&[checkin(
            a.id,
            amani.id,
            CheckinStatus::NeedHelp,
            t(20) + Duration::microseconds(999),
            "a microsecond older",
        )])
        .await
        .unwrap();
    assert_eq!(standing(store.clone()).await, (PersonStatus::Safe, "newer".into()));
    let people = store.headcount_people(a.id).await.unwrap();
    assert_eq!(people[0].via, Some(Via::App));
    assert_eq!(people[0].updated_at, Some(t(20) + Duration::milliseconds(1)));
    assert_eq!(people[0].position.map(|p| (p.lat, p.lon)), Some((0.5, 29.5)));
    // The first answer in time accounted for her, whichever batch brought it.
    assert_eq!(people[0].accounted_at, Some(t(10)));
    assert_eq!(people[0].accounted_channel, Some(Channel::Http));
}

async fn a_batch_of_checkins_above_the_sqlite_parameter_limit_is_stored_whole(store: Store) {
    // 11 parameters a check-in and 8 a standing: 4,200 people in one statement would be
    // 46,200 and 33,600, and SQLite takes at most 32,766.
    let people = many_accounts(&store, 4_200).await;
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &people).await.unwrap();
    let batch: Vec<Checkin> = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let status = if i % 4 == 0 {
                CheckinStatus::NeedHelp
            } else {
                CheckinStatus::Safe
            };
            checkin(a.id, *p, status, t(10), "ok")
        })
        .collect();
    store.record_checkins(&batch).await.unwrap();
    let mut tally = store.headcount_tally(a.id).await.unwrap();
    tally.sort_by_key(|(s, ..)| s.as_str());
    assert_eq!(
        tally,
        [(PersonStatus::NeedHelp, 1_050, 0), (PersonStatus::Safe, 3_150, 0)]
    );
    assert!(store.silent_recipients(a.id).await.unwrap().is_empty());
}

async fn the_tally_counts_the_silent_not_reached_and_the_second_wave_is_claimed_once(store: Store) {
    let people = many_accounts(&store, 6).await;
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &people).await.unwrap();
    store
        .record_checkins(&[checkin(a.id, people[0], CheckinStatus::Safe, t(5), "")])
        .await
        .unwrap();
    // Three of the five silent have the alert on a device: a WebSocket write, an MQTT
    // delivery, an acknowledgement. An external broker's acceptance is no device's.
    store
        .record_stream_receipts(&[(a.id, vec![people[1]])], t(1))
        .await
        .unwrap();
    let envelope = OutboxEnvelope {
        id: Uuid::new_v4(),
        alert_id: Some(a.id),
        revision: None,
        payload: "{}".into(),
        recipients: people[2..5].to_vec(),
    };
    store.queue_inbox(&[envelope], t(1)).await.unwrap();
    let id = store.unaccepted_inbox().await.unwrap()[0].envelope_id;
    // The alert a delivery carries comes back, for its headcount to count; an envelope the
    // store does not hold carries none.
    let reached = store
        .mark_inbox(
            InboxStep::Delivered,
            &[(id, vec![people[2]]), (Uuid::new_v4(), vec![people[5]])],
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(reached, [a.id]);
    store
        .mark_inbox(InboxStep::BrokerAccepted, &[(id, vec![people[4]])], t(2))
        .await
        .unwrap();
    store.acknowledge_alert(a.id, people[3], "mqtt", t(3)).await.unwrap();

    let mut tally = store.headcount_tally(a.id).await.unwrap();
    tally.sort_by_key(|(s, ..)| s.as_str());
    assert_eq!(tally, [(PersonStatus::NoResponse, 5, 2), (PersonStatus::Safe, 1, 0)]);
    let mut silent = store.silent_recipients(a.id).await.unwrap();
    silent.sort();
    let mut expected = people[1..].to_vec();
    expected.sort();
    assert_eq!(silent, expected);
    assert!(store.headcount_tally(Uuid::new_v4()).await.unwrap().is_empty());

    assert!(store.claim_second_wave(a.id, t(60)).await.unwrap());
    assert!(!store.claim_second_wave(a.id, t(61)).await.unwrap());
    assert!(!store.claim_second_wave(Uuid::new_v4(), t(61)).await.unwrap());
}

async fn the_board_lists_recipients_by_username_with_reach_and_open_sos(store: Store) {
    let zoe = account(&store, "zoe", Role::Staff).await;
    let mut new = new_user("amani", Role::Staff);
    new.phones = vec!["+243000000003".into()];
    let amani = store.create_user(&new, "hash", t(0)).await.unwrap();
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &[zoe.id, amani.id]).await.unwrap();
    store
        .record_stream_receipts(&[(a.id, vec![zoe.id])], t(1))
        .await
        .unwrap();
    let resolved = sos(&amani, t(2));
    store.insert_sos(&resolved).await.unwrap();
    let mut done = resolved.clone();
    done.status = SosStatus::Resolved;
    store.update_sos(&done, SosStatus::Open, t(3)).await.unwrap();
    let open = sos(&amani, t(4));
    store.insert_sos(&open).await.unwrap();

    let board = store.headcount_people(a.id).await.unwrap();
    let names: Vec<&str> = board.iter().map(|p| p.username.as_str()).collect();
    assert_eq!(names, ["amani", "zoe"]);
    assert_eq!(board[0].sos, Some((open.id, SosStatus::Open)), "the unresolved one");
    assert_eq!(board[0].phone.as_deref(), Some("+243000000003"));
    assert_eq!((board[0].reached, board[1].reached), (false, true));
    assert_eq!(board[1].sos, None);
    assert_eq!(
        (board[1].status, board[1].via, board[1].updated_at),
        (PersonStatus::NoResponse, None, None)
    );
    assert!(store.headcount_people(Uuid::new_v4()).await.unwrap().is_empty());
}

async fn sos_calls_change_only_from_the_status_they_were_read_at(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let call = sos(&amani, t(10));
    store.insert_sos(&call).await.unwrap();
    assert_eq!(
        store.sos(call.id).await.unwrap(),
        Some((call.clone(), t(10))),
        "announced when raised"
    );
    assert_eq!(store.sos(Uuid::new_v4()).await.unwrap(), None);

    let mut acknowledged = call.clone();
    acknowledged.status = SosStatus::Acknowledged;
    acknowledged.acknowledged_by = Some("watch".into());
    store.update_sos(&acknowledged, SosStatus::Open, t(20)).await.unwrap();
    assert_eq!(store.sos(call.id).await.unwrap(), Some((acknowledged.clone(), t(20))));

    let mut resolved = call.clone();
    resolved.status = SosStatus::Resolved;
    assert!(is_conflict(
        store.update_sos(&resolved, SosStatus::Open, t(30)).await,
        Conflict::SosChanged
    ));
    assert_eq!(store.sos(call.id).await.unwrap().unwrap().0, acknowledged, "unchanged");
}

async fn sos_calls_are_listed_newest_first_and_found_for_reminders(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    let first = sos(&amani, t(10));
    let second = sos(&olivier, t(20));
    let third = sos(&amani, t(30));
    for call in [&first, &second, &third] {
        store.insert_sos(call).await.unwrap();
    }
    let mut acknowledged = second.clone();
    acknowledged.status = SosStatus::Acknowledged;
    store.update_sos(&acknowledged, SosStatus::Open, t(25)).await.unwrap();
    let mut resolved = first.clone();
    resolved.status = SosStatus::Resolved;
    store.update_sos(&resolved, SosStatus::Open, t(35)).await.unwrap();

    let ids = |calls: Vec<Sos>| calls.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.sos_list(&SosScope::All, None, Page::first(10)).await.unwrap()),
        [third.id, second.id, first.id]
    );
    assert_eq!(
        ids(store.sos_list(&SosScope::All, None, Page::first(1)).await.unwrap()),
        [third.id]
    );
    assert_eq!(
        ids(store
            .sos_list(&SosScope::All, Some(SosStatus::Acknowledged), Page::first(10))
            .await
            .unwrap()),
        [second.id]
    );
    // Scoped before the limit: an officer's or a person's own calls are found however many
    // newer calls others have; and paged by time.
    let mut in_uganda = sos(&olivier, t(40));
    in_uganda.countries = vec!["UG".into()];
    store.insert_sos(&in_uganda).await.unwrap();
    let scoped = |scope: SosScope, limit| {
        let store = store.clone();
        async move { ids(store.sos_list(&scope, None, Page::first(limit)).await.unwrap()) }
    };
    assert_eq!(scoped(SosScope::Countries(vec!["CD".into()]), 1).await, [third.id]);
    assert_eq!(
        scoped(SosScope::Countries(vec!["UG".into(), "CD".into()]), 5).await,
        [in_uganda.id, third.id, second.id, first.id]
    );
    assert!(scoped(SosScope::Countries(vec![]), 5).await.is_empty());
    assert_eq!(scoped(SosScope::RaisedBy(amani.id), 1).await, [third.id]);
    let older = Page {
        before: Some(t(30)),
        limit: 10,
    };
    assert_eq!(
        ids(store
            .sos_list(&SosScope::RaisedBy(amani.id), None, older)
            .await
            .unwrap()),
        [first.id]
    );
    let unresolved: Vec<(Uuid, DateTime<Utc>)> = store
        .unresolved_sos_of(amani.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(s, at)| (s.id, at))
        .collect();
    assert_eq!(unresolved, [(third.id, t(30))]);
    // Only open calls last announced strictly before the moment are due.
    assert!(store.sos_unacknowledged_since(t(30)).await.unwrap().is_empty());
    assert_eq!(ids(store.sos_unacknowledged_since(t(31)).await.unwrap()), [third.id]);
}

async fn the_audit_trail_is_newest_first_filtered_and_limited(store: Store) {
    let officer = account(&store, "watch", Role::WatchOfficer).await;
    let subject = Uuid::new_v4();
    let sent = audit_entry("alert.sent", subject, t(10));
    let disabled = audit_entry("account.disabled", officer.id, t(20));
    let session = audit_entry("session.revoked", officer.id, t(30));
    store.record_audit(&sent, Some(officer.id)).await.unwrap();
    store.record_audit(&disabled, None).await.unwrap();
    store.record_audit(&session, Some(officer.id)).await.unwrap();

    let all = store.audit(10, false, None).await.unwrap();
    assert_eq!(all, [session.clone(), disabled.clone(), sent.clone()]);
    assert_eq!(
        store.audit(1, false, None).await.unwrap(),
        std::slice::from_ref(&session)
    );
    assert_eq!(
        store.audit(10, true, None).await.unwrap(),
        [session.clone(), disabled.clone()]
    );
    assert_eq!(store.audit(10, false, Some(subject)).await.unwrap(), [sent]);
    assert_eq!(store.audit(1, true, Some(officer.id)).await.unwrap(), [session]);
}

async fn reports_change_only_from_the_revision_they_were_read_at(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let r = report(&amani, t(10), Some("CD"), false);
    store.insert_report(&r).await.unwrap();
    assert_eq!(store.report(r.id).await.unwrap(), Some((r.clone(), 1)));
    assert_eq!(store.report(Uuid::new_v4()).await.unwrap(), None);
    let mut confirmed = r.clone();
    confirmed.status = ReportStatus::Confirmed;
    store.update_report(&confirmed, 1).await.unwrap();
    assert_eq!(store.report(r.id).await.unwrap(), Some((confirmed.clone(), 2)));
    let mut dismissed = r.clone();
    dismissed.status = ReportStatus::Dismissed;
    assert!(is_conflict(
        store.update_report(&dismissed, 1).await,
        Conflict::ChangedMeanwhile
    ));
    assert_eq!(store.report(r.id).await.unwrap(), Some((confirmed, 2)));
}

async fn reports_are_listed_by_scope_and_restriction(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    let cd = report(&amani, t(10), Some("CD"), false);
    let ug = report(&olivier, t(20), Some("UG"), false);
    let sea = report(&olivier, t(30), None, false);
    let secret = report(&amani, t(40), Some("CD"), true);
    for r in [&cd, &ug, &sea, &secret] {
        store.insert_report(r).await.unwrap();
    }
    let mut confirmed = ug.clone();
    confirmed.status = ReportStatus::Confirmed;
    store.update_report(&confirmed, 1).await.unwrap();
    let scope = |reporter: Option<Uuid>, countries: Option<Vec<&str>>, restricted: bool| ReportScope {
        reporter,
        countries: countries.map(|c| c.into_iter().map(str::to_owned).collect()),
        restricted,
    };
    let ids = |reports: Vec<Report>| reports.into_iter().map(|r| r.id).collect::<Vec<_>>();

    let everything = store.reports(&scope(None, None, true), None, 10).await.unwrap();
    assert_eq!(ids(everything), [secret.id, sea.id, ug.id, cd.id]);
    assert_eq!(
        ids(store.reports(&scope(None, None, false), None, 10).await.unwrap()),
        [sea.id, ug.id, cd.id]
    );
    assert_eq!(
        ids(store.reports(&scope(None, None, true), None, 2).await.unwrap()),
        [secret.id, sea.id]
    );
    assert_eq!(
        ids(store
            .reports(&scope(None, Some(vec!["CD"]), false), None, 10)
            .await
            .unwrap()),
        [cd.id],
        "by country, never at sea"
    );
    assert!(store
        .reports(&scope(None, Some(vec![]), true), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(store
            .reports(&scope(Some(amani.id), None, false), None, 10)
            .await
            .unwrap()),
        [secret.id, cd.id],
        "the reporter's own, restricted included"
    );
    // The filters add up: no countries is no report, the reporter's own included (this was
    // `country IN ()`, which SQLite reads as false and PostgreSQL refuses as a syntax error).
    assert!(store
        .reports(&scope(Some(amani.id), Some(vec![]), false), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(store
            .reports(&scope(None, None, true), Some(ReportStatus::Confirmed), 10)
            .await
            .unwrap()),
        [ug.id]
    );
}

async fn sensitive_access_is_granted_once_and_withdrawn(store: Store) {
    let admin = account(&store, "admin", Role::Admin).await;
    let officer = account(&store, "officer", Role::SecurityOfficer).await;
    assert!(!store.has_sensitive_access(officer.id).await.unwrap());
    store
        .set_sensitive_access(officer.id, true, admin.id, t(1))
        .await
        .unwrap();
    store
        .set_sensitive_access(officer.id, true, admin.id, t(2))
        .await
        .unwrap();
    assert!(store.has_sensitive_access(officer.id).await.unwrap());
    assert_eq!(
        store.sensitive_accounts().await.unwrap(),
        std::slice::from_ref(&officer)
    );
    store
        .set_sensitive_access(officer.id, false, admin.id, t(3))
        .await
        .unwrap();
    store
        .set_sensitive_access(officer.id, false, admin.id, t(4))
        .await
        .unwrap();
    assert!(!store.has_sensitive_access(officer.id).await.unwrap());
    assert!(store.sensitive_accounts().await.unwrap().is_empty());
}

async fn advisories_keep_one_current_version_and_their_history(store: Store) {
    let ug1 = advisory("UG", 1, 2);
    let cd1 = advisory("CD", 1, 3);
    let cd2 = advisory("CD", 2, 4);
    store.put_advisory(&ug1).await.unwrap();
    store.put_advisory(&cd1).await.unwrap();
    store.put_advisory(&cd2).await.unwrap();
    assert_eq!(store.advisory("CD").await.unwrap(), Some(cd2.clone()));
    assert_eq!(store.advisory("KE").await.unwrap(), None);
    assert_eq!(
        store.advisories().await.unwrap(),
        [cd2.clone(), ug1.clone()],
        "by country"
    );
    assert_eq!(store.advisory_history("CD").await.unwrap(), [cd2.clone(), cd1.clone()]);
    assert!(store.advisory_history("KE").await.unwrap().is_empty());

    // A first version when there is one, and a next one from a revision not current.
    assert!(is_conflict(
        store.put_advisory(&advisory("CD", 1, 1)).await,
        Conflict::ChangedMeanwhile
    ));
    assert!(is_conflict(
        store.put_advisory(&advisory("CD", 2, 1)).await,
        Conflict::ChangedMeanwhile
    ));
    assert!(is_conflict(
        store.put_advisory(&advisory("KE", 2, 1)).await,
        Conflict::ChangedMeanwhile
    ));
    assert_eq!(store.advisory("CD").await.unwrap(), Some(cd2.clone()));
    assert_eq!(store.advisory_history("CD").await.unwrap().len(), 2, "nothing added");
}

async fn trips_change_only_from_the_status_they_were_read_at(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let trip = trip(&amani, "CD", t(100), t(200));
    store.insert_trip(&trip).await.unwrap();
    assert_eq!(store.trip(trip.id).await.unwrap(), Some(trip.clone()));
    assert_eq!(store.trip(Uuid::new_v4()).await.unwrap(), None);
    let mut pending = trip.clone();
    pending.status = TripStatus::PendingClearance;
    store.update_trip(&pending, TripStatus::Planned).await.unwrap();
    let mut cancelled = trip.clone();
    cancelled.status = TripStatus::Cancelled;
    assert!(is_conflict(
        store.update_trip(&cancelled, TripStatus::Planned).await,
        Conflict::ChangedMeanwhile
    ));
    assert_eq!(store.trip(trip.id).await.unwrap(), Some(pending));
}

async fn trips_are_listed_by_scope_and_found_while_unfinished(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    let over = trip(&amani, "CD", t(10), t(20));
    let under_way = trip(&amani, "CD", t(30), t(100));
    let to_come = trip(&olivier, "UG", t(50), t(100));
    let called_off = trip(&olivier, "CD", t(40), t(100));
    for trip in [&over, &under_way, &to_come, &called_off] {
        store.insert_trip(trip).await.unwrap();
    }
    let mut cancelled = called_off.clone();
    cancelled.status = TripStatus::Cancelled;
    store.update_trip(&cancelled, TripStatus::Planned).await.unwrap();
    let ids = |trips: Vec<Trip>| trips.into_iter().map(|t| t.id).collect::<Vec<_>>();

    assert_eq!(
        ids(store.trips(&TripScope::All, None, 10).await.unwrap()),
        [to_come.id, called_off.id, under_way.id, over.id],
        "latest departure first"
    );
    assert_eq!(ids(store.trips(&TripScope::All, None, 1).await.unwrap()), [to_come.id]);
    assert_eq!(
        ids(store.trips(&TripScope::Traveller(amani.id), None, 10).await.unwrap()),
        [under_way.id, over.id]
    );
    let ug_or_amani = TripScope::CountriesOrTraveller(vec!["UG".into()], amani.id);
    assert_eq!(
        ids(store.trips(&ug_or_amani, None, 10).await.unwrap()),
        [to_come.id, under_way.id, over.id]
    );
    let only_amani = TripScope::CountriesOrTraveller(vec![], amani.id);
    assert_eq!(
        ids(store.trips(&only_amani, None, 10).await.unwrap()),
        [under_way.id, over.id]
    );
    assert_eq!(
        ids(store
            .trips(&TripScope::All, Some(TripStatus::Cancelled), 10)
            .await
            .unwrap()),
        [called_off.id]
    );

    let mut unfinished = ids(store.unfinished_trips(None, t(20)).await.unwrap());
    unfinished.sort();
    let mut expected = vec![under_way.id, to_come.id, called_off.id];
    expected.sort();
    assert_eq!(unfinished, expected, "returning at the moment is over");
    assert_eq!(
        ids(store.unfinished_trips(Some(amani.id), t(20)).await.unwrap()),
        [under_way.id]
    );
    assert_eq!(
        store.travellers_to("CD", t(20)).await.unwrap(),
        [amani.id],
        "not cancelled"
    );
    assert!(store.travellers_to("CD", t(100)).await.unwrap().is_empty());
    assert_eq!(store.travellers_to("UG", t(0)).await.unwrap(), [olivier.id]);
}

/// What one person is owed, as the batch read gives it.
async fn owed_to(store: &Store, user: Uuid, since: DateTime<Utc>, limit: i64) -> Vec<OwedRow> {
    let mut owed = store.owed_inbox(&[user], since, limit).await.unwrap();
    let rows = owed.remove(&user).unwrap_or_default();
    assert!(owed.is_empty(), "only who was asked about");
    assert!(rows.iter().all(|row| row.user_id == user));
    rows
}

async fn the_inbox_keeps_order_and_marks_each_step_once(store: Store) {
    let amani = account(&store, "amani", Role::Staff).await;
    let olivier = account(&store, "olivier", Role::Staff).await;
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &[amani.id, olivier.id]).await.unwrap();
    let envelope = |alert_id: Option<Uuid>, payload: &str, recipients: Vec<Uuid>| OutboxEnvelope {
        id: Uuid::new_v4(),
        alert_id,
        revision: None,
        payload: payload.into(),
        recipients,
    };
    let first = envelope(Some(a.id), "first", vec![amani.id, olivier.id]);
    let second = envelope(None, "second", vec![amani.id]);
    let (first_id, second_id) = (first.id, second.id);
    store.queue_inbox(&[first, second], t(10)).await.unwrap();

    let owed = owed_to(&store, amani.id, t(0), 10).await;
    let payloads: Vec<&str> = owed.iter().map(|o| o.payload.as_str()).collect();
    assert_eq!(payloads, ["first", "second"], "in the batch's order");
    assert!(owed.iter().all(|o| !o.sent_before));
    assert_eq!(owed_to(&store, amani.id, t(0), 1).await.len(), 1);
    // Several people in one read, at most `limit` each, oldest first; someone owed nothing is
    // absent, and someone asked about twice is there once.
    let both = store
        .owed_inbox(&[olivier.id, amani.id, Uuid::new_v4(), amani.id], t(0), 1)
        .await
        .unwrap();
    let firsts: HashSet<(Uuid, Uuid, &str)> = both
        .iter()
        .flat_map(|(user, rows)| rows.iter().map(move |o| (*user, o.user_id, o.payload.as_str())))
        .collect();
    assert_eq!(
        firsts,
        HashSet::from([(amani.id, amani.id, "first"), (olivier.id, olivier.id, "first")])
    );
    assert_eq!(both.values().map(Vec::len).sum::<usize>(), 2);
    assert!(owed_to(&store, amani.id, t(11), 10).await.is_empty(), "queued before");
    assert_eq!(store.outbox_backlog(t(0)).await.unwrap(), 3);
    assert_eq!(store.unaccepted_inbox().await.unwrap().len(), 3);

    store
        .mark_inbox(InboxStep::Sent, &[(first_id, vec![amani.id])], t(20))
        .await
        .unwrap();
    store
        .mark_inbox(InboxStep::Sent, &[(first_id, vec![amani.id])], t(21))
        .await
        .unwrap();
    let owed = owed_to(&store, amani.id, t(0), 10).await;
    assert!(owed[0].sent_before, "sent, so it goes again with DUP");
    // Delivered to a device: no longer owed, and sent even if that was never recorded. Two
    // envelopes of one alert: the alert once.
    let reached = store
        .mark_inbox(
            InboxStep::Delivered,
            &[(first_id, vec![amani.id]), (second_id, vec![amani.id])],
            t(30),
        )
        .await
        .unwrap();
    assert_eq!(reached, [a.id]);
    assert!(owed_to(&store, amani.id, t(0), 10).await.is_empty());
    assert_eq!(store.outbox_backlog(t(0)).await.unwrap(), 1);
    store
        .mark_inbox(InboxStep::BrokerAccepted, &[(first_id, vec![olivier.id])], t(31))
        .await
        .unwrap();
    assert_eq!(store.outbox_backlog(t(0)).await.unwrap(), 0);
    let unaccepted: Vec<(Uuid, Uuid)> = store
        .unaccepted_inbox()
        .await
        .unwrap()
        .iter()
        .map(|u| (u.envelope_id, u.user_id))
        .collect();
    assert_eq!(unaccepted.len(), 2);
    assert!(!unaccepted.contains(&(first_id, olivier.id)));
    assert_eq!(
        owed_to(&store, olivier.id, t(0), 10).await.len(),
        1,
        "a broker is no device"
    );

    // Above SQLite's 32,766 parameters a statement: 33,000 envelopes (4 parameters each to
    // store, 1 to look up when marked), and one envelope for 33,000 people (3 each to queue, 1
    // to mark).
    let many: Vec<OutboxEnvelope> = (0..33_000)
        .map(|i| envelope(Some(a.id), &format!("{i}"), vec![amani.id]))
        .collect();
    let many_ids: Vec<Uuid> = many.iter().map(|e| e.id).collect();
    store.queue_inbox(&many, t(40)).await.unwrap();
    let sent: Vec<(Uuid, Vec<Uuid>)> = many_ids.iter().map(|id| (*id, vec![amani.id])).collect();
    assert_eq!(store.mark_inbox(InboxStep::Sent, &sent, t(41)).await.unwrap(), [a.id]);
    let owed = owed_to(&store, amani.id, t(40), 40_000).await;
    assert_eq!(owed.len(), 33_000);
    assert!(
        owed.iter().enumerate().all(|(i, o)| o.payload == i.to_string()),
        "in order"
    );
    let crowd: Vec<Uuid> = (0..33_000).map(|_| Uuid::new_v4()).collect();
    let to_all = envelope(None, "to all", crowd.clone());
    let to_all_id = to_all.id;
    store.queue_inbox(&[to_all], t(60)).await.unwrap();
    assert_eq!(store.outbox_backlog(t(60)).await.unwrap(), 33_000);
    store
        .mark_inbox(InboxStep::Delivered, &[(to_all_id, crowd)], t(70))
        .await
        .unwrap();
    assert_eq!(store.outbox_backlog(t(60)).await.unwrap(), 0);
}

/// An alert's revisions to its whole audience write no outbox row per person: what reached each
/// person is one row per alert, written once something did, and reads the same as the outbox's
/// rows do.
async fn an_alert_s_revisions_are_tracked_on_its_recipients_rows(store: Store) {
    let people = many_accounts(&store, 4).await;
    let (amani, olivier, zoe, late) = (people[0], people[1], people[2], people[3]);
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &[amani, olivier]).await.unwrap();
    let revision = |n: u32, payload: &str, recipients: Vec<Uuid>| OutboxEnvelope {
        id: Uuid::new_v4(),
        alert_id: Some(a.id),
        revision: Some(n),
        payload: payload.into(),
        recipients,
    };
    let first = revision(1, "first", vec![amani, olivier]);
    let first_id = first.id;
    store.queue_inbox(&[first], t(10)).await.unwrap();
    assert_eq!(
        store.expand_inbox().await.unwrap(),
        0,
        "no list to write a row per person from"
    );
    let owed = |user: Uuid| {
        let store = store.clone();
        async move {
            let owed = owed_to(&store, user, t(0), 10).await;
            owed.into_iter().map(|o| (o.payload, o.sent_before)).collect::<Vec<_>>()
        }
    };
    assert_eq!(owed(amani).await, [("first".to_owned(), false)]);
    let everyone = store.owed_inbox(&[amani, olivier, zoe], t(0), 10).await.unwrap();
    assert_eq!(
        everyone.keys().copied().collect::<HashSet<_>>(),
        HashSet::from([amani, olivier])
    );
    assert!(everyone
        .values()
        .all(|rows| rows.len() == 1 && rows[0].envelope_id == first_id));
    assert_eq!(store.owing(t(0)).await.unwrap(), HashSet::from([amani, olivier]));
    assert_eq!(store.outbox_backlog(t(0)).await.unwrap(), 2);
    assert_eq!(store.unaccepted_inbox().await.unwrap().len(), 2);

    store
        .mark_inbox(InboxStep::Sent, &[(first_id, vec![amani])], t(11))
        .await
        .unwrap();
    assert_eq!(
        owed(amani).await,
        [("first".to_owned(), true)],
        "sent: it goes with DUP"
    );
    store
        .mark_inbox(InboxStep::Delivered, &[(first_id, vec![amani])], t(12))
        .await
        .unwrap();
    assert!(owed(amani).await.is_empty());
    assert_eq!(store.owing(t(0)).await.unwrap(), HashSet::from([olivier]));
    assert_eq!(store.outbox_backlog(t(0)).await.unwrap(), 1);
    let tally = store.headcount_tally(a.id).await.unwrap();
    assert_eq!(tally, [(PersonStatus::NoResponse, 2, 1)], "amani's device has it");

    // Revision 2 reaches zoe too (its new area): she is owed it, not the first.
    let mut second_alert = a.clone();
    second_alert.revision = 2;
    store.update_alert(&second_alert, 1, &[zoe]).await.unwrap();
    let second = revision(2, "second", vec![amani, olivier, zoe]);
    let second_id = second.id;
    store.queue_inbox(&[second], t(20)).await.unwrap();
    assert_eq!(owed(zoe).await, [("second".to_owned(), false)]);
    assert_eq!(owed(amani).await, [("second".to_owned(), false)]);
    assert_eq!(
        owed(olivier).await,
        [("first".to_owned(), false), ("second".to_owned(), false)],
        "oldest first"
    );
    // A late arrival is sent the alert by an envelope of their own: they are owed none of
    // the revisions so far.
    assert_eq!(store.add_recipients(a.id, &[late]).await.unwrap(), [late]);
    assert!(owed(late).await.is_empty());

    // Each revision is tracked apart: the second delivered leaves the first owed.
    store
        .mark_inbox(InboxStep::Delivered, &[(second_id, vec![olivier])], t(25))
        .await
        .unwrap();
    assert_eq!(owed(olivier).await, [("first".to_owned(), false)]);
    // A broker's acceptance is no device's.
    store
        .mark_inbox(InboxStep::BrokerAccepted, &[(first_id, vec![olivier])], t(26))
        .await
        .unwrap();
    assert_eq!(owed(olivier).await, [("first".to_owned(), false)]);
    let unaccepted: HashSet<(Uuid, Uuid)> = store
        .unaccepted_inbox()
        .await
        .unwrap()
        .iter()
        .map(|u| (u.envelope_id, u.user_id))
        .collect();
    let expected = HashSet::from([
        (first_id, amani),
        (second_id, amani),
        (second_id, olivier),
        (second_id, zoe),
    ]);
    assert_eq!(unaccepted, expected);
    assert_eq!(store.outbox_backlog(t(0)).await.unwrap(), 2, "amani's and zoe's second");

    let receipts = store.delivery_receipts(a.id).await.unwrap();
    let of = |user: Uuid| receipts.iter().find(|r| r.user_id == user).unwrap();
    let at = |r: &ReceiptRow| (r.queued_at, r.sent_at, r.delivered_at, r.broker_accepted_at);
    assert_eq!(at(of(amani)), (Some(t(10)), Some(t(11)), Some(t(12)), None));
    assert_eq!(at(of(olivier)), (Some(t(10)), Some(t(25)), Some(t(25)), Some(t(26))));
    assert_eq!(at(of(zoe)).0, Some(t(20)), "owed from the second revision");
    assert_eq!(at(of(late)), (None, None, None, None));

    // One batch reaching people with different revisions: each gets their own.
    let batch = [(first_id, vec![olivier]), (second_id, vec![zoe])];
    store.mark_inbox(InboxStep::Delivered, &batch, t(30)).await.unwrap();
    assert!(owed(olivier).await.is_empty(), "the first, the second before");
    assert!(owed(zoe).await.is_empty());
    assert_eq!(owed(amani).await, [("second".to_owned(), false)]);
}

async fn receipts_record_the_first_time_of_each_step(store: Store) {
    let zoe = account(&store, "zoe", Role::Staff).await;
    let amani = account(&store, "amani", Role::Staff).await;
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &[zoe.id, amani.id]).await.unwrap();
    let update = OutboxEnvelope {
        id: Uuid::new_v4(),
        alert_id: Some(a.id),
        revision: None,
        payload: "update".into(),
        recipients: vec![amani.id],
    };
    let first = OutboxEnvelope {
        id: Uuid::new_v4(),
        alert_id: Some(a.id),
        revision: None,
        payload: "alert".into(),
        recipients: vec![amani.id],
    };
    let (first_id, update_id) = (first.id, update.id);
    store.queue_inbox(&[first], t(10)).await.unwrap();
    store.queue_inbox(&[update], t(20)).await.unwrap();
    store
        .mark_inbox(InboxStep::Delivered, &[(update_id, vec![amani.id])], t(25))
        .await
        .unwrap();
    store
        .mark_inbox(InboxStep::Delivered, &[(first_id, vec![amani.id])], t(30))
        .await
        .unwrap();
    store.acknowledge_alert(a.id, amani.id, "mqtt", t(40)).await.unwrap();
    store.acknowledge_alert(a.id, amani.id, "stream", t(50)).await.unwrap();

    let receipts = store.delivery_receipts(a.id).await.unwrap();
    let names: Vec<&str> = receipts.iter().map(|r| r.username.as_str()).collect();
    assert_eq!(names, ["amani", "zoe"], "every recipient, by username");
    let amani_receipt = &receipts[0];
    assert_eq!(amani_receipt.user_id, amani.id);
    assert_eq!(
        (
            amani_receipt.queued_at,
            amani_receipt.sent_at,
            amani_receipt.delivered_at
        ),
        (Some(t(10)), Some(t(25)), Some(t(25))),
        "the earliest of the alert's envelopes"
    );
    assert_eq!(amani_receipt.broker_accepted_at, None);
    assert_eq!(amani_receipt.acknowledged_at, Some(t(40)), "the first acknowledgement");
    assert_eq!((receipts[1].queued_at, receipts[1].acknowledged_at), (None, None));
    assert!(store.delivery_receipts(Uuid::new_v4()).await.unwrap().is_empty());

    store
        .record_stream_receipts(&[(a.id, vec![zoe.id])], t(5))
        .await
        .unwrap();
    // Zoe's first write counts; Amani's is new.
    store
        .record_stream_receipts(&[(a.id, vec![zoe.id, amani.id])], t(7))
        .await
        .unwrap();
    let stream = store.stream_receipts(a.id).await.unwrap();
    let got: Vec<(String, Uuid, DateTime<Utc>)> = stream
        .into_iter()
        .map(|r| (r.username, r.user_id, r.delivered_at))
        .collect();
    assert_eq!(
        got,
        [("amani".to_owned(), amani.id, t(7)), ("zoe".to_owned(), zoe.id, t(5))]
    );
}

fn feed(url: &str, next_poll_at: DateTime<Utc>) -> WarningFeed {
    WarningFeed {
        id: Uuid::new_v4(),
        name: url.into(),
        url: url.into(),
        interval_s: 60,
        added_by: "watch".into(),
        added_at: t(0),
        failures: 0,
        next_poll_at,
        last_success_at: None,
        last_error: None,
    }
}

fn warning(identifier: &str, sent: DateTime<Utc>, expires: Option<DateTime<Utc>>) -> Warning {
    serde_json::from_value(json!({
        "id": Uuid::new_v4(), "feed_id": Uuid::new_v4(), "state": "active", "revision": 1, "version": "1.2",
        "sender": "met@example.org", "identifier": identifier, "sent": sent, "status": "Actual",
        "msg_type": "Alert", "infos": [], "countries": ["CD"], "placed": false, "expires": expires,
        "received_at": sent, "updated_at": sent
    }))
    .expect("a warning")
}

async fn feeds_are_followed_once_by_url_and_polled_when_due(store: Store) {
    let (late, soon) = (
        feed("https://b.example.org/cap", t(20)),
        feed("https://a.example.org/cap", t(10)),
    );
    store.insert_feed(&late).await.expect("insert");
    store.insert_feed(&soon).await.expect("insert");
    assert!(is_conflict(
        store.insert_feed(&feed("https://a.example.org/cap", t(0))).await,
        Conflict::FeedFollowed
    ));
    let urls: Vec<String> = store.feeds().await.expect("feeds").into_iter().map(|f| f.url).collect();
    assert_eq!(urls, ["https://a.example.org/cap", "https://b.example.org/cap"]);
    let due = |at| {
        let store = store.clone();
        async move {
            store
                .due_feeds(at)
                .await
                .expect("due")
                .into_iter()
                .map(|(f, _)| f.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due(t(5)).await, Vec::<Uuid>::new());
    assert_eq!(due(t(10)).await, [soon.id]);
    assert_eq!(due(t(30)).await, [soon.id, late.id]);
    assert_eq!(store.feed(late.id).await.expect("feed"), Some(late.clone()));
    assert!(store.delete_feed(late.id).await.expect("delete"));
    assert!(!store.delete_feed(late.id).await.expect("delete"));
    assert_eq!(store.feed(late.id).await.expect("feed"), None);
}

async fn fetches_are_recorded_newest_first_with_the_feeds_state(store: Store) {
    let mut f = feed("https://a.example.org/cap", t(0));
    store.insert_feed(&f).await.expect("insert");
    let fetch = |at, outcome, status| FeedFetch {
        feed_id: f.id,
        at,
        outcome,
        http_status: status,
        new_messages: 0,
        detail: None,
    };
    f.failures = 1;
    f.next_poll_at = t(120);
    f.last_error = Some("the server answered 503".into());
    let validators = Validators {
        etag: Some("\"v1\"".into()),
        last_modified: None,
    };
    store
        .record_fetch(&f, &validators, &fetch(t(1), FetchOutcome::Failed, Some(503)))
        .await
        .expect("record");
    store
        .record_fetch(&f, &validators, &fetch(t(2), FetchOutcome::NotModified, Some(304)))
        .await
        .expect("record");
    let fetches = store.fetches(f.id, 10).await.expect("fetches");
    let got: Vec<_> = fetches.iter().map(|x| (x.at, x.outcome)).collect();
    assert_eq!(got, [(t(2), FetchOutcome::NotModified), (t(1), FetchOutcome::Failed)]);
    assert_eq!(store.fetches(f.id, 1).await.expect("fetches").len(), 1);
    assert_eq!(store.feed(f.id).await.expect("feed"), Some(f.clone()));
    assert_eq!(store.due_feeds(t(100)).await.expect("due"), vec![]);
    assert_eq!(
        store.due_feeds(t(120)).await.expect("due"),
        vec![(f.clone(), validators.clone())]
    );

    // The officer who added it is erased while a poll is under way: the poll's end records its
    // own fields and leaves the pseudonym.
    let watch = account(&store, "watch", Role::WatchOfficer).await;
    let (polling, _) = store.due_feeds(t(120)).await.expect("due").remove(0);
    let pseudonym = Uuid::new_v4();
    store.erase_person(watch.id, pseudonym, t(121)).await.expect("erase");
    let erased = store.feed(f.id).await.expect("feed").expect("the feed").added_by;
    assert_ne!(erased, "watch");
    let polled = WarningFeed {
        failures: 0,
        last_error: None,
        last_success_at: Some(t(122)),
        next_poll_at: t(182),
        ..polling
    };
    store
        .record_fetch(
            &polled,
            &validators,
            &fetch(t(122), FetchOutcome::NotModified, Some(304)),
        )
        .await
        .expect("record");
    let now = store.feed(f.id).await.expect("feed").expect("the feed");
    assert_eq!(now.added_by, erased, "the poll did not write back the erased name");
    assert_eq!(
        (now.failures, now.next_poll_at, now.last_success_at),
        (0, t(182), Some(t(122)))
    );
}

async fn index_entries_are_read_once(store: Store) {
    let f = Uuid::new_v4();
    assert!(!store.feed_entry_read(f, "https://x/1 2030").await.expect("read"));
    store.mark_feed_entry_read(f, "https://x/1 2030").await.expect("mark");
    store
        .mark_feed_entry_read(f, "https://x/1 2030")
        .await
        .expect("marking twice is fine");
    assert!(store.feed_entry_read(f, "https://x/1 2030").await.expect("read"));
    assert!(!store
        .feed_entry_read(Uuid::new_v4(), "https://x/1 2030")
        .await
        .expect("another feed's"));
}

async fn warnings_are_found_by_their_messages_and_change_only_from_the_version_read(store: Store) {
    let first = warning("W1", t(10), None);
    store.insert_warning(&first).await.expect("insert");
    let key = MessageKey::of(&first);
    assert!(store.warning_message_known(&key).await.expect("known"));
    let other_time = MessageKey {
        sent: t(11),
        ..key.clone()
    };
    assert!(!store.warning_message_known(&other_time).await.expect("known"));
    let (found, version) = store
        .warning_of_message("met@example.org", "W1")
        .await
        .expect("found")
        .expect("some");
    assert_eq!(found, first);
    assert_eq!(
        store.warning_of_message("met@example.org", "W9").await.expect("none"),
        None
    );
    let mut update = Warning {
        identifier: "W2".into(),
        sent: t(20),
        revision: 2,
        ..first.clone()
    };
    store
        .update_warning(&update, version, Some(&MessageKey::of(&update)))
        .await
        .expect("update");
    assert!(is_conflict(
        store.update_warning(&update, version, None).await,
        Conflict::ChangedMeanwhile
    ));
    // Found by either of its messages, as it is now.
    let (by_update, newer) = store
        .warning_of_message("met@example.org", "W2")
        .await
        .expect("ok")
        .expect("some");
    assert_eq!((by_update.clone(), newer), (update.clone(), version + 1));
    assert_eq!(
        store
            .warning_of_message("met@example.org", "W1")
            .await
            .expect("ok")
            .map(|(w, _)| w),
        Some(update.clone())
    );
    update.alert_id = Some(Uuid::new_v4());
    store.update_warning(&update, newer, None).await.expect("promoted");
    assert_eq!(store.warning(first.id).await.expect("ok"), Some((update, newer + 1)));
    assert_eq!(store.warning(Uuid::new_v4()).await.expect("ok"), None);
}

async fn current_warnings_leave_out_the_withdrawn_and_the_expired(store: Store) {
    let open = warning("open", t(10), None);
    let later = warning("later", t(20), Some(t(1000)));
    let expired = warning("expired", t(30), Some(t(50)));
    let withdrawn = Warning {
        state: WarningState::Withdrawn,
        ..warning("withdrawn", t(40), None)
    };
    for w in [&open, &later, &expired, &withdrawn] {
        store.insert_warning(w).await.expect("insert");
    }
    let ids = |list: Vec<Warning>| list.into_iter().map(|w| w.identifier).collect::<Vec<_>>();
    assert_eq!(
        ids(store.warnings(None, 10).await.expect("all")),
        ["withdrawn", "expired", "later", "open"]
    );
    assert_eq!(
        ids(store.warnings(None, 2).await.expect("all")),
        ["withdrawn", "expired"]
    );
    assert_eq!(
        ids(store.warnings(Some(t(100)), 10).await.expect("current")),
        ["later", "open"]
    );
    assert_eq!(ids(store.warnings(Some(t(1000)), 10).await.expect("current")), ["open"]);
}

/// An alert to `people` whose recipients are still the one list the sender waited for.
async fn alert_as_one_list(store: &Store, people: &[Uuid]) -> Uuid {
    let a = alert(t(0), t(1000), &["CD"]);
    store.insert_alert(&a, people).await.unwrap();
    a.id
}

async fn every_reader_of_an_alerts_recipients_finds_them_while_they_are_one_list(store: Store) {
    let people = many_accounts(&store, 300).await;
    let newcomer = many_accounts(&store, 1).await[0];
    let mut sorted = people.clone();
    sorted.sort();

    // Each reader is the first to read its alert's recipients.
    let a = alert_as_one_list(&store, &people).await;
    assert!(store.is_recipient(a, people[7]).await.unwrap());
    let a = alert_as_one_list(&store, &people).await;
    let mut recipients = store.alert_recipients(a).await.unwrap();
    recipients.sort();
    assert_eq!(recipients, sorted);
    let a = alert_as_one_list(&store, &people).await;
    assert_eq!(
        store.add_recipients(a, &[people[0], newcomer]).await.unwrap(),
        [newcomer],
        "someone on the list is no newcomer"
    );
    let a = alert_as_one_list(&store, &people).await;
    assert_eq!(store.silent_recipients(a).await.unwrap().len(), 300);
    let a = alert_as_one_list(&store, &people).await;
    assert_eq!(
        store.headcount_tally(a).await.unwrap(),
        [(PersonStatus::NoResponse, 300, 300)]
    );
    let a = alert_as_one_list(&store, &people).await;
    assert_eq!(store.headcount_people(a).await.unwrap().len(), 300);
    let a = alert_as_one_list(&store, &people).await;
    assert_eq!(store.delivery_receipts(a).await.unwrap().len(), 300);
    let a = alert_as_one_list(&store, &people).await;
    let listed = store
        .alerts(&AlertScope::Recipient(people[299]), AlertState::Any, Page::first(100))
        .await
        .unwrap();
    assert!(listed.iter().any(|alert| alert.id == a));

    // An answer that comes first still becomes its person's standing.
    let a = alert_as_one_list(&store, &people).await;
    store
        .record_checkins(&[checkin(a, people[3], CheckinStatus::Safe, t(5), "")])
        .await
        .unwrap();
    let board = store.headcount_people(a).await.unwrap();
    assert_eq!(board.len(), 300);
    let answered = board.iter().find(|p| p.staff_id == people[3]).unwrap();
    assert_eq!(answered.status, PersonStatus::Safe);

    // Two expanding at once: one writes the rows, the other finds nothing left to do.
    let a = alert_as_one_list(&store, &people).await;
    let (first, second) = tokio::join!(store.expand_audience(a), store.expand_audience(a));
    first.unwrap();
    second.unwrap();
    assert_eq!(store.alert_recipients(a).await.unwrap().len(), 300);
    assert_eq!(store.expand_pending().await.unwrap(), 0, "nothing left pending");
}

async fn every_reader_of_the_outbox_finds_its_rows_while_they_are_one_list(store: Store) {
    let people = many_accounts(&store, 300).await;
    let a = alert_as_one_list(&store, &people).await;
    store.expand_audience(a).await.unwrap();
    let queue = |payload: &str| {
        let envelope = OutboxEnvelope {
            id: Uuid::new_v4(),
            alert_id: Some(a),
            revision: None,
            payload: payload.into(),
            recipients: people.clone(),
        };
        let id = envelope.id;
        let store = store.clone();
        async move {
            store.queue_inbox(&[envelope], t(10)).await.unwrap();
            id
        }
    };

    // Each reader or marker is the first to touch its envelope's rows.
    queue("owed").await;
    assert_eq!(owed_to(&store, people[1], t(0), 10).await.len(), 1);
    queue("owing").await;
    assert_eq!(store.owing(t(0)).await.unwrap().len(), 300);
    queue("backlog").await;
    assert_eq!(store.outbox_backlog(t(0)).await.unwrap(), 900);
    queue("unaccepted").await;
    assert_eq!(store.unaccepted_inbox().await.unwrap().len(), 1_200);
    let marked = queue("marked").await;
    store
        .mark_inbox(InboxStep::Delivered, &[(marked, people.clone())], t(20))
        .await
        .unwrap();
    assert_eq!(
        store.outbox_backlog(t(0)).await.unwrap(),
        1_200,
        "the delivered are owed no more"
    );
    queue("receipts").await;
    let receipts = store.delivery_receipts(a).await.unwrap();
    assert!(receipts.iter().all(|r| r.queued_at == Some(t(10))));
    assert_eq!(store.expand_pending().await.unwrap(), 0, "nothing left pending");
}

/// A hub killed right after answering leaves its recipients as lists: opening the store again
/// writes their rows before anything can read them.
async fn lists_left_unexpanded_are_expanded_when_the_store_is_next_opened(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = backend.fresh_database(dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    let people = many_accounts(&store, 50).await;
    let a = alert_as_one_list(&store, &people).await;
    let envelope = OutboxEnvelope {
        id: Uuid::new_v4(),
        alert_id: Some(a),
        revision: None,
        payload: "alert".into(),
        recipients: people.clone(),
    };
    let envelope_id = envelope.id;
    store.queue_inbox(&[envelope], t(10)).await.unwrap();
    store.close().await;

    let store = Store::connect(&url).await.unwrap();
    // Counted straight from the tables: every reader would expand the lists itself.
    let rows = |sql: &'static str, id: Uuid| {
        let store = store.clone();
        async move {
            let count: i64 = match &store {
                Store::Sqlite(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await.unwrap(),
                Store::Postgres(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await.unwrap(),
            };
            count
        }
    };
    assert_eq!(
        rows("SELECT COUNT(*) FROM alert_recipients WHERE alert_id = $1", a).await,
        50
    );
    assert_eq!(
        rows("SELECT COUNT(*) FROM mqtt_outbox WHERE envelope_id = $1", envelope_id).await,
        50
    );
    assert_eq!(store.expand_pending().await.unwrap(), 0, "nothing left pending");
    store.close().await;
}

mod reopened {
    #[tokio::test]
    async fn sqlite_lists_left_unexpanded_are_expanded_when_the_store_is_next_opened() {
        super::lists_left_unexpanded_are_expanded_when_the_store_is_next_opened(super::Backend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres_lists_left_unexpanded_are_expanded_when_the_store_is_next_opened() {
        if let Some(backend) = super::Backend::postgres() {
            super::lists_left_unexpanded_are_expanded_when_the_store_is_next_opened(backend).await
        }
    }
}

/// Staff with these numbers (none for an empty list), recipients of a new alert.
async fn texting_alert(store: &Store, numbers: &[&[&str]]) -> (Alert, Vec<Uuid>) {
    let people = many_accounts(store, numbers.len()).await;
    for (person, phones) in people.iter().zip(numbers) {
        let phones: Vec<String> = phones.iter().map(|p| p.to_string()).collect();
        store.set_phones(*person, &phones).await.unwrap();
    }
    let a = alert(t(0), t(1000), &[]);
    store.insert_alert(&a, &people).await.unwrap();
    (a, people)
}

async fn texts_are_owed_once_to_the_unreached_with_a_number_up_to_the_ceiling(store: Store) {
    let numbers: [&[&str]; 6] = [
        &["+243990000001"],
        &["+243990000002"],
        &["+243990000003", "+243810000003"],
        &["+243990000004"],
        &["+243990000005"],
        &[],
    ];
    let (a, people) = texting_alert(&store, &numbers).await;
    // One answered, one has it on a device, one has no number: three are owed, of whom the
    // ceiling of two lets two go and withholds one.
    store
        .record_checkins(&[checkin(a.id, people[0], CheckinStatus::Safe, t(5), "")])
        .await
        .unwrap();
    store
        .record_stream_receipts(&[(a.id, vec![people[1]])], t(1))
        .await
        .unwrap();
    let queued = store
        .queue_texts(a.id, TextReason::Undelivered, "ALERT", 2, t(10))
        .await
        .unwrap();
    assert_eq!(queued, (2, 1));
    // Owed once: the same sweep again queues nothing.
    let again = store
        .queue_texts(a.id, TextReason::Undelivered, "ALERT", 2, t(11))
        .await
        .unwrap();
    assert_eq!(again, (0, 0));
    let receipts = store.text_receipts(a.id).await.unwrap();
    let mut seen: Vec<(Uuid, ReceiptStatus)> = receipts.iter().map(|r| (r.user_id, r.status())).collect();
    seen.sort_by_key(|(user, _)| *user);
    let mut owed = vec![people[2], people[3], people[4]];
    owed.sort();
    assert_eq!(seen.iter().map(|(u, _)| *u).collect::<Vec<_>>(), owed);
    assert_eq!(seen.iter().filter(|(_, s)| *s == ReceiptStatus::Withheld).count(), 1);
    // The second wave owes a text to every silent person with a number, reached or not, and
    // the ceiling is already spent.
    let reminded = store
        .queue_texts(a.id, TextReason::SecondWave, "REMINDER", 2, t(20))
        .await
        .unwrap();
    assert_eq!(reminded, (0, 4));
    let reminded = store
        .queue_texts(a.id, TextReason::SecondWave, "REMINDER", 10, t(21))
        .await
        .unwrap();
    assert_eq!(reminded, (0, 0), "each reason once per person");
    // Due in order, each taken once, to the first number.
    let due = store.take_due_texts(t(30), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.body == "ALERT" && d.attempts == 1));
    assert!(store.take_due_texts(t(30), 10).await.unwrap().is_empty(), "being sent");
    assert_eq!(store.texts_waiting().await.unwrap(), 2);
}

async fn texts_still_waiting_when_their_alert_is_cancelled_are_withheld(store: Store) {
    let numbers: [&[&str]; 3] = [&["+243990000001"], &["+243990000002"], &["+243990000003"]];
    let (a, _) = texting_alert(&store, &numbers).await;
    store
        .queue_texts(a.id, TextReason::Undelivered, "ALERT", 10, t(10))
        .await
        .unwrap();
    let going = store.take_due_texts(t(10), 1).await.unwrap();
    assert_eq!(going.len(), 1);
    let mut cancel = a.clone();
    cancel.revision = 2;
    cancel.msg_type = scaan_schemas::MsgType::Cancel;
    store.update_alert(&cancel, 1, &[]).await.unwrap();
    // The one being handed to the gateway goes; the two still waiting never do.
    assert!(store.take_due_texts(t(20), 10).await.unwrap().is_empty());
    store.texts_handed(&[going[0].id], t(11)).await.unwrap();
    assert_eq!(store.texts_waiting().await.unwrap(), 0);
    let statuses: Vec<ReceiptStatus> = store
        .text_receipts(a.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == ReceiptStatus::Withheld).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == ReceiptStatus::Sent).count(),
        1,
        "{statuses:?}"
    );
}

async fn a_text_is_handed_over_once_and_a_failure_moves_it_to_the_next_number(store: Store) {
    let numbers: [&[&str]; 3] = [
        &["+243990000001", "+243810000001"],
        &["+243990000002"],
        &["+243990000003"],
    ];
    let (a, people) = texting_alert(&store, &numbers).await;
    assert_eq!(
        store
            .queue_texts(a.id, TextReason::Undelivered, "ALERT", 10, t(10))
            .await
            .unwrap(),
        (3, 0)
    );
    let due = store.take_due_texts(t(10), 10).await.unwrap();
    let by_phone = |phone: &str| due.iter().find(|d| d.phone == phone).unwrap().id;
    let (first, second, third) = (
        by_phone("+243990000001"),
        by_phone("+243990000002"),
        by_phone("+243990000003"),
    );

    // The first is handed over; the second waits for the gateway; the third is being sent
    // when the hub dies.
    store.texts_handed(&[first], t(11)).await.unwrap();
    store.text_retry_at(second, t(20)).await.unwrap();
    assert!(
        store.take_due_texts(t(19), 10).await.unwrap().is_empty(),
        "not before its retry"
    );
    let retried = store.take_due_texts(t(20), 10).await.unwrap();
    assert_eq!((retried.len(), retried[0].id, retried[0].attempts), (1, second, 2));
    store.texts_handed(&[second], t(21)).await.unwrap();
    // At start, the unsure text waits for a report; one comes, and it is not sent again.
    assert_eq!(store.release_unsure_texts(t(60)).await.unwrap(), 1);
    assert!(store.take_due_texts(t(59), 10).await.unwrap().is_empty());
    let reported = store
        .record_text_report(third, TextReport::Accepted, t(40))
        .await
        .unwrap();
    assert_eq!(reported, Some((a.id, people[2])));
    assert!(
        store.take_due_texts(t(60), 10).await.unwrap().is_empty(),
        "the report settled it"
    );

    // The network cannot deliver the first to her first number: it goes to her second.
    store
        .record_text_report(first, TextReport::Failed, t(50))
        .await
        .unwrap();
    let moved = store.take_due_texts(t(50), 10).await.unwrap();
    assert_eq!(
        (moved.len(), moved[0].id, moved[0].phone.as_str()),
        (1, first, "+243810000001")
    );
    store.texts_handed(&[first], t(51)).await.unwrap();
    store
        .record_text_report(first, TextReport::Failed, t(52))
        .await
        .unwrap();
    assert!(
        store.take_due_texts(t(60), 10).await.unwrap().is_empty(),
        "no number left"
    );
    store
        .record_text_report(second, TextReport::Delivered, t(53))
        .await
        .unwrap();
    let status =
        |user: Uuid, receipts: &[TextReceiptRow]| receipts.iter().find(|r| r.user_id == user).unwrap().status();
    let receipts = store.text_receipts(a.id).await.unwrap();
    assert_eq!(status(people[0], &receipts), ReceiptStatus::Failed);
    assert_eq!(status(people[1], &receipts), ReceiptStatus::Delivered);
    assert_eq!(status(people[2], &receipts), ReceiptStatus::Accepted);
    // A delivered text reaches its person (the board's `reached`).
    let board = store.headcount_people(a.id).await.unwrap();
    let reached: Vec<bool> = people
        .iter()
        .map(|p| board.iter().find(|r| r.staff_id == *p).unwrap().reached)
        .collect();
    assert_eq!(reached, [false, true, false]);
    assert_eq!(
        store
            .record_text_report(9_999, TextReport::Delivered, t(60))
            .await
            .unwrap(),
        None
    );
}

async fn node_events_are_read_in_order_after_an_id_and_pruned_by_age(store: Store) {
    assert_eq!(store.last_node_event().await.unwrap(), 0);
    let (one, other) = (Uuid::new_v4(), Uuid::new_v4());
    let events = [("stream", "{\"a\":1}".to_owned()), ("fix", "{\"b\":2}".to_owned())];
    store.share_node_events(one, &events, t(0)).await.unwrap();
    store
        .share_node_events(other, &[("trips", "{}".to_owned())], t(60))
        .await
        .unwrap();
    let all = store.node_events_after(0, 10).await.unwrap();
    let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["stream", "fix", "trips"]);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ids grow");
    assert_eq!((all[0].node, all[2].node), (one, other));
    assert_eq!(all[1].body, "{\"b\":2}");
    assert_eq!(store.last_node_event().await.unwrap(), all[2].id);
    let after = store.node_events_after(all[0].id, 1).await.unwrap();
    assert_eq!(after.len(), 1, "limited");
    assert_eq!(after[0].id, all[1].id);

    assert_eq!(store.prune_node_events(t(30)).await.unwrap(), 2);
    let left = store.node_events_after(0, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind, "trips");
}
