//! What a runtime step records about its deployment, written to the store and the process log.

use crate::controller::Inner;
use crate::deployment::Phase;
use crate::project::Slot;
use crate::runtime::Journal;
use crate::store::{now_ms, Deployment, StoreError};
use async_trait::async_trait;
use std::net::SocketAddr;

/// One deployment's journal.
pub(crate) struct DeploymentJournal<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) id: i64,
}

#[async_trait]
impl Journal for DeploymentJournal<'_> {
    async fn log(&self, line: &str) {
        self.inner.log(self.id, line).await;
    }

    async fn phase(&self, phase: Phase) -> Result<(), StoreError> {
        self.inner.store.set_phase(self.id, phase, now_ms()).await?;
        self.inner.at_hook(self.id, phase).await;
        Ok(())
    }

    async fn begin(&self, slot: Slot, addrs: &[SocketAddr], phase: Phase) -> Result<Deployment, StoreError> {
        self.inner.store.start_deployment(self.id, slot, addrs, phase, now_ms()).await
    }

    async fn serving(&self, slot: Slot, addrs: &[SocketAddr]) -> Result<Deployment, StoreError> {
        self.inner.store.update_targets(self.id, slot, addrs).await
    }

    async fn source(&self, commit: Option<(&str, Option<&str>)>, image: Option<&str>) -> Result<(), StoreError> {
        self.inner.store.set_source(self.id, commit, image).await
    }
}
