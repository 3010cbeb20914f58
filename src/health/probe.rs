//! One HTTP health probe, and what it found when it got no status code, as a typed error (pure parsing,
//! one TCP exchange).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a probe got no HTTP status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("cannot connect: {message}")]
    Connect { kind: ErrorKind, message: String },
    #[error("cannot send: {message}")]
    Send { kind: ErrorKind, message: String },
    #[error("cannot read: {message}")]
    Read { kind: ErrorKind, message: String },
    #[error("connection closed without an HTTP answer")]
    NoAnswer,
    #[error("no answer within {0} ms")]
    Timeout(u128),
}

impl ProbeError {
    /// Nothing answers at that address at all: refused, reset, or closed without a word (as Docker's
    /// port proxy does when nothing listens inside the container).
    pub(crate) fn nothing_listens(&self) -> bool {
        let gone = |kind: &ErrorKind| matches!(kind, ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset);
        match self {
            ProbeError::Connect { kind, .. } | ProbeError::Send { kind, .. } | ProbeError::Read { kind, .. } => {
                gone(kind)
            }
            ProbeError::NoAnswer => true,
            ProbeError::Timeout(_) => false,
        }
    }
}

fn io(make: fn(ErrorKind, String) -> ProbeError) -> impl Fn(std::io::Error) -> ProbeError {
    move |e| make(e.kind(), e.to_string())
}

/// One `GET path` over HTTP/1.1; the status code, or what went wrong in words.
pub(crate) async fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, ProbeError> {
    match tokio::time::timeout(timeout, probe_once(addr, path)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout(timeout.as_millis())),
    }
}

async fn probe_once(addr: SocketAddr, path: &str) -> Result<u16, ProbeError> {
    let connect = |kind, message| ProbeError::Connect { kind, message };
    let mut stream = TcpStream::connect(addr).await.map_err(io(connect))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: versiongate-health\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io(|kind, message| ProbeError::Send { kind, message }))?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).await.map_err(io(|kind, message| ProbeError::Read { kind, message }))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or(ProbeError::NoAnswer)
}

/// `HTTP/1.1 200 OK` → 200.
pub(crate) fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code: u16 = parts.next()?.parse().ok()?;
    (100..=599).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\nX: y"), Some(503));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 999 Nope\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[tokio::test]
    async fn probe_reports_a_refused_connection_in_words() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = probe(addr, "/health", Duration::from_secs(1)).await.unwrap_err();
        assert!(err.to_string().starts_with("cannot connect"), "{err}");
        assert!(err.nothing_listens(), "a refused connection means nothing listens: {err:?}");
        assert!(!ProbeError::Timeout(5).nothing_listens(), "a slow app is not a missing one");
    }
}
