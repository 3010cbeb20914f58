//! The steps of one deployment: start → health gate → atomic switch → drain the old slot.
//!
//! A failure before the switch never touches the live route. Each step is a phase in the
//! store, an event, and a log line.

use super::Inner;
use crate::deployment::Phase;
use crate::health::{self, HealthError, HealthPolicy};
use crate::project::Slot;
use crate::routes::Upstream;
use crate::store::{now_ms, Deployment, StoreError};
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
    Unhealthy(HealthError),
    #[error("cancelled by the operator")]
    Cancelled,
    #[error("internal error, see log: {0}")]
    Internal(String),
}

impl From<HealthError> for PipelineError {
    fn from(e: HealthError) -> Self {
        match e {
            HealthError::Cancelled => PipelineError::Cancelled,
            other => PipelineError::Unhealthy(other),
        }
    }
}

/// Runs a QUEUED deployment to the end. On `Err` the caller records FAILED or CANCELLED.
pub(super) async fn run(inner: Arc<Inner>, d: Deployment, cancel: CancellationToken) -> Result<(), PipelineError> {
    let store = &inner.store;
    let record = store.project(&d.project).await?.ok_or_else(|| PipelineError::ProjectGone(d.project.clone()))?;
    let target = d.target.clone().unwrap_or_default();
    let addr: SocketAddr = target.parse().map_err(|_| PipelineError::BadTarget(target.clone()))?;
    let live = inner.routes.current().project(&d.project).and_then(|r| r.live);
    let slot = live.map_or(Slot::Blue, |u| u.slot.other());
    let d = store.start_deployment(d.id, slot, addr.port(), Phase::HealthChecking, now_ms()).await?;
    inner.log(d.id, &format!("deploying {addr} into the {slot} slot; live now: {}", describe(live))).await;

    let policy = HealthPolicy::from_spec(&record.spec);
    gate(&inner, &d, addr, &policy, &cancel).instrument(info_span!("health_gate", %addr)).await?;

    let upstream = Upstream { slot, addr, deployment_id: d.id };
    let previous = switch(&inner, &d, upstream).instrument(info_span!("switch", slot = %slot)).await?;
    if let Some(old) = previous {
        let timeout = Duration::from_secs(record.spec.drain_timeout_s);
        drain(&inner, &d, old, timeout).instrument(info_span!("drain", slot = %old.slot)).await;
    }
    let done = store.set_phase(d.id, Phase::Done, now_ms()).await?;
    let took = Duration::from_millis(done.duration_ms().unwrap_or(0).max(0) as u64);
    inner.log(d.id, &format!("done in {} ms", took.as_millis())).await;
    Ok(())
}

async fn gate(
    inner: &Inner,
    d: &Deployment,
    addr: SocketAddr,
    policy: &HealthPolicy,
    cancel: &CancellationToken,
) -> Result<(), PipelineError> {
    inner
        .log(
            d.id,
            &format!(
                "health gate: GET {} on {addr}, {} passes in a row within {}s",
                policy.path,
                policy.threshold,
                policy.timeout.as_secs()
            ),
        )
        .await;
    // Probe results stream into the log as they happen, without the store slowing the probes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let threshold = policy.threshold;
    let probes = async move {
        health::wait_healthy(addr, policy, cancel, |r, passes| {
            let said = match r {
                Ok(code) => format!("HTTP {code}"),
                Err(e) => e.clone(),
            };
            let _ = tx.send(format!("health probe: {said} ({passes}/{threshold} in a row)"));
        })
        .await
    };
    let writer = async {
        while let Some(line) = rx.recv().await {
            inner.log(d.id, &line).await;
        }
    };
    let (result, ()) = tokio::join!(probes, writer);
    result?;
    inner.log(d.id, "health gate passed").await;
    Ok(())
}

/// The atomic switch: the store records the new live deployment, then one route store flips traffic.
async fn switch(inner: &Inner, d: &Deployment, upstream: Upstream) -> Result<Option<Upstream>, PipelineError> {
    inner.store.set_phase(d.id, Phase::Switching, now_ms()).await?;
    let (active, superseded) = inner.store.activate(d.id, Phase::Draining, now_ms()).await?;
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
async fn drain(inner: &Inner, d: &Deployment, old: Upstream, timeout: Duration) {
    let metrics = inner.metrics.project(&d.project);
    let gauge = metrics.inflight(old.slot);
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
    inner
        .log(
            d.id,
            &format!("the old process at {} keeps running: versiongate does not stop external processes", old.addr),
        )
        .await;
}

fn describe(live: Option<Upstream>) -> String {
    match live {
        Some(u) => format!("{} ({} slot, deployment {})", u.addr, u.slot, u.deployment_id),
        None => "nothing".into(),
    }
}
