//! Serving one request: host → route → peer → metrics, plus the gateway's own error pages.
//!
//! Nothing here does I/O besides proxying, and nothing panics on client input: every
//! early answer is written in `request_filter` so the client connection stays alive.

mod ctx;
mod fast;
mod framing;
mod hold;
mod lane;
mod limits;
mod page;
mod pool;
mod request;
mod retire;
mod retry;

pub(crate) use ctx::RequestCtx;
pub use fast::{eligible as fast_path_eligible, sanitized as fast_path_sanitized};
pub use lane::check as lane_check;
pub(crate) use lane::Lane;
use page::{https_location, write_redirect, write_text, Page};
use request::{request_host, roll, ServedOverTls};

use crate::routes::{decide, Decision, ProjectRoute, RequestFacts, Routes, CANARY_COOKIE};
use crate::tls::{Certs, Challenges};
use crate::upgrade::Retirement;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use retry::retry_on_warm;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pooled upstream connections idle longer than this are closed, so a retired slot
/// stops holding sockets within seconds of a switch.
const UPSTREAM_IDLE: Duration = Duration::from_secs(5);
const UPSTREAM_CONNECT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub(crate) struct Gateway {
    routes: Arc<Routes>,
    certs: Arc<Certs>,
    challenges: Arc<Challenges>,
    /// The TLS listener's port, for redirects; `None` without `https_listen`.
    https_port: Option<u16>,
    retirement: Arc<Retirement>,
    /// Whether `proxy::fast` may take a request (`[proxy] fast_path`).
    fast_path: bool,
}

/// What a request that is not proxied (yet) gets.
enum Answer {
    Page(Page),
    Redirect,
    /// The project is paused: wait up to the duration for it to serve again.
    Hold(Arc<ProjectRoute>, Duration),
}

impl Gateway {
    pub(crate) fn new(
        routes: Arc<Routes>,
        certs: Arc<Certs>,
        challenges: Arc<Challenges>,
        https_port: Option<u16>,
        retirement: Arc<Retirement>,
        fast_path: bool,
    ) -> Self {
        Gateway { routes, certs, challenges, https_port, retirement, fast_path }
    }

    /// The decision for this request, applied to `ctx`; a page to answer with when it is not proxied.
    fn route(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Option<Answer> {
        let host = request_host(req).unwrap_or_default();
        let cookie = req.headers.get(http::header::COOKIE).and_then(|v| v.to_str().ok());
        self.route_to(host, req.uri.path(), cookie, ctx)
    }

    /// The decision for a request to `host` (normalised), applied to `ctx`. The snapshot guard lives inside
    /// this function only, never across an await.
    fn route_to(&self, host: String, path: &str, cookie: Option<&str>, ctx: &mut RequestCtx) -> Option<Answer> {
        let table = self.routes.current();
        let facts = RequestFacts { host: &host, path, cookie, roll: roll(), tls: ctx.tls };
        // Only a plain request on a gateway with a TLS listener may be redirected: no certificate map read otherwise.
        let certs = (self.https_port.is_some() && !ctx.tls).then(|| self.certs.current());
        let page = match decide(&facts, &table, &ServedOverTls(certs.as_deref().map(|t| &**t))) {
            Decision::Proxy(pick) => {
                ctx.route = Some(pick.route.clone());
                ctx.hold(pick.member);
                ctx.remember = pick.remember;
                None
            }
            Decision::Admin(addr) => {
                ctx.admin = Some(addr);
                None
            }
            Decision::Redirect => Some(Answer::Redirect),
            Decision::Paused(route, hold) => Some(Answer::Hold(route.clone(), hold)),
            other => Some(Answer::Page(Page::for_decision(&other, &host))),
        };
        ctx.host = host;
        page
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// No modules: Pingora's default adds a (disabled) compression module to every request, which costs a
    /// context and a filter call per response; the gateway passes bodies through as the app sent them.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.started = Some(Instant::now());
        // Being replaced by an upgrade: this answer ends the connection, so the client's next request
        // opens a new one, which the successor accepts (for HTTP/2, Pingora's GOAWAY does the same).
        if self.retirement.closing() {
            session.set_keepalive(None);
        }
        session.set_read_timeout(Some(limits::CLIENT_IDLE));
        session.set_write_timeout(Some(limits::CLIENT_IDLE));
        if let Some(reason) = limits::oversized(session.req_header()) {
            session.set_keepalive(None);
            Page::new(431, "Request header fields too large", "header_too_large", reason).write(session).await?;
            return Ok(true);
        }
        if let Some(reason) = framing::ambiguous(session.req_header()) {
            session.set_keepalive(None);
            Page::new(400, "Bad request", "ambiguous_framing", reason.into()).write(session).await?;
            return Ok(true);
        }
        // Requests a client pipelines behind this one are answered in order (RFC 9112 §9.3.2), not dropped.
        session.set_pipelining_enabled(true);
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        if !ctx.tls {
            if let Some(key_authorization) = self.challenges.http01_anywhere(session.req_header().uri.path()).await {
                write_text(session, key_authorization).await?;
                return Ok(true);
            }
        }
        let mut answer = self.route(session.req_header(), ctx);
        if let Some(Answer::Hold(route, hold)) = answer {
            answer = self.wait_while_paused(session.req_header(), ctx, &route, hold).await;
        }
        match answer {
            None if !self.fast_path => Ok(false),
            None => match fast::serve(session, ctx, &self.routes).await? {
                fast::Fast::Served => Ok(true),
                fast::Fast::Declined => Ok(false),
            },
            Some(Answer::Page(page)) => page.write(session).await.map(|()| true),
            Some(Answer::Hold(route, _)) => {
                Page::paused(&route.name, "Retry shortly.").write(session).await.map(|()| true)
            }
            Some(Answer::Redirect) => {
                let path = session.req_header().uri.path_and_query().map_or("/", |p| p.as_str());
                let location = https_location(&ctx.host, self.https_port.unwrap_or(443), path);
                write_redirect(session, &location).await.map(|()| true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let addr = match (ctx.admin, ctx.upstream) {
            (Some(admin), _) => admin,
            (None, Some((addr, _))) => addr,
            (None, None) => return Err(Error::explain(ErrorType::InternalError, "request was not routed")),
        };
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.idle_timeout = Some(UPSTREAM_IDLE);
        peer.options.connection_timeout = Some(UPSTREAM_CONNECT);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        request::forwarded_headers(session, up, &ctx.host, ctx.tls)
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.upstream_failed();
        let retry = retry_on_warm(session, ctx);
        e.set_retry(retry);
        e
    }

    /// An upstream that accepted the connection and then died before answering (a crashed container
    /// behind Docker's port proxy does exactly that) is treated like one that refused it.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        _client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        // Only a request that may be sent twice: the first attempt may have reached the app.
        let idempotent = session.req_header().method.is_idempotent();
        let unanswered = e.esource() == &ErrorSource::Upstream && session.response_written().is_none();
        if unanswered {
            ctx.upstream_failed();
        }
        let retry = idempotent && unanswered && retry_on_warm(session, ctx);
        e.set_retry(retry);
        e
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(id) = ctx.remember {
            let cookie = format!("{CANARY_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
            upstream_response.append_header(http::header::SET_COOKIE, cookie)?;
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        retire::check(&self.routes, ctx)
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        retire::check(&self.routes, ctx).map(|()| None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
        let nothing_written = session.response_written().is_none();
        if e.esource() == &ErrorSource::Downstream && e.etype().as_str() == "InvalidChunk" && nothing_written {
            let why = "The request body's chunked encoding is invalid (a chunk size that is not hexadecimal, too large, or a chunk extension over the limit).";
            if let Err(write_err) = Page::new(400, "Bad request", "bad_chunk", why.into()).write(session).await {
                tracing::debug!("cannot send the 400 page: {write_err}");
            }
            return FailToProxy { error_code: 400, can_reuse_downstream: false };
        }
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            // Once an answer has begun, an error can only end the connection, never add a page.
            _ if e.esource() == &ErrorSource::Downstream || session.response_written().is_some() => 0,
            _ => 502,
        };
        if code > 0 {
            let name = ctx.route.as_ref().map(|r| r.name.replace('`', "'")).unwrap_or_default();
            let detail = format!("The live deployment of `{name}` could not be reached. Check that it is running.");
            let page = Page::new(code, "Bad gateway", "bad_gateway", detail);
            if let Err(write_err) = page.write(session).await {
                tracing::debug!("cannot send the error page: {write_err}");
            }
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        ctx.release();
        let (Some(route), Some((_, slot))) = (&ctx.route, ctx.upstream) else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.map_or(Duration::ZERO, |s| s.elapsed());
        route.metrics.observe(slot, status, elapsed);
    }
}
