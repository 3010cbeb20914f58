//! The switch and what follows it: the nginx include, the atomic switch, the observe window, the drain and
//! the runtime retiring the old slot. Shared by blue-green deploys, promoted canaries and hold-and-swap.

use super::drain::{drain, Upstream};
use super::failure::PipelineError;
use super::observe::{observe, Outcome};
use crate::controller::Inner;
use crate::deployment::{Event, Phase, Trigger};
use crate::runtime::Runtime;
use crate::store::{now_ms, Deployment, ProjectRecord};
use std::net::SocketAddr;
use std::time::Duration;
use tracing::{info_span, Instrument};

/// Writes the nginx include before the internal switch, so both always point at the same slot.
pub(crate) async fn publish_nginx(inner: &Inner, d: &Deployment, addrs: &[SocketAddr]) -> Result<(), PipelineError> {
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
pub(crate) async fn finish(
    inner: &Inner,
    d: &Deployment,
    record: &ProjectRecord,
    runtime: &dyn Runtime,
    live_before: Option<Upstream>,
    upstream: Upstream,
) -> Result<(), PipelineError> {
    let observing = record.spec.observe_s > 0 && live_before.is_some_and(|l| l.slot != upstream.slot);
    // An observed switch stays in `switching` until `observe` has its window in place: a deployment that
    // shows `observing` always has live figures and an instant rollback (the API read them in between).
    let phase = if observing { Phase::Switching } else { Phase::Draining };
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
/// publishes the table, and only then does the deployment show `phase`: whoever reads `observing` or
/// `draining` is served the new version. Returns the displaced upstream, which is now warm.
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
    let (active, superseded) = inner.store.activate(d.id, displaced, Phase::Switching, now_ms()).await?;
    inner.sync_committed().await?;
    inner.store.set_phase(d.id, phase, now_ms()).await?;
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
