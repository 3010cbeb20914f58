//! The fast lane: a Pingora server app in front of the gateway's Pingora proxy, under the same listeners.
//! It reads HTTP/1.1 requests itself and serves the common case — a routed, body-less, idempotent request
//! with nothing Pingora's path would change — by exchanging it with the upstream directly. Every other
//! request, with the bytes already read, goes to Pingora's proxy on the same connection, which keeps the
//! connection from then on. Both share the routing decision, the in-flight accounting, metrics, the
//! drain and retry rules, and put the same bytes on both wires (`tests/it/fast_path.rs`).

mod answer;
mod ask;
pub mod check;
mod chunked;
mod fields;
mod relay;

use super::page::{wants_json, Page};
use super::retry::retry_bodyless;
use super::{Gateway, RequestCtx};
use crate::routes::{normalize_host, CANARY_COOKIE};
use ask::Parsed;
use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use prometheus::IntCounter;
use relay::{Attempt, Reply};
use std::cell::RefCell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, ReadBuf};

/// How long a kept-alive connection may wait for its next request, and a client may stall while sending
/// its head, as on Pingora's path.
const KEEPALIVE: Duration = Duration::from_secs(60);
/// Most bytes one read from a client takes (through the thread's scratch space).
const READ_SCRATCH: usize = 16 * 1024;

thread_local! {
    /// Each proxy thread runs one single-threaded runtime: reads go through this space, which no read
    /// holds across an await, and only what arrived is kept per connection.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SCRATCH].into_boxed_slice());
}

pub(crate) struct Lane {
    gateway: Gateway,
    proxy: Arc<HttpProxy<Gateway>>,
    /// Requests the lane passed to Pingora's path.
    handovers: IntCounter,
}

impl Lane {
    pub(crate) fn new(gateway: Gateway, proxy: Arc<HttpProxy<Gateway>>, handovers: IntCounter) -> Lane {
        Lane { gateway, proxy, handovers }
    }
}

/// One client connection.
struct Client {
    stream: Stream,
    buf: BytesMut,
    ip: Option<String>,
    tls: bool,
    shutdown: ShutdownWatch,
}

/// A request the lane serves, its bytes still at the front of the client's buffer.
struct Plan {
    len: usize,
    head_request: bool,
    close: bool,
    json: bool,
    upstream: Vec<u8>,
    ctx: RequestCtx,
}

enum Step {
    Partial,
    HandOver,
    Serve(Box<Plan>),
}

/// What the connection does after a request.
enum Next {
    Again,
    Close,
    HandOver,
}

#[async_trait]
impl ServerApp for Lane {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return self.proxy.process_new(stream, shutdown).await;
        }
        let ip = stream.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let tls = stream.get_ssl_digest().is_some();
        let mut client =
            Client { stream, buf: BytesMut::new(), ip: ip.map(|ip| ip.to_string()), tls, shutdown: shutdown.clone() };
        loop {
            match self.next(&mut client, shutdown).await {
                Next::Again => {}
                Next::Close => return None,
                Next::HandOver => {
                    self.handovers.inc();
                    // Boxed, like the request below: an idle connection's task holds only the read.
                    return Box::pin(self.hand_over(client, shutdown)).await;
                }
            }
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

impl Lane {
    /// Reads the next request and serves it or hands it over.
    async fn next(&self, client: &mut Client, shutdown: &ShutdownWatch) -> Next {
        loop {
            match self.plan(&client.buf, client.ip.as_deref(), client.tls) {
                Step::Partial => {}
                Step::HandOver => return Next::HandOver,
                Step::Serve(plan) => return Box::pin(self.serve(client, *plan, shutdown)).await,
            }
            // Waiting for a request, or for the rest of its head: Pingora's bound on both.
            let wait = KEEPALIVE;
            let read = tokio::time::timeout(wait, read_into(&mut client.stream, &mut client.buf));
            // A shutdown drops connections waiting for a request, as Pingora's path does, so they end
            // before the runtime is stopped; bytes already sent are read first.
            let read = tokio::select! {
                biased;
                read = read => read,
                Ok(()) = client.shutdown.changed() => return Next::Close,
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                _ => return Next::Close,
            }
        }
    }

    /// Decides what to do with the request at the front of `buf` (no I/O).
    fn plan(&self, buf: &[u8], ip: Option<&str>, tls: bool) -> Step {
        let mut storage = ask::storage();
        let ask = match ask::parse(buf, &mut storage) {
            Parsed::Partial => return Step::Partial,
            Parsed::HandOver => return Step::HandOver,
            Parsed::Take(ask) => ask,
        };
        let Some(host) = normalize_host(ask.host) else { return Step::HandOver };
        let mut ctx = RequestCtx { tls, ..RequestCtx::default() };
        let answer = self.gateway.route_to(host.into_owned(), ask.path(), ask.cookie, &mut ctx);
        if answer.is_some() || ctx.admin.is_some() || ctx.upstream.is_none() {
            ctx.release();
            return Step::HandOver;
        }
        let json = ask.fields.get(b"accept").and_then(|v| std::str::from_utf8(v).ok()).is_some_and(wants_json);
        let id = new_request_id(ask.fields.contains(b"x-request-id"));
        let (len, head_request, close) = (ask.len, ask.is_head(), ask.close);
        let upstream = ask::upstream_head(*ask, ip, &ctx.host, tls, &id);
        Step::Serve(Box::new(Plan { len, head_request, close, json, upstream, ctx }))
    }

    /// Serves a planned request: upstream, a warm retry after a failure, a 502 when there is no answer.
    async fn serve(&self, client: &mut Client, mut plan: Plan, shutdown: &ShutdownWatch) -> Next {
        plan.ctx.started = Some(Instant::now());
        let keep_alive = !plan.close && !*shutdown.borrow() && !self.gateway.retirement.closing();
        let cookie = plan.ctx.remember.map(|id| format!("{CANARY_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"));
        let next = loop {
            let Some((addr, _)) = plan.ctx.upstream else { break Next::Close };
            let reply = Reply {
                head_request: plan.head_request,
                cookie: cookie.clone(),
                keep_alive,
                routes: &self.gateway.routes,
                ctx: &plan.ctx,
            };
            match relay::attempt(addr, &plan.upstream, &mut client.stream, &reply).await {
                // Nothing went out: Pingora's path connects (and fails, retries or answers) itself.
                Attempt::Unreachable => break Next::HandOver,
                Attempt::Unanswered => {
                    // The request may have reached the app: what Pingora's path does after such a failure.
                    plan.ctx.upstream_failed();
                    if retry_bodyless(&mut plan.ctx) {
                        continue;
                    }
                    bad_gateway(client, &plan).await;
                    self.observe(&plan.ctx, 502);
                    break Next::Close;
                }
                Attempt::Answered { status, complete } => {
                    self.observe(&plan.ctx, status);
                    let _ = client.buf.split_to(plan.len);
                    // An idle connection keeps no buffer; the next read allocates what arrives.
                    if client.buf.is_empty() {
                        client.buf = BytesMut::new();
                    }
                    break if complete && keep_alive { Next::Again } else { Next::Close };
                }
            }
        };
        plan.ctx.release();
        next
    }

    /// What the ordinary path's `logging` records.
    fn observe(&self, ctx: &RequestCtx, status: u16) {
        if let (Some(route), Some((_, slot))) = (&ctx.route, ctx.upstream) {
            let elapsed = ctx.started.map_or(Duration::ZERO, |s| s.elapsed());
            route.metrics.observe(slot, status, elapsed);
        }
    }

    /// Gives the connection, with the bytes read of its next request, to Pingora's proxy for good.
    async fn hand_over(&self, client: Client, shutdown: &ShutdownWatch) -> Option<Stream> {
        let mut session = ServerSession::new_http1(client.stream);
        session.set_keepalive(if *shutdown.borrow() { None } else { Some(KEEPALIVE.as_secs()) });
        if !client.buf.is_empty() {
            let mut settings = HttpPersistentSettings::for_session(&session);
            settings.set_pipelined_prefix(client.buf);
            settings.apply_to_session(&mut session);
        }
        let mut result = self.proxy.process_new_http(session, shutdown).await;
        while let Some((stream, settings)) = result.map(|r| r.consume()) {
            let mut session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
            result = self.proxy.process_new_http(session, shutdown).await;
        }
        None
    }
}

/// Reads what the client has sent into `buf`, through this thread's scratch space, so a connection waiting
/// for its next request holds no buffer of its own. `Ok(0)`: the client closed.
async fn read_into(stream: &mut Stream, buf: &mut BytesMut) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read = ReadBuf::new(&mut scratch[..]);
            match Pin::new(&mut *stream).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    buf.extend_from_slice(read.filled());
                    Poll::Ready(Ok(read.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}

/// A new `X-Request-Id` unless the client sent one.
fn new_request_id(sent: bool) -> String {
    if sent {
        return String::new();
    }
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id).to_owned()
}

/// The ordinary path's answer when the app could not be reached, ending the connection.
async fn bad_gateway(client: &mut Client, plan: &Plan) {
    let name = plan.ctx.route.as_ref().map(|r| r.name.replace('`', "'")).unwrap_or_default();
    let detail = format!("The live deployment of `{name}` could not be reached. Check that it is running.");
    let Ok((mut resp, body)) = Page::new(502, "Bad gateway", "bad_gateway", detail).render(plan.json) else { return };
    let date = pingora::protocols::http::date::get_cached_date();
    if resp.insert_header(http::header::DATE, date).is_err()
        || resp.insert_header(http::header::CONNECTION, "close").is_err()
    {
        return;
    }
    let mut out = b"HTTP/1.1 502 Bad Gateway\r\n".to_vec();
    resp.header_to_h1_wire(&mut out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    let _ = relay::write(&mut client.stream, &mut out).await;
}

#[cfg(test)]
mod tests;
