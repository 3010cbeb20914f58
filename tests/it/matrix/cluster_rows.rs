//! Beyond one VPS: flips of a 3-replica swarm project under load; two gateways on one PostgreSQL with the
//! load split across both while deploys alternate between them; SIGKILL of the gateway holding a deploy.

use super::https_rows::Outcome;
use crate::harness::load::{Background, LoadSpec};
use crate::harness::repo::AppRepo;
use crate::harness::{unique_name, Gateway, Health, Upstream};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SWARM_FLIPS: usize = 8;
const CLUSTER_FLIPS: usize = 20;

fn v1_or_v2(_: bool, body: &str) -> bool {
    body == "v1" || body == "v2"
}

fn a_or_b(post: bool, body: &str) -> bool {
    if post {
        body == "A:2048" || body == "B:2048"
    } else {
        body == "A" || body == "B"
    }
}

async fn settled(gw: &Gateway, answer: (u16, Value)) -> Value {
    gw.wait_settled(answer.1["id"].as_i64().unwrap_or_default()).await
}

pub async fn swarm_flips() -> Outcome {
    let name = "flips of a 3-replica swarm project under load";
    let (ok, state) = {
        let out =
            std::process::Command::new("docker").args(["swarm", "init", "--advertise-addr", "127.0.0.1"]).output();
        out.map(|o| (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned()))
            .unwrap_or((false, String::new()))
    };
    if !ok && !state.contains("already part of a swarm") {
        return (name, false, format!("the engine cannot run a swarm: {state}"));
    }
    let gw = Gateway::start().await;
    let project = unique_name("mxs");
    let repo = AppRepo::new("v1");
    let extra = json!({"runtime": "swarm", "replicas": 3, "drain_timeout_s": 2});
    gw.add_docker_project(&project, &repo.url(), "s", extra).await;
    let path = format!("/api/v1/projects/{project}/deployments");
    let first = settled(&gw, gw.api("POST", &path, Some(json!({"ref": "main"}))).await).await;
    repo.release("v2");
    let host: &'static str = Box::leak(format!("{project}.test").into_boxed_str());
    let spec = LoadSpec { host, posts: false, accept: v1_or_v2 };
    let (live, tally) = crate::harness::load::while_loaded(gw.proxy, spec, async {
        let mut live = usize::from(
            settled(&gw, gw.api("POST", &path, Some(json!({"ref": "main"}))).await).await["status"] == "ACTIVE",
        );
        // Each rollback puts the other image back into the idle service: a flip with no build.
        for _ in 1..SWARM_FLIPS {
            let back = gw.api("POST", &format!("/api/v1/projects/{project}/rollback"), Some(json!({}))).await;
            live += usize::from(settled(&gw, back).await["status"] == "ACTIVE");
        }
        live
    })
    .await;
    gw.api("DELETE", &format!("/api/v1/projects/{project}"), None).await;
    let _ = std::process::Command::new("docker").args(["swarm", "leave", "--force"]).output();
    let pass = first["status"] == "ACTIVE" && live == SWARM_FLIPS && tally.failed() == 0 && tally.ok > 100;
    (
        name,
        pass,
        format!("{live}/{SWARM_FLIPS} flips live: {} ok, {} failed{}", tally.ok, tally.failed(), tally.first_error()),
    )
}

async fn two_gateways() -> (Gateway, Gateway) {
    let url = crate::harness::pg::fresh_database("vg_mx_cluster").await;
    let config = |node: &str| format!("[store]\nurl = \"{url}\"\n[cluster]\nnode = \"{node}\"\nlease_timeout_s = 3\n");
    (Gateway::start_with(&config("gw1")).await, Gateway::start_with(&config("gw2")).await)
}

/// How long until `gw` serves `want` on app.test; `None` after 5 s.
async fn serves(gw: &Gateway, want: &str) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if gw.get("app.test", "/").await.1 == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

pub async fn two_gateways_alternating() -> Outcome {
    let name = "two gateways on one PostgreSQL, deploys alternating, load on both";
    let (gw1, gw2) = two_gateways().await;
    gw1.add_external_project(
        "app",
        "app.test",
        json!({"health_interval_ms": 20, "healthy_threshold": 1, "drain_timeout_s": 2}),
    )
    .await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw1.deploy("app", a.addr).await;
    // The load measures the switches: it starts once the other gateway has learned of the new project.
    let learned = serves(&gw2, "A").await;
    let (load1, load2) =
        (Background::start(gw1.proxy, "app.test", a_or_b), Background::start(gw2.proxy, "app.test", a_or_b));
    let (mut slowest, mut bad) = (Duration::ZERO, 0);
    for i in 0..CLUSTER_FLIPS {
        let (deployer, target, body) = if i % 2 == 0 { (&gw2, &b, "B") } else { (&gw1, &a, "A") };
        bad += usize::from(deployer.deploy("app", target.addr).await["status"] != "ACTIVE");
        for gw in [&gw1, &gw2] {
            match serves(gw, body).await {
                Some(took) => slowest = slowest.max(took),
                None => bad += 1,
            }
        }
    }
    let (t1, t2) = (load1.finish().await, load2.finish().await);
    if t1.failed() + t2.failed() > 0 {
        for (n, gw) in [("gw1", &gw1), ("gw2", &gw2)] {
            let log = gw.log();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).take(20).collect();
            eprintln!("{n} log:\n{}", lines.join("\n"));
        }
    }
    let pass = learned.is_some()
        && bad == 0
        && t1.failed() + t2.failed() == 0
        && slowest < Duration::from_secs(1)
        && t1.ok > 50
        && t2.ok > 50;
    let figures = format!(
        "gw2 learned the project in {learned:?}; {CLUSTER_FLIPS} switches alternating gw2/gw1, {bad} not ACTIVE or not served; both served each within {slowest:?}; gw1 {} ok {} failed, gw2 {} ok {} failed{}{}",
        t1.ok, t1.failed(), t2.ok, t2.failed(), t1.first_error(), t2.first_error()
    );
    (name, pass, figures)
}

pub async fn kill_the_lease_holder() -> Outcome {
    let name = "SIGKILL of the gateway holding a deploy (two gateways)";
    let (mut gw1, gw2) = two_gateways().await;
    gw1.add_external_project("app", "app.test", json!({"health_timeout_s": 120, "health_interval_ms": 50})).await;
    let a = Upstream::start("A");
    gw1.deploy("app", a.addr).await;
    serves(&gw2, "A").await;
    let never = Upstream::start("never");
    never.set_health(Health::Failing);
    let load = Background::start(gw2.proxy, "app.test", a_or_b);
    let id = gw1.start_deploy("app", never.addr).await;
    gw1.wait_phase(id, "health_checking").await;
    gw1.kill();
    let killed = Instant::now();
    let mut ended = Value::Null;
    while killed.elapsed() < Duration::from_secs(10) {
        ended = gw2.api("GET", &format!("/api/v1/deployments/{id}"), None).await.1;
        if ended["status"] != "DEPLOYING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled_in = killed.elapsed();
    let b = Upstream::start("B");
    let next = gw2.deploy("app", b.addr).await;
    let tally = load.finish().await;
    let pass = ended["status"] == "FAILED" && next["status"] == "ACTIVE" && tally.failed() == 0;
    let figures =
        format!(
        "deployment {} after {settled_in:?} (lease_timeout_s 3); next deploy on gw2 {}; gw2 served {} ok, {} failed{}",
        ended["status"], next["status"], tally.ok, tally.failed(), tally.first_error()
    );
    (name, pass, figures)
}
