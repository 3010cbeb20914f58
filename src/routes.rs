//! The route table snapshot, host lookup, the atomic switch, and per-slot counters.
//!
//! The proxy reads [`Routes::current`] on every request without taking a lock. Writers
//! (the controller) build a whole new [`RouteTable`] with one project's route replaced
//! and publish it with one atomic store, so a reader sees either the old or the new
//! table, never a mix.

use crate::metrics::ProjectMetrics;
use crate::project::Slot;
use arc_swap::ArcSwap;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A process serving one slot of a project, resolved to an address by the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream {
    pub slot: Slot,
    pub addr: SocketAddr,
    pub deployment_id: i64,
}

/// Where one project's traffic goes right now.
#[derive(Debug, Clone)]
pub struct ProjectRoute {
    pub name: Arc<str>,
    pub domains: Vec<String>,
    /// The slot that takes new requests; `None` until the first deployment succeeds.
    pub live: Option<Upstream>,
    /// The previous slot while it is still running (draining or observed): the retry target.
    pub warm: Option<Upstream>,
    /// Counters shared by every table that holds this project, so a switch keeps them.
    pub metrics: Arc<ProjectMetrics>,
}

impl ProjectRoute {
    pub fn new(name: &str, domains: Vec<String>, metrics: Arc<ProjectMetrics>) -> Self {
        ProjectRoute { name: name.into(), domains, live: None, warm: None, metrics }
    }
}

/// An immutable snapshot: host → project route.
#[derive(Debug, Default)]
pub struct RouteTable {
    projects: HashMap<Arc<str>, Arc<ProjectRoute>>,
    exact: HashMap<String, Arc<ProjectRoute>>,
    /// `*.example.com` is stored as `example.com`.
    wildcard: HashMap<String, Arc<ProjectRoute>>,
}

impl RouteTable {
    pub fn from_routes(routes: impl IntoIterator<Item = Arc<ProjectRoute>>) -> RouteTable {
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

    pub fn projects(&self) -> impl Iterator<Item = &Arc<ProjectRoute>> {
        self.projects.values()
    }

    fn with(&self, name: &str, route: Option<ProjectRoute>) -> RouteTable {
        let others = self.projects.values().filter(|r| &*r.name != name).cloned();
        RouteTable::from_routes(others.chain(route.map(Arc::new)))
    }
}

/// The one shared piece of state between the data plane and the control plane.
#[derive(Debug, Default)]
pub struct Routes {
    table: ArcSwap<RouteTable>,
}

impl Routes {
    pub fn new() -> Self {
        Routes::default()
    }

    /// The current snapshot; lock-free, cheap enough for every request.
    pub fn current(&self) -> arc_swap::Guard<Arc<RouteTable>> {
        self.table.load()
    }

    /// Adds the project, or replaces its domains and metrics while keeping where it routes.
    pub fn put_project(&self, mut route: ProjectRoute) {
        self.table.rcu(|t| {
            if let Some(old) = t.project(&route.name) {
                route.live = old.live;
                route.warm = old.warm;
            }
            t.with(&route.name.clone(), Some(route.clone()))
        });
    }

    /// Changes one project's route with one atomic store. False if the project is unknown.
    pub fn update(&self, name: &str, change: impl Fn(&mut ProjectRoute)) -> bool {
        let mut found = false;
        self.table.rcu(|t| match t.project(name) {
            Some(old) => {
                found = true;
                let mut route = ProjectRoute::clone(old);
                change(&mut route);
                t.with(name, Some(route))
            }
            None => {
                found = false;
                t.with(name, None)
            }
        });
        found
    }

    /// The switch: `live` takes new requests; the previous live slot becomes the warm one.
    pub fn switch(&self, name: &str, live: Upstream) -> bool {
        self.update(name, |r| {
            r.warm = r.live.filter(|old| old.slot != live.slot);
            r.live = Some(live);
        })
    }

    pub fn remove(&self, name: &str) {
        self.table.rcu(|t| t.with(name, None));
    }
}

/// The host a request is for: lowercased, without port or trailing dot. `None` if it is empty or not a
/// host name or IP literal at all (control bytes, spaces, empty labels), so no garbage reaches a lookup.
pub fn normalize_host(raw: &str) -> Option<Cow<'_, str>> {
    let raw = raw.trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        &raw[..rest.find(']')? + 2]
    } else {
        match raw.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ip) => !ip.is_empty() && ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
        None => {
            let label_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            host.split('.').all(|label| !label.is_empty() && label.bytes().all(label_byte))
        }
    };
    if !valid {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, domains: &[&str]) -> ProjectRoute {
        let domains = domains.iter().map(|d| d.to_string()).collect();
        ProjectRoute::new(name, domains, Arc::new(ProjectMetrics::detached()))
    }

    fn upstream(slot: Slot, port: u16) -> Upstream {
        Upstream { slot, addr: SocketAddr::from(([127, 0, 0, 1], port)), deployment_id: port.into() }
    }

    fn name_of(t: &RouteTable, host: &str) -> Option<String> {
        t.lookup(host).map(|r| r.name.to_string())
    }

    #[test]
    fn lookup_prefers_exact_then_one_label_wildcard() {
        let routes = Routes::new();
        routes.put_project(route("site", &["example.com", "www.example.com"]));
        routes.put_project(route("tenants", &["*.example.com"]));
        let t = routes.current();
        assert_eq!(name_of(&t, "example.com").as_deref(), Some("site"));
        assert_eq!(name_of(&t, "www.example.com").as_deref(), Some("site"));
        assert_eq!(name_of(&t, "acme.example.com").as_deref(), Some("tenants"));
        assert_eq!(name_of(&t, "a.b.example.com"), None);
        assert_eq!(name_of(&t, "unknown.org"), None);
        assert_eq!(name_of(&t, "com"), None);
    }

    #[test]
    fn switch_replaces_one_project_and_keeps_the_old_slot_warm() {
        let routes = Routes::new();
        routes.put_project(route("a", &["a.test"]));
        routes.put_project(route("b", &["b.test"]));
        let before = routes.current().clone();
        assert!(routes.switch("a", upstream(Slot::Blue, 1)));
        assert!(routes.switch("a", upstream(Slot::Green, 2)));
        let t = routes.current();
        let a = t.lookup("a.test").unwrap();
        assert_eq!((a.live, a.warm), (Some(upstream(Slot::Green, 2)), Some(upstream(Slot::Blue, 1))));
        assert!(t.lookup("b.test").unwrap().live.is_none());
        assert!(before.lookup("a.test").unwrap().live.is_none(), "old snapshots never change");
        assert!(!routes.switch("missing", upstream(Slot::Blue, 3)));
        assert_eq!(t.projects().count(), 2);
    }

    #[test]
    fn put_project_changes_domains_but_keeps_the_live_slot() {
        let routes = Routes::new();
        routes.put_project(route("a", &["old.test"]));
        routes.switch("a", upstream(Slot::Blue, 1));
        routes.put_project(route("a", &["new.test"]));
        let t = routes.current();
        assert!(t.lookup("old.test").is_none());
        assert_eq!(t.lookup("new.test").unwrap().live, Some(upstream(Slot::Blue, 1)));
        routes.remove("a");
        assert!(routes.current().lookup("new.test").is_none());
    }

    #[test]
    fn counters_survive_a_switch() {
        let routes = Routes::new();
        routes.put_project(route("a", &["a.test"]));
        routes.current().project("a").unwrap().metrics.inflight(Slot::Blue).inc();
        routes.switch("a", upstream(Slot::Green, 2));
        assert_eq!(routes.current().project("a").unwrap().metrics.inflight(Slot::Blue).get(), 1);
    }

    #[test]
    fn hosts_are_normalised() {
        let cases = [
            ("Example.COM", "example.com"),
            ("example.com:8080", "example.com"),
            ("example.com.", "example.com"),
            (" app.test ", "app.test"),
            ("[::1]:80", "[::1]"),
            ("127.0.0.1:80", "127.0.0.1"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_host(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host(":80"), None);
        assert_eq!(normalize_host("[::1"), None);
        for garbage in [".\n", "a..b", "a b.com", "x\u{0}y", "app.test..", "[]", "[zz::1]", "é.com", ".app.test"] {
            assert_eq!(normalize_host(garbage), None, "{garbage:?}");
        }
    }
}
