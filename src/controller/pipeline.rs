//! The steps of one deployment: prepare the idle slot → health gate → release → atomic switch → drain.
//!
//! An external deployment's slot is an address the user runs; a docker deployment's is a container
//! built from the commit (see [`super::docker`]). A failure before the switch never touches the live
//! route, and a container started for it is removed. Each step is a phase, an event and a log line.

use super::gate::gate;
use super::observe::{observe, Outcome};
use super::retention;
use super::{docker, Inner};
use crate::build::context::ContextError;
use crate::deployment::{Event, Phase, Trigger};
use crate::health::HealthError;
use crate::project::{RuntimeKind, Slot};
use crate::routes::Upstream;
use crate::runtime::{container_name, RuntimeError};
use crate::source::SourceError;
use crate::store::{now_ms, Deployment, ProjectRecord, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info_span, Instrument};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("project `{0}` was removed while its deployment waited")]
    ProjectGone(String),
    #[error("stored target `{0}` is not an address; deploy again with a HOST:PORT target")]
    BadTarget(String),
    #[error("health check failed: {0}")]
    Unhealthy(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Plan(#[from] crate::build::plan::PlanError),
    #[error(transparent)]
    Runtime(RuntimeError),
    #[error("the container exited (exit code {exit_code}, restarts {restarts}). Its last log lines:\n{logs}")]
    ContainerDied { exit_code: i64, restarts: i64, logs: String },
    #[error("the release command exited with code {code}, so the switch was not made. Its last output:\n{output}")]
    Release { code: i64, output: String },
    #[error(transparent)]
    Nginx(#[from] crate::nginx::NginxError),
    #[error("image {0} is no longer retained (it was pruned); roll back to a deployment whose image is listed in the project's `images`, or deploy the commit again")]
    Pruned(String),
    #[error("cancelled by the operator")]
    Cancelled,
    #[error("{0}")]
    Overdue(String),
    #[error("internal error, see log: {0}")]
    Internal(String),
}

impl From<HealthError> for PipelineError {
    fn from(e: HealthError) -> Self {
        match e {
            HealthError::Cancelled => PipelineError::Cancelled,
            other => PipelineError::Unhealthy(other.to_string()),
        }
    }
}

impl From<RuntimeError> for PipelineError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Cancelled => PipelineError::Cancelled,
            other => PipelineError::Runtime(other),
        }
    }
}

/// Runs a QUEUED deployment to the end. On `Err` the caller records FAILED or CANCELLED.
pub(super) async fn run(inner: Arc<Inner>, d: Deployment, cancel: CancellationToken) -> Result<(), PipelineError> {
    let record = inner.store.project(&d.project).await?.ok_or_else(|| PipelineError::ProjectGone(d.project.clone()))?;
    let live = inner.routes.current().project(&d.project).and_then(|r| r.live);
    let slot = live.map_or(Slot::Blue, |u| u.slot.other());
    let (d, container) = match record.spec.runtime {
        RuntimeKind::External => (start_external(&inner, &d, slot).await?, None),
        RuntimeKind::Docker => {
            let addr = SocketAddr::from(([127, 0, 0, 1], slot.port(record.base_port)));
            // Rollbacks and env redeploys arrive with an image: it is reused, never rebuilt.
            let reuse = d.image.clone();
            let phase = if reuse.is_some() { Phase::Starting } else { Phase::Fetching };
            let d = inner.store.start_deployment(d.id, slot, addr, phase, now_ms()).await?;
            inner.at_hook(d.id, phase).await;
            let image = match reuse {
                Some(image) => docker::retained(&inner, &d, &image).await?,
                None => {
                    let (tree, commit) =
                        docker::fetch(&inner, &d, &record, &cancel).instrument(info_span!("fetch")).await?;
                    docker::build(&inner, &d, &record, tree, &commit, &cancel).instrument(info_span!("build")).await?
                }
            };
            let name = docker::start(&inner, &d, &record, slot, &image).instrument(info_span!("start")).await?;
            (d, Some((name, image)))
        }
    };
    inner
        .log(d.id, &format!("the {slot} slot is {}; live now: {}", d.target.as_deref().unwrap_or("-"), describe(live)))
        .await;
    let before_switch = async {
        let addr = upstream_addr(&d)?;
        let name = container.as_ref().map(|(name, _)| name.as_str());
        gate(&inner, &d, &record, addr, name, &cancel).instrument(info_span!("health_gate", %addr)).await?;
        if let Some((_, image)) = &container {
            docker::release(&inner, &d, &record, image).instrument(info_span!("release")).await?;
        }
        publish_nginx(&inner, &d, addr).await?;
        Ok::<_, PipelineError>(addr)
    };
    let addr = match before_switch.await {
        Ok(addr) => addr,
        Err(e) => {
            if let Some((name, _)) = &container {
                // The idle slot is cleaned up; the live slot was never touched.
                let _ = inner.runtime.remove(name).await;
            }
            return Err(e);
        }
    };
    finish(&inner, &d, &record, Upstream { slot, addr, deployment_id: d.id }).await
}

/// Writes the nginx include before the internal switch, so both always point at the same slot.
async fn publish_nginx(inner: &Inner, d: &Deployment, addr: SocketAddr) -> Result<(), PipelineError> {
    let Some(nginx) = &inner.nginx else { return Ok(()) };
    if let Some(warning) = nginx.publish(&d.project, addr).await? {
        inner.log(d.id, &format!("nginx include written, but the reload failed: {warning}")).await;
    } else {
        inner.log(d.id, &format!("nginx include {}.conf now points at {addr}; nginx reloaded", d.project)).await;
    }
    Ok(())
}

async fn start_external(inner: &Inner, d: &Deployment, slot: Slot) -> Result<Deployment, PipelineError> {
    let addr = upstream_addr(d)?;
    Ok(inner.store.start_deployment(d.id, slot, addr, Phase::HealthChecking, now_ms()).await?)
}

fn upstream_addr(d: &Deployment) -> Result<SocketAddr, PipelineError> {
    let target = d.target.clone().unwrap_or_default();
    target.parse().map_err(|_| PipelineError::BadTarget(target))
}

/// Switch, drain the old slot, stop its container (docker), done.
async fn finish(
    inner: &Inner,
    d: &Deployment,
    record: &ProjectRecord,
    upstream: Upstream,
) -> Result<(), PipelineError> {
    let live_before = inner.routes.current().project(&d.project).and_then(|r| r.live);
    let observing = record.spec.observe_s > 0 && live_before.is_some_and(|l| l.slot != upstream.slot);
    let phase = if observing { Phase::Observing } else { Phase::Draining };
    let previous = switch(inner, d, upstream, phase).instrument(info_span!("switch", slot = %upstream.slot)).await?;
    if let Some(old) = previous {
        if observing {
            if observe(inner, d, record, upstream, old).instrument(info_span!("observe")).await? == Outcome::RolledBack
            {
                return Ok(());
            }
            inner.store.set_phase(d.id, Phase::Draining, now_ms()).await?;
        }
    }
    if record.spec.runtime == RuntimeKind::Docker {
        // Only now, so a crash inside the observe window shows its real exit code instead of a restart.
        inner.runtime.keep_running(&container_name(&record.spec.name, upstream.slot)).await?;
    }
    if let Some(old) = previous {
        let timeout = Duration::from_secs(record.spec.drain_timeout_s);
        drain(inner, d, old, timeout).instrument(info_span!("drain", slot = %old.slot)).await;
        match record.spec.runtime {
            RuntimeKind::Docker => docker::retire(inner, d, record, old.slot).await,
            RuntimeKind::External => {
                let line = format!(
                    "the old process at {} keeps running: versiongate does not stop external processes",
                    old.addr
                );
                inner.log(d.id, &line).await;
            }
        }
    }
    let done = inner.store.set_phase(d.id, Phase::Done, now_ms()).await?;
    let took = Duration::from_millis(done.duration_ms().unwrap_or(0).max(0) as u64);
    inner.log(d.id, &format!("done in {} ms", took.as_millis())).await;
    if record.spec.runtime == RuntimeKind::Docker {
        retention::prune(inner, &d.project, record.spec.keep_images, d.id).await;
    }
    Ok(())
}

/// The atomic switch: the store records the new live deployment, then one route store flips traffic.
async fn switch(
    inner: &Inner,
    d: &Deployment,
    upstream: Upstream,
    phase: Phase,
) -> Result<Option<Upstream>, PipelineError> {
    inner.store.set_phase(d.id, Phase::Switching, now_ms()).await?;
    inner.at_hook(d.id, Phase::Switching).await;
    // A rollback displaces the live deployment as ROLLED_BACK; anything else supersedes it.
    let displaced = match d.trigger {
        Trigger::Rollback | Trigger::AutoRollback => Event::RollBack,
        Trigger::Webhook | Trigger::Api => Event::Supersede,
    };
    let (active, superseded) = inner.store.activate(d.id, displaced, phase, now_ms()).await?;
    let previous = inner.routes.current().project(&d.project).and_then(|r| r.live);
    if !inner.routes.switch(&d.project, upstream) {
        return Err(PipelineError::ProjectGone(d.project.clone()));
    }
    inner.metrics.set_live_slot(&d.project, Some(upstream.slot));
    let live_after = active.started_at.map(|s| Duration::from_millis((now_ms() - s).max(0) as u64));
    inner.metrics.deployment_ended(&d.project, "ACTIVE", live_after);
    inner.log(d.id, &format!("switched: new requests go to {} ({} slot)", upstream.addr, upstream.slot)).await;
    if let Some(old) = superseded {
        inner.metrics.deployment_ended(&d.project, "SUPERSEDED", None);
        inner.log(d.id, &format!("deployment {} is superseded", old.id)).await;
    }
    Ok(previous.filter(|p| p.slot != upstream.slot))
}

/// Waits until the old slot has no request in flight, or the drain timeout passes.
pub(super) async fn drain(inner: &Inner, d: &Deployment, old: Upstream, timeout: Duration) {
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
    inner.routes.update(&d.project, |r| {
        if r.warm.is_some_and(|w| w.deployment_id == old.deployment_id) {
            r.warm = None;
        }
    });
}

fn describe(live: Option<Upstream>) -> String {
    match live {
        Some(u) => format!("{} ({} slot, deployment {})", u.addr, u.slot, u.deployment_id),
        None => "nothing".into(),
    }
}
