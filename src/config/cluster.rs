//! `[cluster]`: this gateway's name among several on one PostgreSQL, and how old a heartbeat may get.

use serde::{Deserialize, Serialize};

/// Several gateways on one PostgreSQL store: each names itself; a deploy lease whose heartbeat is older
/// than `lease_timeout_s` belongs to a dead gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ClusterConfig {
    /// This gateway's name among the others; empty: a single gateway.
    pub(crate) node: String,
    pub(crate) lease_timeout_s: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { node: String::new(), lease_timeout_s: 15 }
    }
}
