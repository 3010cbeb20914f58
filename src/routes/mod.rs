//! Routes: the desired state ([`state`]), the table built from it by one pure function ([`table`]), the
//! request decision over it ([`decide`]), and [`Routes`], the one shared value between the two planes.
//!
//! The proxy reads [`Routes::current`] on every request without taking a lock. The controller's `sync`
//! is the only writer: it reads the desired state from the store, builds a whole new [`RouteTable`] and
//! publishes it with one atomic store, so a reader sees either the old or the new table, never a mix.

pub(crate) mod decide;
pub(crate) mod hold;
pub(crate) mod member;
pub(crate) mod state;
pub(crate) mod table;

pub(crate) use decide::{decide, Decision, HostCertificates, RequestFacts, CANARY_COOKIE};
pub use state::{
    join_targets, parse_targets, swap_marker, MemberRow, PoolChange, PoolKind, ProjectInput, RouteState, TargetRow,
    Traffic, TrafficChange, TrafficState,
};
pub use table::{Backend, Member, Pool, Pools, ProjectRoute, Rollout, RouteTable, TableOptions};

use arc_swap::ArcSwap;
use std::borrow::Cow;
use std::sync::Arc;

/// The one shared piece of state between the data plane and the control plane.
#[derive(Debug, Default)]
pub struct Routes {
    table: ArcSwap<RouteTable>,
    /// Requests waiting for their paused project.
    pub(crate) holds: hold::Holds,
}

impl Routes {
    pub fn new() -> Self {
        Routes::default()
    }

    /// The current snapshot; lock-free, cheap enough for every request.
    pub fn current(&self) -> arc_swap::Guard<Arc<RouteTable>> {
        self.table.load()
    }

    /// Replaces the whole table with one atomic store. Only the controller's `sync` calls this.
    pub fn publish(&self, table: RouteTable) {
        let table = Arc::new(table);
        self.table.store(table.clone());
        self.holds.release(&table);
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
