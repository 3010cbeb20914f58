//! Test harness: the real `versiongate serve` binary on loopback ports with a temp data dir,
//! and fake upstreams whose `/health` can be made ok, failing, slow or dying.
#![allow(dead_code)]

pub mod github;
pub mod hosts;
pub mod load;
pub mod pebble;
pub mod pg;

pub mod raw;
pub mod recorder;
pub mod repo;
pub mod standin;
pub mod streams;
pub mod tls_load;

pub mod upgrade;
pub mod upstream;
pub mod visitor;
pub mod webdriver;

#[allow(unused_imports)]
pub use upstream::{Health, Upstream};

use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running gateway process, killed (by its pid) when dropped.
pub struct Gateway {
    child: Option<Child>,
    pub proxy: SocketAddr,
    /// The TLS listener, for gateways started with [`Gateway::start_https`].
    pub https: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub token: String,
    pub http: reqwest::Client,
    /// Extra environment for the process, applied at every (re)start.
    pub env: Vec<(String, String)>,
    /// The binary started: the build's, or a copy an upgrade test replaces.
    pub binary: PathBuf,
    /// Processes that took over by an upgrade (newest last), stopped by pid with the gateway.
    pub successors: Vec<u32>,
}

/// A project name no other test uses, since container names are global to the engine.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Waits up to 30 s for `check` to hold (engine clean-up after a restart runs in the background).
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "still not true after 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A reqwest builder for tests: reqwest's TLS takes the process's rustls provider, which `main` installs in
/// the product; a test process installs ring here.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// The tests' HTTP client: a 30 s limit per request.
fn test_client() -> reqwest::Client {
    client_builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A base port whose pair (it and the next) is free, for docker projects of gateways running side by side.
///
/// Pairs come from 24000–31999, below the kernel's ephemeral range (32768 and up): a port picked there could be
/// handed to any other test's socket before Docker binds it. The start moves with the pid and a counter, so
/// parallel tests and test binaries try different pairs first.
pub fn free_port_pair() -> u16 {
    free_port_range(2)
}

/// Where a gateway's automatic base ports start (`VERSIONGATE_TEST_PORTS_FROM`, read by test builds): a
/// block of 100 in 20000–23999 of its own, so gateways of tests running side by side never pick the same
/// free port at the same moment. Below the pairs of [`free_port_pair`].
pub fn auto_ports_from() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let block = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).wrapping_add(std::process::id()) % 40;
    20000 + block as u16 * 100
}

/// A base port with `n` free ports from it on (a project of `n / 2` replicas), picked as [`free_port_pair`] is.
pub fn free_port_range(n: u16) -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..200 {
        let k = NEXT.fetch_add(u32::from(n), std::sync::atomic::Ordering::Relaxed);
        let p = 24000 + ((seed.wrapping_add(k * 2)) % 7900) as u16 / 2 * 2;
        let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
        if (p..p + n).all(free) {
            return p;
        }
    }
    panic!("no {n} free loopback ports in a row in 200 tries")
}

impl Gateway {
    pub async fn start() -> Gateway {
        Gateway::start_with("").await
    }

    /// Starts a gateway with `admin_extra` added to its `[admin]` section.
    pub async fn start_with_admin(admin_extra: &str) -> Gateway {
        Gateway::start_config(admin_extra, "").await
    }

    /// Starts a gateway whose config file ends with `extra` TOML (for example `[[projects]]`).
    pub async fn start_with(extra: &str) -> Gateway {
        Gateway::start_config("", extra).await
    }

    async fn start_config(admin_extra: &str, extra: &str) -> Gateway {
        let proxy = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Gateway::start_ports(proxy, None, ("", admin_extra, extra)).await
    }

    /// Starts a gateway with `proxy_extra` added to its `[proxy]` section.
    pub async fn start_with_proxy(proxy_extra: &str) -> Gateway {
        let proxy = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Gateway::start_ports(proxy, None, (proxy_extra, "", "")).await
    }

    /// A gateway with an HTTPS listener; `configure(http_port, https_port)` returns the TOML to append (the
    /// `[acme]` section of a CA started for those ports, and anything else).
    pub async fn start_https(admin_extra: &str, configure: impl FnOnce(u16, u16) -> String) -> Gateway {
        let proxy = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let https = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let extra = configure(proxy.port(), https.port());
        Gateway::start_ports(proxy, Some(https), ("", admin_extra, &extra)).await
    }

    /// A gateway with an HTTPS listener on ports chosen beforehand (another gateway's CA validates on them).
    pub async fn start_https_at(proxy: SocketAddr, https: SocketAddr, extra: &str) -> Gateway {
        Gateway::start_ports(proxy, Some(https), ("", "", extra)).await
    }

    /// `(proxy_extra, admin_extra, extra)`: lines for the `[proxy]` and `[admin]` sections, and TOML to end with.
    async fn start_ports(proxy: SocketAddr, https: Option<SocketAddr>, sections: (&str, &str, &str)) -> Gateway {
        let (proxy_extra, admin_extra, extra) = sections;
        let dir = tempfile::tempdir().unwrap();
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let https_line = https.map(|a| format!("https_listen = \"{a}\"\n")).unwrap_or_default();
        let config = format!(
            "data_dir = \"{}\"\n[proxy]\nhttp_listen = \"{proxy}\"\n{https_line}threads = 1\n{proxy_extra}\n[admin]\nlisten = \"{admin}\"\ntoken = \"test-token\"\n{admin_extra}{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("versiongate.toml"), config).unwrap();
        let http = test_client();
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_versiongate"));
        let (token, env, successors) = ("test-token".into(), Vec::new(), Vec::new());
        let mut gw = Gateway { child: None, proxy, https, admin, dir, token, http, env, binary, successors };
        gw.env.push(("VERSIONGATE_TEST_PORTS_FROM".into(), auto_ports_from().to_string()));
        gw.spawn().await;
        gw
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new(&self.binary)
            .args(["serve", "--config"])
            .arg(self.dir.path().join("versiongate.toml"))
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start the versiongate binary");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("gateway exited with {status}:\n{}", self.log());
            }
            let admin_ok =
                self.http.get(format!("http://{}/healthz", self.admin)).send().await.is_ok_and(|r| r.status() == 200);
            if admin_ok && std::net::TcpStream::connect(self.proxy).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway did not become ready in 30 s:\n{}", self.log());
    }

    /// Starts the gateway again after `kill`, with the same config, data dir and ports.
    pub async fn start_again(&mut self) {
        self.spawn().await;
    }

    /// SIGKILL, as a crash would; then the same config, data dir and ports start again.
    pub async fn crash_and_restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// A clean restart after which deployments park for two minutes when they enter `phase`
    /// (the `VERSIONGATE_TEST_HOOK` hook), so a crash can land inside a short step.
    pub async fn restart_holding(&mut self, phase: &str) {
        self.restart_with_hook(&format!("{phase}:hold:120000")).await;
    }

    /// A clean restart with `VERSIONGATE_TEST_HOOK=hook`.
    pub async fn restart_with_hook(&mut self, hook: &str) {
        if !cfg!(feature = "test-hooks") {
            panic!("test hooks need `cargo test --features test-hooks` (scripts/test does)");
        }
        self.restart_with_env(&[("VERSIONGATE_TEST_HOOK", hook)]).await;
    }

    /// A clean restart with these environment variables (and no others of the harness's).
    pub async fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.kill();
        self.spawn().await;
    }

    /// SIGKILL, then a start without any test hook; returns how long after the new process was
    /// started `host` answered `want` through the proxy.
    pub async fn crash_and_time_restart(&mut self, host: &str, want: &str) -> Duration {
        self.kill();
        self.env.clear();
        let started = Instant::now();
        self.spawn().await;
        loop {
            if self.get(host, "/").await == (200, want.to_string()) {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{host} never answered {want} after the restart");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Pooled keep-alive connections went with the process: a request on one would be reset.
        self.http = test_client();
        for pid in self.successors.drain(..) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }

    /// The serving gateway process's pid: the last successor after an upgrade.
    pub fn pid(&self) -> u32 {
        self.successors.last().copied().unwrap_or_else(|| self.child.as_ref().map_or(0, Child::id))
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The SQLite database's files (with its WAL), as text: what someone who copies data_dir could read.
    pub fn database_text(&self) -> String {
        let mut database = Vec::new();
        for file in std::fs::read_dir(self.data_dir()).unwrap() {
            let path = file.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with("versiongate.db") {
                database.extend(std::fs::read(path).unwrap());
            }
        }
        assert!(!database.is_empty(), "no database in {}", self.data_dir().display());
        String::from_utf8_lossy(&database).into_owned()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("versiongate.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// An admin API call with the token; the status and the JSON body (or `Value::Null`).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.admin_url())).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Creates an external project with quick health settings, plus `extra` fields.
    pub async fn add_external_project(&self, name: &str, domain: &str, extra: Value) -> Value {
        let mut body = json!({
            "name": name, "domains": [domain], "runtime": "external",
            "health_interval_ms": 100, "healthy_threshold": 2, "health_timeout_s": 10, "drain_timeout_s": 5, "observe_s": 0,
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let (status, project) = self.api("POST", "/api/v1/projects", Some(body)).await;
        assert_eq!(status, 201, "{project}");
        project
    }

    /// Creates a docker project building `repo_url`, with quick health settings, a free port pair and no
    /// observe window unless `extra` says otherwise; returns the project.
    pub async fn add_docker_project(&self, name: &str, repo_url: &str, secret: &str, extra: Value) -> Value {
        let mut body = json!({
            "name": name, "domains": [format!("{name}.test")], "repo_url": repo_url, "webhook_secret": secret,
            "health_interval_ms": 100, "healthy_threshold": 2, "health_timeout_s": 15, "drain_timeout_s": 5,
            "stop_timeout_s": 1, "base_port": free_port_pair(), "observe_s": 0,
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let (status, project) = self.api("POST", "/api/v1/projects", Some(body)).await;
        assert_eq!(status, 201, "{project}");
        project
    }

    /// Starts a deployment of `target` and waits until it settles; returns it.
    pub async fn deploy(&self, project: &str, target: SocketAddr) -> Value {
        let (status, d) = self
            .api(
                "POST",
                &format!("/api/v1/projects/{project}/deployments"),
                Some(json!({"target": target.to_string()})),
            )
            .await;
        assert_eq!(status, 202, "{d}");
        self.wait_settled(d["id"].as_i64().unwrap()).await
    }

    /// Starts a deployment of `target` without waiting; returns its id.
    pub async fn start_deploy(&self, project: &str, target: SocketAddr) -> i64 {
        let path = format!("/api/v1/projects/{project}/deployments");
        let (status, d) = self.api("POST", &path, Some(json!({"target": target.to_string()}))).await;
        assert_eq!(status, 202, "{d}");
        d["id"].as_i64().unwrap()
    }

    /// Waits until deployment `id` is in `phase`.
    /// Builds on a loaded two-core CI machine can take most of a minute, so the deadline is generous;
    /// a deployment that ends without passing through `phase` fails at once with its state.
    pub async fn wait_phase(&self, id: i64, phase: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (_, d) = self.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
            if d["phase"] == phase {
                return;
            }
            let ended = !matches!(d["status"].as_str(), Some("QUEUED" | "DEPLOYING" | "ACTIVE"));
            let done = d["status"] == "ACTIVE" && d["phase"] == "done";
            assert!(!ended && !done, "deployment {id} ended before it reached {phase}: {d}");
            assert!(Instant::now() < deadline, "deployment {id} never reached {phase}: {d}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A deployment's log as plain text.
    pub async fn logs(&self, id: &Value) -> String {
        let url = format!("{}/api/v1/deployments/{id}/logs", self.admin_url());
        self.http.get(url).bearer_auth(&self.token).send().await.unwrap().text().await.unwrap()
    }

    pub async fn wait_settled(&self, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, d) = self.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
            let (status, phase) = (d["status"].as_str().unwrap_or(""), d["phase"].as_str().unwrap_or(""));
            if !matches!(status, "QUEUED" | "DEPLOYING") && (status != "ACTIVE" || phase == "done") {
                return d;
            }
            assert!(Instant::now() < deadline, "deployment {id} did not settle: {d}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a GitHub event signed with `secret`; `form` sends it as `payload=` like GitHub's form option.
    pub async fn webhook(
        &self,
        event: &str,
        payload: &Value,
        secret: &str,
        delivery: &str,
        form: bool,
    ) -> (u16, Value) {
        let json = serde_json::to_vec(payload).unwrap();
        let (body, content_type) = if form {
            let encoded: String = url_encode(&json);
            (format!("payload={encoded}").into_bytes(), "application/x-www-form-urlencoded")
        } else {
            (json, "application/json")
        };
        let resp = self
            .http
            .post(format!("{}/webhooks/github", self.admin_url()))
            .header("content-type", content_type)
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", versiongate::webhook::sign(secret, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A signed push of `sha` to `branch` of the repository at `repo_url`; expects 202 and returns the deployment id.
    pub async fn push(&self, repo_url: &str, branch: &str, sha: &str, secret: &str) -> i64 {
        let delivery = uuid::Uuid::new_v4().to_string();
        let (status, d) = self.webhook("push", &push_payload(repo_url, branch, sha), secret, &delivery, false).await;
        assert_eq!(status, 202, "{d}");
        d["id"].as_i64().unwrap()
    }

    /// A GET through the proxy for `host`: status and body.
    pub async fn get(&self, host: &str, path: &str) -> (u16, String) {
        let resp = self.http.get(format!("http://{}{path}", self.proxy)).header("host", host).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the CLI binary against this gateway; returns the exit code, stdout and stderr.
pub fn cli(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_versiongate"))
        .args(args)
        .env("VERSIONGATE_URL", gw.admin_url())
        .env("VERSIONGATE_TOKEN", &gw.token)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// GitHub's push payload (the shared fixture) pointed at a test repository.
pub fn push_payload(repo_url: &str, branch: &str, sha: &str) -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/github/push-new-branch.json"))
            .unwrap();
    let mut payload: Value = serde_json::from_str(&text).unwrap();
    payload["ref"] = json!(format!("refs/heads/{branch}"));
    payload["after"] = json!(sha);
    payload["head_commit"]["id"] = json!(sha);
    for key in ["clone_url", "ssh_url", "html_url", "git_url"] {
        payload["repository"][key] = json!(repo_url);
    }
    payload
}

fn url_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (*b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
