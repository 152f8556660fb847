//! The hub's session at an external broker (`mqtt_url`): one MQTT client, `scaan-hub`, with a
//! persistent session. A client id has one connection at a time (a second one takes the
//! session over), so of several nodes only the leader holds it ([`hold`], for as long as it
//! leads); a hub alone always leads, and holds it from its start. The others store their
//! inbox messages as ever, and the leader sends them as their node events come
//! ([`super::Mqtt::deliver_shared`]). While the lead moves, what phones publish waits in that
//! session at the broker (replicated by JetStream in a NATS cluster), and the new leader drains
//! it once connected; it also sends again every stored message the broker never acknowledged,
//! as a hub does after its restart.

use bytes::Bytes;
use scaan_mobile_bridge::{HubLink, LinkOptions, LinkState, Outbound};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{outbox, BrokerLogins, Transport};
use crate::hub::Hub;
use scaan_mobile_bridge::topics;

/// The session, and what this node's hold of it keeps.
pub(super) struct Session {
    options: LinkOptions,
    /// The link while this node holds it, with the number of the lead it was taken in (a lead
    /// that ended lets go of its own link only, never of the next lead's).
    held: Mutex<Option<(u64, HubLink)>>,
    leads: AtomicU64,
    /// Which stored row each message on the link is, until the broker PUBACKs it.
    pub(super) tags: outbox::Tags,
    /// Envelopes sent again when this node took the link. Their rows were stored before it
    /// read them, and their node event may come after: it sends them no more.
    resent: Mutex<HashSet<Uuid>>,
}

impl Session {
    pub(super) fn new(options: LinkOptions) -> Session {
        Session {
            options,
            held: Mutex::new(None),
            leads: AtomicU64::new(0),
            tags: outbox::Tags::default(),
            resent: Mutex::new(HashSet::new()),
        }
    }

    fn held(&self) -> MutexGuard<'_, Option<(u64, HubLink)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resent(&self) -> MutexGuard<'_, HashSet<Uuid>> {
        self.resent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this node holds the link.
    pub(super) fn holds(&self) -> bool {
        self.held().is_some()
    }

    /// The link's state; `None` while another node holds it.
    pub(super) fn state(&self) -> Option<LinkState> {
        self.held().as_ref().map(|(_, link)| link.state())
    }

    /// Sends a stored envelope to these people's inboxes; nothing without the link (the node
    /// that holds it sends it, or sends it again when it takes the link).
    pub(super) fn send(&self, envelope: Uuid, payload: &Bytes, recipients: &[Uuid]) {
        if let Some((_, link)) = self.held().as_ref() {
            for user in recipients {
                link.send(Outbound {
                    tag: self.tags.tag(envelope, *user),
                    topic: topics::inbox(*user),
                    payload: payload.clone(),
                });
            }
        }
    }

    /// Sends an answer with no row; without the link it is dropped (phones' messages reach
    /// only the node that holds it, so only that one answers them).
    pub(super) fn reply(&self, user: Uuid, payload: Bytes) {
        if let Some((_, link)) = self.held().as_ref() {
            link.send(Outbound {
                tag: self.tags.untagged(),
                topic: topics::inbox(user),
                payload,
            });
        }
    }

    /// Whether another node's envelope was already sent again when this node took the link.
    pub(super) fn was_resent(&self, envelope: Uuid) -> bool {
        self.resent().contains(&envelope)
    }
}

/// Holds the link while `lead` lasts: pushes the NATS account with the revocations stored
/// (those other nodes made too), connects, sends again what the broker never acknowledged,
/// and lets go of the session once the lead ends, so that the next leader can take it.
pub(super) fn hold(hub: &Arc<Hub>, lead: CancellationToken) {
    let hub = hub.clone();
    hub.tasks.clone().spawn(async move {
        let Transport::Link(session) = &hub.mqtt.transport else {
            return;
        };
        if let Some(BrokerLogins::Nats(nats)) = &hub.mqtt.logins {
            if let Err(e) = nats.push(true).await {
                // The hub's own login still opens the broker if the account was pushed before;
                // if not, the link connects once a later push lands.
                tracing::error!(
                    error = format!("{e:#}"),
                    "cannot push the phones' account to the NATS server; trying again"
                );
                hub.tasks.spawn(push_until_done(hub.clone(), lead.clone()));
            }
        }
        let this_lead = session.leads.fetch_add(1, Ordering::Relaxed);
        let (link, channels) = HubLink::start(session.options.clone(), lead.child_token(), &hub.tasks);
        hub.tasks.spawn(outbox::record_accepted(hub.clone(), channels.accepted));
        hub.tasks.spawn(super::inbound::route(hub.clone(), channels.inbound));
        {
            // Whatever this node stores from now on goes out on the link; what was stored before
            // is read below (the outbox and the other nodes' envelopes wait meanwhile).
            let _storing = hub.mqtt.storing.write().await;
            *session.held() = Some((this_lead, link));
            resend_unaccepted(&hub, session).await;
        }
        lead.cancelled().await;
        let mut held = session.held();
        if held.as_ref().is_some_and(|(taken_in, _)| *taken_in == this_lead) {
            held.take();
            session.resent().clear();
        }
        drop(held);
        tracing::info!("this node lets go of the MQTT link (it no longer leads, or it stops)");
    });
}

/// Pushes the phones' account again and again (backing off to a minute) until it lands, or
/// this node stops leading.
async fn push_until_done(hub: Arc<Hub>, lead: CancellationToken) {
    let Some(BrokerLogins::Nats(nats)) = &hub.mqtt.logins else {
        return;
    };
    let mut delay = Duration::from_secs(1);
    loop {
        tokio::select! {
            () = lead.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        match nats.push(true).await {
            Ok(revoked) => return tracing::info!(revoked, "the phones' account is pushed to the NATS server"),
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "cannot push the phones' account to the NATS server"
            ),
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// Sends again every stored message the broker never acknowledged. (On the endpoint, what is
/// owed goes to each connection as it starts.)
async fn resend_unaccepted(hub: &Hub, session: &Session) {
    match hub.store.unaccepted_inbox().await {
        Ok(rows) => {
            if !rows.is_empty() {
                tracing::info!(
                    messages = rows.len(),
                    "sending inbox messages the broker never acknowledged"
                );
            }
            session.resent().extend(rows.iter().map(|row| row.envelope_id));
            for row in rows {
                session.send(row.envelope_id, &Bytes::from(row.payload), &[row.user_id]);
            }
        }
        Err(e) => tracing::error!(error = %e, "could not read the MQTT outbox"),
    }
}
