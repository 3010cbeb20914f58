//! Draining: waiting until a member that left the active pool has no request in flight, then taking it
//! out of the warm pool.

use crate::controller::Inner;
use crate::deployment::Phase;
use crate::project::Slot;
use crate::routes::PoolChange;
use crate::store::{now_ms, Deployment};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One deployment serving in one slot, as the controller follows it through a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Upstream {
    pub(crate) slot: Slot,
    pub(crate) addr: SocketAddr,
    pub(crate) deployment_id: i64,
}

impl Upstream {
    /// Where a stored deployment serves, if it got that far.
    pub(crate) fn of(d: &Deployment) -> Option<Upstream> {
        let addr: SocketAddr = d.target.as_deref()?.parse().ok()?;
        Some(Upstream { slot: d.slot?, addr, deployment_id: d.id })
    }
}

/// Waits until the old slot has no request in flight, or the drain timeout passes; then it leaves the
/// warm pool (in the store, then the table).
pub(crate) async fn drain(inner: &Inner, d: &Deployment, old: Upstream, timeout: Duration) {
    let metrics = inner.metrics.project(&d.project);
    let gauge = metrics.inflight(old.slot);
    inner.at_hook(d.id, Phase::Draining).await;
    let started = Instant::now();
    inner.log(d.id, &format!("draining the {} slot ({}): {} in flight", old.slot, old.addr, gauge.get())).await;
    while gauge.get() > 0 && started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let left = gauge.get();
    let line = if left > 0 {
        format!(
            "drain timeout after {}s with {left} requests still in flight on the {} slot",
            timeout.as_secs(),
            old.slot
        )
    } else {
        format!("drained the {} slot in {} ms", old.slot, started.elapsed().as_millis())
    };
    inner.log(d.id, &line).await;
    let retired = inner.store.change_pools(&d.project, PoolChange::Retire { deployment: old.deployment_id }, now_ms());
    if let Err(e) = async {
        retired.await?;
        inner.sync_committed().await
    }
    .await
    {
        tracing::warn!(project = %d.project, "cannot take the drained slot out of the warm pool: {e}");
    }
}
