//! Serving one request.
//!
//! # The request path
//! Every client connection on the proxy's listeners meets one of two stages, named for what they are:
//!
//! | stage | takes | why |
//! |---|---|---|
//! | [`lane`] | every HTTP/1.1 request first | our own reader: it serves what it can — a routed request that is idempotent and has no body, and every answer the gateway writes itself — with no per-request work beyond the exchange, which made it nginx's speed (docs/BENCHMARKS.md) |
//! | [`pipeline`] | HTTP/2, and the one HTTP/1.1 request the lane hands over at a time (a body, an upgrade, HTTP/1.0, an odd head, an ACME challenge, the admin host) | Pingora's full proxy, which handles everything; the lane takes the connection back after the request when it stays open |
//!
//! Both stages ask the same question the same way: the request's host, target and canary cookie go to
//! [`Gateway::verdict`], which asks the pure [`crate::routes::decide`] and turns its decision into a
//! [`Verdict`]. A verdict is carried out by the same code on either stage: [`answer`] renders the
//! gateway's own answers (404, 502, 503, maintenance, the https redirect), [`hold`] keeps a paused
//! project's requests waiting, [`ctx`] counts a routed request in flight, [`retry`] picks a warm member
//! after a failure, and [`retire`] ends a stream once its slot has drained. A stage differs only in how it
//! reads and writes bytes. A new kind of answer (a policy's 401/403/429, a static file, a wake) is a new
//! verdict or [`Answer`] variant, not a branch in each stage.
//!
//! Nothing here does I/O besides serving requests, and nothing panics on client input.

mod answer;
mod ctx;
mod hold;
mod lane;
mod limits;
mod pipeline;
mod request;
mod retire;
mod retry;
mod verdict;

pub(crate) use answer::Answer;
pub(crate) use ctx::RequestCtx;
pub use lane::check as lane_check;
pub(crate) use lane::{Lane, StageCounters};
pub(crate) use verdict::Verdict;

use crate::routes::Routes;
use crate::tls::{Certs, Challenges};
use crate::upgrade::Retirement;
use prometheus::IntCounter;
use std::sync::Arc;
use std::time::Duration;

/// Pooled upstream connections idle longer than this are closed, so a retired slot
/// stops holding sockets within seconds of a switch.
const UPSTREAM_IDLE: Duration = Duration::from_secs(5);
const UPSTREAM_CONNECT: Duration = Duration::from_secs(3);

/// What both stages share: the route table they decide from, and what the decision needs besides.
#[derive(Clone)]
pub(crate) struct Gateway {
    routes: Arc<Routes>,
    certs: Arc<Certs>,
    challenges: Arc<Challenges>,
    /// The TLS listener's port, for redirects; `None` without `https_listen`.
    https_port: Option<u16>,
    retirement: Arc<Retirement>,
    /// Requests the pipeline answered (`versiongate_proxy_requests_total{stage="pipeline"}`).
    pipeline_requests: IntCounter,
}

/// What a [`Gateway`] is made of.
pub(crate) struct GatewayParts {
    pub(crate) routes: Arc<Routes>,
    pub(crate) certs: Arc<Certs>,
    pub(crate) challenges: Arc<Challenges>,
    pub(crate) https_port: Option<u16>,
    pub(crate) retirement: Arc<Retirement>,
    pub(crate) pipeline_requests: IntCounter,
}

impl Gateway {
    pub(crate) fn new(parts: GatewayParts) -> Self {
        let GatewayParts { routes, certs, challenges, https_port, retirement, pipeline_requests } = parts;
        Gateway { routes, certs, challenges, https_port, retirement, pipeline_requests }
    }
}
