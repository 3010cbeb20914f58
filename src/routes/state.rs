//! The desired route state as the store holds it: which deployments serve each project, in which pool,
//! and whether the project serves at all. Plain rows, no I/O; [`super::table::from_state`] reads them.
//!
//! Values stay strings here on purpose: a corrupt row is reported for its own project when the table
//! is built, and never keeps the others from loading.

use serde::Serialize;
use std::fmt;

/// Where a serving deployment sits in its project's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolKind {
    /// Takes new requests.
    Active,
    /// Still running after a switch (observe window, drain): the retry target, and streams may finish on it.
    Warm,
    /// A canary: takes the rollout split's share of clients.
    Rollout,
}

impl PoolKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PoolKind::Active => "active",
            PoolKind::Warm => "warm",
            PoolKind::Rollout => "rollout",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<PoolKind> {
        [PoolKind::Active, PoolKind::Warm, PoolKind::Rollout].into_iter().find(|p| p.as_str() == s)
    }
}

/// Whether a project's requests are proxied, held, or answered with a maintenance page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Traffic {
    #[default]
    Serving,
    Paused,
    Maintenance,
}

impl Traffic {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Traffic::Serving => "serving",
            Traffic::Paused => "paused",
            Traffic::Maintenance => "maintenance",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Traffic> {
        [Traffic::Serving, Traffic::Paused, Traffic::Maintenance].into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A project the table routes: its name and the hosts it claims.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectInput {
    pub name: String,
    pub domains: Vec<String>,
    /// Plain-HTTP requests for a host with a certificate get a 308 to https (`tls` not off and `https_redirect`).
    pub https_redirect: bool,
}

/// One project's routing settings (a `route_targets` row).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetRow {
    pub project: String,
    pub traffic: String,
    pub(crate) message: Option<String>,
    pub(crate) rollout_percent: Option<i64>,
}

/// One deployment serving in one pool (a `route_members` row joined with its deployment).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberRow {
    pub project: String,
    pub pool: String,
    pub deployment_id: i64,
    pub weight: i64,
    pub slot: Option<String>,
    /// The address the deployment serves on, as stored.
    pub target: Option<String>,
}

/// Everything the route table is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteState {
    pub projects: Vec<ProjectInput>,
    pub targets: Vec<TargetRow>,
    pub members: Vec<MemberRow>,
}

/// A change to one project's pools, written by the store in the transaction of the status change that
/// causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolChange {
    /// The switch: `deployment` becomes the only active member; the members it displaces become warm
    /// (when `keep_warm`), replacing any older warm members.
    Activate { deployment: i64, keep_warm: bool },
    /// A deployment leaves the warm pool (its drain is over).
    Retire { deployment: i64 },
    /// Every warm member leaves (after a restart nothing is draining any more).
    ClearWarm,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_words_are_refused() {
        for p in [PoolKind::Active, PoolKind::Warm, PoolKind::Rollout] {
            assert_eq!(PoolKind::parse(p.as_str()), Some(p));
        }
        for t in [Traffic::Serving, Traffic::Paused, Traffic::Maintenance] {
            assert_eq!(Traffic::parse(t.as_str()), Some(t));
        }
        assert_eq!(PoolKind::parse("live"), None);
        assert_eq!(Traffic::parse("Serving"), None);
    }
}
