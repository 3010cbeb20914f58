//! Rollback and post-switch safety: the observe window, instant and automatic rollbacks, image reuse.

use crate::harness;

use harness::load::{load, LoadSpec, Tally};
use harness::repo::{AppRepo, DockerCleanup, DOCKERFILE};
use harness::{Gateway, Upstream};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "rollback-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_observe_window_a_rollback_is_a_pointer_flip() {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({"observe_s": 30})).await;
    let first = gw.deploy("app", a.addr).await;
    let second = gw.start_deploy("app", b.addr).await;
    gw.wait_phase(second, "observing").await;
    // The switch publishes the table before the deployment shows `observing`.
    assert_eq!(gw.get("app.test", "/").await.1, "B", "once the API says observing, the proxy serves B");
    let (_, observed) = gw.api("GET", &format!("/api/v1/deployments/{second}"), None).await;
    assert!(observed["observe"]["seconds_left"].as_u64().unwrap() > 20, "live figures are shown: {observed}");

    let started = std::time::Instant::now();
    let (status, flipped) = gw.api("POST", "/api/v1/projects/app/rollback", Some(json!({}))).await;
    assert_eq!(gw.get("app.test", "/").await.1, "A", "the very next request goes to the old version");
    println!("rollback inside the window: {} ms to the next answer from A", started.elapsed().as_millis());
    assert_eq!(status, 202, "{flipped}");
    assert_eq!((flipped["trigger"].as_str(), flipped["rollback_of"].as_i64()), (Some("rollback"), Some(second)));
    assert_eq!(flipped["target"], a.addr.to_string());
    let (_, bad) = gw.api("GET", &format!("/api/v1/deployments/{second}"), None).await;
    assert_eq!(
        (bad["status"].as_str(), bad["error"].as_str()),
        (Some("ROLLED_BACK"), Some("rolled back by the operator"))
    );
    let settled = gw.wait_settled(flipped["id"].as_i64().unwrap()).await;
    assert_eq!(settled["status"], "ACTIVE");
    assert_eq!(gw.api("GET", &format!("/api/v1/deployments/{}", first["id"]), None).await.1["status"], "SUPERSEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_failing_under_traffic_is_rolled_back_automatically() {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    b.break_pages();
    gw.add_external_project("app", "app.test", json!({"observe_s": 30, "min_requests": 10, "max_error_rate": 0.05}))
        .await;
    gw.deploy("app", a.addr).await;
    let bad = gw.start_deploy("app", b.addr).await;
    gw.wait_phase(bad, "observing").await;
    for _ in 0..12 {
        gw.get("app.test", "/").await;
    }
    let bad = gw.wait_settled(bad).await;
    assert_eq!(bad["status"], "ROLLED_BACK", "{bad}");
    let reason = bad["error"].as_str().unwrap();
    assert!(
        reason.starts_with("auto rollback:") && reason.contains("5xx") && reason.contains("max_error_rate 5.0%"),
        "{reason}"
    );
    let (_, list) = gw.api("GET", "/api/v1/projects/app/deployments?limit=1", None).await;
    let rollback = &list[0];
    assert_eq!(
        (rollback["trigger"].as_str(), rollback["rollback_of"].as_i64()),
        (Some("auto_rollback"), bad["id"].as_i64())
    );
    assert_eq!(rollback["status"], "ACTIVE");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
}

async fn docker_project(gw: &Gateway, name: &str, repo: &AppRepo, observe_s: u64) {
    gw.add_docker_project(name, &repo.url(), SECRET, json!({ "observe_s": observe_s })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_dying_after_the_switch_is_rolled_back_automatically() {
    let gw = Gateway::start().await;
    let (name, repo) = (harness::unique_name("r"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, 30).await;
    let v1 = repo.commit("v1");
    assert_eq!(gw.wait_settled(gw.push(&repo.url(), "main", &v1, SECRET).await).await["status"], "ACTIVE");
    let dying = DOCKERFILE.replace(
        "CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"3000\", \"-h\", \"/www\"]",
        "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox httpd -p 3000 -h /www; sleep 5; echo dying-marker; exit 9\"]",
    );
    repo.write("Dockerfile", &dying);
    let v2 = repo.release("v2 dies");
    let d = gw.wait_settled(gw.push(&repo.url(), "main", &v2, SECRET).await).await;
    assert_eq!(d["status"], "ROLLED_BACK", "{d}");
    let reason = d["error"].as_str().unwrap();
    assert!(
        reason.contains("auto rollback") && reason.contains("exit code 9") && reason.contains("dying-marker"),
        "{reason}"
    );
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v1".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_window_a_rollback_reuses_the_image_with_no_fetch_and_no_build() {
    let gw = Gateway::start().await;
    let (name, repo) = (harness::unique_name("r"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, 1).await;
    let host = format!("{name}.test");
    let v1 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("v1"), SECRET).await).await;
    let v2 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("v2"), SECRET).await).await;
    let v1 = gw.api("GET", &format!("/api/v1/deployments/{}", v1["id"]), None).await.1;
    assert_eq!((v1["status"].as_str(), v2["status"].as_str()), (Some("SUPERSEDED"), Some("ACTIVE")));
    std::fs::remove_dir_all(&repo.path).unwrap();
    std::fs::remove_dir_all(gw.data_dir().join("repos").join(&name)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let spec = LoadSpec {
        host: Box::leak(host.clone().into_boxed_str()),
        posts: false,
        accept: |_, body| body == "v1" || body == "v2",
    };
    let workers: Vec<_> = (0..3).map(|_| tokio::spawn(load(gw.proxy, spec.clone(), false, stop.clone()))).collect();
    let (status, r) = gw.api("POST", &format!("/api/v1/projects/{name}/rollback"), Some(json!({}))).await;
    assert_eq!(status, 202, "{r}");
    let r = gw.wait_settled(r["id"].as_i64().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut total = Tally::default();
    for w in workers {
        total.add(w.await.unwrap());
    }
    assert_eq!(
        (r["status"].as_str(), r["image"].as_str(), r["trigger"].as_str()),
        (Some("ACTIVE"), v1["image"].as_str(), Some("rollback")),
        "{r}"
    );
    total.assert_clean(50);
    assert_eq!(gw.get(&host, "/").await, (200, "v1".to_string()));
    assert!(gw.logs(&r["id"]).await.contains("no fetch, no build"));
    assert_eq!(gw.api("GET", &format!("/api/v1/deployments/{}", v2["id"]), None).await.1["status"], "ROLLED_BACK");

    let gone = v2["image"].as_str().unwrap();
    std::process::Command::new("docker").args(["rmi", "-f", gone]).output().unwrap();
    let (_, again) = gw.api("POST", &format!("/api/v1/projects/{name}/rollback"), Some(json!({"to": v2["id"]}))).await;
    let again = gw.wait_settled(again["id"].as_i64().unwrap()).await;
    assert_eq!(again["status"], "FAILED");
    assert!(again["error"].as_str().unwrap().contains("no longer retained"), "{again}");
    assert_eq!(gw.get(&host, "/").await, (200, "v1".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_exactly_keep_images_and_a_pruned_image_cannot_come_back() {
    let gw = Gateway::start().await;
    let (name, repo) = (harness::unique_name("r"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    docker_project(&gw, &name, &repo, 0).await;
    let (status, _) = gw.api("PATCH", &format!("/api/v1/projects/{name}"), Some(json!({"keep_images": 2}))).await;
    assert_eq!(status, 200);
    let mut ids = Vec::new();
    for v in ["v1", "v2", "v3", "v4"] {
        let sha = repo.release(v);
        let d = gw.wait_settled(gw.push(&repo.url(), "main", &sha, SECRET).await).await;
        assert_eq!(d["status"], "ACTIVE", "{d}");
        ids.push(d["id"].as_i64().unwrap());
    }
    let tags = std::process::Command::new("docker")
        .args(["images", "--format", "{{.Tag}}", &format!("versiongate/{name}")])
        .output()
        .unwrap();
    let mut tags: Vec<String> = String::from_utf8_lossy(&tags.stdout).split_whitespace().map(str::to_owned).collect();
    tags.sort();
    let mut want = vec![ids[2].to_string(), ids[3].to_string()];
    want.sort();
    assert_eq!(tags, want, "the live image and the one before it, keep_images = 2");
    let (_, project) = gw.api("GET", &format!("/api/v1/projects/{name}"), None).await;
    let listed: Vec<i64> =
        project["images"].as_array().unwrap().iter().map(|i| i["deployment"].as_i64().unwrap()).collect();
    assert_eq!(listed, [ids[3], ids[2]], "{project}");
    let (_, r) = gw.api("POST", &format!("/api/v1/projects/{name}/rollback"), Some(json!({"to": ids[0]}))).await;
    let r = gw.wait_settled(r["id"].as_i64().unwrap()).await;
    assert_eq!(r["status"], "FAILED");
    assert!(r["error"].as_str().unwrap().contains("no longer retained"), "{r}");
    assert_eq!(gw.get(&format!("{name}.test"), "/").await, (200, "v4".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_change_redeploys_the_same_image_and_the_value_stays_secret() {
    let gw = Gateway::start().await;
    let (name, repo) = (harness::unique_name("r"), AppRepo::new("v1"));
    let _cleanup = DockerCleanup(name.clone());
    // The app publishes $GREETING at /env.txt when it starts.
    let publishes_env = DOCKERFILE.replace(
        "CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"3000\", \"-h\", \"/www\"]",
        "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"echo $GREETING > /www/env.txt; exec /bin/busybox httpd -f -p 3000 -h /www\"]",
    );
    repo.write("Dockerfile", &publishes_env);
    let sha = repo.commit("publishes env");
    docker_project(&gw, &name, &repo, 0).await;
    let host = format!("{name}.test");
    let first = gw.wait_settled(gw.push(&repo.url(), "main", &sha, SECRET).await).await;
    assert_eq!(first["status"], "ACTIVE", "{first}");

    let secret_value = "s3cr3t-greeting-value-42";
    let (status, p) =
        gw.api("PATCH", &format!("/api/v1/projects/{name}"), Some(json!({"env": {"GREETING": secret_value}}))).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["env"]["GREETING"], "***");
    let redeploy = gw.wait_settled(p["redeploy"]["id"].as_i64().expect("an env change starts a redeploy")).await;
    assert_eq!(
        (redeploy["status"].as_str(), redeploy["image"].as_str()),
        (Some("ACTIVE"), first["image"].as_str()),
        "{redeploy}"
    );
    assert_eq!(gw.get(&host, "/env.txt").await, (200, format!("{secret_value}\n")));
    let log = gw.logs(&redeploy["id"]).await;
    assert!(log.contains("no fetch, no build"), "{log}");

    let everything = format!(
        "{}{}{}",
        gw.api("GET", &format!("/api/v1/projects/{name}"), None).await.1,
        gw.logs(&first["id"]).await,
        log
    );
    assert!(!everything.contains(secret_value), "the value leaked through the API or the logs");
    assert!(!gw.log().contains(secret_value), "the value leaked into the gateway's log");
    let database = gw.database_text();
    assert!(!database.contains(secret_value), "the env value is stored in plaintext");
    assert!(!database.contains(SECRET), "the webhook secret is stored in plaintext");
    assert!(!gw.log().contains(&gw.token), "the admin token is in the gateway's log");
    let metrics = gw.http.get(format!("{}/metrics", gw.admin_url())).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains(secret_value) && !metrics.contains(SECRET), "a secret leaked into /metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_deploy_cuts_a_running_observe_window_short() {
    let gw = Gateway::start().await;
    let (a, b, c) = (Upstream::start("A"), Upstream::start("B"), Upstream::start("C"));
    gw.add_external_project("app", "app.test", json!({"observe_s": 60})).await;
    gw.deploy("app", a.addr).await;
    let observed = gw.start_deploy("app", b.addr).await;
    gw.wait_phase(observed, "observing").await;
    let newest = gw.start_deploy("app", c.addr).await;
    gw.wait_phase(newest, "observing").await;
    let observed = gw.wait_settled(observed).await;
    assert_eq!(observed["status"], "SUPERSEDED");
    assert!(gw.logs(&observed["id"]).await.contains("observe window ends early"));
    assert_eq!(gw.get("app.test", "/").await.1, "C");

    let (code, out, err) = harness::cli(&gw, &["rollback", "app", "--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is live on the green slot"), "{out}");
    assert_eq!(gw.get("app.test", "/").await.1, "B", "the CLI flipped back to the warm slot");
    let (code, _, err) = harness::cli(&gw, &["rollback", "app", "--to", "999"]);
    assert_eq!(code, 2);
    assert!(err.contains("deployment 999 does not exist"), "{err}");
}
