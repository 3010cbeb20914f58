//! A member: one process serving a project (one replica of a deployment in one slot), and the members a
//! stored member row stands for.

use super::state::{parse_targets, MemberRow, PoolKind};
use crate::metrics::{ProjectMetrics, ReplicaMetrics};
use crate::project::Slot;
use prometheus::IntGauge;
use std::net::SocketAddr;
use std::sync::Arc;

/// One process serving a project: where it listens, which deployment it runs, and its in-flight gauge.
#[derive(Debug, Clone)]
pub struct Member {
    pub addr: SocketAddr,
    pub deployment_id: i64,
    pub(crate) slot: Slot,
    pub(crate) weight: u32,
    /// Requests routed to this member's slot whose response has not ended; shared by every table that holds
    /// it, so a drain sees requests that began on an older snapshot.
    pub(crate) inflight: IntGauge,
    /// Which replica of its deployment (1-based).
    pub(crate) replica: u16,
    /// The replica's own in-flight gauge, request counter and rotation flag.
    pub(crate) handles: Arc<ReplicaMetrics>,
}

/// The usable members of a row, one per replica, or `None` when its pool, slot or any address cannot be read.
pub(super) fn members(row: &MemberRow, metrics: &ProjectMetrics) -> Option<(PoolKind, Vec<Member>)> {
    let kind = PoolKind::parse(&row.pool)?;
    let slot = Slot::parse(row.slot.as_deref()?)?;
    let addrs = parse_targets(row.target.as_deref()?)?;
    let weight = u32::try_from(row.weight).unwrap_or(1).max(1);
    let inflight = metrics.inflight(slot);
    let members = (1..).zip(addrs).map(|(replica, addr)| Member {
        addr,
        deployment_id: row.deployment_id,
        slot,
        weight,
        inflight: inflight.clone(),
        replica,
        handles: metrics.replica(slot, replica),
    });
    Some((kind, members.collect()))
}
