//! kill -9 during a docker deploy, then restart: the live slot serves at once, the interrupted deployment is
//! FAILED with the phase named and leaves nothing behind, and the next push deploys normally.

mod harness;

use harness::repo::{inspect, AppRepo, DockerCleanup, DOCKERFILE};
use harness::Gateway;
use serde_json::{json, Value};

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
    let label = inspect(&format!("{name}-{slot}"), "{{index .Config.Labels \"versiongate.deployment\"}}");
    assert_ne!(label, Some(interrupted.to_string()), "the interrupted deployment's container is gone");
    let image = std::process::Command::new("docker")
        .args(["images", "-q", &format!("versiongate/{name}:{interrupted}")])
        .output()
        .unwrap();
    assert!(image.stdout.is_empty(), "its image tag is gone");
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
    assert_eq!(
        inspect(&format!("{name}-{live}"), "{{.HostConfig.RestartPolicy.Name}}").as_deref(),
        Some("unless-stopped")
    );
    assert_eq!(
        inspect(&format!("{name}-{old}"), "{{.State.Running}}").as_deref(),
        Some("false"),
        "the old slot is stopped"
    );
}
