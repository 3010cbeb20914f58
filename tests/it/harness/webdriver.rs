//! The dashboard's end-to-end tests drive headless Chromium through Debian's ChromeDriver with `fantoccini`;
//! the driver is started by pid and stopped by pid. This file adds only what the tests share: the
//! session's flags, waiting for a text, and failing with what was last seen.

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    driver: Child,
    client: Client,
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
        let profile = tempfile::tempdir().unwrap();
        let client = connect(port, width, height, &profile).await;
        Browser { driver, client, _profile: profile }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Whether an element matches `css` now.
    pub async fn find(&self, css: &str) -> Option<()> {
        self.client.find(Locator::Css(css)).await.ok().map(|_| ())
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.map_or(0, |all| all.len())
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
        self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()
    }

    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.ok()?.attr(name).await.ok().flatten()
    }

    pub async fn click(&self, css: &str) {
        let element =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("nothing matches `{css}`: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("nothing matches `{css}`: {e}"));
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    pub async fn script(&self, source: &str) -> Value {
        self.client.execute(source, Vec::new()).await.unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Writes a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session (Chromium exits), then the driver is stopped on drop.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Waits for the driver, then opens a session. Without the background-networking flags Chromium dials out
/// at start, which this network refuses.
async fn connect(port: u16, width: u32, height: u32, profile: &tempfile::TempDir) -> Client {
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
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let caps = json!({"browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}});
    let caps = caps.as_object().cloned().unwrap_or_default();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::new(HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
            Ok(client) => return client,
            Err(e) if Instant::now() > deadline => panic!("no WebDriver session from chromedriver in 20 s: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's Chromium exits with its driver; the driver is ours, by pid.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
