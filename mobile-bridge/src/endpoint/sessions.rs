//! Which connections are live, by person: where a new envelope goes, and who is taken over when
//! the same client connects again.
//!
//! A person may have several devices (several client ids) connected at once; each is sent what
//! the person is owed. The same client id connecting again takes the session over, as MQTT says:
//! the older connection is closed first and its end awaited, so the two never send at once.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
    time::Duration,
};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::Owed;

/// Envelopes queued for one connection before it counts as too slow and is closed (it is then
/// sent what it is owed when it reconnects; the sender never waits for it).
pub(crate) const QUEUE: usize = 256;
/// How long a taking-over connection waits for the one it replaces to end.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

/// Something for one connection to send.
pub(crate) enum Outgoing {
    /// A stored envelope: recorded as sent, and delivered on the PUBACK.
    Owed(Owed),
    /// An answer to what the phone sent (`checkin_ack`, `error`): not stored, not recorded.
    Reply(Bytes),
}

/// Why the hub closes a connection on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kick {
    TakenOver,
    TooSlow,
    /// The login it used was revoked (or expired, or its account disabled).
    Revoked,
    /// The person's rights changed: the login still holds, and a new connection gets them.
    RightsChanged,
}

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<Uuid, Vec<Live>>>,
    /// How many connections `live` holds, kept beside it: every CONNECT asks, and counting
    /// the map's entries then made connecting N phones cost O(N²).
    count: AtomicUsize,
    next: AtomicU64,
}

struct Live {
    conn: u64,
    client_id: String,
    /// The login's key ([`super::Login::key`]).
    key: [u8; 32],
    /// The rights it was admitted with ([`super::Login::rights`]).
    rights: u64,
    queue: mpsc::Sender<Outgoing>,
    kick: Kicker,
    /// Cancelled when the connection's task has ended.
    ended: CancellationToken,
}

/// Closes one connection, saying why once; or all of them, when the endpoint shuts down.
#[derive(Clone)]
pub(crate) struct Kicker {
    /// The endpoint's shutdown token's child: a connection waits on its own token alone, whose
    /// locks only it and its kicker take, rather than every connection on the one shared
    /// token's at each wake-up.
    token: CancellationToken,
    reason: Arc<OnceLock<Kick>>,
}

impl Kicker {
    fn under(shutdown: &CancellationToken) -> Kicker {
        Kicker {
            token: shutdown.child_token(),
            reason: Arc::default(),
        }
    }

    fn kick(&self, reason: Kick) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Resolves once the connection must close: with the reason, or `None` if the endpoint is
    /// shutting down.
    pub(crate) async fn kicked(&self) -> Option<Kick> {
        self.token.cancelled().await;
        self.reason.get().copied()
    }
}

/// A live connection's place in [`Sessions`]; dropping it (when the connection ends) removes it.
pub(crate) struct Registration {
    pub queue: mpsc::Receiver<Outgoing>,
    pub kick: Kicker,
    sessions: Arc<Sessions>,
    user: Uuid,
    conn: u64,
    _ended: DropGuard,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut live = self.sessions.live();
        if let Some(connections) = live.get_mut(&self.user) {
            if let Some(at) = connections.iter().position(|c| c.conn == self.conn) {
                connections.swap_remove(at);
                self.sessions.count.fetch_sub(1, Ordering::Relaxed);
            }
            if connections.is_empty() {
                live.remove(&self.user);
            }
        }
    }
}

impl Sessions {
    fn live(&self) -> MutexGuard<'_, HashMap<Uuid, Vec<Live>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection of `user` with `client_id`, taking over (closing, and waiting for) one
    /// with the same client id. Cancelling `shutdown` kicks it too.
    pub(crate) async fn register(
        self: &Arc<Self>,
        user: Uuid,
        client_id: &str,
        key: [u8; 32],
        rights: u64,
        shutdown: &CancellationToken,
    ) -> Registration {
        let (queue_tx, queue) = mpsc::channel(QUEUE);
        let kick = Kicker::under(shutdown);
        let ended = CancellationToken::new();
        let conn = self.next.fetch_add(1, Ordering::Relaxed);
        let replaced = {
            let mut live = self.live();
            let connections = live.entry(user).or_default();
            let replaced = connections
                .iter()
                .position(|c| c.client_id == client_id)
                .map(|at| connections.swap_remove(at));
            if replaced.is_none() {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            connections.push(Live {
                conn,
                client_id: client_id.to_owned(),
                key,
                rights,
                queue: queue_tx,
                kick: kick.clone(),
                ended: ended.clone(),
            });
            replaced
        };
        if let Some(old) = replaced {
            old.kick.kick(Kick::TakenOver);
            if tokio::time::timeout(TAKEOVER_WAIT, old.ended.cancelled())
                .await
                .is_err()
            {
                tracing::warn!(%user, "the connection taken over did not end in time");
            }
        }
        Registration {
            queue,
            kick,
            sessions: self.clone(),
            user,
            conn,
            _ended: ended.drop_guard(),
        }
    }

    /// Hands a stored envelope to every live connection of these people, without waiting; a
    /// connection whose queue is full is closed (it gets the envelope from the store when it
    /// reconnects). Returns how many connections it was queued for.
    pub fn deliver(&self, envelope: &Owed, users: &[Uuid]) -> usize {
        let live = self.live();
        let mut queued = 0;
        for connection in users.iter().filter_map(|u| live.get(u)).flatten() {
            if offer(connection, Outgoing::Owed(envelope.clone())) {
                queued += 1;
            }
        }
        queued
    }

    /// Hands an answer to what `user` sent to their live connections; lost if there are none
    /// (the phone sends again when it gets no answer).
    pub fn reply(&self, user: Uuid, payload: Bytes) {
        let live = self.live();
        for connection in live.get(&user).into_iter().flatten() {
            offer(connection, Outgoing::Reply(payload.clone()));
        }
    }

    /// Brings `user`'s connections in line with their account: those whose login is no longer
    /// `valid` are closed (MQTT 5: DISCONNECT "not authorised"), the others admitted with other
    /// than `rights` too (DISCONNECT "administrative action": connect again to get the new
    /// rights). What they were owed stays owed.
    pub fn enforce(&self, user: Uuid, valid: impl Fn(&[u8; 32]) -> bool, rights: u64) {
        let live = self.live();
        for connection in live.get(&user).into_iter().flatten() {
            if !valid(&connection.key) {
                connection.kick.kick(Kick::Revoked);
            } else if connection.rights != rights {
                connection.kick.kick(Kick::RightsChanged);
            }
        }
    }

    /// Connections at once.
    pub fn connections(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

fn offer(connection: &Live, outgoing: Outgoing) -> bool {
    match connection.queue.try_send(outgoing) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            connection.kick.kick(Kick::TooSlow);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owed(n: u128) -> Owed {
        Owed {
            id: Uuid::from_u128(n),
            payload: Bytes::from_static(b"{}"),
            sent_before: false,
        }
    }

    #[tokio::test]
    async fn the_same_client_id_takes_over_and_another_device_keeps_its_own() {
        let sessions = Arc::new(Sessions::default());
        let shutdown = CancellationToken::new();
        let amani = Uuid::from_u128(1);
        let phone = sessions.register(amani, "phone", [1; 32], 0, &shutdown).await;
        let tablet = sessions.register(amani, "tablet", [2; 32], 0, &shutdown).await;
        assert_eq!(sessions.deliver(&owed(1), &[amani]), 2);

        // The old `phone` connection ends once kicked; the new one waits for that.
        let kicked = phone.kick.clone();
        let old = tokio::spawn(async move {
            let reason = kicked.kicked().await;
            drop(phone);
            reason
        });
        let again = sessions.register(amani, "phone", [1; 32], 0, &shutdown).await;
        assert_eq!(old.await.unwrap(), Some(Kick::TakenOver));
        assert_eq!(sessions.connections(), 2);
        assert_eq!(sessions.deliver(&owed(2), &[amani]), 2);
        // Revoking the tablet's login closes the tablet only.
        sessions.enforce(amani, |key| key != &[2; 32], 0);
        assert_eq!(tablet.kick.kicked().await, Some(Kick::Revoked));
        assert!(!again.kick.token.is_cancelled());
        drop((tablet, again));
        assert_eq!(sessions.connections(), 0);
    }

    #[tokio::test]
    async fn new_rights_close_the_connections_admitted_under_others_and_only_the_person_s() {
        let sessions = Arc::new(Sessions::default());
        let shutdown = CancellationToken::new();
        let (amani, bahati) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let old = sessions.register(amani, "phone", [1; 32], 7, &shutdown).await;
        let current = sessions.register(amani, "tablet", [1; 32], 8, &shutdown).await;
        let other = sessions.register(bahati, "phone", [3; 32], 7, &shutdown).await;
        sessions.enforce(amani, |_| true, 8);
        assert_eq!(old.kick.kicked().await, Some(Kick::RightsChanged));
        assert!(!current.kick.token.is_cancelled());
        assert!(!other.kick.token.is_cancelled(), "someone else's rights did not change");
        // A revoked login says so, whatever its rights.
        sessions.enforce(amani, |_| false, 9);
        assert_eq!(current.kick.kicked().await, Some(Kick::Revoked));
    }

    #[tokio::test]
    async fn a_connection_that_does_not_keep_up_is_closed_and_the_others_are_not_held_back() {
        let sessions = Arc::new(Sessions::default());
        let shutdown = CancellationToken::new();
        let (slow, quick) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let slow_reg = sessions.register(slow, "a", [0; 32], 0, &shutdown).await;
        let mut quick_reg = sessions.register(quick, "b", [0; 32], 0, &shutdown).await;
        for n in 0..QUEUE as u128 {
            assert_eq!(sessions.deliver(&owed(n), &[slow, quick]), 2);
            quick_reg.queue.recv().await.unwrap();
        }
        assert_eq!(sessions.deliver(&owed(999), &[slow, quick]), 1);
        assert_eq!(slow_reg.kick.kicked().await, Some(Kick::TooSlow));
        assert!(matches!(quick_reg.queue.recv().await, Some(Outgoing::Owed(o)) if o.id == Uuid::from_u128(999)));
    }

    #[tokio::test]
    async fn shutting_down_closes_every_connection_and_says_so_and_a_kick_still_gives_its_reason() {
        let sessions = Arc::new(Sessions::default());
        let shutdown = CancellationToken::new();
        let (amani, bahati) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let kicked = sessions.register(amani, "phone", [1; 32], 0, &shutdown).await;
        let other = sessions.register(bahati, "phone", [2; 32], 0, &shutdown).await;
        sessions.enforce(amani, |_| false, 0);
        shutdown.cancel();
        assert_eq!(kicked.kick.kicked().await, Some(Kick::Revoked));
        assert_eq!(other.kick.kicked().await, None, "the endpoint is shutting down");
    }
}
