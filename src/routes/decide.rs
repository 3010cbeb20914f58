//! The proxy's request decision (pure): from the host, path and canary cookie of a request and one route
//! table snapshot, what the request gets. The proxy then does the I/O.

use super::table::{Backend, Member, ProjectRoute, RouteTable};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The cookie that keeps a client on one side of a rollout split.
pub(crate) const CANARY_COOKIE: &str = "vg_canary";

/// What the decision needs to know about one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFacts<'a> {
    /// Normalised host (see [`super::normalize_host`]); empty when the request named none.
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    /// The raw `Cookie` header, read only when the project runs a rollout.
    pub(crate) cookie: Option<&'a str>,
    /// A random number: the weighted pick of a client new to a rollout, and ties between equal members.
    pub(crate) roll: u32,
    /// The request came over TLS.
    pub(crate) tls: bool,
}

/// Which hosts have a valid certificate served on the TLS listener (the redirect rule's question).
pub(crate) trait HostCertificates {
    fn serves(&self, host: &str) -> bool;
}

/// ACME's HTTP-01 path: never redirected, whatever the project says (RFC 8555 §8.3 wants plain HTTP).
const ACME_HTTP01: &str = "/.well-known/acme-challenge/";
/// GitHub does not follow redirects for webhook deliveries.
const WEBHOOK_PATHS: &str = "/webhooks/";

/// What a request gets.
#[derive(Debug)]
pub(crate) enum Decision<'t> {
    /// Plain HTTP for a host with a certificate: 308 to the same path and query on https.
    Redirect,
    /// The request is for `public_host` and goes to the admin server.
    Admin(SocketAddr),
    /// `public_host` with a path the admin server shows only on its own listener.
    AdminHidden,
    UnknownHost,
    /// The project has nothing live: 503.
    NoLive(&'t Arc<ProjectRoute>),
    /// The project is paused: the request waits up to the duration for it to serve again.
    Paused(&'t Arc<ProjectRoute>, Duration),
    Maintenance(&'t Arc<ProjectRoute>, &'t str),
    Proxy(Pick<'t>),
}

/// The member a proxied request goes to.
#[derive(Debug)]
pub(crate) struct Pick<'t> {
    pub(crate) route: &'t Arc<ProjectRoute>,
    pub(crate) member: &'t Member,
    /// A client new to a rollout: the deployment to remember in [`CANARY_COOKIE`].
    pub(crate) remember: Option<i64>,
}

/// The one decision of the request path.
pub(crate) fn decide<'t>(req: &RequestFacts<'_>, table: &'t RouteTable, certs: &impl HostCertificates) -> Decision<'t> {
    if let Some((_, addr)) = table.admin.as_ref().filter(|(h, _)| h == req.host) {
        if !public_admin_path(req.path) {
            return Decision::AdminHidden;
        }
        let upgrade = !req.path.starts_with(WEBHOOK_PATHS) && upgrades(req, certs);
        return if upgrade { Decision::Redirect } else { Decision::Admin(*addr) };
    }
    let Some(route) = table.lookup(req.host) else { return Decision::UnknownHost };
    if route.https_redirect && upgrades(req, certs) {
        return Decision::Redirect;
    }
    let pools = match &route.backend {
        Backend::Serve(pools) => pools,
        Backend::Paused { hold, .. } => return Decision::Paused(route, *hold),
        Backend::Maintenance { message, .. } => return Decision::Maintenance(route, message),
    };
    let Some(rollout) = &pools.rollout else {
        return match pools.active.pick(req.roll) {
            Some(member) => Decision::Proxy(Pick { route, member, remember: None }),
            None => Decision::NoLive(route),
        };
    };
    let remembered = req.cookie.and_then(canary_cookie);
    let in_rollout = |id: i64| rollout.pool.members.iter().any(|m| m.deployment_id == id);
    let in_active = |id: i64| pools.active.members.iter().any(|m| m.deployment_id == id);
    let (canary, remember) = match remembered {
        Some(id) if in_rollout(id) => (true, None),
        Some(id) if in_active(id) => (false, None),
        _ => ((req.roll % 100) < u32::from(rollout.percent), Some(())),
    };
    let pool = if canary || pools.active.is_empty() { &rollout.pool } else { &pools.active };
    match pool.pick(req.roll) {
        Some(member) => Decision::Proxy(Pick { route, member, remember: remember.map(|()| member.deployment_id) }),
        None => Decision::NoLive(route),
    }
}

/// A plain-HTTP request that should move to https: its host has a certificate and it is no ACME challenge.
fn upgrades(req: &RequestFacts<'_>, certs: &impl HostCertificates) -> bool {
    !req.tls && !req.path.starts_with(ACME_HTTP01) && certs.serves(req.host)
}

/// The deployment a `Cookie` header remembers for a rollout, if it names one.
fn canary_cookie(header: &str) -> Option<i64> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == CANARY_COOKIE).then(|| value.trim().parse().ok()).flatten()
    })
}

/// What the admin server shows the outside world through `public_host`: webhooks, the API (token-protected)
/// and the dashboard; never `/metrics` or `/healthz`.
pub(crate) fn public_admin_path(path: &str) -> bool {
    !matches!(path.trim_end_matches('/'), "/metrics" | "/healthz") && !path.starts_with("/metrics/")
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
