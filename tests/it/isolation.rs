//! The proxy outlives every controller fault: a panic in a deployment, an unreachable Docker engine, an
//! unreachable database and a full disk each fail only what they must, while bounded load on a live
//! project sees no failed request.

use crate::harness;

use harness::load::Background;
use harness::repo::{AppRepo, DockerCleanup};
use harness::{Gateway, Upstream};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

fn is_a(_: bool, body: &str) -> bool {
    body == "A"
}

/// A gateway serving `app.test` from upstream A, under load.
async fn live_app(gw: &Gateway) -> Upstream {
    let a = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({ "health_interval_ms": 50 })).await;
    assert_eq!(gw.deploy("app", a.addr).await["status"], "ACTIVE");
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panic_in_a_deployment_fails_it_and_no_proxied_request() {
    let mut gw = Gateway::start().await;
    let _a = live_app(&gw).await;
    gw.restart_with_hook("health_checking:panic").await;
    let load = Background::start(gw.proxy, "app.test", is_a);
    let b = Upstream::start("B");
    let d = gw.deploy("app", b.addr).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert!(d["error"].as_str().unwrap().starts_with("internal error, see log"), "{d}");
    let again = gw.deploy("app", b.addr).await;
    assert_eq!(again["status"], "FAILED", "the worker survived the panic and ran the next one: {again}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.finish().await.assert_clean(100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_docker_engine_fails_deploys_and_no_proxied_request() {
    let mut gw = Gateway::start().await;
    let _a = live_app(&gw).await;
    gw.restart_with_env(&[("VERSIONGATE_DOCKER_HOST", "unix:///nonexistent/docker.sock")]).await;
    let load = Background::start(gw.proxy, "app.test", is_a);
    let repo = AppRepo::new("v1");
    let name = harness::unique_name("i");
    gw.add_docker_project(&name, &repo.url(), "s", json!({})).await;
    let _cleanup = DockerCleanup(name.clone());
    let d = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), "s").await).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    let error = d["error"].as_str().unwrap();
    assert!(error.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"), "{error}");
    load.finish().await.assert_clean(100);
}

/// A TCP relay to the database that can be cut (every connection dropped, new ones refused) and restored.
struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay { addr: listener.local_addr().unwrap(), up: Arc::default(), open: Arc::default() };
        relay.up.store(true, Ordering::SeqCst);
        let (up, open) = (relay.up.clone(), relay.open.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: the database is "down"
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                open.lock().unwrap().push(task.abort_handle());
            }
        });
        relay
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A fresh PostgreSQL database reached through a relay; returns the relay and the gateway's store URL.
async fn postgres_behind_relay() -> (Relay, String) {
    let direct = harness::pg::fresh_database("vg_iso").await;
    let (scheme_user, host_db) = direct.split_once('@').unwrap();
    let (host, name) = host_db.split_once('/').unwrap();
    let relay = Relay::start(host.to_owned()).await;
    let url = format!("{scheme_user}@{}/{name}", relay.addr);
    (relay, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_database_answers_503_serves_from_memory_and_recovers_by_itself() {
    let (relay, url) = postgres_behind_relay().await;
    let gw = Gateway::start_with(&format!("[store]\nurl = \"{url}\"\n")).await;
    let _a = live_app(&gw).await;
    let load = Background::start(gw.proxy, "app.test", is_a);
    relay.cut();
    let (code, body) =
        gw.api("POST", "/api/v1/projects", Some(json!({ "name": "later", "runtime": "external" }))).await;
    assert_eq!((code, body["error"]["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("database") && message.contains("retry"), "the message says what to do: {message}");
    let health = gw.api("GET", "/healthz", None).await.1;
    assert_eq!(health["store"], "unreachable", "{health}");
    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) =
            gw.api("POST", "/api/v1/projects", Some(json!({ "name": "later", "runtime": "external" }))).await;
        if code == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "the API never recovered: {code} {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    load.finish().await.assert_clean(100);
}

/// A 16 MiB tmpfs, unmounted (lazily, so a process still inside cannot block it) when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "cannot mount a tmpfs: this test runs as root, as scripts/test does");
        SmallDisk(dir)
    }

    /// Fills the disk but for `left` bytes.
    fn fill_leaving(&self, left: u64) {
        let free = fs2_free(self.0.path());
        std::fs::write(self.0.path().join("ballast"), vec![0u8; free.saturating_sub(left) as usize]).unwrap();
    }

    fn empty_ballast(&self) {
        std::fs::remove_file(self.0.path().join("ballast")).unwrap();
    }
}

fn fs2_free(path: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_fails_that_deploy_only() {
    let disk = SmallDisk::mount();
    let mut gw = Gateway::start().await;
    let data = disk.0.path().join("data");
    let db = format!("sqlite://{}?mode=rwc", gw.dir.path().join("store.db").display());
    gw.restart_with_env(&[("VERSIONGATE_DATA_DIR", data.to_str().unwrap()), ("VERSIONGATE_STORE_URL", &db)]).await;
    let repo = AppRepo::new("v1");
    let name = harness::unique_name("d");
    gw.add_docker_project(&name, &repo.url(), "s", json!({ "observe_s": 0 })).await;
    let _cleanup = DockerCleanup(name.clone());
    let v1 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), "s").await).await;
    assert_eq!(v1["status"], "ACTIVE", "{v1}");

    let noise: Vec<u8> = (0..4_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(repo.path.join("www/big.bin"), noise).unwrap();
    disk.fill_leaving(1_000_000);
    let full = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v2"), "s").await).await;
    assert_eq!(full["status"], "FAILED", "{full}");
    let error = full["error"].as_str().unwrap();
    assert!(
        error.starts_with("the disk is full") && error.contains("Free space"),
        "the error says the disk is full and what to do: {error}"
    );
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".to_string()), "the live slot is untouched");

    disk.empty_ballast();
    let v3 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v3"), "s").await).await;
    assert_eq!(v3["status"], "ACTIVE", "with space again the next push deploys: {v3}");
    gw.kill();
}
