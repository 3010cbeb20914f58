//! Bad input on the proxy's socket: oversized headers get 431, garbage gets 400 or a closed
//! connection, slow clients are timed out, and none of it disturbs anyone else's requests.

use crate::harness;

use harness::{Gateway, Upstream};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app() -> (Gateway, Upstream) {
    let gw = Gateway::start().await;
    let a = Upstream::start("A");
    gw.add_external_project("app", "app.test", json!({ "health_interval_ms": 50 })).await;
    assert_eq!(gw.deploy("app", a.addr).await["status"], "ACTIVE");
    (gw, a)
}

/// Sends `bytes` and reads until the gateway closes or 5 s pass; returns what came back.
async fn exchange(proxy: SocketAddr, bytes: &[u8]) -> String {
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    // The gateway may answer and close before it has read everything: a failed write is an answer too.
    let _ = socket.write_all(bytes).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn request_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: app.test\r\n{headers}Connection: close\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431_saying_what_was_too_large() {
    let (gw, a) = app().await;
    let before = a.requests();
    let big = exchange(gw.proxy, &request_with(&format!("Cookie: {}\r\n", "c".repeat(70 * 1024)))).await;
    assert!(big.starts_with("HTTP/1.1 431"), "{}", &big[..big.len().min(200)]);
    assert!(big.contains("KiB of request header; at most 64 KiB"), "the page says why: {big}");
    let fields: String = (0..150).map(|i| format!("X-F{i}: v\r\n")).collect();
    let many = exchange(gw.proxy, &request_with(&fields)).await;
    assert!(many.starts_with("HTTP/1.1 431") && many.contains("152 header fields; at most 100"), "{many}");
    assert_eq!(a.requests(), before, "nothing oversized reached the app");
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_socket_gets_400_or_a_close_and_breaks_nothing() {
    let (gw, _a) = app().await;
    let garbage: [&[u8]; 8] = [
        b"\x00\x01\x02\xff\xfe\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello on the plain port
        b"GET / HTTP/9.9\r\nHost: app.test\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost app.test\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        b"GET / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\r\n\r\n\r\n",
    ];
    for bytes in garbage {
        let answer = exchange(gw.proxy, bytes).await;
        let status = answer.get(9..12).unwrap_or("");
        assert!(answer.is_empty() || status.starts_with('4'), "{bytes:?} got: {answer}");
    }
    let mut random = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20 {
        let noise: Vec<u8> = (0..512)
            .map(|_| {
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                random as u8
            })
            .collect();
        exchange(gw.proxy, &noise).await;
    }
    assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()), "the gateway serves on");
    assert_eq!(gw.api("GET", "/healthz", None).await.0, 200);
}

/// How long until the gateway closes a connection that sent `bytes` and then nothing more.
async fn closed_after(proxy: SocketAddr, bytes: &[u8]) -> Duration {
    let started = Instant::now();
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    socket.write_all(bytes).await.unwrap();
    let mut sink = Vec::new();
    match tokio::time::timeout(Duration::from_secs(90), socket.read_to_end(&mut sink)).await {
        Ok(_) => started.elapsed(),
        Err(_) => panic!("a stalled client ({bytes:?}) was still connected after 90 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_timed_out_while_others_are_served() {
    let (gw, _a) = app().await;
    let header = closed_after(gw.proxy, b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ");
    let body =
        closed_after(gw.proxy, b"POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nonly ten..");
    let others = async {
        for _ in 0..20 {
            assert_eq!(gw.get("app.test", "/").await, (200, "A".to_string()), "others are served meanwhile");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let (header, body, ()) = tokio::join!(header, body, others);
    println!("a stalled header was closed after {header:?}, a stalled body after {body:?}");
    assert!(header >= Duration::from_secs(55) && header < Duration::from_secs(75), "header: {header:?}");
    assert!(body >= Duration::from_secs(25) && body < Duration::from_secs(45), "body: {body:?}");
}
