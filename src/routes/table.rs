//! The route table: an immutable snapshot of host → project backend, built from the desired state by one
//! pure function, [`RouteTable::from_state`].

use super::member::members;
pub use super::member::Member;
use super::state::{MemberRow, PoolKind, ProjectInput, RouteState, TargetRow, Traffic};
use crate::metrics::ProjectMetrics;
use crate::project::Slot;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Members that share the same role; a request goes to the one with the fewest in flight.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    /// One member is held inline: the common case reads its address without another pointer to follow.
    pub members: SmallVec<[Member; 1]>,
}

impl Pool {
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member in rotation with the fewest requests in flight for its weight (a member of weight 2 takes
    /// twice the load); `roll` breaks ties so equal members share the load. When every member is out of
    /// rotation, the least loaded of them is still tried: a refused connection beats a certain 503.
    pub(crate) fn pick(&self, roll: u32) -> Option<&Member> {
        self.pick_except(roll, None)
    }

    /// [`Pool::pick`] among the members not at `except`.
    pub(crate) fn pick_except(&self, roll: u32, except: Option<SocketAddr>) -> Option<&Member> {
        match self.members.as_slice() {
            [] => None,
            [only] => (except != Some(only.addr)).then_some(only),
            members => {
                let start = roll as usize % members.len();
                let rotated = || members[start..].iter().chain(&members[..start]).filter(|m| Some(m.addr) != except);
                least_loaded(rotated().filter(|m| m.handles.in_rotation())).or_else(|| least_loaded(rotated()))
            }
        }
    }

    fn contains(&self, addr: SocketAddr) -> bool {
        self.members.iter().any(|m| m.addr == addr)
    }
}

/// The member with the fewest requests in flight for its weight; the first of equals.
fn least_loaded<'a>(members: impl Iterator<Item = &'a Member>) -> Option<&'a Member> {
    // a/wa < b/wb without division: a * wb < b * wa.
    let load = |m: &Member, other: &Member| m.handles.inflight.get().max(0) as u64 * u64::from(other.weight);
    members.min_by(|a, b| load(a, b).cmp(&load(b, a)))
}

/// A canary: `percent` of clients go to `pool`, the rest to the active pool.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub(crate) pool: Pool,
    pub(crate) percent: u8,
}

/// Who serves a project that proxies: the active pool, the warm pool and an optional rollout.
#[derive(Debug, Clone, Default)]
pub struct Pools {
    pub active: Pool,
    pub(crate) warm: Pool,
    pub(crate) rollout: Option<Rollout>,
}

impl Pools {
    /// True while `addr` still serves the project in any pool.
    pub(crate) fn serves(&self, addr: SocketAddr) -> bool {
        self.active.contains(addr)
            || self.warm.contains(addr)
            || self.rollout.as_ref().is_some_and(|r| r.pool.contains(addr))
    }

    /// Where a request that failed on `failed` may be tried once more: a warm member first (the version that
    /// served before a switch), then another active replica in rotation.
    pub(crate) fn retry_member(&self, failed: SocketAddr, roll: u32) -> Option<&Member> {
        let warm = self.warm.members.iter().find(|m| m.addr != failed);
        warm.or_else(|| self.active.pick_except(roll, Some(failed)))
    }
}

/// What a project's requests get.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Proxied to its pools (a 503 page while the active pool is empty).
    Serve(Pools),
    /// New requests are held for at most `hold` (the pools keep serving what is in flight).
    Paused { pools: Pools, hold: Duration },
    /// A 503 maintenance page with the operator's message.
    Maintenance { pools: Pools, message: String },
}

impl Backend {
    pub fn pools(&self) -> &Pools {
        match self {
            Backend::Serve(pools) | Backend::Paused { pools, .. } | Backend::Maintenance { pools, .. } => pools,
        }
    }
}

/// Where one project's traffic goes right now.
#[derive(Debug, Clone)]
pub struct ProjectRoute {
    pub name: Arc<str>,
    pub domains: Vec<String>,
    pub backend: Backend,
    /// See [`ProjectInput::https_redirect`].
    pub https_redirect: bool,
    /// See [`ProjectInput`]: where replicas out of rotation are probed, and the pause queue's bound.
    pub(crate) health_path: Arc<str>,
    pub(crate) healthy_threshold: u32,
    pub(crate) pause_queue: u32,
    pub(crate) drain: std::time::Duration,
    /// Counters shared by every table that holds this project, so a rebuild keeps them.
    pub(crate) metrics: Arc<ProjectMetrics>,
}

impl ProjectRoute {
    pub(crate) fn traffic(&self) -> Traffic {
        match self.backend {
            Backend::Serve(_) => Traffic::Serving,
            Backend::Paused { .. } => Traffic::Paused,
            Backend::Maintenance { .. } => Traffic::Maintenance,
        }
    }

    /// The slot of the first active member: the project's live slot.
    pub(crate) fn live_slot(&self) -> Option<Slot> {
        self.backend.pools().active.members.first().map(|m| m.slot)
    }
}

/// Settings of the table that do not come from the store.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    /// `[admin] public_host` and the admin server it leads to.
    pub(crate) admin: Option<(String, SocketAddr)>,
}

/// An immutable snapshot: host → project route.
#[derive(Debug, Default)]
pub struct RouteTable {
    projects: HashMap<Arc<str>, Arc<ProjectRoute>>,
    exact: HashMap<String, Arc<ProjectRoute>>,
    /// `*.example.com` is stored as `example.com`.
    wildcard: HashMap<String, Arc<ProjectRoute>>,
    pub(super) admin: Option<(String, SocketAddr)>,
}

impl RouteTable {
    /// The whole table from the desired state (pure). A row that cannot be read is reported as a problem
    /// of its own project, whose member is left out; every other project is built as usual.
    pub fn from_state(
        state: &RouteState,
        options: &TableOptions,
        metrics: &dyn Fn(&str) -> Arc<ProjectMetrics>,
    ) -> (RouteTable, Vec<String>) {
        let mut problems = Vec::new();
        let targets: HashMap<&str, &TargetRow> = state.targets.iter().map(|t| (t.project.as_str(), t)).collect();
        let mut members: HashMap<&str, Vec<&MemberRow>> = HashMap::new();
        for m in &state.members {
            members.entry(m.project.as_str()).or_default().push(m);
        }
        let routes = state.projects.iter().map(|p| {
            let metrics = metrics(&p.name);
            let rows = members.remove(p.name.as_str()).unwrap_or_default();
            Arc::new(project_route(p, targets.get(p.name.as_str()).copied(), &rows, metrics, &mut problems))
        });
        let mut table = RouteTable::from_routes(routes.collect::<Vec<_>>());
        table.admin = options.admin.clone();
        (table, problems)
    }

    fn from_routes(routes: Vec<Arc<ProjectRoute>>) -> RouteTable {
        let mut table = RouteTable::default();
        for route in routes {
            for domain in &route.domains {
                match domain.strip_prefix("*.") {
                    Some(suffix) => table.wildcard.insert(suffix.to_owned(), route.clone()),
                    None => table.exact.insert(domain.clone(), route.clone()),
                };
            }
            table.projects.insert(route.name.clone(), route);
        }
        table
    }

    /// Exact names first, then a wildcard for exactly one more label. `host` must be normalised.
    pub fn lookup(&self, host: &str) -> Option<&Arc<ProjectRoute>> {
        if let Some(route) = self.exact.get(host) {
            return Some(route);
        }
        let (_, parent) = host.split_once('.')?;
        self.wildcard.get(parent)
    }

    pub fn project(&self, name: &str) -> Option<&Arc<ProjectRoute>> {
        self.projects.get(name)
    }

    pub(crate) fn projects(&self) -> impl Iterator<Item = &Arc<ProjectRoute>> {
        self.projects.values()
    }
}

fn project_route(
    project: &ProjectInput,
    target: Option<&TargetRow>,
    rows: &[&MemberRow],
    metrics: Arc<ProjectMetrics>,
    problems: &mut Vec<String>,
) -> ProjectRoute {
    let name = &project.name;
    let (mut pools, rollout) = sorted_pools(name, rows, &metrics, problems);
    let traffic = target.map_or(Some(Traffic::Serving), |t| Traffic::parse(&t.traffic));
    let traffic = traffic.unwrap_or_else(|| {
        problems.push(format!("project `{name}`: its stored traffic state is unreadable; it keeps serving"));
        Traffic::Serving
    });
    let percent = target.and_then(|t| t.rollout_percent).map(|p| p.clamp(1, 99) as u8);
    pools.rollout = percent.filter(|_| !rollout.is_empty()).map(|percent| Rollout { pool: rollout, percent });
    let backend = backend(traffic, pools, target);
    ProjectRoute {
        name: name.as_str().into(),
        domains: project.domains.clone(),
        backend,
        https_redirect: project.https_redirect,
        health_path: project.health_path.as_str().into(),
        healthy_threshold: project.healthy_threshold,
        pause_queue: project.pause_queue,
        drain: std::time::Duration::from_secs(project.drain_timeout_s),
        metrics,
    }
}

/// The members by pool, in a stable order: the active and warm pools, and the rollout pool's members.
fn sorted_pools(
    name: &str,
    rows: &[&MemberRow],
    metrics: &Arc<ProjectMetrics>,
    problems: &mut Vec<String>,
) -> (Pools, Pool) {
    let (mut pools, mut rollout) = (Pools::default(), Pool::default());
    let mut rows = rows.to_vec();
    rows.sort_by_key(|m| (m.pool.clone(), m.deployment_id));
    for row in rows {
        let Some((kind, members)) = members(row, metrics) else {
            problems.push(format!("project `{name}`: deployment {} has no usable address", row.deployment_id));
            continue;
        };
        match kind {
            PoolKind::Active => pools.active.members.extend(members),
            PoolKind::Warm => pools.warm.members.extend(members),
            PoolKind::Rollout => rollout.members.extend(members),
        }
    }
    (pools, rollout)
}

/// What the traffic state makes of the pools: served, held while paused, or the maintenance page.
fn backend(traffic: Traffic, pools: Pools, target: Option<&TargetRow>) -> Backend {
    match traffic {
        Traffic::Serving => Backend::Serve(pools),
        Traffic::Paused => {
            let seconds = target.and_then(|t| t.pause_timeout_s).unwrap_or(DEFAULT_HOLD_S).clamp(1, MAX_HOLD_S);
            Backend::Paused { pools, hold: Duration::from_secs(seconds as u64) }
        }
        Traffic::Maintenance => {
            let message = target.and_then(|t| t.message.clone()).unwrap_or_default();
            Backend::Maintenance { pools, message }
        }
    }
}

/// How long a pause holds a request when it was stored without a timeout, and the longest it may.
pub(crate) const DEFAULT_HOLD_S: i64 = 30;
pub(crate) const MAX_HOLD_S: i64 = 3600;

#[cfg(test)]
#[path = "table_tests.rs"]
pub(crate) mod tests;
