//! Every phase has a time limit: a deployment stuck past one is stopped, cleaned up and FAILED with the
//! limit named, the live slot is untouched, and the next push deploys.

use crate::harness;

use harness::repo::{inspect, AppRepo, DockerCleanup};
use harness::{eventually, Gateway};
use serde_json::json;

const SECRET: &str = "reaper-secret";

async fn live_v1(gw: &Gateway, extra: serde_json::Value) -> (AppRepo, String, DockerCleanup) {
    let repo = AppRepo::new("v1");
    let name = harness::unique_name("r");
    gw.add_docker_project(&name, &repo.url(), SECRET, extra).await;
    let cleanup = DockerCleanup(name.clone());
    let v1 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), SECRET).await).await;
    assert_eq!(v1["status"], "ACTIVE", "{v1}");
    (repo, name, cleanup)
}

/// A git server that accepts connections and never says a word.
async fn silent_git_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/app.git", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_hangs_is_failed_at_its_limit_and_the_live_slot_stays() {
    let gw = Gateway::start().await;
    let (_repo, name, _cleanup) = live_v1(&gw, json!({ "observe_s": 0, "fetch_timeout_s": 2 })).await;
    let (silent, server) = silent_git_server().await;
    let (code, body) = gw.api("PATCH", &format!("/api/v1/projects/{name}"), Some(json!({ "repo_url": silent }))).await;
    assert_eq!(code, 200, "{body}");
    let started = std::time::Instant::now();
    let stuck = gw.wait_settled(gw.push(&silent, "main", &"a".repeat(40), SECRET).await).await;
    assert_eq!(stuck["status"], "FAILED", "{stuck}");
    let error = stuck["error"].as_str().unwrap();
    assert!(error.starts_with("fetching ran over its time limit of 2 s (fetch_timeout_s)"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "reaped after {:?}", started.elapsed());
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".to_string()), "the live slot is untouched");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_hangs_is_failed_at_its_limit_and_the_next_push_deploys() {
    let mut gw = Gateway::start().await;
    let (repo, name, _cleanup) = live_v1(&gw, json!({ "observe_s": 0, "start_timeout_s": 2 })).await;
    gw.restart_holding("starting").await;
    let stuck = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v2"), SECRET).await).await;
    assert_eq!(stuck["status"], "FAILED", "{stuck}");
    let error = stuck["error"].as_str().unwrap();
    assert!(error.starts_with("starting ran over its time limit of 2 s (start_timeout_s)"), "{error}");
    let slot = stuck["slot"].as_str().unwrap();
    let label = || inspect(&format!("{name}-{slot}"), "{{index .Config.Labels \"versiongate.deployment\"}}");
    eventually("nothing of the stopped deployment is left in its slot", || label() != Some(stuck["id"].to_string()))
        .await;
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".to_string()), "the live slot is untouched");

    gw.env.clear();
    gw.crash_and_restart().await;
    let next = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v3"), SECRET).await).await;
    assert_eq!(next["status"], "ACTIVE", "the lease was released: {next}");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await.1, "v3");
}
