//! The steps of one deployment: the runtime starts the idle slot → health gate → release → atomic switch
//! → observe → drain → the runtime retires the old slot.
//!
//! A failure before the switch never touches the live route, and what the runtime started for it is
//! removed. Each step is a phase, an event and a log line.

use super::drain::{drain, Upstream};
use super::failure::PipelineError;
use super::gate::gate;
use super::journal::DeploymentJournal;
use super::observe::{observe, Outcome};
use super::Inner;
use crate::deployment::{Event, Phase, Trigger};
use crate::project::{Slot, Strategy};
use crate::runtime::{served_addrs, Job, Runtime};
use crate::store::{now_ms, Deployment, ProjectRecord};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info_span, Instrument};

/// Runs a QUEUED deployment to the end. On `Err` the caller records FAILED or CANCELLED.
pub(super) async fn run(inner: Arc<Inner>, d: Deployment, cancel: CancellationToken) -> Result<(), PipelineError> {
    let record = inner.store.project(&d.project).await?.ok_or_else(|| PipelineError::ProjectGone(d.project.clone()))?;
    let runtime = inner.runtimes.of(&record.spec);
    // What is live is the store's word, never the proxy's snapshot.
    let live = inner.store.live_deployment(&d.project).await?.as_ref().and_then(Upstream::of);
    let slot = live.map_or(Slot::Blue, |u| u.slot.other());
    let journal = DeploymentJournal { inner: &inner, id: d.id };
    let job = Job { deployment: &d, record: &record, cancel: &cancel, journal: &journal };
    if let Some(live) = live.filter(|_| record.spec.strategy == Strategy::HoldSwap && runtime.swaps_in_place()) {
        return super::swap::hold_swap(&inner, &job, runtime, live).await;
    }
    let d = runtime.start(&job, slot).instrument(info_span!("start", %slot)).await?;
    let job = Job { deployment: &d, ..job };
    inner
        .log(d.id, &format!("the {slot} slot is {}; live now: {}", d.target.as_deref().unwrap_or("-"), describe(live)))
        .await;
    let before_switch = async {
        let addrs = served_addrs(&d)?;
        gate(&inner, &job, runtime, (slot, &addrs)).instrument(info_span!("health_gate", %slot)).await?;
        runtime.release(&job).instrument(info_span!("release")).await?;
        publish_nginx(&inner, &d, &addrs).await?;
        let first = addrs.first().copied();
        first.ok_or_else(|| PipelineError::from(crate::runtime::RuntimeError::BadTarget(String::new())))
    };
    let addr = match before_switch.await {
        Ok(addr) => addr,
        Err(e) => {
            runtime.discard(&d.project, slot).await;
            return Err(e);
        }
    };
    let upstream = Upstream { slot, addr, deployment_id: d.id };
    if let (Some(percent), Some(live)) = (d.canary_percent, live) {
        return super::canary::canary(&inner, &job, runtime, (live, upstream), percent).await;
    }
    finish(&inner, &d, &record, runtime, live, upstream).await
}

/// Writes the nginx include before the internal switch, so both always point at the same slot.
pub(super) async fn publish_nginx(inner: &Inner, d: &Deployment, addrs: &[SocketAddr]) -> Result<(), PipelineError> {
    let Some(nginx) = &inner.nginx else { return Ok(()) };
    if let Some(warning) = nginx.publish(&d.project, addrs).await? {
        inner.log(d.id, &format!("nginx include written, but the reload failed: {warning}")).await;
    } else {
        let list = crate::routes::join_targets(addrs);
        inner.log(d.id, &format!("nginx include {}.conf now points at {list}; nginx reloaded", d.project)).await;
    }
    Ok(())
}

/// Switch, observe, drain the old slot, let the runtime retire it, done.
pub(super) async fn finish(
    inner: &Inner,
    d: &Deployment,
    record: &ProjectRecord,
    runtime: &dyn Runtime,
    live_before: Option<Upstream>,
    upstream: Upstream,
) -> Result<(), PipelineError> {
    let observing = record.spec.observe_s > 0 && live_before.is_some_and(|l| l.slot != upstream.slot);
    let phase = if observing { Phase::Observing } else { Phase::Draining };
    // The observe rule counts the new slot's answers from the switch on.
    let base = inner.metrics.project(&d.project).responses(upstream.slot);
    let previous = switch(inner, d, upstream, phase).instrument(info_span!("switch", slot = %upstream.slot)).await?;
    if let Some(old) = previous.filter(|_| observing) {
        let outcome =
            observe(inner, d, record, runtime, (upstream, old), base).instrument(info_span!("observe")).await?;
        if outcome == Outcome::RolledBack {
            return Ok(());
        }
        inner.store.set_phase(d.id, Phase::Draining, now_ms()).await?;
    }
    // Only now, so a crash inside the observe window shows its real exit code instead of a restart.
    runtime.keep(&record.spec.name, upstream.slot).await?;
    if let Some(old) = previous {
        let timeout = Duration::from_secs(record.spec.drain_timeout_s);
        drain(inner, d, old, timeout).instrument(info_span!("drain", slot = %old.slot)).await;
        inner.log(d.id, &runtime.retire(&record.spec, old.slot, old.addr).await).await;
    }
    let done = inner.store.set_phase(d.id, Phase::Done, now_ms()).await?;
    let took = Duration::from_millis(done.duration_ms().unwrap_or(0).max(0) as u64);
    inner.log(d.id, &format!("done in {} ms", took.as_millis())).await;
    if let Ok(history) = inner.store.deployments(&d.project, 500).await {
        for line in runtime.prune(&record.spec, &history).await {
            inner.log(d.id, &line).await;
        }
    }
    Ok(())
}

/// The atomic switch: one transaction records the new live deployment and its route, then `sync`
/// publishes the table. Returns the displaced upstream, which is now warm.
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
    inner.sync_committed().await?;
    let previous = superseded.as_ref().and_then(Upstream::of);
    let live_after = active.started_at.map(|s| Duration::from_millis((now_ms() - s).max(0) as u64));
    inner.metrics.deployment_ended(&d.project, "ACTIVE", live_after);
    inner.log(d.id, &format!("switched: new requests go to {} ({} slot)", upstream.addr, upstream.slot)).await;
    if let Some(old) = superseded {
        inner.metrics.deployment_ended(&d.project, "SUPERSEDED", None);
        inner.log(d.id, &format!("deployment {} is superseded", old.id)).await;
    }
    Ok(previous.filter(|p| p.slot != upstream.slot))
}

fn describe(live: Option<Upstream>) -> String {
    match live {
        Some(u) => format!("{} ({} slot, deployment {})", u.addr, u.slot, u.deployment_id),
        None => "nothing".into(),
    }
}
