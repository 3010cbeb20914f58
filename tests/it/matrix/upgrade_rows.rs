//! The self-upgrade row: 20 `versiongate upgrade`s under keep-alive and fresh-connection GET + POST load on
//! HTTP, HTTPS load over HTTP/2 and HTTP/1.1 (curl), an SSE stream and a WebSocket open across an upgrade,
//! and a docker deployment running across one.

use super::https_rows::Outcome;
use crate::harness::load::{load, LoadSpec, Tally};
use crate::harness::pebble::{gateway_with_ca, wait_status};
use crate::harness::raw::RawUpstream;
use crate::harness::repo::{AppRepo, DockerCleanup};
use crate::harness::streams::read_until;
use crate::harness::tls_load::{Target, TlsLoad};
use crate::harness::{unique_name, Gateway, Upstream};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const UPGRADES: usize = 20;
const HOST: &str = "app.vg.test";

fn version_a(post: bool, body: &str) -> bool {
    body == if post { "A:2048" } else { "A" }
}

/// An open WebSocket and SSE stream through the proxy to `raw`.
struct Streams {
    ws: TcpStream,
    sse: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
}

async fn open_streams(gw: &Gateway) -> Option<Streams> {
    let mut ws = TcpStream::connect(gw.proxy).await.ok()?;
    let upgrade = "GET /ws HTTP/1.1\r\nHost: streams.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ws.write_all(upgrade.as_bytes()).await.ok()?;
    read_until(&mut ws, "\r\n\r\n").await.contains(" 101 ").then_some(())?;
    let client = crate::harness::client_builder().build().unwrap();
    let sse = client.get(format!("http://{}/sse", gw.proxy)).header("host", "streams.test").send().await.ok()?;
    let mut sse = Box::pin(sse.bytes_stream());
    let first = tokio::time::timeout(Duration::from_secs(5), sse.next()).await.ok().flatten()?.ok()?;
    String::from_utf8_lossy(&first).contains("data: one").then_some(Streams { ws, sse: Box::pin(sse) })
}

async fn echoes(ws: &mut TcpStream, word: &str) -> bool {
    ws.write_all(word.as_bytes()).await.is_ok() && read_until(ws, word).await.contains(word)
}

pub async fn upgrades_under_load() -> Outcome {
    let name = "gateway self-upgrade under load (20 upgrades)";
    let (mut gw, pebble) = gateway_with_ca(r#"["http-01"]"#, 3600).await;
    let a = Upstream::start("A");
    let quick = json!({"domains": [HOST], "https_redirect": false, "health_interval_ms": 20, "healthy_threshold": 1});
    gw.add_external_project("app", "placeholder.invalid", quick).await;
    gw.deploy("app", a.addr).await;
    wait_status(&gw, HOST, "valid").await;
    let raw = RawUpstream::start().await;
    gw.add_external_project("streams", "streams.test", json!({"drain_timeout_s": 3, "https_redirect": false})).await;
    gw.deploy("streams", raw.addr).await;
    let repo = AppRepo::new("D1");
    let docker = unique_name("u");
    gw.add_docker_project(&docker, &repo.url(), "s", json!({"observe_s": 0, "https_redirect": false})).await;
    let _cleanup = DockerCleanup(docker.clone());

    let target = Target { https: gw.https.unwrap(), host: HOST.into(), root: pebble.issuing_root() };
    let tls = TlsLoad::start(target, 2, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let spec = LoadSpec { host: HOST, posts: true, accept: version_a };
    let workers: Vec<_> = (0..4).map(|i| tokio::spawn(load(gw.proxy, spec.clone(), i >= 2, stop.clone()))).collect();

    let (mut ok_upgrades, mut first_error, mut streams_note) = (0, String::new(), String::new());
    let (mut deploy_id, mut deploy_phase) = (None, String::new());
    for n in 0..UPGRADES {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let streams = if n == 2 { open_streams(&gw).await } else { None };
        if n == 5 {
            let id = gw.push(&repo.url(), "main", &repo.release("D2"), "s").await;
            let (_, d) = gw.api("GET", &format!("/api/v1/deployments/{id}"), None).await;
            deploy_phase = format!("{} in {}", d["status"], d["phase"]);
            deploy_id = Some(id);
        }
        let up = gw.upgrade().await;
        if up.code == 0 {
            ok_upgrades += 1;
        } else if first_error.is_empty() {
            first_error = format!(" upgrade {n}: {}", up.stderr.trim());
        }
        if let Some(s) = streams {
            streams_note = across(&gw, s).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut plain = Tally::default();
    for w in workers {
        plain.add(w.await.unwrap());
    }
    let https = tls.finish().await;
    let deployed = match deploy_id {
        Some(id) => gw.wait_settled(id).await,
        None => json!(null),
    };
    let docker_live = gw.get(&format!("{docker}.test"), "/").await.1;
    let plain_failed = plain.non_2xx.len() + plain.transport_errors.len() + plain.unexpected.len();
    let deploy_ok = deployed["status"] == "ACTIVE" && docker_live == "D2";
    if !deploy_ok {
        first_error.push_str(&format!(" deploy: {}", deployed["error"]));
        let log = gw.log();
        let tail: Vec<_> = log.lines().filter(|l| l.contains("deployment_id")).rev().take(8).collect();
        first_error.push_str(&format!(" log: {tail:?}"));
    }
    let pass = ok_upgrades == UPGRADES
        && plain_failed == 0
        && https.failed.is_empty()
        && plain.ok > 0
        && https.ok > 0
        && streams_note.starts_with("kept")
        && deploy_ok;
    let errors: Vec<_> = plain.transport_errors.iter().chain(&plain.unexpected).chain(&https.failed).take(2).collect();
    let figures = format!(
        "{ok_upgrades}/{UPGRADES} upgrades; HTTP {} ok, {plain_failed} failed; HTTPS {} ok, {} failed {errors:?}; \
         {streams_note}; docker deploy ({deploy_phase} at the upgrade) ended {} (serves {docker_live}){first_error}",
        plain.ok,
        https.ok,
        https.failed.len(),
        deployed["status"]
    );
    (name, pass, figures)
}

/// After the upgrade: both streams still work on the old process, end when it retires, and open again
/// on the new one.
async fn across(gw: &Gateway, mut s: Streams) -> String {
    let kept = echoes(&mut s.ws, "after-upgrade").await;
    // The old process lets streams run up to the longest drain_timeout_s (5 s here), then exits.
    let ws_ended = !echoes(&mut s.ws, "much-later").await || {
        tokio::time::sleep(Duration::from_secs(12)).await;
        !echoes(&mut s.ws, "much-later").await
    };
    let sse_ended = loop {
        match tokio::time::timeout(Duration::from_secs(15), s.sse.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(_) => break true,
            Err(_) => break false,
        }
    };
    let reopened = open_streams(gw).await;
    let again = match reopened {
        Some(mut r) => echoes(&mut r.ws, "reconnected").await,
        None => false,
    };
    let verdict = if kept && ws_ended && sse_ended && again { "kept" } else { "NOT kept" };
    format!(
        "{verdict}: streams across an upgrade: echo on the old process {kept}, ended when it retired: WebSocket \
         {ws_ended}, SSE {sse_ended}; reconnected to the new one {again}"
    )
}
