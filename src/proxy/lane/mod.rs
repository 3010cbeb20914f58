//! The lane: our HTTP/1.1 reader, a Pingora server app in front of Pingora's proxy under the same
//! listeners (see [`crate::proxy`] for the whole path). It reads every HTTP/1.1 request head itself, asks
//! [`Gateway::verdict`], and serves what it can: a routed, body-less, idempotent request with nothing
//! Pingora's path would change is exchanged with the upstream directly (`relay`), the gateway's own
//! answers are written here, a paused project's request waits here. Any other request goes, with the
//! bytes already read, to Pingora's pipeline for that one request; the connection comes back to the lane
//! afterwards if it stays open (`handover`). Both stages share the decision, the in-flight accounting,
//! metrics, the drain and retry rules, and put the same bytes on both wires (`tests/it/fast_path.rs`).

mod ask;
pub mod check;
mod chunked;
mod client;
mod fields;
mod handover;
mod head;
mod pool;
mod relay;

use super::answer::{wants_json, Answer, Page};
use super::retry::retry_bodyless;
use super::verdict::Asked;
use super::{Gateway, RequestCtx, Verdict};
use crate::routes::{normalize_host, ProjectRoute, CANARY_COOKIE};
use ask::Parsed;
use async_trait::async_trait;
use client::Client;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use prometheus::IntCounter;
use relay::{Attempt, Reply};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a kept-alive connection may wait for its next request, and a client may stall while sending
/// its head, as on Pingora's path.
const KEEPALIVE: Duration = Duration::from_secs(60);

pub(crate) struct Lane {
    gateway: Gateway,
    proxy: Arc<HttpProxy<Gateway>>,
    /// Requests the lane answered itself, and requests it handed to the pipeline.
    counters: StageCounters,
}

/// The lane's two request counters (`versiongate_proxy_requests_total{stage="lane"}` and
/// `versiongate_proxy_handovers_total{stage="lane"}`).
#[derive(Clone)]
pub(crate) struct StageCounters {
    pub(crate) served: IntCounter,
    pub(crate) handed_over: IntCounter,
}

impl Lane {
    pub(crate) fn new(gateway: Gateway, proxy: Arc<HttpProxy<Gateway>>, counters: StageCounters) -> Lane {
        Lane { gateway, proxy, counters }
    }
}

/// A request the lane sends upstream, its bytes still at the front of the client's buffer.
struct Plan {
    len: usize,
    head_request: bool,
    close: bool,
    json: bool,
    upstream: Vec<u8>,
    ctx: RequestCtx,
}

/// A request the gateway answers itself, its bytes still at the front of the client's buffer.
struct Own {
    len: usize,
    head_request: bool,
    close: bool,
    json: bool,
    answer: Answer,
}

enum Step {
    Partial,
    HandOver,
    Serve(Box<Plan>),
    Answer(Box<Own>),
    Hold(Arc<ProjectRoute>, Duration),
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
        let mut client = Client::new(stream, shutdown.clone());
        loop {
            match self.next(&mut client, shutdown).await {
                Next::Again => {}
                Next::Close => return None,
                Next::HandOver => {
                    self.counters.handed_over.inc();
                    // Boxed, like the request below: an idle connection's task holds only the read.
                    client = Box::pin(self.hand_over(client, shutdown)).await?;
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
            match self.plan(client) {
                Step::Partial => {}
                Step::HandOver => return Next::HandOver,
                Step::Serve(plan) => return Box::pin(self.serve(client, *plan, shutdown)).await,
                Step::Answer(own) => return Box::pin(self.answer(client, *own, shutdown)).await,
                Step::Hold(route, hold) => return Box::pin(self.held(client, route, hold, shutdown)).await,
            }
            if !client.read_more(KEEPALIVE).await {
                return Next::Close;
            }
        }
    }

    /// Decides what to do with the request at the front of the client's buffer (no I/O).
    fn plan(&self, client: &Client) -> Step {
        let mut storage = ask::storage();
        let ask = match ask::parse(&client.buf, &mut storage) {
            Parsed::Partial => return Step::Partial,
            Parsed::HandOver => return Step::HandOver,
            Parsed::Take(ask) => ask,
        };
        let Some(host) = normalize_host(ask.host) else { return Step::HandOver };
        let mut ctx = RequestCtx { tls: client.tls, ..RequestCtx::default() };
        let asked = Asked { host: host.into_owned(), target: ask.target, cookie: ask.cookie };
        let verdict = self.gateway.verdict(asked, &mut ctx);
        let json = ask.fields.get(b"accept").and_then(|v| std::str::from_utf8(v).ok()).is_some_and(wants_json);
        let (len, head_request, close) = (ask.len, ask.is_head(), ask.close);
        match verdict {
            // The admin server is the pipeline's: it proxies to it with its own rules.
            Verdict::Proxy if ctx.admin.is_some() || ctx.upstream.is_none() => {
                ctx.release();
                Step::HandOver
            }
            Verdict::Proxy => {
                let id = new_request_id(ask.fields.contains(b"x-request-id"));
                let upstream = ask::upstream_head(*ask, client.ip.as_deref(), &ctx.host, client.tls, &id);
                Step::Serve(Box::new(Plan { len, head_request, close, json, upstream, ctx }))
            }
            Verdict::Answer(answer) => Step::Answer(Box::new(Own { len, head_request, close, json, answer })),
            Verdict::Hold(route, hold) => Step::Hold(route, hold),
        }
    }

    /// Whether the connection may stay open after this answer.
    fn keep_alive(&self, close: bool, shutdown: &ShutdownWatch) -> bool {
        !close && !*shutdown.borrow() && !self.gateway.retirement.closing()
    }

    /// Serves a planned request: upstream, a warm retry after a failure, a 502 when there is no answer.
    async fn serve(&self, client: &mut Client, mut plan: Plan, shutdown: &ShutdownWatch) -> Next {
        plan.ctx.started = Some(Instant::now());
        let keep_alive = self.keep_alive(plan.close, shutdown);
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
                    let page = Answer::Page(Page::unreachable(502, plan.ctx.route.as_deref()));
                    let _ = client.write_answer(&page, plan.json, plan.head_request, false).await;
                    self.observe(&plan.ctx, 502);
                    break Next::Close;
                }
                Attempt::Answered { status, complete } => {
                    self.observe(&plan.ctx, status);
                    client.consume(plan.len);
                    break if complete && keep_alive { Next::Again } else { Next::Close };
                }
            }
        };
        plan.ctx.release();
        next
    }

    /// Writes the gateway's own answer.
    async fn answer(&self, client: &mut Client, own: Own, shutdown: &ShutdownWatch) -> Next {
        let keep_alive = self.keep_alive(own.close, shutdown);
        self.counters.served.inc();
        if client.write_answer(&own.answer, own.json, own.head_request, keep_alive).await.is_err() {
            return Next::Close;
        }
        client.consume(own.len);
        if keep_alive {
            Next::Again
        } else {
            Next::Close
        }
    }

    /// Waits while the request's project is paused, then carries out what it is decided to get.
    async fn held(
        &self,
        client: &mut Client,
        route: Arc<ProjectRoute>,
        hold: Duration,
        shutdown: &ShutdownWatch,
    ) -> Next {
        let again = || match self.plan(client) {
            Step::Hold(..) => None,
            step => Some(step),
        };
        let step = self.gateway.hold(&route, hold, again).await;
        match step {
            Ok(Step::Serve(plan)) => self.serve(client, *plan, shutdown).await,
            Ok(Step::Answer(own)) => self.answer(client, *own, shutdown).await,
            Ok(Step::HandOver) => Next::HandOver,
            // Still held, or a head that stopped parsing: neither can happen to bytes already parsed once.
            Ok(Step::Partial | Step::Hold(..)) => Next::HandOver,
            Err(answer) => match self.plan_answer(client, answer) {
                Step::Answer(own) => self.answer(client, *own, shutdown).await,
                _ => Next::Close,
            },
        }
    }

    /// What the request at the front of the buffer gets when the gateway answers it with `answer`.
    fn plan_answer(&self, client: &Client, answer: Answer) -> Step {
        let mut storage = ask::storage();
        let Parsed::Take(ask) = ask::parse(&client.buf, &mut storage) else { return Step::HandOver };
        let json = ask.fields.get(b"accept").and_then(|v| std::str::from_utf8(v).ok()).is_some_and(wants_json);
        Step::Answer(Box::new(Own { len: ask.len, head_request: ask.is_head(), close: ask.close, json, answer }))
    }

    /// What Pingora's path records in `logging` for a proxied request.
    fn observe(&self, ctx: &RequestCtx, status: u16) {
        self.counters.served.inc();
        if let (Some(route), Some((_, slot))) = (&ctx.route, ctx.upstream) {
            let elapsed = ctx.started.map_or(Duration::ZERO, |s| s.elapsed());
            route.metrics.observe(slot, status, elapsed);
        }
    }
}

/// A new `X-Request-Id` unless the client sent one.
fn new_request_id(sent: bool) -> String {
    if sent {
        return String::new();
    }
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id).to_owned()
}

#[cfg(test)]
mod tests;
