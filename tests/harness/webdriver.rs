//! A small W3C WebDriver client for the dashboard's end-to-end tests: Debian's ChromeDriver driving
//! headless Chromium, started by pid and stopped by pid.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a headless Chromium session of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = super::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is missing: scripts/test installs Debian's chromium and chromium-driver");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser { driver, http, session: String::new(), base, _profile: profile };
        browser.wait_driver().await;
        browser.session = browser.new_session(width, height).await;
        browser
    }

    async fn wait_driver(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.http.get(format!("{}/status", self.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start in 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn new_session(&self, width: u32, height: u32) -> String {
        // Without the background-networking flags Chromium dials out at start, which this network refuses.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", self._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let res = self.call("POST", "/session", Some(caps)).await;
        res["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {res}")).to_owned()
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let value: Value = req.send().await.unwrap().json().await.unwrap();
        value.get("value").cloned().unwrap_or(value)
    }

    async fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.session_call("GET", "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.session_call("POST", "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// The first element matching `css`, if there is one now.
    pub async fn find(&self, css: &str) -> Option<String> {
        let v = self.session_call("POST", "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v.get(ELEMENT).and_then(Value::as_str).map(str::to_owned)
    }

    /// Waits up to `secs` for `check(text of css)` to hold; panics with what was last seen.
    pub async fn wait_text(&self, css: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = String::new();
        while Instant::now() < deadline {
            last = self.text(css).await.unwrap_or_default();
            if check(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never matched in {secs} s; last seen: {last:?} at {}", self.url().await)
    }

    pub async fn text(&self, css: &str) -> Option<String> {
        let id = self.find(css).await?;
        self.session_call("GET", &format!("/element/{id}/text"), None).await.as_str().map(str::to_owned)
    }

    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let id = self.find(css).await?;
        self.session_call("GET", &format!("/element/{id}/attribute/{name}"), None).await.as_str().map(str::to_owned)
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await.unwrap_or_else(|| panic!("nothing matches `{css}`"));
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await.unwrap_or_else(|| panic!("nothing matches `{css}`"));
        self.session_call("POST", &format!("/element/{id}/clear"), Some(json!({}))).await;
        self.session_call("POST", &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    pub async fn script(&self, source: &str) -> Value {
        self.session_call("POST", "/execute/sync", Some(json!({"script": source, "args": []}))).await
    }

    /// Writes a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let b64 = self.session_call("GET", "/screenshot", None).await;
        let png = decode_base64(b64.as_str().expect("a base64 screenshot"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Browser {
    /// Ends the session (Chromium exits), then stops the driver.
    pub async fn quit(self) {
        self.session_call("DELETE", "", None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's Chromium exits with its driver; the driver is ours, by pid.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| acc | u32::from(value(*c)) << (18 - 6 * i));
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
