//! The fast path: a routed, body-less, idempotent HTTP/1.1 request is exchanged with its upstream by the
//! gateway itself (Pingora's own HTTP/1 client session, on a connection from a per-thread pool) instead of
//! by Pingora's proxy pipeline and connection pool, which were most of the gateway's CPU per request
//! (docs/BENCHMARKS.md). The request is read, limited and answered through the same downstream session,
//! and sent with the same serialiser after the same sanitising, so the two paths put the same bytes on
//! both wires. Anything else (a body, an upgrade, HTTP/1.0 or 2, hop-by-hop fields, a host Pingora would
//! rewrite, an upstream that refuses the connection) takes the ordinary path.

use super::{pool, request, retire, retry::retry_on_warm, RequestCtx, UPSTREAM_CONNECT};
use crate::routes::{Routes, CANARY_COOKIE};
use futures_util::FutureExt;
use http::{header, Version};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::http::v1::client::HttpSession;
use pingora::protocols::http::HttpTask;
use pingora::protocols::Stream;
use pingora::proxy::Session;
use std::net::SocketAddr;

/// Most body bytes joined into one write to the client.
const BATCH_BYTES: usize = 64 * 1024;

/// Fields whose presence Pingora's upstream request policy acts on (strips, rewrites or frames by), and
/// `Expect`, whose interim answer the ordinary path handles.
pub(super) const ORDINARY_PATH_FIELDS: [&str; 11] = [
    "keep-alive",
    "close",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "expect",
];

/// Whether the fast path may take this request (pure): HTTP/1.1, idempotent, origin-form with exactly
/// one Host, no body, and nothing Pingora's request policy would change apart from dropping a
/// `Connection: keep-alive` or `close`.
pub fn eligible(req: &RequestHeader) -> bool {
    if req.version != Version::HTTP_11 || !req.method.is_idempotent() {
        return false;
    }
    if req.uri.authority().is_some() || !req.raw_path().starts_with(b"/") {
        return false;
    }
    let mut hosts = req.headers.get_all(header::HOST).iter();
    if hosts.next().is_none() || hosts.next().is_some() {
        return false;
    }
    if ORDINARY_PATH_FIELDS.iter().any(|name| req.headers.contains_key(*name)) {
        return false;
    }
    let mut lengths = req.headers.get_all(header::CONTENT_LENGTH).iter();
    if lengths.next().is_some_and(|l| l.as_bytes() != b"0") || lengths.next().is_some() {
        return false;
    }
    req.headers.get_all(header::CONNECTION).iter().all(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').all(|t| t.trim().eq_ignore_ascii_case("keep-alive") || t.trim().eq_ignore_ascii_case("close"))
        })
    })
}

/// What became of a request offered to the fast path.
pub(super) enum Fast {
    /// Answered (or failed with an error the ordinary error handling answers).
    Served,
    /// Not taken, or handed back before anything reached the app: the ordinary path proxies it.
    Declined,
}

/// An [`eligible`] request as Pingora's upstream request policy leaves it (pure): without its
/// `Connection` field; `None` when Pingora would refuse its authority.
pub fn sanitized(req: &RequestHeader) -> Option<RequestHeader> {
    let mut req = req.clone();
    req.remove_header(&header::CONNECTION);
    pingora::protocols::http::authority::validate_request_authority(&req).ok()?;
    Some(req)
}

/// The request as Pingora's proxy would send it upstream.
fn upstream_request(session: &Session, ctx: &RequestCtx) -> Option<RequestHeader> {
    let mut req = sanitized(session.req_header())?;
    request::forwarded_headers(session, &mut req, &ctx.host, ctx.tls).ok()?;
    Some(req)
}

/// Offers the routed request to the fast path.
pub(super) async fn serve(session: &mut Session, ctx: &mut RequestCtx, routes: &Routes) -> Result<Fast> {
    let Some((addr, _)) = ctx.upstream else { return Ok(Fast::Declined) };
    if ctx.admin.is_some() || !eligible(session.req_header()) {
        return Ok(Fast::Declined);
    }
    let Some(req) = upstream_request(session, ctx) else { return Ok(Fast::Declined) };
    let (client, header) = match exchange(addr, &req).await {
        Ok(answered) => answered,
        // Nothing was sent: the ordinary path connects (and fails, retries or answers) itself.
        Err(Failure::Unreachable) => return Ok(Fast::Declined),
        Err(Failure::Sent(e)) => {
            // The request may have reached the app: what the ordinary path does after such a failure.
            ctx.upstream_failed();
            return match retry_on_warm(session, ctx) {
                true => Ok(Fast::Declined),
                false => Err(e.into_up()),
            };
        }
    };
    if let Some(route) = &ctx.route {
        route.metrics.fast_path.inc();
    }
    relay(session, ctx, routes, (client, header), addr).await.map(|()| Fast::Served)
}

/// Why no answer came back.
enum Failure {
    /// No connection: nothing was sent.
    Unreachable,
    /// The request went out and no answer came back.
    Sent(Box<Error>),
}

/// Sends the request and reads the answer's header, on an idle connection first; a pooled connection the
/// upstream closed meanwhile is replaced by a fresh one once, as Pingora retries a reused connection.
async fn exchange(
    addr: SocketAddr,
    req: &RequestHeader,
) -> std::result::Result<(HttpSession, Box<ResponseHeader>), Failure> {
    if let Some(stream) = pool::take(addr) {
        if let Ok(answered) = send(stream, req).await {
            return Ok(answered);
        }
    }
    let stream = connect(addr).await.ok_or(Failure::Unreachable)?;
    send(stream, req).await.map_err(Failure::Sent)
}

pub(super) async fn connect(addr: SocketAddr) -> Option<Stream> {
    let tcp = tokio::time::timeout(UPSTREAM_CONNECT, tokio::net::TcpStream::connect(addr)).await.ok()?.ok()?;
    tcp.set_nodelay(true).ok()?;
    Some(Box::new(pingora::protocols::l4::stream::Stream::from(tcp)))
}

async fn send(stream: Stream, req: &RequestHeader) -> Result<(HttpSession, Box<ResponseHeader>)> {
    let mut client = HttpSession::new(stream);
    client.write_request_header(Box::new(req.clone())).await?;
    client.finish_body().await?;
    client.read_response().await?;
    let resp = client.resp_header().cloned().map(Box::new).ok_or_else(no_header)?;
    Ok((client, resp))
}

/// The answer's header as the ordinary path passes it on: a close-delimited body becomes chunked (so the
/// client connection stays open) and a client new to a rollout is told its side.
fn downstream_header(
    mut resp: Box<ResponseHeader>,
    head: bool,
    end: bool,
    ctx: &RequestCtx,
) -> Result<Box<ResponseHeader>> {
    let no_body = head || matches!(resp.status.as_u16(), 204 | 304);
    let framed =
        resp.headers.contains_key(header::TRANSFER_ENCODING) || resp.headers.contains_key(header::CONTENT_LENGTH);
    if !no_body && !resp.status.is_informational() && !framed && !end {
        resp.set_version(Version::HTTP_11);
        resp.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    if let Some(id) = ctx.remember {
        resp.append_header(header::SET_COOKIE, format!("{CANARY_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"))?;
    }
    Ok(resp)
}

fn no_header() -> Box<Error> {
    Error::explain(ErrorType::ReadError, "the upstream sent no response header")
}

/// Passes the answer on, interim answers first, then keeps the upstream connection if it may be reused.
async fn relay(
    session: &mut Session,
    ctx: &RequestCtx,
    routes: &Routes,
    (mut client, mut resp): (HttpSession, Box<ResponseHeader>),
    addr: SocketAddr,
) -> Result<()> {
    let head = session.req_header().method == http::Method::HEAD;
    while resp.status.is_informational() {
        write(session, vec![HttpTask::Header(resp, false)]).await?;
        client.read_response().await.map_err(|e| e.into_up())?;
        resp = Box::new(client.resp_header().cloned().ok_or_else(no_header)?);
    }
    let end = client.is_body_done();
    // The header goes out with the first piece of body, in one write, as the ordinary path sends it.
    let mut tasks = vec![HttpTask::Header(downstream_header(resp, head, end, ctx)?, end)];
    let mut done = end;
    while !done {
        let body = client.read_body_bytes().await.map_err(|e| e.into_up())?;
        done = client.is_body_done() || body.is_none();
        let mut batched = body.as_ref().map_or(0, |b| b.len());
        tasks.push(HttpTask::Body(body, done));
        // Pieces the upstream has already sent go out in the same write, as the ordinary path joins the
        // tasks it has at hand; a read that would wait ends the batch (a pending read consumes nothing).
        while !done && batched < BATCH_BYTES {
            let Some(more) = client.read_body_bytes().now_or_never() else { break };
            let body = more.map_err(|e| e.into_up())?;
            done = client.is_body_done() || body.is_none();
            batched += body.as_ref().map_or(0, |b| b.len());
            tasks.push(HttpTask::Body(body, done));
        }
        retire::check(routes, ctx)?;
        write(session, std::mem::take(&mut tasks)).await?;
    }
    if !tasks.is_empty() {
        write(session, tasks).await?;
    }
    client.respect_keepalive();
    if let Some(stream) = client.reuse().await {
        pool::put(addr, stream);
    }
    Ok(())
}

async fn write(session: &mut Session, tasks: Vec<HttpTask>) -> Result<()> {
    session.as_downstream_mut().response_duplex_vec(tasks).await.map(|_| ()).map_err(|e| e.into_down())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, fields: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        for (name, value) in fields {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    #[test]
    fn the_common_request_is_taken_and_anything_pingora_would_change_is_not() {
        let host = ("Host", "app.test");
        assert!(eligible(&request("GET", "/", &[host])));
        assert!(eligible(&request("HEAD", "/a?b", &[host, ("Connection", "keep-alive")])));
        assert!(eligible(&request("DELETE", "/x", &[host, ("Content-Length", "0"), ("Connection", "Close")])));
        for (what, req) in [
            ("no Host", request("GET", "/", &[])),
            ("two Host", request("GET", "/", &[host, host])),
            ("a body", request("GET", "/", &[host, ("Content-Length", "3")])),
            ("POST", request("POST", "/", &[host])),
            ("chunked", request("GET", "/", &[host, ("Transfer-Encoding", "chunked")])),
            ("an absolute target", request("GET", "http://app.test/", &[host])),
            ("asterisk", request("OPTIONS", "*", &[host])),
            ("an upgrade", request("GET", "/", &[host, ("Connection", "upgrade"), ("Upgrade", "websocket")])),
            ("a nominated field", request("GET", "/", &[host, ("Connection", "x-private")])),
            ("an empty nomination", request("GET", "/", &[host, ("Connection", ", close")])),
            ("Keep-Alive", request("GET", "/", &[host, ("Keep-Alive", "timeout=5")])),
            ("TE", request("GET", "/", &[host, ("TE", "trailers")])),
            ("Expect", request("GET", "/", &[host, ("Expect", "100-continue")])),
            ("Proxy-Authorization", request("GET", "/", &[host, ("Proxy-Authorization", "x")])),
        ] {
            assert!(!eligible(&req), "{what}");
        }
        let mut http10 = request("GET", "/", &[host]);
        http10.set_version(Version::HTTP_10);
        assert!(!eligible(&http10), "HTTP/1.0");
    }

    #[test]
    fn sanitising_drops_connection_only_and_refuses_a_bad_authority() {
        let req = request("GET", "/", &[("Host", "app.test"), ("Connection", "close"), ("X-A", "1")]);
        let up = sanitized(&req).unwrap();
        assert!(up.headers.get(header::CONNECTION).is_none());
        assert_eq!(up.headers.len(), 2);
        assert!(sanitized(&request("GET", "/", &[("Host", "user@app.test")])).is_none());
    }
}
