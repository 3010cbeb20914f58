//! Serving one request: host → route → peer → metrics, plus the gateway's own error pages.
//!
//! Nothing here does I/O besides proxying, and nothing panics on client input: every
//! early answer is written in `request_filter` so the client connection stays alive.

mod limits;
mod retire;
mod retry;

use crate::routes::{normalize_host, ProjectRoute, Routes, Upstream};
use async_trait::async_trait;
use bytes::Bytes;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use prometheus::IntGauge;
use retry::retry_on_warm;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pooled upstream connections idle longer than this are closed, so a retired slot
/// stops holding sockets within seconds of a switch.
const UPSTREAM_IDLE: Duration = Duration::from_secs(5);
const UPSTREAM_CONNECT: Duration = Duration::from_secs(3);

pub struct Gateway {
    routes: Arc<Routes>,
    /// `[admin] public_host` and the admin server it leads to, for webhooks and the dashboard from outside.
    admin: Option<(String, SocketAddr)>,
}

/// Per-request state: where it was routed and which in-flight gauge it holds.
#[derive(Default)]
pub struct RequestCtx {
    route: Option<Arc<ProjectRoute>>,
    upstream: Option<Upstream>,
    inflight: Option<IntGauge>,
    retried: bool,
    /// Set when the request is for `public_host` and goes to the admin server.
    admin: Option<SocketAddr>,
    started: Option<Instant>,
    host: String,
}

impl RequestCtx {
    fn hold(&mut self, upstream: Upstream) {
        self.release();
        if let Some(route) = &self.route {
            let gauge = route.metrics.inflight(upstream.slot).clone();
            gauge.inc();
            self.inflight = Some(gauge);
        }
        self.upstream = Some(upstream);
    }

    fn release(&mut self) {
        if let Some(gauge) = self.inflight.take() {
            gauge.dec();
        }
    }
}

impl Gateway {
    pub fn new(routes: Arc<Routes>) -> Self {
        Gateway { routes, admin: None }
    }

    /// Routes `host` to the admin server at `admin` (a wildcard listen address means loopback).
    pub fn with_admin_host(mut self, host: &str, mut admin: SocketAddr) -> Self {
        if admin.ip().is_unspecified() {
            admin.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        if let Some(host) = normalize_host(host).filter(|h| !h.is_empty()) {
            self.admin = Some((host.into_owned(), admin));
        }
        self
    }
}

/// The host the client asked for: the URI authority (HTTP/2) first, then the Host header.
fn request_host(req: &RequestHeader) -> Option<String> {
    let raw = match req.uri.authority() {
        Some(authority) => authority.as_str(),
        None => req.headers.get(header::HOST)?.to_str().ok()?,
    };
    normalize_host(raw).map(|h| h.into_owned())
}

/// What the admin server shows the outside world through `public_host`: webhooks, the API (token-protected)
/// and the dashboard; never `/metrics` or `/healthz`.
fn public_admin_path(path: &str) -> bool {
    !matches!(path.trim_end_matches('/'), "/metrics" | "/healthz") && !path.starts_with("/metrics/")
}

async fn write_page(session: &mut Session, status: u16, title: &str, detail: &str) -> Result<()> {
    let body = Bytes::from(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{status} {title}</h1><p>{detail}</p>\
         <hr><small>versiongate</small></body></html>\n"
    ));
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header(header::CONTENT_TYPE, "text/html; charset=utf-8")?;
    resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
    resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.started = Some(Instant::now());
        session.set_read_timeout(Some(limits::CLIENT_IDLE));
        session.set_write_timeout(Some(limits::CLIENT_IDLE));
        if let Some(reason) = limits::oversized(session.req_header()) {
            session.set_keepalive(None);
            write_page(session, 431, "Request header fields too large", &escape(&reason)).await?;
            return Ok(true);
        }
        let host = request_host(session.req_header()).unwrap_or_default();
        if let Some((_, addr)) = self.admin.as_ref().filter(|(h, _)| *h == host) {
            if !public_admin_path(session.req_header().uri.path()) {
                let detail =
                    "This path of the admin server is only reachable on its own listener, not through the public host.";
                write_page(session, 404, "Not found", detail).await?;
                return Ok(true);
            }
            ctx.admin = Some(*addr);
            ctx.host = host;
            return Ok(false);
        }
        // The snapshot guard lives for this statement only, never across an await.
        let route = self.routes.current().lookup(&host).cloned();
        let Some(route) = route else {
            let detail = format!(
                "No project on this gateway serves the host <code>{}</code>. Add it to a project's domains.",
                escape(&host)
            );
            write_page(session, 404, "Unknown host", &detail).await?;
            return Ok(true);
        };
        ctx.host = host;
        let Some(live) = route.live else {
            let detail = format!(
                "Project <code>{}</code> has no live deployment yet. Deploy it, then retry.",
                escape(&route.name)
            );
            write_page(session, 503, "No live deployment", &detail).await?;
            return Ok(true);
        };
        ctx.route = Some(route);
        ctx.hold(live);
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        let addr = match (ctx.admin, ctx.upstream) {
            (Some(admin), _) => admin,
            (None, Some(upstream)) => upstream.addr,
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
        let client = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string());
        if let Some(ip) = client {
            let forwarded = match up.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip,
            };
            up.insert_header("x-forwarded-for", forwarded)?;
        }
        up.insert_header("x-forwarded-proto", "http")?;
        if !ctx.host.is_empty() {
            up.insert_header("x-forwarded-host", ctx.host.as_str())?;
        }
        if !up.headers.contains_key("x-request-id") {
            up.insert_header("x-request-id", uuid::Uuid::new_v4().to_string())?;
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
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
        let retry = idempotent && unanswered && retry_on_warm(session, ctx);
        e.set_retry(retry);
        e
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
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            // Once an answer has begun, an error can only end the connection, never add a page.
            _ if e.esource() == &ErrorSource::Downstream || session.response_written().is_some() => 0,
            _ => 502,
        };
        if code > 0 {
            let name = ctx.route.as_ref().map(|r| escape(&r.name)).unwrap_or_default();
            let detail =
                format!("The live deployment of <code>{name}</code> could not be reached. Check that it is running.");
            if let Err(write_err) = write_page(session, code, "Bad gateway", &detail).await {
                tracing::debug!("cannot send the error page: {write_err}");
            }
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        ctx.release();
        let (Some(route), Some(upstream)) = (&ctx.route, ctx.upstream) else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.map_or(Duration::ZERO, |s| s.elapsed());
        route.metrics.observe(upstream.slot, status, elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, host: Option<&str>) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        r.set_uri(uri.parse().unwrap());
        if let Some(h) = host {
            r.insert_header("host", h).unwrap();
        }
        r
    }

    #[test]
    fn host_comes_from_the_authority_then_the_header() {
        assert_eq!(
            request_host(&req("http://H2.Example.com:8443/x", Some("other.test"))).as_deref(),
            Some("h2.example.com")
        );
        assert_eq!(request_host(&req("/x", Some("App.Test:8080"))).as_deref(), Some("app.test"));
        assert_eq!(request_host(&req("/x", None)), None);
    }

    #[test]
    fn the_public_host_hides_metrics_and_health() {
        for open in ["/webhooks/github", "/api/v1/projects", "/", "/projects/app"] {
            assert!(public_admin_path(open), "{open}");
        }
        for hidden in ["/metrics", "/metrics/", "/healthz", "/healthz/"] {
            assert!(!public_admin_path(hidden), "{hidden}");
        }
    }

    #[test]
    fn error_pages_escape_what_the_client_sent() {
        assert_eq!(escape("<script>&\""), "&lt;script&gt;&amp;&quot;");
    }
}
