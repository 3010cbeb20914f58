//! Traffic control with external targets: replicas and the balancer, pause and resume, maintenance.

use crate::harness;

use harness::{cli, Gateway, Upstream};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn metrics(gw: &Gateway) -> String {
    gw.http.get(format!("{}/metrics", gw.admin_url())).send().await.unwrap().text().await.unwrap()
}

/// The value of one series of the scrape, 0 when absent.
async fn series(gw: &Gateway, line_start: &str) -> i64 {
    let text = metrics(gw).await;
    let line = text.lines().find(|l| l.starts_with(line_start));
    line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).map_or(0, |v| v as i64)
}

async fn deploy_targets(gw: &Gateway, project: &str, targets: &[&Upstream]) -> Value {
    let targets: Vec<String> = targets.iter().map(|u| u.addr.to_string()).collect();
    let path = format!("/api/v1/projects/{project}/deployments");
    let (status, d) = gw.api("POST", &path, Some(json!({ "targets": targets }))).await;
    assert_eq!(status, 202, "{d}");
    gw.wait_settled(d["id"].as_i64().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_the_load_and_a_dead_one_leaves_the_rotation_until_it_is_healthy() {
    let gw = Gateway::start().await;
    let mut r = [Upstream::start("r1"), Upstream::start("r2"), Upstream::start("r3")];
    gw.add_external_project("app", "app.test", json!({})).await;
    let d = deploy_targets(&gw, "app", &[&r[0], &r[1], &r[2]]).await;
    assert_eq!(d["status"], "ACTIVE", "{d}");
    assert_eq!(d["targets"].as_array().map(Vec::len), Some(3), "{d}");
    assert_eq!(d["target"], r[0].addr.to_string());

    let before: Vec<usize> = r.iter().map(Upstream::requests).collect();
    for _ in 0..300 {
        assert_eq!(gw.get("app.test", "/").await.0, 200);
    }
    for (i, u) in r.iter().enumerate() {
        let served = u.requests() - before[i];
        assert!(served >= 50, "replica {} served {served} of 300: ties are broken randomly", i + 1);
    }
    // Fewest in flight: two slow requests at once land on two different replicas, every time.
    for _ in 0..5 {
        let slow = || gw.http.get(format!("http://{}/slow?ms=600", gw.proxy)).header("host", "app.test").send();
        let first = tokio::spawn(slow());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = slow().await.unwrap().text().await.unwrap();
        let (a, b) = (first.await.unwrap().unwrap().text().await.unwrap(), second);
        assert_ne!(a, b, "the second slow request went to the replica that was busy");
    }
    let text = metrics(&gw).await;
    for n in 1..=3 {
        let line = format!("versiongate_replica_requests_total{{project=\"app\",replica=\"{n}\",slot=\"blue\"}}");
        assert!(text.contains(&line), "no per-replica series for replica {n}:\n{text}");
    }

    // Replica 2 dies: body-less requests are retried on the others, and it leaves the rotation.
    let dead = r[1].addr;
    r[1].die();
    for _ in 0..100 {
        let (status, body) = gw.get("app.test", "/").await;
        assert_eq!(status, 200, "{body}");
        assert_ne!(body, "r2");
    }
    let up = "versiongate_replica_up{project=\"app\",replica=\"2\",slot=\"blue\"}";
    assert_eq!(series(&gw, up).await, 0);
    // It comes back once its health probes pass (healthy_threshold = 2), and takes requests again.
    r[1] = Upstream::start_at("r2", dead);
    let started = Instant::now();
    while series(&gw, up).await != 1 {
        assert!(started.elapsed() < Duration::from_secs(15), "replica 2 never came back into rotation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = r[1].requests();
    for _ in 0..60 {
        assert_eq!(gw.get("app.test", "/").await.0, 200);
    }
    assert!(r[1].requests() - before >= 5, "replica 2 is back in rotation but got no requests");

    // The CLI deploys several targets with a repeated --target, and `status` lists the replicas.
    let (a, b) = (r[0].addr.to_string(), r[2].addr.to_string());
    let (code, out, err) = cli(&gw, &["deploy", "app", "--target", &a, "--target", &b, "--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = cli(&gw, &["status", "app"]);
    assert!(out.contains(&format!("replicas: 2 ({a}, {b})")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_holds_requests_until_resume_and_survives_a_restart() {
    let mut gw = Gateway::start().await;
    let app = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({ "pause_queue": 3 })).await;
    gw.deploy("app", app.addr).await;

    let (status, state) = gw.api("POST", "/api/v1/projects/app/pause", Some(json!({ "timeout_s": 20 }))).await;
    assert_eq!((status, state["traffic"].as_str()), (200, Some("paused")), "{state}");
    let (status, again) = gw.api("POST", "/api/v1/projects/app/pause", Some(json!({}))).await;
    assert_eq!(status, 409, "{again}");
    assert!(again["error"]["message"].as_str().unwrap().contains("already paused"), "{again}");
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!((project["traffic"].as_str(), project["pause_timeout_s"].as_i64()), (Some("paused"), Some(20)));

    // Three requests wait (pause_queue = 3); a fourth gets 503 at once.
    let held: Vec<_> = (0..3)
        .map(|_| {
            let req = gw.http.get(format!("http://{}/", gw.proxy)).header("host", "app.test").send();
            tokio::spawn(async move {
                let resp = req.await.unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap(), Instant::now())
            })
        })
        .collect();
    let started = Instant::now();
    while series(&gw, "versiongate_held_requests{project=\"app\"}").await != 3 {
        assert!(started.elapsed() < Duration::from_secs(5), "the requests were not held");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let full = gw.http.get(format!("http://{}/", gw.proxy)).header("host", "app.test").send().await.unwrap();
    assert_eq!(full.status().as_u16(), 503);
    assert!(full.headers().contains_key("retry-after"));
    assert!(full.text().await.unwrap().contains("pause_queue"));
    assert_eq!(series(&gw, "versiongate_traffic_state{project=\"app\",state=\"paused\"}").await, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(held.iter().all(|h| !h.is_finished()), "a held request was answered while paused");

    let resumed_at = Instant::now();
    let (code, out, err) = cli(&gw, &["resume", "app"]);
    assert_eq!(code, 0, "{out}{err}");
    for h in held {
        let (status, body, at) = h.await.unwrap();
        assert_eq!((status, body.as_str()), (200, "A"), "a held request failed");
        assert!(at >= resumed_at, "answered before the resume");
    }
    assert_eq!(series(&gw, "versiongate_held_requests{project=\"app\"}").await, 0);
    let (status, not_paused) = gw.api("POST", "/api/v1/projects/app/resume", Some(json!({}))).await;
    assert_eq!(status, 409, "{not_paused}");

    // A held request waits at most timeout_s, then 503 with Retry-After. The pause survives a restart.
    let (code, out, err) = cli(&gw, &["pause", "app", "--timeout", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    gw.crash_and_restart().await;
    let (_, out, _) = cli(&gw, &["status", "app"]);
    assert!(out.contains("traffic: PAUSED, requests held up to 1 s"), "{out}");
    let asked = Instant::now();
    let resp = gw.http.get(format!("http://{}/", gw.proxy)).header("host", "app.test").send().await.unwrap();
    let waited = asked.elapsed();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    assert!((Duration::from_millis(900)..Duration::from_secs(5)).contains(&waited), "waited {waited:?}");
    assert!(resp.text().await.unwrap().contains("waited 1 s"));
    let (code, _, err) = cli(&gw, &["resume", "app"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_serves_a_503_page_as_html_or_json_and_survives_a_restart() {
    let mut gw = Gateway::start().await;
    let app = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({})).await;
    gw.deploy("app", app.addr).await;
    let (code, out, err) = cli(&gw, &["maintenance", "app", "on", "--message", "Moving the <database>, back at 14:00"]);
    assert_eq!(code, 0, "{out}{err}");
    let ask = |accept: &'static str| {
        gw.http.get(format!("http://{}/orders", gw.proxy)).header("host", "app.test").header("accept", accept).send()
    };
    let page = ask("text/html,application/xhtml+xml,*/*;q=0.8").await.unwrap();
    assert_eq!(page.status().as_u16(), 503);
    assert_eq!(page.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("60"));
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Moving the &lt;database&gt;, back at 14:00"), "{html}");
    let json: Value = ask("application/json").await.unwrap().json().await.unwrap();
    assert_eq!(json["error"]["code"], "maintenance");
    assert!(json["error"]["message"].as_str().unwrap().contains("Moving the <database>"), "{json}");
    assert_eq!(series(&gw, "versiongate_traffic_state{project=\"app\",state=\"maintenance\"}").await, 1);

    gw.crash_and_restart().await;
    assert_eq!(gw.get("app.test", "/").await.0, 503, "maintenance is stored, so a restart keeps it");
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!(project["traffic"], "maintenance");
    let (_, out, _) = cli(&gw, &["status", "app"]);
    assert!(out.contains("traffic: MAINTENANCE, 503 page: Moving the <database>"), "{out}");
    let (status, paused) = gw.api("POST", "/api/v1/projects/app/pause", Some(json!({}))).await;
    assert_eq!(status, 409, "a pause during maintenance is refused: {paused}");
    let (code, _, err) = cli(&gw, &["maintenance", "app", "off"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
    let (status, again) = gw.api("DELETE", "/api/v1/projects/app/maintenance", None).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(series(&gw, "versiongate_traffic_state{project=\"app\",state=\"serving\"}").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_traffic_requests_are_refused_by_name_and_change_nothing() {
    let gw = Gateway::start().await;
    let app = Upstream::start("A");
    for (replicas, runtime) in [(0, "docker"), (33, "docker"), (2, "external")] {
        let body = json!({ "name": "bad", "runtime": runtime, "replicas": replicas, "repo_url": "file:///x" });
        let (status, err) = gw.api("POST", "/api/v1/projects", Some(body)).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some("replicas")), "{err}");
    }
    let (status, _) = gw.api("GET", "/api/v1/projects/bad", None).await;
    assert_eq!(status, 404, "a refused project leaves nothing behind");
    gw.add_external_project("app", "app.test", json!({})).await;
    gw.deploy("app", app.addr).await;
    let deploy = "/api/v1/projects/app/deployments";
    let both = json!({ "target": app.addr.to_string(), "targets": [app.addr.to_string()] });
    let twice = json!({ "targets": [app.addr.to_string(), app.addr.to_string()] });
    for body in [both, twice, json!({ "targets": [] })] {
        let (status, err) = gw.api("POST", deploy, Some(body.clone())).await;
        assert_eq!(status, 422, "{body} → {err}");
    }
    for (path, body) in [("pause", json!({ "timeout_s": 0 })), ("pause", json!({ "timeout_s": 7200 }))] {
        let (status, err) = gw.api("POST", &format!("/api/v1/projects/app/{path}"), Some(body)).await;
        assert_eq!(status, 422, "{err}");
        assert!(err["error"]["message"].as_str().unwrap().contains("timeout_s"), "{err}");
    }
    let (status, _) = gw.api("POST", "/api/v1/projects/nobody/pause", Some(json!({}))).await;
    assert_eq!(status, 404);
    let (status, _) = gw.api("POST", "/api/v1/projects/app/resume", Some(json!({}))).await;
    assert_eq!(status, 409);
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!(project["traffic"], "serving", "nothing changed");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
}

async fn canary_deploy(gw: &Gateway, project: &str, to: &Upstream, percent: i64) -> (u16, Value) {
    let body = json!({ "target": to.addr.to_string(), "canary_percent": percent });
    gw.api("POST", &format!("/api/v1/projects/{project}/deployments"), Some(body)).await
}

/// Waits until deployment `id` is in `phase` or has ended; returns it.
async fn until_phase(gw: &Gateway, id: i64, phase: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, d) = gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
        if d["phase"] == phase || !matches!(d["status"].as_str(), Some("QUEUED" | "DEPLOYING")) {
            return d;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "deployment {id} never reached {phase}: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_takes_its_sticky_share_until_promoted_and_the_observe_rule_or_a_rollback_ends_one() {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({ "min_requests": 20, "max_error_rate": 0.05 })).await;
    let (status, err) = canary_deploy(&gw, "app", &b, 10).await;
    assert_eq!(status, 409, "no live version to split with: {err}");
    gw.deploy("app", a.addr).await;
    for bad in [0, 100, -5] {
        let (status, err) = canary_deploy(&gw, "app", &b, bad).await;
        assert_eq!(status, 422, "{err}");
    }
    let (status, err) = gw.api("POST", "/api/v1/projects/app/promote", Some(json!({}))).await;
    assert_eq!(status, 409, "no canary to promote: {err}");

    let (status, d) = canary_deploy(&gw, "app", &b, 10).await;
    assert_eq!(status, 202, "{d}");
    let id = d["id"].as_i64().unwrap();
    let d = until_phase(&gw, id, "canary").await;
    assert_eq!((d["status"].as_str(), d["phase"].as_str()), (Some("DEPLOYING"), Some("canary")), "{d}");
    // Clients without the cookie are split per request: 10 % within ±3 points.
    let mut to_b = 0;
    for _ in 0..2000 {
        let (status, body) = gw.get("app.test", "/").await;
        assert_eq!(status, 200);
        to_b += usize::from(body == "B");
    }
    assert!((140..=260).contains(&to_b), "{to_b} of 2000 cookie-less requests went to the 10 % canary");
    // A browser keeps the side it was given.
    let mut sides = std::collections::HashSet::new();
    for _ in 0..40 {
        let first = gw.http.get(format!("http://{}/", gw.proxy)).header("host", "app.test").send().await.unwrap();
        let cookie = first.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("vg_canary="), "{cookie}");
        let side = first.text().await.unwrap();
        for _ in 0..5 {
            let again =
                gw.http.get(format!("http://{}/", gw.proxy)).header("host", "app.test").header("cookie", &cookie);
            let again = again.send().await.unwrap();
            assert!(again.headers().get("set-cookie").is_none(), "a known client is not told again");
            assert_eq!(again.text().await.unwrap(), side, "a client with {cookie} changed sides");
        }
        sides.insert(side);
    }
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert_eq!((project["canary"]["deployment"].as_i64(), project["canary"]["percent"].as_i64()), (Some(id), Some(10)));
    let (code, out, err) = cli(&gw, &["promote", "app"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, d) = gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
    assert_eq!(d["status"], "ACTIVE", "{d}");
    for _ in 0..50 {
        assert_eq!(gw.get("app.test", "/").await, (200, "B".to_string()), "after the promote everyone is on B");
    }

    // A canary that answers 5xx is ended by the observe rule; everyone stays on B.
    let broken = Upstream::start("C");
    broken.break_pages();
    let (_, d) = canary_deploy(&gw, "app", &broken, 50).await;
    let id = d["id"].as_i64().unwrap();
    until_phase(&gw, id, "canary").await;
    for _ in 0..200 {
        gw.get("app.test", "/").await;
    }
    let d = gw.wait_settled(id).await;
    assert_eq!(d["status"], "ROLLED_BACK", "{d}");
    assert!(d["error"].as_str().unwrap().starts_with("canary aborted: "), "{d}");
    assert_eq!(gw.get("app.test", "/").await, (200, "B".to_string()));
    // A rollback during a canary ends it.
    let (_, d) = canary_deploy(&gw, "app", &a, 30).await;
    let id = d["id"].as_i64().unwrap();
    until_phase(&gw, id, "canary").await;
    let (status, ended) = gw.api("POST", "/api/v1/projects/app/rollback", Some(json!({}))).await;
    assert_eq!(
        (status, ended["id"].as_i64(), ended["status"].as_str()),
        (202, Some(id), Some("ROLLED_BACK")),
        "{ended}"
    );
    for _ in 0..50 {
        assert_eq!(gw.get("app.test", "/").await, (200, "B".to_string()));
    }
    // Cancelling a canary ends it too: CANCELLED, every client back on B.
    let (_, d) = canary_deploy(&gw, "app", &a, 30).await;
    let id = d["id"].as_i64().unwrap();
    until_phase(&gw, id, "canary").await;
    let (status, cancelled) = gw.api("POST", &format!("/api/v1/deployments/{id}/cancel"), Some(json!({}))).await;
    assert!(status < 300, "{cancelled}");
    assert_eq!(gw.wait_settled(id).await["status"], "CANCELLED");
    for _ in 0..50 {
        assert_eq!(gw.get("app.test", "/").await, (200, "B".to_string()));
    }
    let (_, project) = gw.api("GET", "/api/v1/projects/app", None).await;
    assert!(project["canary"].is_null(), "{project}");
}
