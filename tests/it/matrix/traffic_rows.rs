//! The traffic-control rows: flips with 4 replicas, a 10 % canary promoted under load, pause and resume,
//! a hold-and-swap deploy inside a pause, and maintenance on and off.

use super::https_rows::Outcome;
use crate::harness::load::{LoadSpec, Tally};
use crate::harness::repo::{AppRepo, DockerCleanup};
use crate::harness::{unique_name, Gateway, Upstream};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const REPLICA_FLIPS: usize = 40;

fn a_or_b(post: bool, body: &str) -> bool {
    if post {
        body == "A:2048" || body == "B:2048"
    } else {
        body == "A" || body == "B"
    }
}

fn v1_or_v2(_: bool, body: &str) -> bool {
    body == "v1" || body == "v2"
}

async fn loaded<F: std::future::Future<Output = T>, T>(gw: &Gateway, spec: LoadSpec, during: F) -> (T, Tally) {
    crate::harness::load::while_loaded(gw.proxy, spec, during).await
}

fn failures(t: &Tally) -> usize {
    t.failed()
}

fn first_error(t: &Tally) -> String {
    t.first_error()
}

async fn deploy_targets(gw: &Gateway, targets: &[Upstream]) -> Value {
    let targets: Vec<String> = targets.iter().map(|u| u.addr.to_string()).collect();
    let (_, d) = gw.api("POST", "/api/v1/projects/app/deployments", Some(json!({ "targets": targets }))).await;
    gw.wait_settled(d["id"].as_i64().unwrap_or_default()).await
}

pub async fn replica_flips() -> Outcome {
    let name = "flips with 4 replicas under load";
    let gw = Gateway::start().await;
    let quick = json!({"health_interval_ms": 20, "healthy_threshold": 1, "drain_timeout_s": 5});
    gw.add_external_project("app", "app.test", quick).await;
    let a: Vec<Upstream> = (0..4).map(|_| Upstream::start("A")).collect();
    let b: Vec<Upstream> = (0..4).map(|_| Upstream::start("B")).collect();
    deploy_targets(&gw, &a).await;
    let spec = LoadSpec { host: "app.test", posts: true, accept: a_or_b };
    let (bad, tally) = loaded(&gw, spec, async {
        let mut bad = 0;
        for i in 0..REPLICA_FLIPS {
            let d = deploy_targets(&gw, if i % 2 == 0 { &b } else { &a }).await;
            bad += usize::from(d["status"] != "ACTIVE");
        }
        bad
    })
    .await;
    let served: Vec<usize> = a.iter().chain(&b).map(Upstream::requests).collect();
    let idle = served.iter().filter(|n| **n < 10).count();
    let pass = bad == 0 && failures(&tally) == 0 && idle == 0 && tally.ok > 500;
    let figures = format!(
        "{REPLICA_FLIPS} flips between two sets of 4 replicas: {} ok, {} failed{}; requests per replica {served:?}",
        tally.ok,
        failures(&tally),
        first_error(&tally)
    );
    (name, pass, figures)
}

/// `clients` browsers without cookies: each asks once, keeps the cookie it is given and asks `each - 1` more
/// times with it. Returns how many requests reached `canary_body` and how many clients changed sides.
async fn sticky_clients(gw: &Gateway, clients: usize, each: usize, canary_body: &str) -> (usize, usize) {
    let (mut to_canary, mut switched) = (0, 0);
    for _ in 0..clients {
        let mut cookie: Option<String> = None;
        let mut sides = HashMap::new();
        for _ in 0..each {
            let mut req = gw.http.get(format!("http://{}/", gw.proxy)).header("host", "app.test");
            if let Some(c) = &cookie {
                req = req.header("cookie", c);
            }
            let Ok(resp) = req.send().await else { continue };
            if let Some(set) = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
                cookie = set.split(';').next().map(str::to_owned);
            }
            let body = resp.text().await.unwrap_or_default();
            to_canary += usize::from(body == canary_body);
            *sides.entry(body).or_insert(0) += 1;
        }
        switched += usize::from(sides.len() > 1);
    }
    (to_canary, switched)
}

pub async fn canary() -> Outcome {
    let name = "a 10 % canary, sticky, promoted under load";
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({"health_interval_ms": 20, "healthy_threshold": 1})).await;
    gw.deploy("app", a.addr).await;
    let body = json!({ "target": b.addr.to_string(), "canary_percent": 10 });
    let (_, d) = gw.api("POST", "/api/v1/projects/app/deployments", Some(body)).await;
    let id = d["id"].as_i64().unwrap_or_default();
    for _ in 0..200 {
        let (_, d) = gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
        if d["phase"] == "canary" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (to_canary, switched) = sticky_clients(&gw, 1000, 10, "B").await;
    let share = to_canary as f64 / 100.0;
    let spec = LoadSpec { host: "app.test", posts: true, accept: a_or_b };
    let (promoted, tally) = loaded(&gw, spec, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, _) = gw.api("POST", "/api/v1/projects/app/promote", Some(json!({}))).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        status
    })
    .await;
    let live = gw.get("app.test", "/").await.1;
    let pass =
        (7.0..=13.0).contains(&share) && switched == 0 && promoted == 202 && failures(&tally) == 0 && live == "B";
    let figures = format!(
        "{share:.1} % of 10,000 requests (1,000 clients × 10) on the canary, {switched} clients changed sides; \
         promote under load: {} ok, {} failed{}; live {live}",
        tally.ok,
        failures(&tally),
        first_error(&tally)
    );
    (name, pass, figures)
}

/// The peak of the project's held requests while `during` runs.
async fn peak_held<F: std::future::Future<Output = T>, T>(gw: &Gateway, project: &str, during: F) -> (T, i64) {
    let peak = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let series = format!("versiongate_held_requests{{project=\"{project}\"}} ");
    let sampler = {
        let (peak, done, url, http) =
            (peak.clone(), done.clone(), format!("{}/metrics", gw.admin_url()), gw.http.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if let Ok(resp) = http.get(&url).send().await {
                    let text = resp.text().await.unwrap_or_default();
                    let now = text.lines().find_map(|l| l.strip_prefix(series.as_str())?.parse::<f64>().ok());
                    peak.fetch_max(now.unwrap_or(0.0) as i64, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let out = during.await;
    done.store(true, Ordering::SeqCst);
    let _ = sampler.await;
    (out, peak.load(Ordering::SeqCst))
}

pub async fn pause_and_resume() -> Outcome {
    let name = "pause and resume";
    let gw = Gateway::start().await;
    let a = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({})).await;
    gw.deploy("app", a.addr).await;
    let spec = LoadSpec { host: "app.test", posts: true, accept: a_or_b };
    let ((codes, peak), tally) = loaded(
        &gw,
        spec,
        peak_held(&gw, "app", async {
            let paused = gw.api("POST", "/api/v1/projects/app/pause", Some(json!({"timeout_s": 30}))).await.0;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let resumed = gw.api("POST", "/api/v1/projects/app/resume", Some(json!({}))).await.0;
            tokio::time::sleep(Duration::from_millis(300)).await;
            (paused, resumed)
        }),
    )
    .await;
    let pass = codes == (200, 200) && failures(&tally) == 0 && peak >= 4 && tally.ok > 50;
    let figures = format!(
        "paused 2 s under load: {peak} requests held at the peak, all answered after the resume; {} ok, {} failed{}",
        tally.ok,
        failures(&tally),
        first_error(&tally)
    );
    (name, pass, figures)
}

pub async fn hold_swap_inside_a_pause() -> Outcome {
    let name = "pause → hold_swap deploy → resume (docker)";
    let gw = Gateway::start().await;
    let repo = AppRepo::new("v1");
    let project = unique_name("s");
    let _cleanup = DockerCleanup(project.clone());
    gw.add_docker_project(&project, &repo.url(), "s", json!({"strategy": "hold_swap"})).await;
    let host: &'static str = Box::leak(format!("{project}.test").into_boxed_str());
    let (_, d) = gw.api("POST", &format!("/api/v1/projects/{project}/deployments"), Some(json!({}))).await;
    gw.wait_settled(d["id"].as_i64().unwrap_or_default()).await;
    repo.release("v2");
    let spec = LoadSpec { host, posts: false, accept: v1_or_v2 };
    let ((status, peak), tally) = loaded(
        &gw,
        spec,
        peak_held(&gw, &project, async {
            gw.api("POST", &format!("/api/v1/projects/{project}/pause"), Some(json!({"timeout_s": 60}))).await;
            let (_, d) = gw.api("POST", &format!("/api/v1/projects/{project}/deployments"), Some(json!({}))).await;
            let d = gw.wait_settled(d["id"].as_i64().unwrap_or_default()).await;
            gw.api("POST", &format!("/api/v1/projects/{project}/resume"), Some(json!({}))).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            d["status"].as_str().unwrap_or_default().to_owned()
        }),
    )
    .await;
    let live = gw.get(host, "/").await.1;
    let pass = status == "ACTIVE" && live == "v2" && failures(&tally) == 0 && peak >= 4;
    let figures = format!(
        "deploy {status}, live {live}; {peak} requests held at the peak, {} ok, {} failed{}",
        tally.ok,
        failures(&tally),
        first_error(&tally)
    );
    (name, pass, figures)
}

pub async fn maintenance() -> Outcome {
    let name = "maintenance on and off";
    let gw = Gateway::start().await;
    let a = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({})).await;
    gw.deploy("app", a.addr).await;
    let body = json!({"message": "back soon"});
    let on = gw.api("POST", "/api/v1/projects/app/maintenance", Some(body)).await.0;
    let (mut pages, mut other) = (0, 0);
    for _ in 0..300 {
        let resp = gw.http.get(format!("http://{}/", gw.proxy)).header("host", "app.test").send().await;
        match resp {
            Ok(r) if r.status() == 503 && r.headers().contains_key("retry-after") => pages += 1,
            _ => other += 1,
        }
    }
    let off = gw.api("DELETE", "/api/v1/projects/app/maintenance", None).await.0;
    let mut served = 0;
    for _ in 0..300 {
        served += usize::from(gw.get("app.test", "/").await == (200, "A".to_string()));
    }
    let pass = (on, off) == (200, 200) && pages == 300 && other == 0 && served == 300;
    let figures = format!("on: {pages} of 300 got the 503 page with Retry-After; off: {served} of 300 served by A");
    (name, pass, figures)
}
