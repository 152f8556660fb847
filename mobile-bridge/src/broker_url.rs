//! Where a broker listens: `mqtt://[USER:PASSWORD@]HOST[:PORT]`, as the hub's `--mqtt-url` and
//! `scaan phone --mqtt` take it. The port defaults to MQTT's 1883. Credentials never leave it
//! by `Display`, `Debug` or serde: logs and the phone's session file show `mqtt://HOST:PORT`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<BrokerUrl, String> {
        let rest = url
            .strip_prefix("mqtt://")
            .ok_or_else(|| format!("'{url}' must start with mqtt:// (TLS brokers are not supported yet)"))?;
        Self::parse_address(rest, 1883)
    }

    /// `nats://HOST[:PORT]` (port 4222 by default): a NATS server's client listener, which the
    /// hub reaches with its own keys, so with no login in the URL.
    pub fn parse_nats(url: &str) -> Result<BrokerUrl, String> {
        let rest = url
            .strip_prefix("nats://")
            .ok_or_else(|| format!("'{url}' must start with nats://"))?;
        let broker = Self::parse_address(rest, 4222)?;
        if broker.credentials.is_some() {
            return Err("a nats:// URL carries no login: the hub signs its own".to_owned());
        }
        Ok(broker)
    }

    fn parse_address(rest: &str, default_port: u16) -> Result<BrokerUrl, String> {
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((user_info, address)) => {
                let (user, password) = user_info.split_once(':').unwrap_or((user_info, ""));
                (Some((user.to_owned(), password.to_owned())), address)
            }
            None => (None, rest),
        };
        let address = address.trim_end_matches('/');
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("'{port}' is not a port number (1-65535)"))?;
                (host, port)
            }
            None => (address, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '?', '#']) {
            return Err(format!("'{host}' is not a host name"));
        }
        Ok(BrokerUrl {
            host: host.to_owned(),
            port,
            credentials,
        })
    }
}

impl FromStr for BrokerUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<BrokerUrl, String> {
        BrokerUrl::parse(url)
    }
}

impl TryFrom<String> for BrokerUrl {
    type Error = String;

    fn try_from(url: String) -> Result<BrokerUrl, String> {
        BrokerUrl::parse(&url)
    }
}

impl From<BrokerUrl> for String {
    fn from(url: BrokerUrl) -> String {
        url.to_string()
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mqtt://{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_with_and_without_credentials() {
        assert_eq!(
            BrokerUrl::parse("mqtt://127.0.0.1:1883"),
            Ok(BrokerUrl {
                host: "127.0.0.1".into(),
                port: 1883,
                credentials: None
            })
        );
        let with_login = BrokerUrl::parse("mqtt://scaan-hub:s3cret@broker.example.org:8883/").unwrap();
        assert_eq!(
            with_login,
            BrokerUrl {
                host: "broker.example.org".into(),
                port: 8883,
                credentials: Some(("scaan-hub".into(), "s3cret".into()))
            }
        );
        assert_eq!(
            format!("{with_login:?}"),
            "mqtt://broker.example.org:8883",
            "no password in logs"
        );
        assert_eq!(BrokerUrl::parse("mqtt://localhost").map(|u| u.port), Ok(1883));
        for bad in [
            "http://x:1",
            "mqtt://x:0",
            "mqtt://:1883",
            "mqtt://x:port",
            "mqtt://x/y:1",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nats_urls_default_to_4222_and_carry_no_login() {
        assert_eq!(
            BrokerUrl::parse_nats("nats://10.0.0.5").map(|u| (u.host, u.port)),
            Ok(("10.0.0.5".into(), 4222))
        );
        assert_eq!(
            BrokerUrl::parse_nats("nats://localhost:14222").map(|u| u.port),
            Ok(14222)
        );
        for bad in ["mqtt://x:1", "nats://u:p@x:4222", "nats://x:0"] {
            assert!(BrokerUrl::parse_nats(bad).is_err(), "{bad}");
        }
    }
}
