//! A container engine nobody calls, for the controller's in-process tests (the fake runtime replaces both
//! real runtimes).

use crate::project::Slot;
use async_trait::async_trait;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// An engine nobody calls: the fake runtime replaces both real ones.
pub(super) struct NoEngine;

#[async_trait]
impl crate::runtime::ContainerEngine for NoEngine {
    async fn build(
        &self,
        _: crate::runtime::BuildRequest,
        _: &(dyn Fn(String) + Send + Sync),
        _: &CancellationToken,
    ) -> Result<(), crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn run(&self, _: &crate::runtime::RunRequest) -> Result<(), crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn keep_running(&self, _: &str) -> Result<(), crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn liveness(&self, _: &str) -> Result<crate::runtime::Liveness, crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn container_deployment(&self, _: &str) -> Result<Option<i64>, crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn stop(&self, _: &str, _: Duration) -> Result<(), crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn remove(&self, _: &str) -> Result<(), crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn slot_containers(&self, _: &str, _: Slot) -> Result<Vec<String>, crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn has_image(&self, _: &str) -> Result<bool, crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn project_images(&self, _: &str) -> Result<Vec<String>, crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn remove_image(&self, _: &str) -> Result<(), crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
    async fn run_once(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &[String],
        _: Duration,
    ) -> Result<(i64, String), crate::runtime::EngineError> {
        unreachable!("no engine in these tests")
    }
}
