//! Long-lived streams across a flip: kept while the old slot drains, ended once the drain is over.

use super::raw::RawUpstream;
use super::{Gateway, Upstream};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until `needle` or the end of the stream (plain or TLS); returns what came.
pub async fn read_until(conn: &mut (impl AsyncReadExt + Unpin), needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// A WebSocket and an SSE stream on the live slot, then a flip with `drain_timeout_s = 2`. Returns
/// whether both were kept during the drain and ended after it, and the figures.
pub async fn streams_across_a_flip(gw: &Gateway) -> (bool, String) {
    let (raw, b) = (RawUpstream::start().await, Upstream::start("B"));
    gw.add_external_project("app", "app.test", json!({"drain_timeout_s": 2})).await;
    gw.deploy("app", raw.addr).await;
    let mut ws = TcpStream::connect(gw.proxy).await.unwrap();
    let upgrade = "GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    ws.write_all(upgrade.as_bytes()).await.unwrap();
    read_until(&mut ws, "\r\n\r\n").await;
    let sse = gw.http.get(format!("http://{}/sse", gw.proxy)).header("host", "app.test").send().await.unwrap();
    let mut events = sse.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), events.next()).await.ok().flatten();
    let sse_open = first.is_some_and(|c| c.is_ok_and(|c| String::from_utf8_lossy(&c).contains("data: one")));

    let id = gw.start_deploy("app", b.addr).await;
    gw.wait_phase(id, "draining").await;
    ws.write_all(b"ping-during").await.unwrap();
    let kept = read_until(&mut ws, "ping-during").await.contains("ping-during");
    let done = gw.wait_settled(id).await;
    // The drain is over: the next thing either stream says ends it.
    let _ = ws.write_all(b"ping-after").await;
    let ws_after = read_until(&mut ws, "ping-after").await;
    raw.release_sse.notify_waiters();
    let mut rest = String::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(Duration::from_secs(5), events.next()).await {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    let new = gw.get("app.test", "/").await.1;
    let (ws_closed, sse_closed) = (!ws_after.contains("ping-after"), !rest.contains("data: two"));
    let pass = sse_open && kept && done["phase"] == "done" && ws_closed && sse_closed && new == "B";
    let figures = format!(
        "open {sse_open}, kept while draining {kept}, after the 2 s drain: WebSocket closed {ws_closed}, \
         SSE closed {sse_closed}; new requests go to {new}"
    );
    (pass, figures)
}
