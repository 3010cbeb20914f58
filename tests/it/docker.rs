//! Deploy from git push against the real Docker engine: `FROM scratch` busybox images, local `file://` repos,
//! webhooks signed as GitHub signs them (and one push each from GitLab and Forgejo).

use crate::harness;

use harness::hosts::{gitea_push_payload, gitlab_push_payload};
use harness::load::{load, LoadSpec, Tally};
use harness::repo::{inspect, AppRepo, DockerCleanup};
use harness::{push_payload, Gateway};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "It's a Secret to Everybody";

fn project_name() -> String {
    harness::unique_name("t")
}

async fn docker_project(gw: &Gateway, name: &str, repo: &AppRepo, extra: Value) -> Value {
    gw.add_docker_project(name, &repo.url(), SECRET, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_deploys_and_the_next_flips_under_load_with_no_errors() {
    let gw = Gateway::start().await;
    let (name, repo) = (project_name(), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    let project = docker_project(&gw, &name, &repo, json!({})).await;
    let host = format!("{name}.test");
    let v1 = repo.commit("v1 again");
    let d1 = gw.wait_settled(gw.push(&repo.url(), "main", &v1, SECRET).await).await;
    assert_eq!(d1["status"], "ACTIVE", "{d1}\n{}", gw.logs(&d1["id"]).await);
    assert_eq!((d1["commit"].as_str(), d1["trigger"].as_str()), (Some(v1.as_str()), Some("webhook")));
    assert_eq!(d1["image"], format!("versiongate/{name}:{}", d1["id"]));
    assert_eq!(gw.get(&host, "/").await, (200, "v1".to_string()));

    let v2 = repo.release("v2");
    let stop = Arc::new(AtomicBool::new(false));
    let spec = LoadSpec {
        host: Box::leak(host.clone().into_boxed_str()),
        posts: false,
        accept: |_, body| body == "v1" || body == "v2",
    };
    let workers: Vec<_> = (0..4).map(|i| tokio::spawn(load(gw.proxy, spec.clone(), i == 3, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d2 = gw.wait_settled(gw.push(&repo.url(), "main", &v2, SECRET).await).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut total = Tally::default();
    for w in workers {
        total.add(w.await.unwrap());
    }
    assert_eq!(d2["status"], "ACTIVE", "{d2}");
    total.assert_clean(100);
    assert_eq!(gw.get(&host, "/").await, (200, "v2".to_string()));

    let log = gw.logs(&d2["id"]).await;
    assert!(log.contains("Step 1/") && log.contains(": FROM scratch") && log.contains("health gate passed"), "{log}");
    let blue = project["slots"]["blue"].as_u64().unwrap();
    for (slot, port, running) in [("blue", blue, "false"), ("green", blue + 1, "true")] {
        let c = format!("{name}-{slot}");
        assert_eq!(inspect(&c, "{{.State.Running}}").as_deref(), Some(running), "{c}");
        assert_eq!(inspect(&c, "{{index .Config.Labels \"versiongate.project\"}}").as_deref(), Some(name.as_str()));
        assert_eq!(inspect(&c, "{{index .Config.Labels \"versiongate.slot\"}}").as_deref(), Some(slot));
        let bindings = inspect(&c, "{{json .HostConfig.PortBindings}}").unwrap();
        assert_eq!(bindings, format!("{{\"3000/tcp\":[{{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"{port}\"}}]}}"));
        assert_eq!(inspect(&c, "{{.HostConfig.RestartPolicy.Name}}").as_deref(), Some("unless-stopped"));
        assert_eq!(inspect(&c, "{{.HostConfig.Privileged}}").as_deref(), Some("false"), "never privileged");
        assert_ne!(inspect(&c, "{{.HostConfig.NetworkMode}}").as_deref(), Some("host"), "never the host network");
        assert_eq!(inspect(&c, "{{json .Mounts}}").as_deref(), Some("[]"), "no mounts: no Docker socket");
    }
    let image = d2["image"].as_str().unwrap();
    assert_eq!(inspect(image, "{{index .Config.Labels \"versiongate.commit\"}}").as_deref(), Some(v2.as_str()));
    let (status, _) = gw.api("DELETE", &format!("/api/v1/projects/{name}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(inspect(&format!("{name}-green"), "{{.State.Running}}"), None, "a removed project's containers go too");
    assert_eq!(inspect(image, "{{.Id}}"), None, "and its images");
    assert!(!gw.data_dir().join("repos").join(&name).exists(), "and its checkout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_releases_fail_and_the_live_version_stays() {
    let gw = Gateway::start().await;
    let (name, repo) = (project_name(), AppRepo::new("good"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, json!({"health_timeout_s": 3})).await;
    let host = format!("{name}.test");
    let (status, d) =
        gw.api("POST", &format!("/api/v1/projects/{name}/deployments"), Some(json!({"ref": "main"}))).await;
    assert_eq!(status, 202, "{d}");
    assert_eq!(gw.wait_settled(d["id"].as_i64().unwrap()).await["status"], "ACTIVE");

    repo.remove("www/health");
    let no_health = repo.release("no health");
    let failed = gw.wait_settled(gw.push(&repo.url(), "main", &no_health, SECRET).await).await;
    assert_eq!(failed["status"], "FAILED");
    assert!(failed["error"].as_str().unwrap().contains("HTTP 404"), "{failed}");
    assert_eq!(gw.get(&host, "/").await, (200, "good".to_string()));
    assert_eq!(inspect(&format!("{name}-green"), "{{.State.Running}}"), None, "the failed slot's container is removed");

    repo.write("www/health", "ok\n");
    repo.write(
        "Dockerfile",
        &harness::repo::DOCKERFILE.replace(
            "CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"3000\", \"-h\", \"/www\"]",
            "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"echo boom-marker; exit 3\"]",
        ),
    );
    let crashing = repo.commit("crashes at start");
    let died = gw.wait_settled(gw.push(&repo.url(), "main", &crashing, SECRET).await).await;
    let error = died["error"].as_str().unwrap();
    assert!(error.contains("exit code 3") && error.contains("boom-marker"), "{error}");
    assert_eq!(gw.get(&host, "/").await, (200, "good".to_string()));

    repo.write("Dockerfile", harness::repo::DOCKERFILE);
    let migrating = repo.release("needs a migration");
    let (status, _) = gw
        .api(
            "PATCH",
            &format!("/api/v1/projects/{name}"),
            Some(json!({"release_command": "echo migrating-marker; exit 7"})),
        )
        .await;
    assert_eq!(status, 200);
    let blocked = gw.wait_settled(gw.push(&repo.url(), "main", &migrating, SECRET).await).await;
    let error = blocked["error"].as_str().unwrap();
    assert!(error.contains("code 7") && error.contains("migrating-marker"), "{error}");
    assert_eq!(gw.get(&host, "/").await, (200, "good".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_during_a_slow_build_coalesce_into_the_newest() {
    let gw = Gateway::start().await;
    let (name, repo) = (project_name(), AppRepo::new("v0"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, json!({})).await;
    repo.write("Dockerfile", &format!("{}RUN [\"/bin/busybox\", \"sleep\", \"3\"]\n", harness::repo::DOCKERFILE));
    let slow = repo.release("slow");
    let first = gw.push(&repo.url(), "main", &slow, SECRET).await;
    let mut later = Vec::new();
    for v in ["v1", "v2", "v3"] {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sha = repo.release(v);
        later.push((gw.push(&repo.url(), "main", &sha, SECRET).await, sha));
    }
    assert_eq!(gw.wait_settled(first).await["status"], "ACTIVE");
    for (id, _) in &later[..2] {
        let d = gw.wait_settled(*id).await;
        assert_eq!(
            (d["status"].as_str(), d["error"].as_str()),
            (Some("CANCELLED"), Some(&*format!("superseded by a newer push (deployment {})", later[2].0)))
        );
    }
    let newest = gw.wait_settled(later[2].0).await;
    assert_eq!((newest["status"].as_str(), newest["commit"].as_str()), (Some("ACTIVE"), Some(later[2].1.as_str())));
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v3".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_a_build_stops_it_and_leaves_no_container() {
    let gw = Gateway::start().await;
    let (name, repo) = (project_name(), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    repo.write("Dockerfile", &format!("{}RUN [\"/bin/busybox\", \"sleep\", \"120\"]\n", harness::repo::DOCKERFILE));
    let sha = repo.commit("very slow build");
    docker_project(&gw, &name, &repo, json!({})).await;
    let id = gw.push(&repo.url(), "main", &sha, SECRET).await;
    gw.wait_phase(id, "building").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, d) = gw.api("POST", &format!("/api/v1/deployments/{id}/cancel"), None).await;
    assert_eq!((status, d["status"].as_str()), (200, Some("CANCELLED")), "{d}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ps = std::process::Command::new("docker")
        .args(["ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.Command}}"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.contains("sleep 120") && !ps.contains(&name), "a container survived the cancel:\n{ps}");
    let images =
        std::process::Command::new("docker").args(["images", "-q", &format!("versiongate/{name}")]).output().unwrap();
    assert!(images.stdout.is_empty(), "the cancelled build produced an image");

    let (status, _) = gw.api("PATCH", &format!("/api/v1/projects/{name}"), Some(json!({"build_timeout_s": 2}))).await;
    assert_eq!(status, 200);
    let timed_out = gw.wait_settled(gw.push(&repo.url(), "main", &sha, SECRET).await).await;
    assert_eq!(timed_out["status"], "FAILED");
    assert!(timed_out["error"].as_str().unwrap().contains("build_timeout_s = 2s"), "{timed_out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_authenticated_matched_and_deduplicated() {
    let gw = Gateway::start().await;
    let (name, repo) = (project_name(), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, json!({})).await;
    let sha = repo.commit("hooked");
    let payload = push_payload(&repo.url(), "main", &sha);
    assert_eq!(gw.webhook("push", &payload, "wrong secret", "d-1", false).await.0, 401);
    let stranger = push_payload("https://github.com/someone/else.git", "main", &sha);
    assert_eq!(gw.webhook("push", &stranger, SECRET, "d-2", false).await.0, 404);
    assert_eq!(gw.webhook("ping", &payload, SECRET, "d-3", false).await.0, 200);
    assert_eq!(gw.webhook("push", &push_payload(&repo.url(), "dev", &sha), SECRET, "d-4", false).await.0, 204);
    let mut deleted = payload.clone();
    deleted["after"] = json!("0000000000000000000000000000000000000000");
    deleted["deleted"] = json!(true);
    assert_eq!(gw.webhook("push", &deleted, SECRET, "d-5", false).await.0, 204);

    let (status, first) = gw.webhook("push", &payload, SECRET, "d-6", true).await;
    assert_eq!(status, 202, "a form-encoded body deploys too: {first}");
    let (status, again) = gw.webhook("push", &payload, SECRET, "d-6", false).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]), "a redelivery returns the first deployment");
    let (_, list) = gw.api("GET", &format!("/api/v1/projects/{name}/deployments"), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(gw.wait_settled(first["id"].as_i64().unwrap()).await["status"], "ACTIVE");
}

/// GitLab's and Forgejo's pushes build and go live like GitHub's (their answers: `git_hosts.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_and_forgejo_pushes_build_and_go_live() {
    let gw = Gateway::start().await;
    let (name, repo) = (project_name(), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, json!({})).await;
    let host = format!("{name}.test");
    let v1 = repo.commit("v1 from GitLab");
    let (status, d1) = gw.gitlab_hook(&gitlab_push_payload(&repo.url(), "main", &v1), Some(SECRET), "e-1", None).await;
    assert_eq!(status, 202, "{d1}");
    let d1 = gw.wait_settled(d1["id"].as_i64().unwrap()).await;
    assert_eq!(d1["status"], "ACTIVE", "{d1}\n{}", gw.logs(&d1["id"]).await);
    assert_eq!((d1["commit"].as_str(), d1["trigger"].as_str()), (Some(v1.as_str()), Some("webhook")));
    assert_eq!(gw.get(&host, "/").await, (200, "v1".to_string()));

    let v2 = repo.release("v2");
    let payload = gitea_push_payload(&repo.url(), "main", &v2, true);
    let (status, d2) = gw.gitea_hook(&payload, Some(SECRET), "f-1", true, true).await;
    assert_eq!(status, 202, "a form-encoded Forgejo push: {d2}");
    let d2 = gw.wait_settled(d2["id"].as_i64().unwrap()).await;
    assert_eq!((d2["status"].as_str(), d2["commit"].as_str()), (Some("ACTIVE"), Some(v2.as_str())), "{d2}");
    assert_eq!(gw.get(&host, "/").await, (200, "v2".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refs_resolve_to_full_shas_and_submodules_are_built() {
    let gw = Gateway::start().await;
    let (name, repo, assets) = (project_name(), AppRepo::new("from the main repo"), AppRepo::new("from the submodule"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, json!({"health_timeout_s": 3})).await;
    let deploy = |r: &str| json!({ "ref": r });
    let path = format!("/api/v1/projects/{name}/deployments");

    repo.write("Dockerfile", &harness::repo::DOCKERFILE.replace("COPY www /www", "COPY assets/www /www"));
    let with_sub = repo.add_submodule(&assets, "assets");
    repo.tag("v1.0");
    let (_, d) = gw.api("POST", &path, Some(deploy("v1.0"))).await;
    let d = gw.wait_settled(d["id"].as_i64().unwrap()).await;
    assert_eq!(
        (d["status"].as_str(), d["commit"].as_str(), d["ref"].as_str()),
        (Some("ACTIVE"), Some(with_sub.as_str()), Some("v1.0")),
        "{d}"
    );
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "from the submodule".to_string()));

    let (_, d) = gw.api("POST", &path, Some(deploy(&with_sub[..8]))).await;
    assert_eq!(gw.wait_settled(d["id"].as_i64().unwrap()).await["commit"], with_sub, "a short SHA is stored in full");
    let (_, d) = gw.api("POST", &path, Some(deploy("no-such-branch"))).await;
    let d = gw.wait_settled(d["id"].as_i64().unwrap()).await;
    assert!(d["error"].as_str().unwrap().contains("is not a branch, tag or commit"), "{d}");

    repo.write("Dockerfile", &harness::repo::DOCKERFILE.replace("\"3000\"", "\"127.0.0.1:3000\""));
    let loopback = repo.commit("listens on loopback only");
    let d = gw.wait_settled(gw.push(&repo.url(), "main", &loopback, SECRET).await).await;
    assert!(d["error"].as_str().unwrap().contains("listens on 127.0.0.1 inside the container"), "{d}");
}
