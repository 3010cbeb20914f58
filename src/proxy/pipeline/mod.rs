//! Pingora's proxy pipeline: the stage for HTTP/2 and for the HTTP/1.1 requests the lane hands over, one
//! at a time (see [`crate::proxy`]). It asks the same [`Gateway::verdict`] as the lane in
//! `request_filter`, writes the gateway's own answers there (so the client connection stays alive), and
//! otherwise lets Pingora proxy the request: peer, forwarding headers, warm-slot retries, the 502 page, and
//! the request's metrics in `logging`.

mod framing;

use super::answer::{Answer, Page};
use super::request::{self, request_host};
use super::verdict::Asked;
use super::{limits, retire, Gateway, RequestCtx, Verdict, UPSTREAM_CONNECT, UPSTREAM_IDLE};
use crate::routes::CANARY_COOKIE;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::time::{Duration, Instant};

/// What the pipeline refuses before routing: a head over its limits (431), ambiguous framing (400).
fn refusal(req: &RequestHeader) -> Option<Answer> {
    if let Some(reason) = limits::oversized(req) {
        return Some(Answer::Page(Page::new(431, "Request header fields too large", "header_too_large", reason)));
    }
    let reason = framing::ambiguous(req)?;
    Some(Answer::Page(Page::new(400, "Bad request", "ambiguous_framing", reason.into())))
}

impl Gateway {
    /// ACME's HTTP-01 answer for a plain-HTTP request to a challenge path, on any host.
    async fn challenge_answer(&self, session: &Session, ctx: &RequestCtx) -> Option<Answer> {
        if ctx.tls {
            return None;
        }
        self.challenges.http01_anywhere(session.req_header().uri.path()).await.map(Answer::Text)
    }

    /// The verdict for a request as Pingora parsed it.
    fn verdict_of(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Verdict {
        let host = request_host(req).unwrap_or_default();
        let cookie = req.headers.get(http::header::COOKIE).and_then(|v| v.to_str().ok());
        let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
        self.verdict(Asked { host, target, cookie }, ctx)
    }

    /// The verdict, after waiting while the project is paused.
    async fn decided(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Verdict {
        match self.verdict_of(req, ctx) {
            Verdict::Hold(route, hold) => {
                let again = || match self.verdict_of(req, ctx) {
                    Verdict::Hold(..) => None,
                    decided => Some(decided),
                };
                self.hold(&route, hold, again).await.unwrap_or_else(Verdict::Answer)
            }
            decided => decided,
        }
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
        if let Some(refusal) = refusal(session.req_header()) {
            session.set_keepalive(None);
            refusal.write(session).await?;
            return Ok(true);
        }
        // Requests a client pipelines behind this one are answered in order (RFC 9112 §9.3.2), not dropped.
        session.set_pipelining_enabled(true);
        ctx.tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let verdict = match self.challenge_answer(session, ctx).await {
            Some(answer) => Verdict::Answer(answer),
            None => self.decided(session.req_header(), ctx).await,
        };
        match verdict {
            Verdict::Proxy => Ok(false),
            Verdict::Answer(answer) => answer.write(session).await.map(|()| true),
            // `decided` decides a held request again, so this is only for completeness.
            Verdict::Hold(route, _) => {
                Answer::Page(Page::paused(&route.name, "Retry shortly.")).write(session).await.map(|()| true)
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
        let retry = super::retry::retry_on_warm(session, ctx);
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
        let retry = idempotent && unanswered && super::retry::retry_on_warm(session, ctx);
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
            if let Err(write_err) =
                Answer::Page(Page::new(400, "Bad request", "bad_chunk", why.into())).write(session).await
            {
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
            let page = Answer::Page(Page::unreachable(code, ctx.route.as_deref()));
            if let Err(write_err) = page.write(session).await {
                tracing::debug!("cannot send the error page: {write_err}");
            }
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        ctx.release();
        self.pipeline_requests.inc();
        let (Some(route), Some((_, slot))) = (&ctx.route, ctx.upstream) else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.map_or(Duration::ZERO, |s| s.elapsed());
        route.metrics.observe(slot, status, elapsed);
    }
}
