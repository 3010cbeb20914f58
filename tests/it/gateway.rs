//! The gateway as a user meets it: the real binary, real sockets, external targets.

use crate::harness;

use harness::{cli, Gateway, Health, Upstream};
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

/// Sends two requests on one connection and returns both raw responses' status lines.
fn two_requests_on_one_connection(proxy: std::net::SocketAddr, host: &str) -> Vec<String> {
    let mut conn = std::net::TcpStream::connect(proxy).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let mut seen = String::new();
    for _ in 0..2 {
        conn.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen.lines().filter(|l| l.starts_with("HTTP/1.1")).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_gets_404_and_keeps_the_connection() {
    let gw = Gateway::start().await;
    let (status, body) = gw.get("nobody.test", "/").await;
    assert_eq!(status, 404);
    assert!(body.contains("Unknown host") && body.contains("nobody.test"), "{body}");
    let lines = two_requests_on_one_connection(gw.proxy, "nobody.test");
    assert_eq!(lines, ["HTTP/1.1 404 Not Found", "HTTP/1.1 404 Not Found"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_without_live_deployment_gets_503() {
    let gw = Gateway::start().await;
    gw.add_external_project("idle", "idle.test", json!({})).await;
    let (status, body) = gw.get("IDLE.test:8080", "/").await;
    assert_eq!(status, 503);
    assert!(body.contains("no live deployment"), "{body}");
    let lines = two_requests_on_one_connection(gw.proxy, "idle.test");
    assert_eq!(lines, ["HTTP/1.1 503 Service Unavailable", "HTTP/1.1 503 Service Unavailable"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_a_then_b_flips_the_body() {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({})).await;
    let first = gw.deploy("app", a.addr).await;
    assert_eq!((first["status"].as_str(), first["slot"].as_str()), (Some("ACTIVE"), Some("blue")), "{first}");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
    let second = gw.deploy("app", b.addr).await;
    assert_eq!((second["status"].as_str(), second["slot"].as_str()), (Some("ACTIVE"), Some("green")), "{second}");
    assert_eq!(gw.get("app.test", "/").await, (200, "B".to_string()));
    let (_, old) = gw.api("GET", &format!("/api/v1/deployments/{}", first["id"]), None).await;
    assert_eq!(old["status"], "SUPERSEDED");
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!(project["live"]["id"], second["id"]);

    let (_, headers) = gw.get("app.test", "/headers").await;
    let headers: serde_json::Value = serde_json::from_str(&headers).unwrap();
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        (headers["x-forwarded-proto"].as_str(), headers["x-forwarded-host"].as_str()),
        (Some("http"), Some("app.test"))
    );
    assert_eq!(headers["x-request-id"].as_str().map(str::len), Some(36));

    let metrics = gw.http.get(format!("{}/metrics", gw.admin_url())).send().await.unwrap().text().await.unwrap();
    for line in [
        "versiongate_live_slot{project=\"app\",slot=\"green\"} 1",
        "versiongate_deployments_total{project=\"app\",status=\"SUPERSEDED\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
    assert!(metrics.contains("versiongate_http_requests_total{code=\"2xx\",project=\"app\",slot=\"green\"}"));
    let log = gw.logs(&second["id"]).await;
    assert!(
        log.contains("health gate passed") && log.contains("switched") && log.contains("drained the blue slot"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_deploy_fails_and_keeps_old_version_live() {
    let gw = Gateway::start().await;
    let (a, bad) = (Upstream::start("A"), Upstream::start("BAD"));
    bad.set_health(Health::Failing);
    gw.add_external_project("app", "app.test", json!({"health_timeout_s": 2})).await;
    gw.deploy("app", a.addr).await;
    let failed = gw.deploy("app", bad.addr).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("HTTP 500") && error.contains("health_timeout_s"), "{error}");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!(project["live"]["target"], a.addr.to_string());

    let dead = std::net::SocketAddr::from(([127, 0, 0, 1], harness::free_port()));
    let refused = gw.deploy("app", dead).await;
    assert!(refused["error"].as_str().unwrap().contains("cannot connect"), "{refused}");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_serves_the_live_route_before_any_deploy() {
    let mut gw = Gateway::start().await;
    let a = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({})).await;
    let live = gw.deploy("app", a.addr).await;
    gw.crash_and_restart().await;
    // The proxy listens only once routes are restored, so the first answer is already A.
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!(project["live"]["id"], live["id"]);
    assert!(gw.log().contains("routes restored: 1 projects, 1 live"), "{}", gw.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_cut_off_by_a_crash_is_failed_after_restart() {
    let mut gw = Gateway::start().await;
    let (a, slow) = (Upstream::start("A"), Upstream::start("SLOW"));
    slow.set_health(Health::Failing);
    gw.add_external_project("app", "app.test", json!({"health_timeout_s": 60})).await;
    gw.deploy("app", a.addr).await;
    let (_, d) =
        gw.api("POST", "/api/v1/projects/app/deployments", Some(json!({"target": slow.addr.to_string()}))).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    gw.crash_and_restart().await;
    let d = gw.wait_settled(d["id"].as_i64().unwrap()).await;
    assert_eq!(d["status"], "FAILED");
    assert_eq!(d["error"], "gateway restarted during health_checking");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
    let b = Upstream::start("B");
    assert_eq!(gw.deploy("app", b.addr).await["status"], "ACTIVE", "the lease was released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_deploy_leaves_the_live_slot_alone() {
    let gw = Gateway::start().await;
    let (a, slow) = (Upstream::start("A"), Upstream::start("SLOW"));
    slow.set_health(Health::Slow);
    gw.add_external_project("app", "app.test", json!({"health_timeout_s": 60})).await;
    gw.deploy("app", a.addr).await;
    let (_, d) =
        gw.api("POST", "/api/v1/projects/app/deployments", Some(json!({"target": slow.addr.to_string()}))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, cancelled) = gw.api("POST", &format!("/api/v1/deployments/{}/cancel", d["id"]), None).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("CANCELLED")), "{cancelled}");
    let (status, again) = gw.api("POST", &format!("/api/v1/deployments/{}/cancel", d["id"]), None).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deploy_wait_exits_by_the_contract() {
    let gw = Gateway::start().await;
    let (a, bad) = (Upstream::start("A"), Upstream::start("BAD"));
    bad.set_health(Health::Failing);
    gw.add_external_project("app", "app.test", json!({"health_timeout_s": 1})).await;
    let target = a.addr.to_string();
    let (code, out, err) = cli(&gw, &["deploy", "app", "--target", &target, "--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is live on the blue slot"), "{out}");
    let bad_target = bad.addr.to_string();
    let (code, out, err) = cli(&gw, &["deploy", "app", "--target", &bad_target, "--follow"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("health probe: HTTP 500") && err.contains("is FAILED"), "{out}{err}");
    let (code, out, _) = cli(&gw, &["status", "app"]);
    assert_eq!(code, 0);
    assert!(out.contains("live on the blue slot") && out.contains("FAILED"), "{out}");
    let (code, _, err) = cli(&gw, &["deploy", "nosuch", "--target", &target]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn detect_prints_the_plan_as_json_and_exits_2_when_nothing_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.json"), r#"{"scripts":{"start":"node server.js","build":"tsc"}}"#).unwrap();
    std::fs::write(dir.path().join("pnpm-lock.yaml"), "").unwrap();
    let run =
        |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_versiongate")).args(args).output().unwrap();
    let out = run(&["detect", dir.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = plan.as_object().unwrap().keys().map(String::as_str).collect();
    for key in ["runtime", "package_manager", "install", "build", "start", "dockerfile_source", "dockerfile"] {
        assert!(keys.contains(&key), "missing {key}: {plan}");
    }
    assert_eq!((plan["runtime"].as_str(), plan["package_manager"].as_str()), (Some("node"), Some("pnpm")));
    assert_eq!((plan["build"].as_str(), plan["start"].as_str()), (Some("pnpm build"), Some("pnpm start")));
    assert_eq!(plan["dockerfile_source"], "generated");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let repo_file: serde_json::Value =
        serde_json::from_slice(&run(&["detect", dir.path().to_str().unwrap(), "--json"]).stdout).unwrap();
    assert_eq!(
        (repo_file["dockerfile_source"].as_str(), repo_file["dockerfile"].as_str()),
        (Some("repo"), Some("FROM scratch\n"))
    );
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["detect", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Add a Dockerfile") && said.contains("start"), "{said}");
}
