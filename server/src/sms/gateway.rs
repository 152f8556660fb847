//! The SMS gateways the hub hands texts to. One today, Kannel (Debian's `kannel`, run beside
//! the hub with a real SMSC: `deploy/kannel/README.md`); another (an HTTP SMS API, SMPP through
//! a crate) is one more variant of [`Gateway`] with its own `send` and `check`.

use std::time::Duration;

use crate::config::redact;
use crate::storage::{OwedText, TextReport};

/// How long one hand-over may take before the gateway counts as unreachable.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub enum Gateway {
    Kannel(Kannel),
}

/// Why a text was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The gateway did not answer, or could not take it now: try again later.
    #[error("the SMS gateway is unreachable: {0}")]
    Unreachable(String),
    /// The gateway refused this text for good.
    #[error("the SMS gateway refused the text: {0}")]
    Refused(String),
}

impl Gateway {
    /// Hands one text over; its delivery reports come back to `GET /api/v1/sms/reports`.
    pub async fn send(&self, text: &OwedText) -> Result<(), SendError> {
        match self {
            Gateway::Kannel(kannel) => kannel.send(text).await,
        }
    }

    /// At start: the gateway answers and takes the hub's login.
    pub async fn check(&self) -> anyhow::Result<()> {
        match self {
            Gateway::Kannel(kannel) => kannel.check().await,
        }
    }
}

/// Kannel's smsbox: texts go to its `sendsms` interface, with a delivery-report URL that names
/// the text; Kannel calls it for each report (and retries it, with `http-request-retry`, while
/// the hub is down).
pub struct Kannel {
    http: reqwest::Client,
    /// `sendsms` with the login and fixed parameters (`from`, `smsc`).
    sendsms: reqwest::Url,
    /// `…/api/v1/sms/reports?token=…`, to which `text` and `status` are added.
    reports: reqwest::Url,
}

impl Kannel {
    /// `sendsms`: `sms_kannel_url`; `reports_base`: the hub as Kannel reaches it.
    pub fn new(sendsms: &str, reports_base: &str, token: &str) -> anyhow::Result<Kannel> {
        let sendsms = reqwest::Url::parse(sendsms)?;
        let mut reports = reqwest::Url::parse(reports_base)?.join("/api/v1/sms/reports")?;
        reports.query_pairs_mut().append_pair("token", token);
        let http = reqwest::Client::builder().timeout(SEND_TIMEOUT).build()?;
        Ok(Kannel { http, sendsms, reports })
    }

    async fn send(&self, text: &OwedText) -> Result<(), SendError> {
        let mut report = self.reports.clone();
        report.query_pairs_mut().append_pair("text", &text.id.to_string());
        // `%d` is Kannel's: it puts the report's type there.
        let report = format!("{report}&status=%d");
        let mut url = self.sendsms.clone();
        url.query_pairs_mut()
            .append_pair("to", &text.phone)
            .append_pair("text", &text.body)
            .append_pair("dlr-mask", &DLR_MASK.to_string())
            .append_pair("dlr-url", &report);
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| SendError::Unreachable(without_url(e)))?;
        let status = answer.status();
        let said = answer.text().await.unwrap_or_default();
        match status.as_u16() {
            // 202 "0: Accepted for delivery" or "3: Queued for later delivery".
            200..=299 => Ok(()),
            // Its bearerbox is down or the queue full: the text can go later.
            500..=599 => Err(SendError::Unreachable(format!("{status}: {}", said.trim()))),
            _ => Err(SendError::Refused(format!("{status}: {}", said.trim()))),
        }
    }

    async fn check(&self) -> anyhow::Result<()> {
        let shown = redact(self.sendsms.as_str());
        // Without `to` and `text` nothing is sent: Kannel answers whether it knows the login.
        let answer = self
            .http
            .get(self.sendsms.clone())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("the SMS gateway at {shown} does not answer: {}", without_url(e)))?;
        if answer.status() == reqwest::StatusCode::FORBIDDEN {
            anyhow::bail!(
                "the SMS gateway at {shown} refuses the hub's login: check the username and password of its sendsms-user"
            );
        }
        Ok(())
    }
}

/// Every report Kannel can give: delivered (1), failed (2), buffered (4), accepted by the SMSC
/// (8), rejected by the SMSC (16).
const DLR_MASK: u8 = 1 | 2 | 4 | 8 | 16;

/// A Kannel delivery report's type as what it says of the text; `None` for a type outside
/// [`DLR_MASK`].
pub fn kannel_report(status: u8) -> Option<TextReport> {
    match status {
        1 => Some(TextReport::Delivered),
        2 | 16 => Some(TextReport::Failed),
        4 => Some(TextReport::Buffered),
        8 => Some(TextReport::Accepted),
        _ => None,
    }
}

/// A request's error without its URL, which holds the gateway's password.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_asked_for_is_understood() {
        for bit in 0..8 {
            let status = 1u8 << bit;
            assert_eq!(
                kannel_report(status).is_some(),
                DLR_MASK & status != 0,
                "report type {status}"
            );
        }
        assert_eq!(kannel_report(1), Some(TextReport::Delivered));
        assert_eq!(kannel_report(16), Some(TextReport::Failed));
        assert_eq!(kannel_report(0), None);
    }
}
