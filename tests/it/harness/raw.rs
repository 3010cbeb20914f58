//! A hand-written upstream for streaming tests: a WebSocket-style upgrade that echoes bytes, and an
//! SSE response whose second event waits for the test, so buffering in the proxy would show.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub struct RawUpstream {
    pub addr: SocketAddr,
    /// Lets every open SSE response send its second event and end.
    pub release_sse: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl RawUpstream {
    pub async fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let release_sse = Arc::new(Notify::new());
        let release = release_sse.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, release.clone()));
            }
        });
        RawUpstream { addr, release_sse, task }
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

async fn serve(mut conn: TcpStream, release: Arc<Notify>) {
    // Keep-alive: the proxy may reuse this connection for health probes and plain requests.
    while let Some(head) = read_head(&mut conn).await {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let result = match path.as_str() {
            "/ws" => return echo_upgraded(conn).await,
            "/sse" => sse(&mut conn, &release).await,
            _ => conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await,
        };
        if result.is_err() {
            return;
        }
    }
}

async fn echo_upgraded(mut conn: TcpStream) {
    let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    if conn.write_all(answer).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    while let Ok(n) = conn.read(&mut buf).await {
        if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn sse(conn: &mut TcpStream, release: &Notify) -> std::io::Result<()> {
    let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
    conn.write_all(format!("{head}{}", chunk("data: one\n\n")).as_bytes()).await?;
    release.notified().await;
    conn.write_all(format!("{}0\r\n\r\n", chunk("data: two\n\n")).as_bytes()).await
}
