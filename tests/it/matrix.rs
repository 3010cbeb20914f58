//! The zero-downtime matrix: one scenario per row, each printing PASS or FAIL with its figures.
//! Run by `scripts/zero-downtime-matrix` (it is `#[ignore]`d in the ordinary suite: it takes minutes).
//! `MATRIX_FLIPS` sets the flips of the first row (100; the soak uses 1,000); `TESTAPP_BIN` is the
//! static test app used for the 100 MB upload.

mod cluster_rows;

mod github_rows;
use crate::harness;

mod https_rows;

mod traffic_rows;

mod upgrade_rows;

use harness::load::{load, LoadSpec, Tally};
use harness::repo::{AppRepo, DockerCleanup, DOCKERFILE};
use harness::{Gateway, Health, Upstream};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Row {
    name: &'static str,
    pass: Option<bool>,
    figures: String,
}

fn row(name: &'static str, pass: bool, figures: String) -> Row {
    Row { name, pass: Some(pass), figures }
}

fn a_or_b(post: bool, body: &str) -> bool {
    if post {
        body == "A:2048" || body == "B:2048"
    } else {
        body == "A" || body == "B"
    }
}

/// Load on `app.test` (GETs, and POSTs with `posts`) while `during` runs.
async fn under_load<F: std::future::Future<Output = T>, T>(gw: &Gateway, posts: bool, during: F) -> (T, Tally) {
    harness::load::while_loaded(gw.proxy, LoadSpec { host: "app.test", posts, accept: a_or_b }, during).await
}

fn failed(t: &Tally) -> usize {
    t.failed()
}

async fn two_slots(drain_s: u64) -> (Gateway, Upstream, Upstream) {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project(
        "app",
        "app.test",
        json!({"health_interval_ms": 20, "healthy_threshold": 1, "drain_timeout_s": drain_s}),
    )
    .await;
    gw.deploy("app", a.addr).await;
    (gw, a, b)
}

async fn flips(name: &'static str, count: usize, posts: bool) -> Row {
    let (gw, a, b) = two_slots(5).await;
    let started = Instant::now();
    let (bad, tally) = under_load(&gw, posts, async {
        let mut bad = 0;
        for i in 0..count {
            let target = if i % 2 == 0 { b.addr } else { a.addr };
            bad += usize::from(gw.deploy("app", target).await["status"] != "ACTIVE");
        }
        bad
    })
    .await;
    let figures = format!(
        "{count} flips in {:.1}s, {} requests ok, {} failed, {bad} flips not ACTIVE",
        started.elapsed().as_secs_f64(),
        tally.ok,
        failed(&tally)
    );
    row(name, failed(&tally) == 0 && bad == 0 && tally.ok > 0, figures)
}

async fn never_healthy() -> Row {
    let (gw, _a, b) = two_slots(5).await;
    b.set_health(Health::Failing);
    let (d, tally) = under_load(&gw, false, gw.deploy("app", b.addr)).await;
    let live = gw.get("app.test", "/").await.1;
    let pass = d["status"] == "FAILED" && live == "A" && failed(&tally) == 0;
    let figures =
        format!("release {}, live still {live}, {} requests ok, {} failed", d["status"], tally.ok, failed(&tally));
    row("a never-healthy release", pass, figures)
}

async fn long_request() -> Row {
    let (gw, _a, b) = two_slots(90).await;
    let (client, proxy) = (gw.http.clone(), gw.proxy);
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        let r = client
            .get(format!("http://{proxy}/slow?ms=60000"))
            .header("host", "app.test")
            .timeout(Duration::from_secs(120))
            .send()
            .await;
        match r {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flip = gw.deploy("app", b.addr).await;
    let (status, body) = slow.await.unwrap();
    let figures = format!(
        "flip {} at 0.5s; the 60 s request answered {status} {body:?} after {:.1}s",
        flip["status"],
        started.elapsed().as_secs_f64()
    );
    row("a 60 s request in flight during a flip (drain_timeout_s 90)", status == 200 && body == "A", figures)
}

async fn big_upload() -> Row {
    let name = "a 100 MB upload across a flip";
    let Ok(bin) = std::env::var("TESTAPP_BIN") else {
        return Row {
            name,
            pass: None,
            figures: "TESTAPP_BIN is not set (scripts/zero-downtime-matrix sets it)".into(),
        };
    };
    let spawn = |version: &str| {
        let port = harness::free_port();
        let child =
            std::process::Command::new(&bin).env("PORT", port.to_string()).env("VERSION", version).spawn().unwrap();
        (child, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    };
    let ((mut a, a_addr), (mut b, b_addr)) = (spawn("A"), spawn("B"));
    let gw = Gateway::start().await;
    gw.add_external_project("app", "app.test", json!({"health_interval_ms": 50, "healthy_threshold": 1})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.deploy("app", a_addr).await;
    const SIZE: usize = 100 * 1024 * 1024;
    let chunks = futures_util::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b'u'; SIZE / 100])));
    let throttled = futures_util::StreamExt::then(chunks, |c| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        c
    });
    let request = gw
        .http
        .post(format!("http://{}/echo", gw.proxy))
        .header("host", "app.test")
        .header("content-length", SIZE.to_string())
        .timeout(Duration::from_secs(120))
        .body(reqwest::Body::wrap_stream(throttled))
        .send();
    let (answer, flip) = tokio::join!(request, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        gw.deploy("app", b_addr).await
    });
    let answer = match answer {
        Ok(r) => format!("{} {}", r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => e.to_string(),
    };
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());
    let want = format!("200 A:{SIZE}");
    row(
        name,
        answer == want && flip["status"] == "ACTIVE",
        format!("flip {} mid-upload; upload answered {answer:?}", flip["status"]),
    )
}

async fn kill_and_restore() -> Row {
    let (mut gw, _a, _b) = two_slots(5).await;
    gw.kill();
    let started = Instant::now();
    gw.crash_and_restart().await;
    let served = gw.get("app.test", "/").await;
    let took = started.elapsed();
    let pass = served == (200, "A".to_string()) && took < Duration::from_secs(1);
    row(
        "kill -9 and restore",
        pass,
        format!("served {served:?} {:.0} ms after the new process started", took.as_secs_f64() * 1e3),
    )
}

async fn crash_after_switch() -> Row {
    let gw = Gateway::start().await;
    let repo = AppRepo::new("A");
    let name = harness::unique_name("m");
    let extra = json!({"observe_s": 30, "health_interval_ms": 100, "healthy_threshold": 2, "min_requests": 5});
    gw.add_docker_project(&name, &repo.url(), "s", extra).await;
    let _cleanup = DockerCleanup(name.clone());
    let v1 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.commit("A"), "s").await).await;
    // B serves, passes the gate, and its container exits about 6 s after it started.
    let crashing = DOCKERFILE.replace(
        "CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"3000\", \"-h\", \"/www\"]",
        "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox httpd -p 3000 -h /www; /bin/busybox sleep 6; exit 3\"]",
    );
    repo.write("Dockerfile", &crashing);
    let host: &'static str = Box::leak(format!("{name}.test").into_boxed_str());
    let stop = Arc::new(AtomicBool::new(false));
    let spec = LoadSpec { host, posts: false, accept: |_, body| body == "A" || body == "B" };
    let workers: Vec<_> = (0..4).map(|i| tokio::spawn(load(gw.proxy, spec.clone(), i >= 3, stop.clone()))).collect();
    let v2 = gw.wait_settled(gw.push(&repo.url(), "main", &repo.release("B"), "s").await).await;
    let live = gw.get(host, "/").await.1;
    stop.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    for w in workers {
        tally.add(w.await.unwrap());
    }
    let pass = v1["status"] == "ACTIVE" && v2["status"] == "ROLLED_BACK" && live == "A" && failed(&tally) == 0;
    let first: Vec<_> = tally.transport_errors.iter().chain(&tally.unexpected).take(2).collect();
    let figures =
        format!("B ended {}, live {live}, {} GETs ok, {} failed {first:?}", v2["status"], tally.ok, failed(&tally));
    row("a crash 5 s after the switch (observe window)", pass, figures)
}

async fn racing_webhooks() -> Row {
    let gw = Gateway::start().await;
    let repo = AppRepo::new("v0");
    let name = harness::unique_name("w");
    gw.add_docker_project(&name, &repo.url(), "s", json!({"observe_s": 0})).await;
    let _cleanup = DockerCleanup(name.clone());
    let shas: Vec<String> = (1..=8).map(|i| repo.release(&format!("v{i}"))).collect();
    let url = repo.url();
    let pushes = shas.iter().map(|sha| gw.push(&url, "main", sha, "s"));
    let ids = futures_util::future::join_all(pushes).await;
    for id in &ids {
        gw.wait_settled(*id).await;
    }
    // Read them again once all have settled: an early one may have been superseded since.
    let mut ends = Vec::new();
    for id in &ids {
        ends.push(gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await.1);
    }
    let active: Vec<_> = ends.iter().filter(|d| d["status"] == "ACTIVE").collect();
    let newest = ends.iter().max_by_key(|d| d["id"].as_i64()).unwrap();
    let live = gw.get(&format!("{name}.test"), "/").await.1;
    let count = |s: &str| ends.iter().filter(|d| d["status"] == s).count();
    // Deliveries race, so "newest" is the last one to arrive (the highest id), whatever its commit.
    let newest_sha = newest["commit"].as_str().unwrap_or_default();
    let want = shas.iter().position(|s| s == newest_sha).map(|i| format!("v{}", i + 1)).unwrap_or_default();
    let pass = active.len() == 1 && newest["status"] == "ACTIVE" && live == want && count("FAILED") == 0;
    let failure = ends.iter().find(|d| d["status"] == "FAILED").map(|d| d["error"].to_string()).unwrap_or_default();
    let figures = format!(
        "{failure}8 concurrent pushes: {} ACTIVE, {} SUPERSEDED, {} CANCELLED (coalesced), {} FAILED; live {live}, last delivered {want}",
        active.len(),
        count("SUPERSEDED"),
        count("CANCELLED"),
        count("FAILED")
    );
    row("racing webhooks", pass, figures)
}

async fn streams() -> Row {
    let gw = Gateway::start().await;
    let (pass, figures) = harness::streams::streams_across_a_flip(&gw).await;
    row("an SSE stream and a WebSocket across a flip", pass, figures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "minutes long: run by scripts/zero-downtime-matrix"]
async fn zero_downtime_matrix() {
    let flips_n: usize = std::env::var("MATRIX_FLIPS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    // `MATRIX_ONLY=https`, `=upgrade`, `=traffic`, `=github` or `=cluster` runs those rows alone; `=crash`
    // the observe window's crash row alone (a race with a dying app, worth running many times).
    let only = std::env::var("MATRIX_ONLY").unwrap_or_default();
    let mut rows = Vec::new();
    if only.is_empty() {
        rows = plain_rows(flips_n).await;
    }
    if only == "crash" {
        rows.push(crash_after_switch().await);
    }
    if only.is_empty() || only == "https" {
        let https = https_rows::flips_and_new_host().await.into_iter().chain([https_rows::renewal().await]);
        rows.extend(https.map(|(name, pass, figures)| row(name, pass, figures)));
    }
    if only.is_empty() || only == "upgrade" {
        let (name, pass, figures) = upgrade_rows::upgrades_under_load().await;
        rows.push(row(name, pass, figures));
    }
    if only.is_empty() || only == "traffic" {
        let traffic = [
            traffic_rows::replica_flips().await,
            traffic_rows::canary().await,
            traffic_rows::pause_and_resume().await,
            traffic_rows::hold_swap_inside_a_pause().await,
            traffic_rows::maintenance().await,
        ];
        rows.extend(traffic.into_iter().map(|(name, pass, figures)| row(name, pass, figures)));
    }
    if only.is_empty() || only == "cluster" {
        let cluster = [
            cluster_rows::swarm_flips().await,
            cluster_rows::two_gateways_alternating().await,
            cluster_rows::kill_the_lease_holder().await,
        ];
        rows.extend(cluster.into_iter().map(|(name, pass, figures)| row(name, pass, figures)));
    }
    if only.is_empty() || only == "github" {
        let github = [github_rows::preview_pushes().await, github_rows::push_held_for_checks().await];
        rows.extend(github.into_iter().map(|(name, pass, figures)| row(name, pass, figures)));
    }
    report(&rows);
}

async fn plain_rows(flips_n: usize) -> Vec<Row> {
    vec![
        flips("keep-alive and fresh-connection load across flips", flips_n, false).await,
        flips("POST bodies across flips", 30, true).await,
        never_healthy().await,
        crash_after_switch().await,
        long_request().await,
        big_upload().await,
        kill_and_restore().await,
        racing_webhooks().await,
        streams().await,
    ]
}

fn report(rows: &[Row]) {
    println!("\nzero-downtime matrix\n");
    for r in rows {
        let verdict = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "PENDING",
        };
        println!("{verdict:<8} {:<62} {}", r.name, r.figures);
    }
    let failed: Vec<_> = rows.iter().filter(|r| r.pass == Some(false)).map(|r| r.name).collect();
    assert!(failed.is_empty(), "failed rows: {failed:?}");
}
