//! Headless Chromium driven over the Chrome DevTools Protocol, for the console's browser tests.
//!
//! A small CDP client on the WebSocket client the tests already use (tokio-tungstenite) rather
//! than chromiumoxide or fantoccini: the tests need a dozen commands and two events, and
//! chromiumoxide's generated protocol crate would add minutes to every build of this test
//! binary, while fantoccini speaks WebDriver, which needs chromedriver and cannot report the
//! page's JavaScript exceptions as they happen. CDP's `Runtime.exceptionThrown` can.

use base64::Engine;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The discard port, where nothing listens: a connection there is refused at once.
const DEAD: &str = "127.0.0.1:9";
type Replies = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, Value>>>>>;

/// Where Chromium is: `SCAAN_CHROMIUM`, else Debian's `chromium` (scripts/test.sh installs it).
fn chromium_path() -> String {
    std::env::var("SCAAN_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// A headless Chromium with a fresh profile; killed when dropped.
pub struct Browser {
    _process: tokio::process::Child,
    _profile: tempfile::TempDir,
    writer: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    replies: Replies,
    errors: Arc<Mutex<Vec<String>>>,
    next_id: AtomicU64,
}

impl Browser {
    pub async fn launch() -> Browser {
        Browser::start(&[]).await
    }

    /// A Chromium whose network is cut but for the hub at `base` (`http://host:port`): every
    /// other request, to any host or port, the loopback's included, goes to a proxy at a port
    /// where nothing listens, and fails.
    pub async fn launch_cut_off_but(base: &str) -> Browser {
        let hub = base.trim_start_matches("http://");
        Browser::start(&[
            format!("--proxy-server=http://{DEAD}"),
            // `<-loopback>` takes back Chromium's own exception for the loopback; it has to come
            // first, or the hub's own exception is lost with it.
            format!("--proxy-bypass-list=<-loopback>;{hub}"),
        ])
        .await
    }

    async fn start(extra: &[String]) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut process = tokio::process::Command::new(chromium_path())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                // WebGL on the CPU, for the console's map library: headless Chromium has no GPU.
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--autoplay-policy=no-user-gesture-required",
                "--window-size=1280,720",
                "--remote-debugging-port=0",
            ])
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts (apt-get install chromium, or set SCAAN_CHROMIUM)");
        let stderr = process.stderr.take().expect("stderr");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("chromium exited without opening its DevTools port")
        })
        .await
        .expect("chromium opens its DevTools port within 30 s");
        // Keep draining Chromium's chatter so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to DevTools");
        let (writer, mut reader) = socket.split();
        let replies: Replies = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let (replies_in, errors_in) = (replies.clone(), errors.clone());
        tokio::spawn(async move {
            while let Some(Ok(message)) = reader.next().await {
                let Message::Text(text) = message else { continue };
                let Ok(value) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(id) = value["id"].as_u64() {
                    if let Some(reply) = replies_in.lock().unwrap().remove(&id) {
                        let _ = reply.send(match value.get("error") {
                            Some(error) => Err(error.clone()),
                            None => Ok(value["result"].clone()),
                        });
                    }
                } else if let Some(error) = page_error(&value) {
                    errors_in.lock().unwrap().push(error);
                }
            }
        });
        Browser {
            _process: process,
            _profile: profile,
            writer: tokio::sync::Mutex::new(writer),
            replies,
            errors,
            next_id: AtomicU64::new(1),
        }
    }

    async fn send(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.replies.lock().unwrap().insert(id, tx);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.writer
            .lock()
            .await
            .send(Message::Text(message.to_string()))
            .await
            .expect("send to DevTools");
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap_or_else(|_| panic!("{method}: no answer from Chromium within 30 s"))
            .expect("DevTools connection open")
    }

    /// A new 1280×720 tab, with its exceptions and console errors collected.
    pub async fn page(&self) -> Page<'_> {
        let target = self
            .send(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await
            .expect("create a tab");
        let attached = self
            .send(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await
            .expect("attach to the tab");
        let page = Page {
            browser: self,
            session: attached["sessionId"].as_str().expect("session id").to_owned(),
        };
        for method in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(method, json!({})).await;
        }
        page.viewport(1280, 720).await;
        page
    }

    /// JavaScript exceptions and console errors seen so far, on any tab.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// An uncaught exception, a `console.error`, or an error the browser logged about the page's
/// script. Failed network requests are left out: the console handles a 404 from an endpoint
/// this hub lacks, and Chromium logs the 404 all the same.
fn page_error(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.exceptionThrown" => {
            let details = &params["exceptionDetails"];
            let description = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("exception");
            Some(format!("exception: {description}"))
        }
        "Runtime.consoleAPICalled" if matches!(params["type"].as_str(), Some("error" | "assert")) => {
            Some(format!("console.error: {}", params["args"]))
        }
        "Log.entryAdded" if params["entry"]["level"] == "error" && params["entry"]["source"] != "network" => {
            Some(format!("log: {}", params["entry"]["text"]))
        }
        _ => None,
    }
}

pub struct Page<'b> {
    browser: &'b Browser,
    session: String,
}

impl Page<'_> {
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.browser
            .send(Some(&self.session), method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn viewport(&self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
    }

    /// Loads a URL and waits for the document to be ready.
    pub async fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for("document.readyState === 'complete'", "the page loads")
            .await;
    }

    pub async fn reload(&self) {
        // The old document may still answer "complete" for a moment: mark it, wait for one
        // without the mark.
        self.eval("window.beforeReload = true").await;
        self.call("Page.reload", json!({})).await;
        self.wait_for(
            "!window.beforeReload && document.readyState === 'complete'",
            "the page reloads",
        )
        .await;
    }

    /// Evaluates an expression (awaiting a promise) and returns its value as JSON.
    pub async fn eval(&self, expression: &str) -> Value {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        if let Some(details) = answer.get("exceptionDetails") {
            panic!("{expression}: {details}");
        }
        answer["result"]["value"].clone()
    }

    /// Waits up to 10 s for the expression to be truthy; returns its value.
    pub async fn wait_for(&self, expression: &str, what: &str) -> Value {
        self.wait_within(expression, what, Duration::from_secs(10)).await
    }

    pub async fn wait_within(&self, expression: &str, what: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let value = self.eval(expression).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false)) && value != json!(0) && value != json!("");
            if truthy {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "waited {within:?} for {what} ({expression}); errors: {:?}",
                    self.browser.errors()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The centre of the first element matching `selector`, in CSS pixels.
    pub async fn centre_of(&self, selector: &str) -> (f64, f64) {
        let expression = format!(
            "(() => {{ const el = document.querySelector({selector:?}); if (!el) return null; \
             el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        );
        let at = self.wait_for(&expression, &format!("{selector} to exist")).await;
        (at[0].as_f64().unwrap(), at[1].as_f64().unwrap())
    }

    async fn mouse(&self, kind: &str, (x, y): (f64, f64), pressed: bool) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "button": if pressed || kind != "mouseMoved" { "left" } else { "none" },
                   "buttons": i32::from(pressed), "clickCount": 1}),
        )
        .await;
    }

    /// A real mouse click at the element's centre.
    pub async fn click(&self, selector: &str) {
        self.click_at(self.centre_of(selector).await).await;
    }

    /// A real mouse click at a point of the page.
    pub async fn click_at(&self, at: (f64, f64)) {
        self.mouse("mouseMoved", at, false).await;
        self.mouse("mousePressed", at, true).await;
        self.mouse("mouseReleased", at, false).await;
    }

    /// Presses at `from`, moves to `to` in steps, releases.
    pub async fn drag(&self, from: (f64, f64), to: (f64, f64)) {
        self.mouse("mouseMoved", from, false).await;
        self.mouse("mousePressed", from, true).await;
        for step in 1..=8 {
            let t = f64::from(step) / 8.0;
            let at = (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t);
            self.mouse("mouseMoved", at, true).await;
        }
        self.mouse("mouseReleased", to, false).await;
    }

    /// Focuses the element and types into it as a keyboard would.
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.click(selector).await;
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// A PNG of the page as the viewport shows it, written to `docs/screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&dir).expect("docs/screenshots");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
    }
}
