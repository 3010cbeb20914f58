//! Zero downtime: bounded load keeps running while traffic flips, and no request may fail.

mod harness;

use futures_util::StreamExt;
use harness::raw::RawUpstream;
use harness::{Gateway, Upstream};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one load worker saw.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    non_2xx: Vec<u16>,
    transport_errors: Vec<String>,
    unexpected: Vec<String>,
}

const BODY: usize = 2048;
const MAX_REQUESTS_PER_WORKER: u64 = 20_000;
const MAX_LOAD_TIME: Duration = Duration::from_secs(60);

/// GET and POST (2 KiB) in turn, until `stop` or the bounds; `fresh` opens a new connection each time.
async fn load(proxy: std::net::SocketAddr, fresh: bool, stop: Arc<AtomicBool>) -> Tally {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(20));
    if fresh {
        builder = builder.pool_max_idle_per_host(0);
    }
    let client = builder.build().unwrap();
    let (mut tally, started, payload) = (Tally::default(), Instant::now(), vec![b'x'; BODY]);
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) && n < MAX_REQUESTS_PER_WORKER && started.elapsed() < MAX_LOAD_TIME {
        let post = n % 2 == 1;
        let req = if post {
            client.post(format!("http://{proxy}/echo")).body(payload.clone())
        } else {
            client.get(format!("http://{proxy}/"))
        };
        n += 1;
        match req.header("host", "app.test").send().await {
            Ok(resp) if resp.status().is_success() => {
                let body = resp.text().await.unwrap_or_default();
                let expected =
                    if post { ["A:2048", "B:2048"].contains(&body.as_str()) } else { body == "A" || body == "B" };
                if expected {
                    tally.ok += 1;
                } else {
                    tally.unexpected.push(body);
                }
            }
            Ok(resp) => tally.non_2xx.push(resp.status().as_u16()),
            Err(e) => tally.transport_errors.push(e.to_string()),
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flips_under_load_lose_no_request() {
    let gw = Gateway::start().await;
    let (a, b) = (Upstream::start("A"), Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({"health_interval_ms": 50})).await;
    gw.deploy("app", a.addr).await;

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6).map(|i| tokio::spawn(load(gw.proxy, i >= 4, stop.clone()))).collect();
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
        let t = w.await.unwrap();
        total.ok += t.ok;
        total.non_2xx.extend(t.non_2xx);
        total.transport_errors.extend(t.transport_errors);
        total.unexpected.extend(t.unexpected);
    }
    println!(
        "{flips} flips under load: {} ok, {} non-2xx, {} transport errors",
        total.ok,
        total.non_2xx.len(),
        total.transport_errors.len()
    );
    assert!(total.transport_errors.is_empty(), "{:?}", &total.transport_errors[..total.transport_errors.len().min(5)]);
    assert!(total.non_2xx.is_empty(), "{:?}", total.non_2xx);
    assert!(total.unexpected.is_empty(), "{:?}", total.unexpected);
    assert!(total.ok > 500, "the load was too thin to prove anything: {}", total.ok);
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
    assert_eq!(gw.get("app.test", "/").await, (200, "B".to_string()), "new requests go to the new slot");
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
