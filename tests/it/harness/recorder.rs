//! An upstream that records the exact bytes of every request it gets (health checks aside) and answers
//! each with `200 ok`, reading bodies by Content-Length or chunked framing as a strict server would.
//! A path under `/r/` asks for another shape of answer (see [`answer`]), for comparing how the gateway
//! passes answers on.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub struct Recorder {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, seen.clone()));
            }
        });
        Recorder { addr, requests, task }
    }

    /// Every request received so far (head and body, as sent), health checks left out; then forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(conn: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = conn.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut raw = String::new();
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            raw.push_str(&line);
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        if chunked {
            loop {
                let mut size_line = String::new();
                if reader.read_line(&mut size_line).await.unwrap_or(0) == 0 {
                    return;
                }
                raw.push_str(&size_line);
                let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16).unwrap_or(0);
                let mut data = vec![0; size + 2];
                if reader.read_exact(&mut data).await.is_err() {
                    return;
                }
                raw.push_str(&String::from_utf8_lossy(&data));
                if size == 0 {
                    break;
                }
            }
        } else {
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            raw.push_str(&String::from_utf8_lossy(&body));
        }
        if !raw.starts_with("GET /health") {
            seen.lock().unwrap().push(raw.clone());
        }
        let (bytes, close) = answer(&raw);
        if write.write_all(&bytes).await.is_err() || close {
            return;
        }
    }
}

/// The answer to a request, and whether the connection closes after it. HEAD gets the header alone.
fn answer(raw: &str) -> (Vec<u8>, bool) {
    let path = raw.split(' ').nth(1).unwrap_or("/");
    let head = raw.starts_with("HEAD ");
    let big = "b".repeat(200 * 1024);
    let (header, body, close): (String, &str, bool) = match path.split('?').next().unwrap_or("/") {
        "/r/chunked" => ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n".into(), "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false),
        "/r/close" => ("HTTP/1.1 200 OK\r\nX-Kind: close-delimited\r\n\r\n".into(), "until the connection closes", true),
        "/r/204" => ("HTTP/1.1 204 No Content\r\nX-Kind: none\r\n\r\n".into(), "", false),
        "/r/304" => ("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n".into(), "", false),
        "/r/103" => ("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".into(), "hints", false),
        "/r/big" => (format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len()), big.as_str(), false),
        "/r/bye" => ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n".into(), "bye", true),
        "/r/case" => ("HTTP/1.1 201 Created Here\r\nX-MiXeD-Case: Yes\r\nSet-Cookie: a=1\r\nx-lower: 1\r\nSet-Cookie: b=2\r\nContent-Length: 4\r\n\r\n".into(), "case", false),
        "/r/500" => ("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\n".into(), "oops", false),
        // An app that dies between writing its head and its body.
        "/r/dies" => ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".into(), "", true),
        _ => ("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n".into(), "ok", false),
    };
    let mut bytes = header.into_bytes();
    if !head {
        bytes.extend_from_slice(body.as_bytes());
    }
    (bytes, close)
}
