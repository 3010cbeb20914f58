//! HTTP request smuggling against the real binary, with raw sockets and an upstream that records the exact
//! bytes it receives: every ambiguous framing is refused with 400 and a closed connection, or normalised so
//! the upstream gets exactly one unambiguous request; pipelined requests are answered in order.

use crate::harness;

use harness::recorder::Recorder;
use harness::Gateway;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `bytes`, then reads until the gateway closes or 2 s pass; returns the answer and whether it closed.
async fn exchange(proxy: SocketAddr, bytes: &[u8]) -> (String, bool) {
    let mut socket = TcpStream::connect(proxy).await.unwrap();
    let _ = socket.write_all(bytes).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 65536];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(2), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

fn statuses(answer: &str) -> Vec<&str> {
    answer.match_indices("HTTP/1.1 ").map(|(i, _)| &answer[i + 9..i + 12]).collect()
}

const HEAD: &str = "POST / HTTP/1.1\r\nHost: app.test\r\n";

/// Refused: 400, the connection closed, and nothing of it reached the app.
const REFUSED: &[(&str, &str)] = &[
    ("two different Content-Length", "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
    ("the same Content-Length twice", "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"),
    ("a Content-Length list", "Content-Length: 4, 4\r\n\r\nabcd"),
    ("a signed Content-Length", "Content-Length: +4\r\n\r\nabcd"),
    ("a space before the colon", "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("an unknown coding", "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    ("chunked, then identity", "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("two Transfer-Encoding", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"),
    ("an obs-fold header line", "X-A: one\r\n two\r\nContent-Length: 0\r\n\r\n"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_is_refused_or_normalised_and_pipelines_are_answered_in_order() {
    let gw = Gateway::start().await;
    let app = Recorder::start().await;
    gw.add_external_project("app", "app.test", json!({ "health_interval_ms": 50 })).await;
    assert_eq!(gw.deploy("app", app.addr).await["status"], "ACTIVE");
    app.take();

    for (what, rest) in REFUSED {
        let (answer, closed) = exchange(gw.proxy, format!("{HEAD}{rest}").as_bytes()).await;
        assert_eq!((statuses(&answer), closed), (vec!["400"], true), "{what}: {answer}");
        assert_eq!(app.take(), Vec::<String>::new(), "{what}: nothing reaches the app");
    }

    // A broken chunked body: the app may have seen the head, but the client gets 400 and a close.
    let big_extension = format!("4;{}\r\nabcd\r\n0\r\n\r\n", "x".repeat(70_000));
    for (what, body) in [
        ("a chunk size that overflows", "FFFFFFFFFFFFFFFFFF\r\nabcd\r\n0\r\n\r\n"),
        ("a chunk size that is not hex", "zz\r\nabcd\r\n0\r\n\r\n"),
        ("a chunk extension over the limit", big_extension.as_str()),
    ] {
        let (answer, closed) =
            exchange(gw.proxy, format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n{body}").as_bytes()).await;
        assert_eq!((statuses(&answer), closed), (vec!["400"], true), "{what}: {answer}");
        app.take();
    }

    // Content-Length with Transfer-Encoding: the body is read as chunked, the app gets one request with
    // Transfer-Encoding only, and the connection closes (what followed the body is never a request).
    let both = format!("{HEAD}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n");
    let (answer, closed) = exchange(gw.proxy, both.as_bytes()).await;
    assert_eq!((statuses(&answer), closed), (vec!["200"], true), "{answer}");
    let got = app.take();
    assert_eq!(got.len(), 1, "{got:?}");
    let lower = got[0].to_ascii_lowercase();
    assert!(lower.contains("transfer-encoding: chunked") && !lower.contains("content-length"), "{got:?}");

    // Normalised: a tab after the colon, bare LF line ends, a small chunk extension.
    for (what, request, want) in [
        ("a tab after the colon", format!("{HEAD}Transfer-Encoding:\tchunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"), "abcd"),
        ("bare LF line ends", "GET /lf HTTP/1.1\nHost: app.test\n\n".to_owned(), "GET /lf HTTP/1.1\r\n"),
        (
            "a chunk extension",
            format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n4;name=value\r\nabcd\r\n0\r\n\r\n"),
            "\r\n4\r\nabcd\r\n0\r\n\r\n",
        ),
    ] {
        let (answer, _) = exchange(gw.proxy, request.as_bytes()).await;
        assert_eq!(statuses(&answer), ["200"], "{what}: {answer}");
        let got = app.take();
        assert!(got.len() == 1 && got[0].contains(want) && !got[0].contains("name=value"), "{what}: {got:?}");
        let lengths = got[0].to_ascii_lowercase().matches("content-length").count()
            + got[0].to_ascii_lowercase().matches("transfer-encoding").count();
        assert!(lengths <= 1, "{what}: one framing header at most: {got:?}");
    }

    // Pipelined behind a body, and two GETs in one write: each answered, in order, and each reaches the app.
    let pipelined = format!("{HEAD}Content-Length: 4\r\n\r\nabcdGET /second HTTP/1.1\r\nHost: app.test\r\n\r\nGET /third HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    let (answer, closed) = exchange(gw.proxy, pipelined.as_bytes()).await;
    assert_eq!((statuses(&answer), closed), (vec!["200", "200", "200"], true), "{answer}");
    let paths: Vec<String> = app.take().iter().map(|r| r.lines().next().unwrap_or("").to_owned()).collect();
    assert_eq!(paths, ["POST / HTTP/1.1", "GET /second HTTP/1.1", "GET /third HTTP/1.1"]);
}
