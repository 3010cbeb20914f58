//! The operator's traffic controls: pause and resume, maintenance on and off. The state is stored first,
//! then the table follows through the one `sync`, so it survives a restart and every gateway serves it.

use super::{Controller, ControllerError};
use crate::routes::table::MAX_HOLD_S;
use crate::routes::{TrafficChange, TrafficState};
use crate::store::now_ms;

/// Longest maintenance message.
const MAX_MESSAGE: usize = 1000;

impl Controller {
    /// Applies `change` to the project's traffic; a change that makes no sense now (pausing a paused
    /// project) is refused and changes nothing.
    pub async fn change_traffic(&self, project: &str, change: TrafficChange) -> Result<TrafficState, ControllerError> {
        check(&change)?;
        let inner = &self.inner;
        if inner.store.project(project).await?.is_none() {
            return Err(ControllerError::ProjectNotFound(project.to_owned()));
        }
        let decided = inner.store.change_traffic(project, |now| now.after(project, change), now_ms()).await?;
        let next = decided.map_err(ControllerError::Traffic)?;
        inner.sync_committed().await?;
        tracing::info!(project, "traffic is now {}", next.traffic);
        Ok(next)
    }

    pub async fn traffic(&self, project: &str) -> Result<TrafficState, ControllerError> {
        Ok(self.inner.store.traffic(project).await?)
    }

    /// Every replica this gateway routes the project to, live figures included (the dashboard's view).
    pub(crate) fn replicas(&self, project: &str) -> Vec<ReplicaView> {
        let table = self.inner.routes.current();
        let Some(route) = table.project(project) else { return Vec::new() };
        let pools = route.backend.pools();
        let rollout = pools.rollout.iter().flat_map(|r| r.pool.members.iter().map(|m| ("canary", m)));
        let active = pools.active.members.iter().map(|m| ("live", m));
        let warm = pools.warm.members.iter().map(|m| ("draining", m));
        let rows = active.chain(rollout).chain(warm).map(|(role, m)| ReplicaView {
            role,
            slot: m.slot,
            replica: m.replica,
            addr: m.addr,
            deployment_id: m.deployment_id,
            inflight: m.handles.inflight.get(),
            requests: m.handles.requests.get(),
            in_rotation: m.handles.in_rotation(),
        });
        rows.collect()
    }
}

/// One replica as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplicaView {
    /// `live`, `canary` or `draining`.
    pub(crate) role: &'static str,
    pub(crate) slot: crate::project::Slot,
    pub(crate) replica: u16,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) deployment_id: i64,
    pub(crate) inflight: i64,
    pub(crate) requests: u64,
    pub(crate) in_rotation: bool,
}

/// Bad values are refused before anything is read.
fn check(change: &TrafficChange) -> Result<(), ControllerError> {
    let wrong = |m: String| Err(ControllerError::WrongRequest(m));
    match change {
        TrafficChange::Pause { timeout_s } if !(1..=MAX_HOLD_S).contains(timeout_s) => {
            wrong(format!("timeout_s must be between 1 and {MAX_HOLD_S} seconds, not {timeout_s}"))
        }
        TrafficChange::Maintenance { message } if message.chars().count() > MAX_MESSAGE => {
            wrong(format!("the maintenance message is longer than {MAX_MESSAGE} characters; shorten it"))
        }
        TrafficChange::Maintenance { message } if message.chars().any(|c| c.is_control() && c != '\n') => {
            wrong("the maintenance message holds control characters; use plain text".into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(check(&TrafficChange::Pause { timeout_s: 0 }).is_err());
        assert!(check(&TrafficChange::Pause { timeout_s: MAX_HOLD_S + 1 }).is_err());
        assert!(check(&TrafficChange::Pause { timeout_s: 30 }).is_ok());
        assert!(check(&TrafficChange::Maintenance { message: "x".repeat(1001) }).is_err());
        assert!(check(&TrafficChange::Maintenance { message: "a\u{1b}[31m".into() }).is_err());
        assert!(check(&TrafficChange::Maintenance { message: "Back at 14:00.\nSorry!".into() }).is_ok());
    }
}
