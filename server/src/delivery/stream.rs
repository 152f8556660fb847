//! `GET /api/v1/stream`: the WebSocket every client keeps open. One task per connection writes
//! what [`Delivery`](super::Delivery) queued for it and reads what the client sends.

use axum::extract::ws::{
    rejection::WebSocketUpgradeRejection, CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade,
};
use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use scaan_schemas::{Channel, ClientMessage, Envelope, JourneyCheckin, NewCheckin, NewSos, Rejected, User};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval_at, timeout, Instant, MissedTickBehavior};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::alerts::AlertError;
use crate::auth::Caller;
use crate::error::{conflict_of, ApiError, INTERNAL_MESSAGE};
use crate::headcounts::HeadcountError;
use crate::hub::Hub;
use crate::journeys::JourneyError;
use crate::reports::ReportError;
use crate::sos::SosError;
use crate::storage::StoreError;

/// Largest message a client may send; its messages are small JSON objects.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Idle connections are pinged this often; one silent for three pings is dropped.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_LIMIT: Duration = Duration::from_secs(60);
/// A client that cannot take a frame within this long is cut off rather than waited for.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// What a stream's read buffer starts with (the library's default is 128 KiB, held by every
/// idle connection): a client's messages are a few hundred bytes, and a larger one grows it.
/// The library also zeroes this much before every read it tries, which each stream does after
/// each envelope it writes: with 4 KiB, `memset` took 3.4 % of a fan-out's profile; 1.5 % with 1.
const READ_BUFFER: usize = 1024;
/// Messages a client may send per second (a phone sends a few a minute).
const CLIENT_RATE: u32 = 20;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new().routes(routes!(stream))
}

/// Opens the live stream of envelopes. Authenticate with the Authorization header, or with
/// `?access_token=TOKEN` where the client cannot set headers (browsers).
#[utoipa::path(get, path = "/api/v1/stream", tag = "delivery", security(("bearer" = [])),
    params(("access_token" = Option<String>, Query, description = "the bearer token, for browsers")),
    responses((status = 101, description = "switching to WebSocket; frames are `Envelope` JSON"),
        (status = 401, body = scaan_schemas::ErrorBody)))]
async fn stream(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|_| ApiError::UpgradeRequired)?;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| {
            let tasks = hub.tasks.clone();
            tasks.track_future(serve_connection(socket, hub, caller))
        }))
}

async fn serve_connection(mut socket: WebSocket, hub: Arc<Hub>, caller: Caller) {
    let mut subscription = hub.delivery.subscribe(&caller.user, caller.token_hash);
    let mut ping = interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut rate = RateWindow::default();
    // A stream lasts no longer than its token, as an MQTT connection does.
    let token_left = (caller.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
    let token_expired = tokio::time::sleep(token_left);
    // Waited on across the loop, not made again on each turn: each new wait registers itself
    // with the token. `closed` is also cancelled when the hub stops.
    let closed = subscription.closed.cancelled();
    tokio::pin!(token_expired, closed);
    tracing::debug!(user = %caller.user.username, "stream opened");

    let close = loop {
        // The alert whose receipt this write records, and the precise view it shows, once it
        // completes.
        let mut receipt = None;
        let mut view = None;
        let outgoing = tokio::select! {
            () = &mut closed => break Some(subscription.closing().frame()),
            () = &mut token_expired => break Some((1008, "the token expired; log in again")),
            envelope = subscription.envelopes.recv() => match envelope {
                Some(_) if subscription.lagged.swap(false, Ordering::AcqRel) => {
                    // What is queued is older than what was dropped: discard it and have the
                    // client refetch the current state over HTTP instead.
                    while subscription.envelopes.try_recv().is_ok() {}
                    Message::Text(encode(&Envelope::Resync { reason: "you fell behind; refetch current state over HTTP".into() }))
                }
                Some(envelope) => {
                    receipt = envelope.receipt;
                    view = envelope.view;
                    Message::Text(envelope.bytes)
                }
                None => break None,
            },
            // Read and written by turns, the socket is not split: its halves would each be
            // taken through a lock on every wake.
            message = socket.recv() => {
                last_heard = Instant::now();
                match message {
                    // Every message over the rate is answered, never dropped without a word.
                    Some(Ok(Message::Text(text))) if !rate.allow() => {
                        let reference = reference_of(text.as_bytes());
                        Message::Text(encode(&error("rate_limited", RATE_LIMITED, reference)))
                    }
                    Some(Ok(Message::Binary(_))) if !rate.allow() => {
                        Message::Text(encode(&error("rate_limited", RATE_LIMITED, None)))
                    }
                    Some(Ok(Message::Text(text))) => {
                        match handle_client_message(&hub, &caller.user, text.as_bytes(), Channel::Websocket).await {
                            Some(reply) => Message::Text(encode(&reply)),
                            None => continue,
                        }
                    }
                    Some(Ok(Message::Binary(_))) => Message::Text(encode(&error("unsupported", "send JSON text frames", None))),
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(e)) => break Some(close_for(&e)),
                    Some(Ok(_)) => continue, // pings are answered by the library; pongs only prove life
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_LIMIT {
                    break None;
                }
                Message::Ping(Default::default())
            }
        };
        match timeout(WRITE_TIMEOUT, socket.send(outgoing)).await {
            Ok(Ok(())) => {
                if let Some(alert) = receipt {
                    hub.delivery.receipts.delivered(alert, caller.user.id);
                }
                if let Some(view) = view {
                    hub.privacy.record_streamed(&caller.user, &view).await;
                }
            }
            _ => break None,
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = timeout(WRITE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
    hub.delivery.unsubscribe(subscription.id);
    tracing::debug!(user = %caller.user.username, "stream closed");
}

/// RFC 6455's close code for what broke the client's frames: 1009 too big, 1007 not UTF-8,
/// 1002 anything else it sent wrong.
fn close_for(e: &axum::Error) -> (u16, &'static str) {
    let text = e.to_string();
    if text.contains("too long") || text.contains("too big") {
        (1009, "messages are at most 64 KiB")
    } else if text.contains("UTF-8") || text.contains("utf-8") {
        (1007, "text frames must be UTF-8")
    } else {
        (1002, "the frame broke the WebSocket protocol")
    }
}

const RATE_LIMITED: &str = "more than 20 messages in a second: this one was not acted on; send it again shortly";

/// The client's `ref`, echoed on errors so it can match them to what it sent.
fn reference_of(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("ref").and_then(|r| r.as_str()).map(str::to_owned))
}

/// Acts on one message from `user`'s client (the stream, or an MQTT phone → hub topic);
/// returns the reply to send, if any.
pub(crate) async fn handle_client_message(
    hub: &Hub,
    user: &User,
    bytes: &[u8],
    transport: Channel,
) -> Option<Envelope> {
    let reference = reference_of(bytes);
    let message = match ClientMessage::decode(bytes) {
        Ok(message) => message,
        Err(Rejected::Syntax(e)) => return Some(error("malformed_json", &e, reference)),
        Err(Rejected::Invalid(e)) => return Some(error("invalid_field", &e.to_string(), reference)),
    };
    match message {
        ClientMessage::Location { location, .. } => {
            if let Err(e) = scaan_schemas::Validate::validate(&location, Utc::now()) {
                return Some(error("invalid_field", &e.to_string(), reference));
            }
            match hub.positions.record(user, location).await {
                Ok(()) => None,
                Err(e) => Some(store_failed(e, reference)),
            }
        }
        ClientMessage::Sos { position, note, .. } => {
            let new = NewSos { position, note };
            if let Err(e) = scaan_schemas::Validate::validate(&new, Utc::now()) {
                return Some(error("invalid_field", &e.to_string(), reference));
            }
            // The SOS envelope itself comes back on this stream, as to every officer concerned.
            match hub.sos.raise(user, new).await {
                Ok(_) => None,
                Err(e) => Some(sos_refused(e, reference)),
            }
        }
        ClientMessage::JourneyCheckin {
            journey_id,
            status,
            position,
            note,
            ..
        } => {
            let checkin = JourneyCheckin { status, position, note };
            if let Err(e) = scaan_schemas::Validate::validate(&checkin, Utc::now()) {
                return Some(error("invalid_field", &e.to_string(), reference));
            }
            // The `journey` envelope itself comes back on this stream, as to every officer
            // following the journey.
            match hub.journeys.check_in(user, journey_id, checkin).await {
                Ok(_) => None,
                Err(e) => Some(journey_checkin_refused(e, reference)),
            }
        }
        ClientMessage::Checkin {
            alert_id,
            status,
            position,
            note,
            ..
        } => {
            let new = NewCheckin {
                status,
                position,
                note,
                staff_id: None,
                via: None,
            };
            if let Err(e) = scaan_schemas::Validate::validate(&new, Utc::now()) {
                return Some(error("invalid_field", &e.to_string(), reference));
            }
            match hub.headcounts.check_in(user, alert_id, new, transport).await {
                Ok(checkin) => Some(Envelope::CheckinAck {
                    alert_id,
                    status: checkin.status,
                    reference,
                }),
                Err(e) => Some(checkin_refused(e, reference)),
            }
        }
    }
}

/// A journey check-in the hub did not take, as an `error` envelope.
fn journey_checkin_refused(e: JourneyError, reference: Option<String>) -> Envelope {
    match e {
        JourneyError::Store(e) => store_failed(e, reference),
        JourneyError::Forbidden(ref f) => error(e.code(), &f.0, reference),
        other => error(other.code(), &other.to_string(), reference),
    }
}

/// A check-in the hub did not take, as an `error` envelope.
fn checkin_refused(e: HeadcountError, reference: Option<String>) -> Envelope {
    match e {
        HeadcountError::Forbidden(e) => error("forbidden", &e.0, reference),
        HeadcountError::Invalid(e) => error("invalid_field", &e.to_string(), reference),
        HeadcountError::NotFound => error("not_found", &e.to_string(), reference),
        HeadcountError::Closed(closed) => error(closed.code(), &closed.to_string(), reference),
        HeadcountError::Store(e) => store_failed(e, reference),
        HeadcountError::Unrecorded(e) => {
            tracing::error!(error = format!("{e:#}"), "a check-in could not be recorded");
            error("internal", INTERNAL_MESSAGE, reference)
        }
    }
}

/// An SOS the hub did not raise, as an `error` envelope.
fn sos_refused(e: SosError, reference: Option<String>) -> Envelope {
    match e {
        SosError::Forbidden(e) => error("forbidden", &e.0, reference),
        SosError::NotFound => error("not_found", &e.to_string(), reference),
        SosError::AlreadyHandled(_) => error("sos_changed", &e.to_string(), reference),
        SosError::Store(e) => store_failed(e, reference),
    }
}

/// A report the hub did not take or act on, as an `error` envelope.
pub(crate) fn report_refused(e: ReportError, reference: Option<String>) -> Envelope {
    match e {
        ReportError::Forbidden(e) => error("forbidden", &e.0, reference),
        ReportError::Invalid(e) => error("invalid_field", &e.to_string(), reference),
        ReportError::NotFound(_) => error("not_found", &e.to_string(), reference),
        ReportError::Conflict(conflict) => error(conflict.code(), &conflict.to_string(), reference),
        ReportError::Alert(e) => alert_refused(e, reference),
        ReportError::Store(e) => store_failed(e, reference),
    }
}

/// An alert the hub did not send or change, as an `error` envelope.
pub(crate) fn alert_refused(e: AlertError, reference: Option<String>) -> Envelope {
    match e {
        AlertError::Forbidden(e) => error("forbidden", &e.0, reference),
        AlertError::Invalid(e) => error("invalid_field", &e.to_string(), reference),
        AlertError::NotFound => error("not_found", &e.to_string(), reference),
        AlertError::Cancelled => error("alert_cancelled", &e.to_string(), reference),
        AlertError::Store(e) => store_failed(e, reference),
    }
}

/// A change the database refused (a conflict, by its code) or could not make.
pub(crate) fn store_failed(e: StoreError, reference: Option<String>) -> Envelope {
    match conflict_of(&e) {
        Some((code, message)) => error(code, message, reference),
        None => {
            tracing::error!(error = %e, "a client message failed");
            error("internal", INTERNAL_MESSAGE, reference)
        }
    }
}

pub(crate) fn error(code: &str, message: &str, reference: Option<String>) -> Envelope {
    Envelope::Error {
        code: code.to_owned(),
        message: message.to_owned(),
        reference,
    }
}

fn encode(envelope: &Envelope) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(envelope).unwrap_or_default())
}

/// Counts a client's messages per second; past [`CLIENT_RATE`], messages are refused.
#[derive(Default)]
struct RateWindow {
    started: Option<Instant>,
    count: u32,
}

impl RateWindow {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        match self.started {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                self.count += 1;
                self.count <= CLIENT_RATE
            }
            _ => {
                self.started = Some(now);
                self.count = 1;
                true
            }
        }
    }
}
