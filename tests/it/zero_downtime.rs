//! Zero downtime: bounded load keeps running while traffic flips, and no request may fail.

use crate::harness;

use futures_util::StreamExt;
use harness::load::{load, LoadSpec, Tally};
use harness::raw::RawUpstream;
use harness::{Gateway, Upstream};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flips_under_load_lose_no_request() {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({"health_interval_ms": 50})).await;
    gw.deploy("app", a.addr).await;

    let stop = Arc::new(AtomicBool::new(false));
    let accept =
        |post: bool, body: &str| if post { body == "A:2048" || body == "B:2048" } else { body == "A" || body == "B" };
    let spec = LoadSpec { host: "app.test", posts: true, accept };
    let workers: Vec<_> = (0..6).map(|i| tokio::spawn(load(gw.proxy, spec.clone(), i >= 4, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let flips = 10;
    for i in 0..flips {
        let target = if i % 2 == 0 { b.addr } else { a.addr };
        let d = gw.deploy("app", target).await;
        assert_eq!(d["status"], "ACTIVE", "{d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = Tally::default();
    for w in workers {
        total.add(w.await.unwrap());
    }
    println!(
        "{flips} flips under load: {} ok, {} non-2xx, {} transport errors",
        total.ok,
        total.non_2xx.len(),
        total.transport_errors.len()
    );
    total.assert_clean(500);
    assert!(a.requests() > 100 && b.requests() > 100, "both versions served traffic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_live_slot_is_retried_on_the_warm_one() {
    let gw = Gateway::start().await;
    let (a, mut b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({"drain_timeout_s": 20})).await;
    gw.deploy("app", a.addr).await;
    // A request in flight on A keeps the old slot draining, and so warm.
    let client = gw.http.clone();
    let proxy = gw.proxy;
    let slow = tokio::spawn(async move {
        let resp = client.get(format!("http://{proxy}/slow?ms=4000")).header("host", "app.test").send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = gw.start_deploy("app", b.addr).await;
    gw.wait_phase(id, "draining").await;
    b.die();
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()), "a GET is retried on the warm slot");
    let post = gw.http.post(format!("http://{proxy}/echo")).header("host", "app.test").body("x").send().await.unwrap();
    assert_eq!(post.status().as_u16(), 502, "a request with a body is never replayed");
    assert_eq!(slow.await.unwrap(), (200, "A".to_string()), "the draining request completes");
}

async fn read_until(conn: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n =
            tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.expect("no answer in 5 s").unwrap();
        assert!(n > 0, "connection closed; got {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_and_sse_pass_through_and_hold_the_old_slot_until_drained() {
    let gw = Gateway::start().await;
    let (raw, b) = (RawUpstream::start().await, Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({"drain_timeout_s": 30})).await;
    gw.deploy("app", raw.addr).await;

    let mut ws = tokio::net::TcpStream::connect(gw.proxy).await.unwrap();
    let upgrade = "GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ws.write_all(upgrade.as_bytes()).await.unwrap();
    assert!(read_until(&mut ws, "\r\n\r\n").await.starts_with("HTTP/1.1 101"));
    ws.write_all(b"ping-1").await.unwrap();
    read_until(&mut ws, "ping-1").await;

    let sse = gw.http.get(format!("http://{}/sse", gw.proxy)).header("host", "app.test").send().await.unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let mut events = sse.bytes_stream();
    let first =
        tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("the first event was held back");
    assert!(String::from_utf8_lossy(&first.unwrap().unwrap()).contains("data: one"));

    let id = gw.start_deploy("app", b.addr).await;
    gw.wait_phase(id, "draining").await;
    let path = format!("/api/v1/deployments/{id}");
    // The phase is committed a moment before the table that serves it is published.
    let started = std::time::Instant::now();
    while gw.get("app.test", "/").await != (200, "B".to_string()) {
        assert!(started.elapsed() < Duration::from_secs(2), "new requests go to the new slot");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gw.api("GET", &path, None).await.1["phase"], "draining", "open streams hold the old slot");
    ws.write_all(b"ping-2").await.unwrap();
    read_until(&mut ws, "ping-2").await;

    raw.release_sse.notify_waiters();
    let mut rest = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), events.next()).await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(rest.contains("data: two"), "{rest}");
    drop(ws);
    let done = gw.wait_settled(id).await;
    assert_eq!((done["status"].as_str(), done["phase"].as_str()), (Some("ACTIVE"), Some("done")));
    let log = gw.logs(&json!(id)).await;
    assert!(log.contains("drained the blue slot"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_on_the_old_slot_end_once_its_drain_is_over() {
    let gw = Gateway::start().await;
    let (pass, figures) = harness::streams::streams_across_a_flip(&gw).await;
    assert!(pass, "{figures}");
}
