//! The `external` runtime: the user runs the process (PM2, gunicorn, systemd…) and deploys it by address.
//! versiongate routes to it, health-gates it and drains it, but never starts or stops it.

use super::{request, DeployRequest, Job, RequestError, Runtime, RuntimeError, RuntimeTraits};
use crate::deployment::Phase;
use crate::project::{ProjectSpec, Slot};
use crate::store::{Deployment, NewDeployment, ProjectRecord};
use async_trait::async_trait;
use std::net::SocketAddr;

pub(super) struct ExternalRuntime;

#[async_trait]
impl Runtime for ExternalRuntime {
    fn traits(&self) -> RuntimeTraits {
        RuntimeTraits { name: "external", builds: false, deploy_field: ("target", "Target address", "127.0.0.1:4001") }
    }

    async fn request(&self, record: &ProjectRecord, request: &DeployRequest) -> Result<NewDeployment, RequestError> {
        request::external(&record.spec.name, request).await
    }

    async fn prepare(&self, job: &Job<'_>, slot: Slot) -> Result<Deployment, RuntimeError> {
        let addrs = super::served_addrs(job.deployment)?;
        Ok(job.journal.begin(slot, &addrs, Phase::HealthChecking).await?)
    }

    async fn launch(&self, _job: &Job<'_>, _slot: Slot) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn release(&self, _job: &Job<'_>) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn died(&self, _project: &str, _slot: Slot) -> Option<RuntimeError> {
        None
    }

    fn unreachable_hint(&self, _spec: &ProjectSpec) -> Option<String> {
        None
    }

    async fn discard(&self, _project: &str, _slot: Slot) {}

    async fn keep(&self, _project: &str, _slot: Slot) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn retire(&self, _spec: &ProjectSpec, _slot: Slot, addr: SocketAddr) -> String {
        format!("the old process at {addr} keeps running: versiongate does not stop external processes")
    }

    async fn prune(&self, _spec: &ProjectSpec, _history: &[Deployment]) -> Vec<String> {
        Vec::new()
    }

    async fn remove_project(&self, _project: &str) {}

    async fn remove_leftovers(&self, _d: &Deployment) {}

    async fn settle(&self, _d: &Deployment) {}

    async fn revive(&self, _record: &ProjectRecord, _live: &Deployment) -> Result<(), String> {
        Ok(())
    }

    /// A superseded process is returned to by its address, if the user still runs it.
    fn return_to(&self, d: &Deployment) -> Option<NewDeployment> {
        d.target.as_ref()?;
        Some(NewDeployment {
            target: Some(d.targets.join(",")),
            port: d.port,
            ..NewDeployment::again_of(d, crate::deployment::Trigger::Rollback)
        })
    }

    async fn retained(&self, _project: &str, _history: &[Deployment]) -> Vec<serde_json::Value> {
        Vec::new()
    }
}
