//! The lean floor: Pingora's listener machinery (accept loop, socket settings, one thread) hands each
//! connection to a minimal HTTP/1.1 keep-alive loop of our own, with our own upstream client and a pool of
//! upstream connections kept per thread. It is what a fast path under Pingora's listeners could cost at
//! best: request heads parsed with `httparse`, forwarded as received, `Content-Length` bodies copied
//! through; anything else (chunked bodies, upgrades) closes the connection. A measuring tool, not a proxy.

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_HEADERS: usize = 64;

thread_local! {
    /// Idle upstream connections of this thread (the service runs one thread, no work stealing).
    static POOL: RefCell<Vec<TcpStream>> = const { RefCell::new(Vec::new()) };
}

pub struct Lean(pub SocketAddr);

/// A parsed head: its length in the buffer, the body length, and whether the peer keeps the connection.
struct Head {
    len: usize,
    body: usize,
    keep_alive: bool,
}

fn head_of(headers: &[httparse::Header<'_>], len: usize, http11: bool) -> Option<Head> {
    let mut head = Head { len, body: 0, keep_alive: http11 };
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            head.body = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") || h.name.eq_ignore_ascii_case("upgrade") {
            return None;
        } else if h.name.eq_ignore_ascii_case("connection") {
            head.keep_alive = !h.value.eq_ignore_ascii_case(b"close");
        }
    }
    Some(head)
}

fn request_head(buf: &[u8]) -> Result<Option<Head>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => head_of(req.headers, len, req.version == Some(1)).map(Some).ok_or(()),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(()),
    }
}

fn response_head(buf: &[u8]) -> Result<Option<Head>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => head_of(res.headers, len, res.version == Some(1)).map(Some).ok_or(()),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(()),
    }
}

/// Reads until `parse` finds a whole head and its body is in `buf`; `None` on close or a bad message.
async fn read_message<R: AsyncReadExt + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    parse: fn(&[u8]) -> Result<Option<Head>, ()>,
) -> Option<Head> {
    loop {
        if let Some(head) = parse(buf).ok()? {
            while buf.len() < head.len + head.body {
                if io.read_buf(buf).await.ok()? == 0 {
                    return None;
                }
            }
            return Some(head);
        }
        if io.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

impl Lean {
    async fn upstream(&self) -> Option<TcpStream> {
        match POOL.with(|p| p.borrow_mut().pop()) {
            Some(conn) => Some(conn),
            None => {
                let conn = TcpStream::connect(self.0).await.ok()?;
                conn.set_nodelay(true).ok()?;
                Some(conn)
            }
        }
    }

    /// One request out, one response back; `false` when the client connection must close.
    async fn exchange(&self, client: &mut Stream, req: &mut BytesMut, res: &mut BytesMut) -> Option<bool> {
        let head = read_message(client, req, request_head).await?;
        let mut upstream = self.upstream().await?;
        upstream.write_all(&req[..head.len + head.body]).await.ok()?;
        req.advance(head.len + head.body);
        res.clear();
        let answer = read_message(&mut upstream, res, response_head).await?;
        client.write_all(&res[..answer.len + answer.body]).await.ok()?;
        client.flush().await.ok()?;
        if answer.keep_alive && res.len() == answer.len + answer.body {
            POOL.with(|p| p.borrow_mut().push(upstream));
        }
        Some(head.keep_alive)
    }
}

#[async_trait]
impl ServerApp for Lean {
    async fn process_new(self: &Arc<Self>, mut client: Stream, _shutdown: &ShutdownWatch) -> Option<Stream> {
        let (mut req, mut res) = (BytesMut::with_capacity(4096), BytesMut::with_capacity(8192));
        while self.exchange(&mut client, &mut req, &mut res).await? {}
        None
    }
}
