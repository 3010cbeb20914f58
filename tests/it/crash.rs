//! kill -9 during a docker deploy, then restart: the live slot serves at once, the interrupted deployment is
//! FAILED with the phase named and leaves nothing behind, and the next push deploys normally.

use crate::harness;

use harness::repo::{inspect, AppRepo, DockerCleanup, DOCKERFILE};
use harness::{eventually, Gateway};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "crash-secret";

async fn project(gw: &Gateway, repo: &AppRepo, observe_s: u64) -> String {
    let name = harness::unique_name("c");
    let extra = json!({ "health_timeout_s": 60, "observe_s": observe_s });
    gw.add_docker_project(&name, &repo.url(), SECRET, extra).await;
    name
}

/// After the restart: v1 is served, `interrupted` is FAILED naming `phase`, and its slot holds nothing of it.
async fn assert_recovered(gw: &Gateway, name: &str, interrupted: i64, phase: &str) -> Value {
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".to_string()), "served right after the restart");
    let d = gw.wait_settled(interrupted).await;
    assert_eq!(
        (d["status"].as_str(), d["error"].as_str()),
        (Some("FAILED"), Some(&*format!("gateway restarted during {phase}")))
    );
    let slot = d["slot"].as_str().unwrap();
    let label = || inspect(&format!("{name}-{slot}"), "{{index .Config.Labels \"versiongate.deployment\"}}");
    eventually("the interrupted deployment's container is gone", || label() != Some(interrupted.to_string())).await;
    let image = || {
        let tag = format!("versiongate/{name}:{interrupted}");
        std::process::Command::new("docker").args(["images", "-q", &tag]).output().unwrap().stdout
    };
    eventually("its image tag is gone", || image().is_empty()).await;
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_build_or_the_health_gate_loses_nothing() {
    let mut gw = Gateway::start().await;
    let repo = AppRepo::new("v1");
    let name = project(&gw, &repo, 0).await;
    let _cleanup = DockerCleanup(name.clone());
    assert_eq!(
        gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), SECRET).await).await["status"],
        "ACTIVE"
    );

    repo.write("Dockerfile", &format!("{DOCKERFILE}RUN [\"/bin/busybox\", \"sleep\", \"60\"]\n"));
    let building = gw.push(&repo.url(), "main", &repo.release("slow v2"), SECRET).await;
    gw.wait_phase(building, "building").await;
    gw.crash_and_restart().await;
    assert_recovered(&gw, &name, building, "building").await;

    repo.write("Dockerfile", DOCKERFILE);
    repo.remove("www/health");
    let gating = gw.push(&repo.url(), "main", &repo.release("unhealthy v3"), SECRET).await;
    gw.wait_phase(gating, "health_checking").await;
    gw.crash_and_restart().await;
    assert_recovered(&gw, &name, gating, "health_checking").await;

    repo.write("www/health", "ok\n");
    let next = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v4"), SECRET).await).await;
    assert_eq!(next["status"], "ACTIVE", "the lease was released and the next push deploys: {next}");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await.1, "v4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_the_observe_window_keeps_the_new_version_and_settles_the_slots() {
    let mut gw = Gateway::start().await;
    let repo = AppRepo::new("v1");
    let name = project(&gw, &repo, 60).await;
    let _cleanup = DockerCleanup(name.clone());
    let v1 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), SECRET).await).await;
    let v2 = gw.push(&repo.url(), "main", &repo.release("v2"), SECRET).await;
    gw.wait_phase(v2, "observing").await;
    gw.crash_and_restart().await;
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v2".to_string()), "the store and the route agree");
    let v2 = gw.wait_settled(v2).await;
    assert_eq!((v2["status"].as_str(), v2["phase"].as_str()), (Some("ACTIVE"), Some("done")));
    let (live, old) = (v2["slot"].as_str().unwrap(), v1["slot"].as_str().unwrap());
    slots_settle(&name, live, old).await;
}

/// After a crash past the switch: the live slot restarts with the host, the old one is stopped.
async fn slots_settle(name: &str, live: &str, old: &str) {
    let policy = || inspect(&format!("{name}-{live}"), "{{.HostConfig.RestartPolicy.Name}}");
    eventually("the live slot restarts with the host", || policy().as_deref() == Some("unless-stopped")).await;
    let old_running = || inspect(&format!("{name}-{old}"), "{{.State.Running}}");
    eventually("the old slot is stopped", || old_running().as_deref() == Some("false")).await;
}

/// A project with v1 live; `release_command` runs on every deploy of it.
async fn live_v1(release_command: &str) -> (Gateway, AppRepo, String, DockerCleanup) {
    let gw = Gateway::start().await;
    let repo = AppRepo::new("v1");
    let name = harness::unique_name("c");
    let extra = json!({ "health_timeout_s": 60, "observe_s": 0, "release_command": release_command });
    gw.add_docker_project(&name, &repo.url(), SECRET, extra).await;
    let cleanup = DockerCleanup(name.clone());
    let v1 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), SECRET).await).await;
    assert_eq!(v1["status"], "ACTIVE", "{v1}");
    (gw, repo, name, cleanup)
}

/// Pushes v2, kills the gateway once v2 is in `phase` (and `ready` holds), and restarts it: v1 must
/// serve within a second, and v2 must be FAILED and gone.
async fn crash_before_switch(gw: &mut Gateway, repo: &AppRepo, name: &str, phase: &str, ready: impl Fn(i64) -> bool) {
    let v2 = gw.push(&repo.url(), "main", &repo.release("v2"), SECRET).await;
    gw.wait_phase(v2, phase).await;
    eventually(&format!("deployment {v2} is ready to be interrupted in {phase}"), || ready(v2)).await;
    let took = gw.crash_and_time_restart(&format!("{name}.test"), "v1").await;
    assert!(took < Duration::from_secs(1), "the live slot served again only {took:?} after the restart");
    assert_recovered(gw, name, v2, phase).await;
}

async fn next_push_deploys(gw: &Gateway, repo: &AppRepo, name: &str) {
    repo.remove("www/slow");
    let v3 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v3"), SECRET).await).await;
    assert_eq!(v3["status"], "ACTIVE", "the lease was released and the next push deploys: {v3}");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await.1, "v3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_fetch_loses_nothing_and_drops_the_checkout() {
    let (mut gw, repo, name, _cleanup) = live_v1("").await;
    let clone = gw.data_dir().join("repos").join(&name);
    assert!(clone.exists(), "v1 left its checkout in {}", clone.display());
    gw.restart_holding("fetching").await;
    crash_before_switch(&mut gw, &repo, &name, "fetching", |_| true).await;
    assert!(!clone.exists(), "a checkout cut off mid-fetch is removed");
    next_push_deploys(&gw, &repo, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_the_container_starts_loses_nothing() {
    let (mut gw, repo, name, _cleanup) = live_v1("").await;
    gw.restart_holding("starting").await;
    crash_before_switch(&mut gw, &repo, &name, "starting", |_| true).await;
    next_push_deploys(&gw, &repo, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_release_command_removes_its_container() {
    // Only a commit that holds www/slow sleeps in its release command.
    let (mut gw, repo, name, _cleanup) = live_v1("[ -f /www/slow ] && /bin/busybox sleep 120; exit 0").await;
    repo.write("www/slow", "1\n");
    let running = |id: i64| inspect(&format!("{name}-release-{id}"), "{{.State.Running}}").as_deref() == Some("true");
    crash_before_switch(&mut gw, &repo, &name, "releasing", running).await;
    let leftovers = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("name={name}-release-")])
        .output()
        .unwrap();
    assert!(leftovers.stdout.is_empty(), "the release container of the interrupted deployment is removed");
    next_push_deploys(&gw, &repo, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_just_before_the_switch_keeps_the_old_version() {
    let (mut gw, repo, name, _cleanup) = live_v1("").await;
    gw.restart_holding("switching").await;
    crash_before_switch(&mut gw, &repo, &name, "switching", |_| true).await;
    next_push_deploys(&gw, &repo, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_drain_keeps_the_new_version_and_stops_the_old_slot() {
    let (mut gw, repo, name, _cleanup) = live_v1("").await;
    let v1 = gw.api("GET", &format!("/api/v1/projects/{name}"), None).await.1;
    gw.restart_holding("draining").await;
    let v2 = gw.push(&repo.url(), "main", &repo.release("v2"), SECRET).await;
    gw.wait_phase(v2, "draining").await;
    let took = gw.crash_and_time_restart(&format!("{name}.test"), "v2").await;
    assert!(took < Duration::from_secs(1), "the new slot served again only {took:?} after the restart");
    let v2 = gw.wait_settled(v2).await;
    assert_eq!((v2["status"].as_str(), v2["phase"].as_str()), (Some("ACTIVE"), Some("done")), "{v2}");
    let live = v2["slot"].as_str().unwrap();
    let old = if live == "blue" { "green" } else { "blue" };
    slots_settle(&name, live, old).await;
    let first = gw.api("GET", &format!("/api/v1/deployments/{}", v1["live"]["id"]), None).await.1;
    assert_eq!(first["status"], "SUPERSEDED", "{first}");
    next_push_deploys(&gw, &repo, &name).await;
}
