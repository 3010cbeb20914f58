//! Several gateways on one PostgreSQL: a route change made by one is served by the other within a second,
//! one deployment per project runs at a time across both, and when the gateway holding a deploy is killed
//! the other settles it after `lease_timeout_s` and deploys normally.

use crate::harness;

use harness::visitor::Visitor;
use harness::{Gateway, Health, Upstream};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const LEASE_TIMEOUT_S: u64 = 3;

fn member(url: &str, node: &str) -> String {
    format!("[store]\nurl = \"{url}\"\n[cluster]\nnode = \"{node}\"\nlease_timeout_s = {LEASE_TIMEOUT_S}\n")
}

async fn two_gateways(extra: &str) -> (Gateway, Gateway) {
    let url = harness::pg::fresh_database("vg_cluster").await;
    let gw1 = Gateway::start_with(&format!("{}{extra}", member(&url, "gw1"))).await;
    let gw2 = Gateway::start_with(&format!("{}{extra}", member(&url, "gw2"))).await;
    (gw1, gw2)
}

/// How long until `gw` serves `want` for app.test (panics after 10 s).
async fn served_within(gw: &Gateway, want: &str) -> Duration {
    let start = Instant::now();
    loop {
        if gw.get("app.test", "/").await.1 == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{want} never served by {}", gw.admin_url());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status(gw: &Gateway, id: i64) -> Value {
    gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_change_on_one_gateway_is_served_by_the_other_within_a_second_and_deploys_take_turns() {
    let receiver = harness::github::Receiver::start(Duration::ZERO).await;
    let (gw1, gw2) = two_gateways(&format!("[[notify]]\nurl = \"{}\"\n", receiver.url())).await;
    gw1.add_external_project("app", "app.test", json!({})).await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    assert_eq!(gw1.deploy("app", a.addr).await["status"], "ACTIVE");
    let late = served_within(&gw2, "A").await;
    eprintln!("gw2 served gw1's switch after {late:?}");
    assert!(late < Duration::from_secs(1), "gw2 served gw1's switch after {late:?}");
    assert_eq!(gw2.deploy("app", b.addr).await["status"], "ACTIVE");
    let late = served_within(&gw1, "B").await;
    assert!(late < Duration::from_secs(1), "gw1 served gw2's switch after {late:?}");

    // A deploy on gw1 holds the project; one asked of gw2 meanwhile waits its turn, then runs.
    let c = Upstream::start("C");
    c.set_health(Health::Failing);
    let first = gw1.start_deploy("app", c.addr).await;
    gw1.wait_phase(first, "health_checking").await;
    let second = gw2.start_deploy("app", a.addr).await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(status(&gw2, second).await["status"], "QUEUED", "one deploy per project across gateways");
    }
    c.set_health(Health::Ok);
    assert_eq!(gw1.wait_settled(first).await["status"], "ACTIVE");
    assert_eq!(gw2.wait_settled(second).await["status"], "ACTIVE");
    served_within(&gw1, "A").await;
    served_within(&gw2, "A").await;

    // Each outcome is announced once, by the gateway holding the announcer role, whichever ran the deploy.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ids: Vec<i64> = receiver
        .bodies()
        .iter()
        .filter(|b| b["event"] == "succeeded")
        .map(|b| b["deployment"].as_i64().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), 4, "4 deployments went live, each announced once: {ids:?}");
    assert_eq!(unique, ids, "{ids:?}");

    let (_, health) = gw1.api("GET", "/healthz", None).await;
    let nodes: Vec<(String, bool)> = health["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["node"].as_str().unwrap().to_owned(), n["alive"] == true))
        .collect();
    assert_eq!(nodes, [("gw1".to_owned(), true), ("gw2".to_owned(), true)], "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_deploy_loses_its_lease_and_the_other_settles_and_deploys() {
    let receiver = harness::github::Receiver::start(Duration::ZERO).await;
    let (mut gw1, gw2) = two_gateways(&format!("[[notify]]\nurl = \"{}\"\n", receiver.url())).await;
    gw2.add_external_project("other", "other.test", json!({})).await;
    gw1.add_external_project("app", "app.test", json!({"health_timeout_s": 120})).await;
    let a = Upstream::start("A");
    assert_eq!(gw1.deploy("app", a.addr).await["status"], "ACTIVE");
    let stuck = Upstream::start("never");
    stuck.set_health(Health::Failing);
    let id = gw1.start_deploy("app", stuck.addr).await;
    gw1.wait_phase(id, "health_checking").await;
    gw1.kill();
    let killed = Instant::now();
    // gw1 held the announcer role: this outcome happens before its role lapses, and gw2 tells it once it
    // takes the role over.
    let quiet = gw2.deploy("other", Upstream::start("O").addr).await;
    assert_eq!(quiet["status"], "ACTIVE", "{quiet}");
    let d = loop {
        let d = status(&gw2, id).await;
        if d["status"] != "DEPLOYING" {
            break d;
        }
        // Generous: on a loaded 2-core machine eight debug gateways share the CPU with this test.
        assert!(killed.elapsed() < Duration::from_secs(LEASE_TIMEOUT_S + 15), "never settled: {d}\n{}", gw2.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let settled = killed.elapsed();
    eprintln!("gw2 settled gw1's deployment {settled:?} after the kill");
    // gw1 beat its lease a third of the timeout before the kill at the latest (give or take a loaded
    // machine's scheduling): not settled while the lease could still be alive.
    let earliest = Duration::from_secs(LEASE_TIMEOUT_S) / 3;
    assert!(settled >= earliest, "settled {settled:?} after the kill: a lease is only stale after lease_timeout_s");
    assert_eq!(d["status"], "FAILED", "{d}");
    assert!(d["error"].as_str().unwrap().contains("the gateway running it stopped"), "{d}");
    assert_eq!(gw2.get("app.test", "/").await.1, "A", "the live version kept serving");
    let b = Upstream::start("B");
    assert_eq!(gw2.deploy("app", b.addr).await["status"], "ACTIVE", "the next deploy runs normally");
    assert_eq!(gw2.get("app.test", "/").await.1, "B");
    let (_, health) = gw2.api("GET", "/healthz", None).await;
    let gw1_row = health["nodes"].as_array().unwrap().iter().find(|n| n["node"] == "gw1").cloned().unwrap();
    assert_eq!(gw1_row["alive"], false, "{health}");
    let told = |id: i64| receiver.bodies().iter().any(|b| b["event"] == "succeeded" && b["deployment"] == id);
    let quiet_id = quiet["id"].as_i64().unwrap();
    while !told(quiet_id) {
        assert!(killed.elapsed() < Duration::from_secs(LEASE_TIMEOUT_S + 25), "{:?}", receiver.bodies());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_shared_and_a_gateway_with_another_token_or_engine_is_refused() {
    let url = harness::pg::fresh_database("vg_cluster").await;
    let gw1 = Gateway::start_with(&member(&url, "gw1")).await;
    let gw2 = Gateway::start_with(&member(&url, "gw2")).await;
    let mut on_gw1 = Visitor::new(&gw1);
    on_gw1.log_in("test-token").await;
    let mut on_gw2 = Visitor::new(&gw2);
    on_gw2.session = on_gw1.session.clone();
    assert_eq!(on_gw2.get("/").await.status(), 200, "a session made on gw1 is valid on gw2");
    assert_eq!(on_gw2.submit("/", "/logout", &[]).await.status(), 303);
    let after = on_gw1.get("/").await;
    assert_eq!(after.headers()["location"], "/login?expired=1", "logging out on gw2 ends it on gw1 too");

    let refused = refused_start(&url, "gw3", "another-token");
    assert!(refused.contains("admin token") && refused.contains("gateway `gw1`"), "{refused}");

    // A living gateway that drives another Docker engine: runtime docker is refused, the others are not.
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let far_future = 4_000_000_000_000_i64;
    let far = "INSERT INTO cluster_nodes (node, owner, version, pid, started_at, seen_at, engine, token_digest) \
               VALUES ('far', 'far-1', '0', 1, 0, $1, 'another-engine', '')";
    sqlx::query(far).bind(far_future).execute(&pool).await.unwrap();
    let base_port = harness::free_port_pair();
    let spec = json!({"name": "web", "domains": ["web.test"], "runtime": "docker", "repo_url": "file:///nowhere",
                      "webhook_secret": "s", "base_port": base_port});
    let (code, body) = gw1.api("POST", "/api/v1/projects", Some(spec)).await;
    assert_eq!(code, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("gateway `far` drives another Docker engine"), "{body}");
    assert_eq!(gw1.api("GET", "/api/v1/projects/web", None).await.0, 404, "nothing was stored");
    gw1.add_external_project("ext", "ext.test", json!({})).await;
}

/// Starts a gateway that must refuse to join; returns what it printed.
fn refused_start(url: &str, node: &str, token: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (proxy, admin) = (harness::free_port(), harness::free_port());
    let config = format!(
        "data_dir = \"{}\"\n[proxy]\nhttp_listen = \"127.0.0.1:{proxy}\"\nthreads = 1\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"{token}\"\n{}",
        dir.path().join("data").display(),
        member(url, node)
    );
    let path = dir.path().join("versiongate.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_versiongate"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("a gateway with another admin token started");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_may_validate_at_a_gateway_that_does_not_order() {
    let url = harness::pg::fresh_database("vg_cluster").await;
    let ports = |_: ()| SocketAddr::from(([127, 0, 0, 1], harness::free_port()));
    let (http2, https2) = (ports(()), ports(()));
    // The CA validates on gw2's ports only; gw1 started first, so gw1 holds the acme role and orders.
    let pebble = harness::pebble::Pebble::start(http2.port(), https2.port(), 3600);
    let acme = pebble.acme_toml(r#"["http-01"]"#);
    let gw1 = Gateway::start_https("", |_, _| format!("{acme}{}", member(&url, "gw1"))).await;
    let gw2 = Gateway::start_https_at(http2, https2, &format!("{acme}{}", member(&url, "gw2"))).await;
    let app = Upstream::start("shared");
    gw2.add_external_project("shared", "placeholder.invalid", json!({"domains": ["shared.vg.test"]})).await;
    assert_eq!(gw2.deploy("shared", app.addr).await["status"], "ACTIVE");
    let row = harness::pebble::wait_status(&gw1, "shared.vg.test", "valid").await;
    assert!(row["issuer"].as_str().unwrap_or("").contains("Pebble"), "{row}");
    assert!(gw1.log().contains("ordering a certificate for shared.vg.test"), "gw1 holds the acme role");
    assert!(!gw2.log().contains("ordering a certificate"), "gw2 orders nothing");
}
