//! A tiny keep-alive HTTP/1.1 app, std only, so it links statically into a `FROM scratch` image.
//!
//! `GET /` answers the version (`$VERSION`), `GET /health` "ok", `GET /tiny` 10 bytes, `GET /4k`
//! 4096 bytes, `GET /slow?ms=N` the version after N ms, `GET /stream?ms=N&n=K` K chunks N ms apart, and
//! `POST /echo` "<version>:<body length>". It listens on `0.0.0.0:$PORT` (3000).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let version = std::env::var("VERSION").unwrap_or_else(|_| "v0".into());
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).expect("cannot listen on $PORT");
    eprintln!("testapp {version} listening on {port}");
    for stream in listener.incoming().flatten() {
        let version = version.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, &version);
        });
    }
}

/// One connection: requests until the client closes or says `Connection: close`.
fn serve(stream: TcpStream, version: &str) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("/").to_owned());
        let (mut length, mut close) = (0usize, false);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(v) = header.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            close |= header == "connection: close";
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        answer(&mut out, &method, &target, body.len(), version)?;
        if close {
            return Ok(());
        }
    }
}

fn answer(out: &mut TcpStream, method: &str, target: &str, body_len: usize, version: &str) -> std::io::Result<()> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |name: &str| -> u64 {
        let prefix = format!("{name}=");
        query.split('&').find_map(|kv| kv.strip_prefix(prefix.as_str())).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    match (method, path) {
        ("POST", "/echo") => send(out, 200, format!("{version}:{body_len}").as_bytes()),
        ("GET", "/health") => send(out, 200, b"ok"),
        ("GET", "/tiny") => send(out, 200, b"0123456789"),
        ("GET", "/4k") => send(out, 200, &[b'x'; 4096]),
        ("GET", "/slow") => {
            std::thread::sleep(Duration::from_millis(param("ms")));
            send(out, 200, version.as_bytes())
        }
        ("GET", "/stream") => stream(out, Duration::from_millis(param("ms")), param("n"), version),
        ("GET", "/") => send(out, 200, version.as_bytes()),
        _ => send(out, 404, b"not found"),
    }
}

fn send(out: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n", body.len());
    out.write_all(&[head.as_bytes(), body].concat())
}

/// Server-sent events: `n` events `ms` apart, each naming the version, then the end of the stream.
fn stream(out: &mut TcpStream, every: Duration, n: u64, version: &str) -> std::io::Result<()> {
    out.write_all(b"HTTP/1.1 200 X\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")?;
    for i in 0..n {
        let event = format!("data: {version} {i}\n\n");
        out.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())?;
        std::thread::sleep(every);
    }
    out.write_all(b"0\r\n\r\n")
}
