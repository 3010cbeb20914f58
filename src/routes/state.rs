//! The desired route state as the store holds it: which deployments serve each project, in which pool,
//! and whether the project serves at all. Plain rows, no I/O; [`super::table::from_state`] reads them.
//!
//! Values stay strings here on purpose: a corrupt row is reported for its own project when the table
//! is built, and never keeps the others from loading.

use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
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

/// A project's traffic state as the operator set it: serving, paused (with how long a request is held),
/// or in maintenance (with the page's message).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrafficState {
    pub traffic: Traffic,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_timeout_s: Option<i64>,
}

/// What an operator asks of a project's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficChange {
    Pause {
        timeout_s: i64,
    },
    Resume,
    Maintenance {
        message: String,
    },
    EndMaintenance,
    /// A hold-and-swap deployment holds requests while it replaces the live containers.
    HoldForSwap {
        deployment: i64,
        timeout_s: i64,
    },
    /// ... and lets them go, if the pause is still its own.
    EndSwap {
        deployment: i64,
    },
}

/// The message of a pause a hold-and-swap deployment made, so it ends only its own pause (and recovery
/// can end one whose deployment died).
pub fn swap_marker(deployment: i64) -> String {
    format!("held by deployment {deployment} (hold_swap)")
}

impl TrafficState {
    /// The state after `change` (pure), or why the change makes no sense now (a 409 for the caller).
    pub fn after(&self, project: &str, change: TrafficChange) -> Result<TrafficState, String> {
        let serving = TrafficState::default();
        match (self.traffic, change) {
            (Traffic::Paused, TrafficChange::Pause { .. }) => {
                Err(format!("project `{project}` is already paused; resume it first, or wait"))
            }
            (Traffic::Maintenance, TrafficChange::Pause { .. }) => {
                Err(format!("project `{project}` is in maintenance; end the maintenance before pausing it"))
            }
            (_, TrafficChange::Pause { timeout_s }) => {
                Ok(TrafficState { traffic: Traffic::Paused, message: None, pause_timeout_s: Some(timeout_s) })
            }
            (Traffic::Paused, TrafficChange::Resume) => Ok(serving),
            (now, TrafficChange::Resume) => Err(format!("project `{project}` is not paused (it is {now})")),
            (_, TrafficChange::Maintenance { message }) => {
                Ok(TrafficState { traffic: Traffic::Maintenance, message: Some(message), pause_timeout_s: None })
            }
            (Traffic::Maintenance, TrafficChange::EndMaintenance) => Ok(serving),
            (now, TrafficChange::EndMaintenance) => {
                Err(format!("project `{project}` is not in maintenance (it is {now})"))
            }
            (Traffic::Serving, TrafficChange::HoldForSwap { deployment, timeout_s }) => Ok(TrafficState {
                traffic: Traffic::Paused,
                message: Some(swap_marker(deployment)),
                pause_timeout_s: Some(timeout_s),
            }),
            (now, TrafficChange::HoldForSwap { .. }) => Err(format!("project `{project}` is {now} already")),
            (Traffic::Paused, TrafficChange::EndSwap { deployment })
                if self.message.as_deref() == Some(&swap_marker(deployment)) =>
            {
                Ok(serving)
            }
            (_, TrafficChange::EndSwap { .. }) => Err(format!("the traffic of `{project}` was changed meanwhile")),
        }
    }
}

/// A project the table routes: its name and the hosts it claims.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProjectInput {
    pub name: String,
    pub domains: Vec<String>,
    /// Plain-HTTP requests for a host with a certificate get a 308 to https (`tls` not off and `https_redirect`).
    pub https_redirect: bool,
    /// Where a replica out of rotation is probed, and how many passes in a row bring it back.
    pub health_path: String,
    pub healthy_threshold: u32,
    /// Most requests held while paused.
    pub pause_queue: u32,
    /// How long an old slot drains: a response still streaming from a retired slot is ended only once it
    /// ran that long (a stream that outlived the drain), never a request another gateway's drain missed.
    pub drain_timeout_s: u64,
}

/// One project's routing settings (a `route_targets` row).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetRow {
    pub project: String,
    pub traffic: String,
    pub(crate) message: Option<String>,
    pub(crate) rollout_percent: Option<i64>,
    /// While paused: how long a held request waits before its 503.
    pub(crate) pause_timeout_s: Option<i64>,
}

/// One deployment serving in one pool (a `route_members` row joined with its deployment).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberRow {
    pub project: String,
    pub pool: String,
    pub deployment_id: i64,
    pub weight: i64,
    pub slot: Option<String>,
    /// The addresses the deployment serves on (one per replica), as stored: see [`join_targets`].
    pub target: Option<String>,
}

/// How a deployment's addresses are stored in one column: comma-separated, replica 1 first.
pub fn join_targets(addrs: &[SocketAddr]) -> String {
    addrs.iter().map(SocketAddr::to_string).collect::<Vec<_>>().join(",")
}

/// The stored addresses of a deployment, or `None` when any of them is not an address with a port.
pub fn parse_targets(raw: &str) -> Option<Vec<SocketAddr>> {
    let addrs = raw.split(',').map(|a| a.trim().parse().ok().filter(|a: &SocketAddr| a.port() != 0));
    addrs.collect::<Option<Vec<_>>>().filter(|a| !a.is_empty())
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
    /// `deployment` takes `percent` % of clients as the rollout pool, beside the active one.
    Canary { deployment: i64, percent: i64 },
    /// The rollout ends without a switch: its members leave and the split is cleared.
    EndCanary,
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

    #[test]
    fn traffic_changes_follow_the_operator_rules() {
        let serving = TrafficState::default();
        let paused = serving.after("a", TrafficChange::Pause { timeout_s: 30 }).unwrap();
        assert_eq!((paused.traffic, paused.pause_timeout_s), (Traffic::Paused, Some(30)));
        assert!(paused.after("a", TrafficChange::Pause { timeout_s: 5 }).unwrap_err().contains("already paused"));
        assert_eq!(paused.after("a", TrafficChange::Resume), Ok(serving.clone()));
        assert!(serving.after("a", TrafficChange::Resume).unwrap_err().contains("not paused (it is serving)"));
        let down = paused.after("a", TrafficChange::Maintenance { message: "db move".into() }).unwrap();
        assert_eq!((down.traffic, down.message.as_deref()), (Traffic::Maintenance, Some("db move")));
        assert!(down.after("a", TrafficChange::Pause { timeout_s: 5 }).is_err());
        assert!(down.after("a", TrafficChange::Resume).is_err());
        let again = down.after("a", TrafficChange::Maintenance { message: "longer".into() }).unwrap();
        assert_eq!(again.message.as_deref(), Some("longer"));
        assert_eq!(down.after("a", TrafficChange::EndMaintenance), Ok(serving.clone()));
        assert!(serving.after("a", TrafficChange::EndMaintenance).is_err());
        // A swap pauses only a serving project, and ends only its own pause.
        let swapping = serving.after("a", TrafficChange::HoldForSwap { deployment: 9, timeout_s: 60 }).unwrap();
        assert_eq!(swapping.message.as_deref(), Some("held by deployment 9 (hold_swap)"));
        assert!(paused.after("a", TrafficChange::HoldForSwap { deployment: 9, timeout_s: 60 }).is_err());
        assert!(swapping.after("a", TrafficChange::EndSwap { deployment: 8 }).is_err());
        assert!(paused.after("a", TrafficChange::EndSwap { deployment: 9 }).is_err(), "an operator's pause stays");
        assert_eq!(swapping.after("a", TrafficChange::EndSwap { deployment: 9 }), Ok(serving.clone()));
    }

    #[test]
    fn targets_round_trip_and_one_bad_address_spoils_the_row() {
        let addrs: Vec<SocketAddr> = vec!["127.0.0.1:20000".parse().unwrap(), "127.0.0.1:20002".parse().unwrap()];
        assert_eq!(join_targets(&addrs), "127.0.0.1:20000,127.0.0.1:20002");
        assert_eq!(parse_targets(&join_targets(&addrs)), Some(addrs));
        assert_eq!(parse_targets("127.0.0.1:1"), Some(vec!["127.0.0.1:1".parse().unwrap()]));
        for bad in ["", "127.0.0.1:1,", "127.0.0.1:0", "x,127.0.0.1:1", "127.0.0.1"] {
            assert_eq!(parse_targets(bad), None, "{bad}");
        }
    }
}
