//! Many accounts at once, straight into a hub's store, each with a valid token: what the load
//! tests and the benchmarks need by the thousand. All share one password hash (hashing is not
//! what they are about). Included by path by `tests/tests/e2e` and `tests/benches/support`.

use scaan_schemas::{NewUser, Position, Role, User};
use scaan_server::Hub;

/// Every such account's password (for a page that logs in as one).
pub const PASSWORD: &str = "load password";

/// An account and the token it logs in with.
pub struct Made {
    pub user: User,
    pub token: String,
}

/// Creates `username` with `duty_station`, puts it in the targeting index, gives it a token.
pub async fn make_account(hub: &Hub, username: String, role: Role, duty_station: Option<Position>) -> Made {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let hash = HASH
        .get_or_init(|| async { scaan_server::auth::hash_password(PASSWORD.into()).await.unwrap() })
        .await;
    let new = NewUser {
        username,
        password: String::new(),
        role,
        name: None,
        countries: vec![],
        duty_station,
        phones: Vec::new(),
    };
    let user = hub.store.create_user(&new, hash, chrono::Utc::now()).await.unwrap();
    hub.follower.place_staff(&user);
    let token = scaan_server::auth::new_token();
    let now = chrono::Utc::now();
    hub.store
        .insert_token(
            &scaan_server::auth::token_hash(&token),
            user.id,
            now,
            now + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    Made { user, token }
}

/// The `i`-th spot of a 100 × 100 grid near Beni (0.49, 29.47), 11 m apart.
pub fn near_beni(i: usize) -> Position {
    Position::new(0.49 + (i % 100) as f64 * 1e-4, 29.47 + (i / 100) as f64 * 1e-4)
}

/// `{prefix}0` … `{prefix}{n-1}`, staff on the grid near Beni, 64 at a time.
pub async fn make_staff(hub: &Hub, prefix: &str, n: usize) -> Vec<Made> {
    let mut made = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let batch = chunk
            .iter()
            .map(|&i| make_account(hub, format!("{prefix}{i}"), Role::Staff, Some(near_beni(i))));
        made.extend(futures_util::future::join_all(batch).await);
    }
    made
}
