//! Cancelling a deployment: a QUEUED one in the store, a running one through its cancel handle, which
//! lives in the process that runs it.

use crate::controller::{Controller, ControllerError};
use crate::deployment::{Event, Status};
use crate::store::{now_ms, Deployment};
use std::time::Duration;

impl Controller {
    /// Stops a QUEUED or DEPLOYING deployment, and waits briefly to return it ended.
    pub(crate) async fn cancel(&self, id: i64) -> Result<Deployment, ControllerError> {
        let store = &self.inner.store;
        let d = store.deployment(id).await?.ok_or(ControllerError::DeploymentNotFound(id))?;
        if d.status == Status::Queued {
            if let Ok(done) = store.apply(id, Event::Cancel, None, Some("cancelled by the operator"), now_ms()).await {
                self.inner.metrics.deployment_ended(&d.project, Status::Cancelled.as_str(), None);
                return Ok(done);
            }
        }
        let token = self.inner.work.cancel_handle(id);
        let current = store.deployment(id).await?.ok_or(ControllerError::DeploymentNotFound(id))?;
        match token {
            Some(token) if !current.status.is_finished() => token.cancel(),
            None if !current.status.is_finished() => {
                let owner = store.lease_owner(&current.project).await?.filter(|o| *o != self.inner.owner);
                let pid = owner.as_deref().and_then(|o| o.split('-').next()).unwrap_or("?").to_owned();
                return Err(ControllerError::RunElsewhere { id, pid });
            }
            _ => return Err(ControllerError::NotCancellable { id, status: current.status }),
        }
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = store.deployment(id).await?.ok_or(ControllerError::DeploymentNotFound(id))?;
            if now.status.is_finished() {
                return Ok(now);
            }
        }
        Ok(current)
    }
}
