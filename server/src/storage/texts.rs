//! The SMS channel's outbox (`sms_texts`): the texts owed to staff, each person's numbers in
//! order of preference, where each text has got to, and the gateway's delivery reports.

use chrono::{DateTime, Utc};
use scaan_schemas::ReceiptStatus;
use uuid::Uuid;

use super::headcounts::REACHED_PEOPLE;
use sqlx::QueryBuilder;

use super::{BeginWrite, Result, Store, ROWS_PER_INSERT};

/// Why a person is owed a text for an alert; at most one of each per person and alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextReason {
    /// No device of theirs had the alert after the fallback time.
    Undelivered,
    /// They had not answered at the second wave.
    SecondWave,
}

impl TextReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TextReason::Undelivered => "undelivered",
            TextReason::SecondWave => "second_wave",
        }
    }
}

/// What the gateway's delivery report says of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextReport {
    /// The network (SMSC) took it.
    Accepted,
    /// The network holds it for a phone that is off or out of reach.
    Buffered,
    /// The phone has it.
    Delivered,
    /// It cannot be delivered to that number.
    Failed,
}

impl TextReport {
    pub fn as_str(self) -> &'static str {
        match self {
            TextReport::Accepted => "accepted",
            TextReport::Buffered => "buffered",
            TextReport::Delivered => "delivered",
            TextReport::Failed => "failed",
        }
    }
}

/// A text to hand to the gateway now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwedText {
    pub id: i64,
    /// The alert it tells of.
    pub alert_id: Uuid,
    pub phone: String,
    pub body: String,
    /// This attempt's number, from 1.
    pub attempts: i32,
}

/// Where one text to one person has got to (a receipt in the alert's `deliveries`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TextReceiptRow {
    pub user_id: Uuid,
    pub username: String,
    pub withheld: bool,
    pub queued_at: DateTime<Utc>,
    pub handed_at: Option<DateTime<Utc>>,
    pub report: Option<String>,
    pub reported_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

impl TextReceiptRow {
    /// How far the text has got: withheld (over the alert's ceiling), queued, sent (the gateway
    /// took it), accepted (by the network), delivered, or failed (refused, or undeliverable to
    /// every number).
    pub fn status(&self) -> ReceiptStatus {
        if self.withheld {
            ReceiptStatus::Withheld
        } else if self.delivered_at.is_some() {
            ReceiptStatus::Delivered
        } else if self.failed_at.is_some() {
            ReceiptStatus::Failed
        } else if matches!(self.report.as_deref(), Some("accepted" | "buffered")) {
            ReceiptStatus::Accepted
        } else if self.handed_at.is_some() {
            ReceiptStatus::Sent
        } else {
            ReceiptStatus::Queued
        }
    }
}

/// The first of a person's numbers (`u`), by preference.
const FIRST_PHONE: &str = "(SELECT p.phone FROM user_phones p WHERE p.user_id = u.id ORDER BY p.preference LIMIT 1)";
/// Texts the sender may take: not handed over, not failed, not withheld, not being sent.
const WAITING: &str = "handed_at IS NULL AND failed_at IS NULL AND NOT withheld";

/// Withholds the texts of alert `$1` still waiting to go (it was cancelled).
pub(super) fn withhold_cancelled() -> String {
    format!("UPDATE sms_texts SET withheld = TRUE, report = 'alert cancelled' WHERE alert_id = $1 AND {WAITING} AND sending_since IS NULL")
}

impl Store {
    /// Queues `body` for each recipient of `alert` owed a text for `reason`: without an answer,
    /// with a number, with an enabled account, without a text for this reason yet, and for
    /// `Undelivered`, not reached by any device. Those beyond the alert's `ceiling` of texts are
    /// stored withheld. Returns how many were queued to be sent, and how many withheld.
    pub async fn queue_texts(
        &self,
        alert: Uuid,
        reason: TextReason,
        body: &str,
        ceiling: u32,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64)> {
        self.expand_audience(alert).await?;
        let unreached = match reason {
            TextReason::Undelivered => format!("AND r.user_id NOT IN {REACHED_PEOPLE}"),
            TextReason::SecondWave => String::new(),
        };
        // The ceiling counts what the alert has already sent: once per statement, and the
        // statement runs alone (a write transaction), so two sweeps cannot both fill it.
        let sql = format!(
            "INSERT INTO sms_texts (alert_id, user_id, reason, phone, preference, body, queued_at, next_try_at, withheld)
             SELECT r.alert_id, r.user_id, $2, {FIRST_PHONE}, 0, $3, $4, $4,
                    (SELECT COUNT(*) FROM sms_texts t WHERE t.alert_id = $1 AND NOT t.withheld)
                      + ROW_NUMBER() OVER (ORDER BY u.username) > $5
             FROM alert_recipients r JOIN users u ON u.id = r.user_id
             WHERE r.alert_id = $1 AND r.status = 'no_response' AND u.disabled_at IS NULL
               AND EXISTS (SELECT 1 FROM user_phones p WHERE p.user_id = u.id)
               AND NOT EXISTS (SELECT 1 FROM sms_texts t WHERE t.alert_id = r.alert_id AND t.user_id = r.user_id AND t.reason = $2)
               {unreached}
             ON CONFLICT (alert_id, user_id, reason) DO NOTHING
             RETURNING withheld"
        );
        let withheld: Vec<(bool,)> = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let rows = sqlx::query_as(&sql)
                .bind(alert)
                .bind(reason.as_str())
                .bind(body)
                .bind(now)
                .bind(i64::from(ceiling))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        })?;
        let held = withheld.iter().filter(|(w,)| *w).count() as u64;
        Ok((withheld.len() as u64 - held, held))
    }

    /// Takes up to `limit` texts due by `now` to hand to the gateway, marking each as being
    /// sent: a crash from here on leaves it unsure, to be settled by a delivery report or sent
    /// again (see [`Store::release_unsure_texts`]), never forgotten.
    pub async fn take_due_texts(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OwedText>> {
        let sql = format!(
            "UPDATE sms_texts SET sending_since = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM sms_texts WHERE {WAITING} AND sending_since IS NULL AND next_try_at <= $1
                          ORDER BY next_try_at, id LIMIT $2)
             RETURNING id, alert_id, phone, body, attempts"
        );
        let mut due: Vec<OwedText> = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let rows = sqlx::query_as(&sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        })?;
        due.sort_by_key(|t| t.id);
        Ok(due)
    }

    /// The gateway took these texts.
    pub async fn texts_handed(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for chunk in ids.chunks(ROWS_PER_INSERT) {
                // A delivery report may have come first and set it already.
                let mut q = QueryBuilder::new("UPDATE sms_texts SET handed_at = COALESCE(handed_at, ");
                q.push_bind(now).push("), sending_since = NULL WHERE id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The gateway could not be reached: the text waits until `next_try_at`.
    pub async fn text_retry_at(&self, id: i64, next_try_at: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE sms_texts SET sending_since = NULL, next_try_at = $2 WHERE id = $1 AND handed_at IS NULL";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(id)
            .bind(next_try_at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The gateway refused the text for good (a bad request, a number it will not send to).
    pub async fn text_refused(&self, id: i64, why: &str, now: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE sms_texts SET sending_since = NULL, failed_at = $2, report = $3 WHERE id = $1";
        on_either!(self, |pool| sqlx::query(sql)
            .bind(id)
            .bind(now)
            .bind(why)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records a delivery report for text `id`. A report proves the gateway took the text. A
    /// failure moves the text to the person's next number, if they have one, to be sent at
    /// once; with none left, the text has failed. Returns the alert and person the text was
    /// for, `None` for no such text.
    pub async fn record_text_report(
        &self,
        id: i64,
        report: TextReport,
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Uuid)>> {
        let record = "UPDATE sms_texts SET report = $2, reported_at = $3, handed_at = COALESCE(handed_at, $3),
                             sending_since = NULL,
                             delivered_at = CASE WHEN $2 = 'delivered' THEN COALESCE(delivered_at, $3) ELSE delivered_at END
                      WHERE id = $1 RETURNING alert_id, user_id";
        // The next number by preference, if any: the text starts again on it.
        let next_number = "UPDATE sms_texts SET
                 phone = (SELECT p.phone FROM user_phones p WHERE p.user_id = sms_texts.user_id
                          AND p.preference > sms_texts.preference ORDER BY p.preference LIMIT 1),
                 preference = (SELECT p.preference FROM user_phones p WHERE p.user_id = sms_texts.user_id
                               AND p.preference > sms_texts.preference ORDER BY p.preference LIMIT 1),
                 handed_at = NULL, next_try_at = $2
             WHERE id = $1 AND delivered_at IS NULL AND EXISTS (SELECT 1 FROM user_phones p
                 WHERE p.user_id = sms_texts.user_id AND p.preference > sms_texts.preference)";
        let failed = "UPDATE sms_texts SET failed_at = COALESCE(failed_at, $2) WHERE id = $1 AND delivered_at IS NULL";
        let found: Option<(Uuid, Uuid)> = on_either!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let found = sqlx::query_as(record)
                .bind(id)
                .bind(report.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_some() && report == TextReport::Failed {
                let moved = sqlx::query(next_number)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if moved == 0 {
                    sqlx::query(failed).bind(id).bind(now).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(found)
        })?;
        Ok(found)
    }

    /// When a node takes the lead (alone: at start): texts its last sender left being handed
    /// over may or may not be with the gateway. They wait until `resend_at` for a delivery
    /// report (the gateway retries its reports until the hub answers), and are sent again only
    /// if none came.
    pub async fn release_unsure_texts(&self, resend_at: DateTime<Utc>) -> Result<u64> {
        let sql = format!(
            "UPDATE sms_texts SET sending_since = NULL, next_try_at = $1 WHERE sending_since IS NOT NULL AND {WAITING}"
        );
        let n = on_either!(self, |pool| sqlx::query(&sql)
            .bind(resend_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Every text of an alert, person by person, oldest first.
    pub async fn text_receipts(&self, alert: Uuid) -> Result<Vec<TextReceiptRow>> {
        let sql = "SELECT t.user_id, u.username, t.withheld, t.queued_at, t.handed_at, t.report, t.reported_at,
                          t.delivered_at, t.failed_at
                   FROM sms_texts t JOIN users u ON u.id = t.user_id WHERE t.alert_id = $1 ORDER BY u.username, t.id";
        let rows = on_either!(self, |pool| sqlx::query_as(sql).bind(alert).fetch_all(pool).await)?;
        Ok(rows)
    }

    /// How many texts wait to be handed to the gateway (a metric).
    pub async fn texts_waiting(&self) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM sms_texts WHERE {WAITING}");
        let (n,): (i64,) = on_either!(self, |pool| sqlx::query_as(&sql).fetch_one(pool).await)?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_as_far_as_its_furthest_step_and_a_failure_only_counts_undelivered() {
        let now = Utc::now();
        let mut t = TextReceiptRow {
            user_id: Uuid::new_v4(),
            username: "amani".into(),
            withheld: false,
            queued_at: now,
            handed_at: None,
            report: None,
            reported_at: None,
            delivered_at: None,
            failed_at: None,
        };
        assert_eq!(t.status(), ReceiptStatus::Queued);
        t.handed_at = Some(now);
        assert_eq!(t.status(), ReceiptStatus::Sent);
        t.report = Some("accepted".into());
        assert_eq!(t.status(), ReceiptStatus::Accepted);
        t.failed_at = Some(now);
        assert_eq!(t.status(), ReceiptStatus::Failed);
        t.delivered_at = Some(now);
        assert_eq!(t.status(), ReceiptStatus::Delivered);
        t.withheld = true;
        assert_eq!(t.status(), ReceiptStatus::Withheld);
    }
}
