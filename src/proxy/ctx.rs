//! Per-request state of the proxy: where a request was routed, which in-flight gauges it holds, and what
//! the answer must carry.

use crate::metrics::ReplicaMetrics;
use crate::project::Slot;
use crate::routes::{Member, ProjectRoute};
use prometheus::IntGauge;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Per-request state: where it was routed and which in-flight gauge it holds.
#[derive(Default)]
pub(crate) struct RequestCtx {
    pub(super) route: Option<Arc<ProjectRoute>>,
    pub(super) upstream: Option<(SocketAddr, Slot)>,
    /// The in-flight gauges this request holds: its slot's and its replica's.
    pub(super) inflight: Option<(IntGauge, Arc<ReplicaMetrics>)>,
    pub(super) retried: bool,
    /// Set when the request is for `public_host` and goes to the admin server.
    pub(super) admin: Option<SocketAddr>,
    /// A client new to a rollout: the deployment it was sent to, remembered in a cookie.
    pub(super) remember: Option<i64>,
    pub(super) started: Option<Instant>,
    pub(super) host: String,
    /// The request came over the TLS listener.
    pub(super) tls: bool,
}

impl RequestCtx {
    pub(super) fn hold(&mut self, member: &Member) {
        self.release();
        member.inflight.inc();
        member.handles.inflight.inc();
        member.handles.requests.inc();
        self.inflight = Some((member.inflight.clone(), member.handles.clone()));
        self.upstream = Some((member.addr, member.slot));
    }

    pub(super) fn release(&mut self) {
        if let Some((slot, replica)) = self.inflight.take() {
            slot.dec();
            replica.inflight.dec();
        }
    }

    /// The upstream refused the connection or died before answering: its replica leaves the rotation until
    /// its health probes pass again.
    pub(super) fn upstream_failed(&self) {
        if let Some((_, replica)) = &self.inflight {
            replica.up.set(0);
        }
    }
}
