//! The hub's system connection to a NATS server: just enough of the NATS client protocol to
//! push the phones' account JWT to the server's resolver (`$SYS.REQ.CLAIMS.UPDATE`). One short
//! connection per push: it happens at the hub's start and at each logout, and a connection
//! that is never kept never has to be restored after the broker restarts.

use anyhow::{bail, Context as _};
use serde::Deserialize;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// How long one exchange may take, connection included.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The reply subject of every exchange (each on its own connection).
const INBOX: &str = "_INBOX.scaan";
/// Far above any account JWT the hub signs (NATS refuses more than its `max_payload`, 1 MiB).
const MAX_REPLY: usize = 4 << 20;

/// Where the NATS server listens for clients, and the hub's system user there.
#[derive(Clone)]
pub struct SystemConnection {
    host: String,
    port: u16,
    user_jwt: String,
}

impl SystemConnection {
    pub fn new(host: &str, port: u16, user_jwt: String) -> SystemConnection {
        SystemConnection {
            host: host.to_owned(),
            port,
            user_jwt,
        }
    }

    /// Stores `account_jwt` in the server's resolver (and every server of its cluster), which
    /// applies it at once: its revocations close the connections they name.
    pub async fn push(&self, account_jwt: &str) -> anyhow::Result<()> {
        #[derive(Deserialize)]
        struct Answer {
            error: Option<serde_json::Value>,
        }
        let reply = self.request("$SYS.REQ.CLAIMS.UPDATE", account_jwt).await?;
        let answer: Answer = serde_json::from_slice(&reply).context("the server's answer to a claims update")?;
        if let Some(error) = answer.error {
            bail!("the NATS server refused the account JWT: {error}");
        }
        Ok(())
    }

    /// One request on a new connection: its reply's payload.
    async fn request(&self, subject: &str, payload: &str) -> anyhow::Result<Vec<u8>> {
        let exchange = async {
            let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
            let mut stream = BufReader::new(stream);
            let info = read_line(&mut stream).await?;
            if !info.starts_with("INFO ") {
                bail!("not a NATS server (it said {info:?})");
            }
            let connect = serde_json::json!({
                "jwt": self.user_jwt, "verbose": false, "pedantic": false, "protocol": 1,
                "echo": false, "headers": false, "name": "scaan-hub-system",
            });
            let request = format!(
                "CONNECT {connect}\r\nSUB {INBOX} 1\r\nPUB {subject} {INBOX} {}\r\n{payload}\r\nPING\r\n",
                payload.len()
            );
            stream.get_mut().write_all(request.as_bytes()).await?;
            loop {
                let line = read_line(&mut stream).await?;
                if let Some(error) = line.strip_prefix("-ERR ") {
                    bail!("the NATS server refused the hub's system user: {error}");
                }
                if line == "PING" {
                    stream.get_mut().write_all(b"PONG\r\n").await?;
                    continue;
                }
                // MSG <subject> <sid> <size>
                let Some(size) = line.strip_prefix("MSG ").and_then(|rest| rest.rsplit(' ').next()) else {
                    continue;
                };
                let size: usize = size.parse().context("a MSG with no size")?;
                if size > MAX_REPLY {
                    bail!("a reply of {size} bytes");
                }
                let mut reply = vec![0; size + 2];
                stream.read_exact(&mut reply).await?;
                reply.truncate(size);
                return Ok(reply);
            }
        };
        tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("the NATS server did not answer within {EXCHANGE_TIMEOUT:?}"))?
            .with_context(|| format!("{subject} at nats://{}:{}", self.host, self.port))
    }
}

/// One protocol line, without its CRLF.
async fn read_line(stream: &mut BufReader<TcpStream>) -> anyhow::Result<String> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        bail!("the NATS server closed the connection");
    }
    Ok(line.trim_end().to_owned())
}
