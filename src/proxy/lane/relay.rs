//! One exchange of the lane with an upstream: the request out on a pooled connection (a fresh one when the
//! pooled one turns out dead, as Pingora retries a reused connection), the answer's heads and body passed
//! to the client as they arrive, and the connection back to the pool when it may be used again.

use super::chunked::Chunked;
use super::head::{self as answer, Framing};
use super::pool;
use crate::proxy::{limits, retire, RequestCtx, UPSTREAM_CONNECT};
use crate::routes::Routes;
use bytes::BytesMut;
use pingora::protocols::Stream;
use std::io::Write as _;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Room for an answer's head and the first part of its body.
const READ_BUF: usize = 16 * 1024;
/// Pingora's bound on an answer head.
const MAX_ANSWER_HEAD: usize = 1024 * 1024;

/// How an attempt ended.
pub(super) enum Attempt {
    /// No connection could be made: nothing was sent.
    Unreachable,
    /// The request went out and no answer head came back; the client got nothing yet.
    Unanswered,
    /// The client got an answer (`complete`: all of it) with this status.
    Answered { status: u16, complete: bool },
}

/// What the client's answer carries beyond the upstream's, and what a long body is checked against.
pub(super) struct Reply<'a> {
    pub(super) head_request: bool,
    pub(super) cookie: Option<String>,
    pub(super) keep_alive: bool,
    pub(super) routes: &'a Routes,
    pub(super) ctx: &'a RequestCtx,
}

struct Upstream {
    stream: Stream,
    buf: BytesMut,
}

/// Sends `request` to `addr` and passes the answer to `client`.
pub(super) async fn attempt(addr: SocketAddr, request: &[u8], client: &mut Stream, reply: &Reply<'_>) -> Attempt {
    let mut up = match send(addr, request, reply.head_request).await {
        Ok(up) => up,
        Err(failed) => return failed,
    };
    match pass_on(&mut up, client, reply).await {
        Ok((status, reusable)) => {
            if reusable {
                pool::put(addr, up.stream);
            }
            Attempt::Answered { status, complete: true }
        }
        Err(Broke::Unanswered) => Attempt::Unanswered,
        Err(Broke::Midway(status)) => Attempt::Answered { status, complete: false },
    }
}

/// How passing an answer on failed.
enum Broke {
    /// Before anything reached the client: the request may be tried again elsewhere.
    Unanswered,
    /// After the client got (part of) an answer with this status: its connection must close.
    Midway(u16),
}

async fn send(addr: SocketAddr, request: &[u8], head_request: bool) -> Result<Upstream, Attempt> {
    if let Some(stream) = pool::take(addr) {
        let mut up = Upstream { stream, buf: BytesMut::with_capacity(READ_BUF) };
        if up.stream.write_all(request).await.is_ok() && read_head(&mut up, head_request).await {
            return Ok(up);
        }
    }
    let stream = connect(addr).await.ok_or(Attempt::Unreachable)?;
    let mut up = Upstream { stream, buf: BytesMut::with_capacity(READ_BUF) };
    if up.stream.write_all(request).await.is_ok() && read_head(&mut up, head_request).await {
        return Ok(up);
    }
    Err(Attempt::Unanswered)
}

async fn connect(addr: SocketAddr) -> Option<Stream> {
    let tcp = tokio::time::timeout(UPSTREAM_CONNECT, tokio::net::TcpStream::connect(addr)).await.ok()?.ok()?;
    tcp.set_nodelay(true).ok()?;
    Some(Box::new(pingora::protocols::l4::stream::Stream::from(tcp)))
}

/// Reads until `up.buf` starts with a whole, valid answer head.
async fn read_head(up: &mut Upstream, head_request: bool) -> bool {
    loop {
        match answer::parse(&up.buf, head_request) {
            Ok(Some(_)) => return true,
            Ok(None) if up.buf.len() < MAX_ANSWER_HEAD => {}
            Ok(None) | Err(_) => return false,
        }
        if up.buf.capacity() - up.buf.len() < 1024 {
            up.buf.reserve(READ_BUF);
        }
        if !matches!(up.stream.read_buf(&mut up.buf).await, Ok(n) if n > 0) {
            return false;
        }
    }
}

/// Passes the answer on: interim heads, then the final head with as much body as is at hand, then the
/// rest as it arrives. `Ok((status, whether the upstream connection may be used again))`.
async fn pass_on(up: &mut Upstream, client: &mut Stream, reply: &Reply<'_>) -> Result<(u16, bool), Broke> {
    let mut out = Vec::with_capacity(up.buf.len() + 512);
    let mut wrote = false;
    loop {
        let head = answer::parse(&up.buf, reply.head_request).map_err(|_| Broke::Midway(502))?;
        let head = head.ok_or(Broke::Midway(502))?;
        let (len, status, framing, keep_alive) = (head.len, head.status, head.framing, head.keep_alive);
        let interim = head.interim();
        let date = pingora::protocols::http::date::get_cached_date();
        head.downstream(reply.cookie.as_deref(), reply.keep_alive, date.as_bytes(), &mut out);
        let _ = up.buf.split_to(len);
        if interim {
            write(client, &mut out).await.map_err(|()| Broke::Midway(status))?;
            wrote = true;
            if !read_head(up, reply.head_request).await {
                return Err(Broke::Midway(status));
            }
            continue;
        }
        if !wrote && !first_body_at_hand(up, framing).await {
            return Err(Broke::Unanswered);
        }
        let complete = body(up, client, &mut out, framing, reply).await.map_err(|()| Broke::Midway(status))?;
        return Ok((status, keep_alive && complete && framing != Framing::UntilClose));
    }
}

/// Waits for the first piece of a body of known length before the head goes out, so an app that dies
/// between writing its head and its body (a crash, a killed container) leaves the client with nothing yet,
/// and the request can be tried on a warm member as if it had not been answered. False when the upstream
/// ended or failed first. Streamed bodies (chunked, until close: SSE) go out head first, as they come.
async fn first_body_at_hand(up: &mut Upstream, framing: Framing) -> bool {
    if !matches!(framing, Framing::Length(n) if n > 0) || !up.buf.is_empty() {
        return true;
    }
    up.buf.reserve(READ_BUF);
    matches!(up.stream.read_buf(&mut up.buf).await, Ok(n) if n > 0)
}

/// Writes the body after the head in `out`; `Ok(true)` when the upstream sent exactly the body, nothing
/// more.
async fn body(
    up: &mut Upstream,
    client: &mut Stream,
    out: &mut Vec<u8>,
    framing: Framing,
    reply: &Reply<'_>,
) -> Result<bool, ()> {
    let mut chunked = Chunked::default();
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    loop {
        let done = match framing {
            Framing::Empty => true,
            Framing::Length(_) => {
                let take = up.buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                out.extend_from_slice(&up.buf.split_to(take));
                left -= take as u64;
                left == 0
            }
            Framing::Chunked => rechunk(&mut chunked, &mut up.buf, out)?,
            Framing::UntilClose => {
                chunk(out, &up.buf.split());
                false
            }
        };
        // Every piece is checked before it goes out, as the ordinary path's body filter checks it.
        retire::check(reply.routes, reply.ctx).map_err(|_| ())?;
        write(client, out).await?;
        if done {
            return Ok(up.buf.is_empty());
        }
        up.buf.reserve(READ_BUF);
        match up.stream.read_buf(&mut up.buf).await {
            Ok(0) if framing == Framing::UntilClose => {
                out.extend_from_slice(b"0\r\n\r\n");
                write(client, out).await?;
                return Ok(false);
            }
            Ok(n) if n > 0 => {}
            _ => return Err(()),
        }
    }
}

/// Decodes what `buf` holds of a chunked body into chunks of our own in `out`; true at its end.
fn rechunk(reader: &mut Chunked, buf: &mut BytesMut, out: &mut Vec<u8>) -> Result<bool, ()> {
    let mut data = Vec::new();
    let used = reader.feed(buf, &mut data).map_err(|_| ())?;
    for (from, to) in data {
        chunk(out, &buf[from..to]);
    }
    let _ = buf.split_to(used);
    if reader.done() {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    Ok(reader.done())
}

fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        let _ = write!(out, "{:X}\r\n", data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes and empties `out`, within the client's idle bound.
pub(super) async fn write(client: &mut Stream, out: &mut Vec<u8>) -> Result<(), ()> {
    let sent = async {
        client.write_all(out).await?;
        client.flush().await
    };
    let result = tokio::time::timeout(limits::CLIENT_IDLE, sent).await;
    out.clear();
    match result {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
