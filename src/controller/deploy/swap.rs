//! Hold-and-swap (`strategy = "hold_swap"`), for apps that must never run twice (SQLite, one volume): the new
//! version is built while the old one serves; then requests are held, the old containers stop, the new ones
//! start in the same slot, pass the health gate and take over, and the held requests go to them. A new
//! version that fails brings the old one back, and the held requests go to it.

use super::failure::PipelineError;
use super::gate::gate;
use super::switch::{finish, publish_nginx};
use crate::controller::Inner;
use crate::deployment::Phase;
use crate::routes::{Traffic, TrafficChange, TrafficState};
use crate::runtime::{served_addrs, Job, Runtime};
use crate::store::{now_ms, Deployment, ProjectRecord};
use std::time::{Duration, Instant};
use tracing::{info_span, Instrument};

use super::drain::Upstream;

/// Replaces `live` in its own slot. `job` is the QUEUED deployment.
pub(crate) async fn hold_swap(
    inner: &Inner,
    job: &Job<'_>,
    runtime: &dyn Runtime,
    live: Upstream,
) -> Result<(), PipelineError> {
    let (record, slot) = (job.record, live.slot);
    let d = runtime.prepare(job, slot).instrument(info_span!("prepare", %slot)).await?;
    let job = Job { deployment: &d, ..*job };
    let held = hold(inner, &d, record).await?;
    let swapped = swap(inner, &job, runtime, live).await;
    if let Err(e) = &swapped {
        inner.log(d.id, &format!("the new version failed ({e}); starting the old one again")).await;
        runtime.discard(&d.project, slot).await;
        if let Err(problem) = bring_back(inner, record, runtime, live).await {
            inner.log(d.id, &problem).await;
        }
    }
    release(inner, &d, held).await;
    swapped
}

/// Stop the old, start the new in its place, gate, switch.
async fn swap(inner: &Inner, job: &Job<'_>, runtime: &dyn Runtime, live: Upstream) -> Result<(), PipelineError> {
    let (d, record, slot) = (job.deployment, job.record, live.slot);
    wait_idle(inner, d, live, Duration::from_secs(record.spec.drain_timeout_s)).await;
    inner.log(d.id, &runtime.retire(&record.spec, slot, live.addr).await).await;
    runtime.launch(job, slot).instrument(info_span!("launch", %slot)).await?;
    let addrs = served_addrs(d)?;
    gate(inner, job, runtime, (slot, &addrs)).instrument(info_span!("health_gate", %slot)).await?;
    runtime.release(job).instrument(info_span!("release")).await?;
    publish_nginx(inner, d, &addrs).await?;
    let upstream = Upstream { slot, addr: live.addr, deployment_id: d.id };
    finish(inner, d, record, runtime, Some(live), upstream).await
}

/// Pauses the project for the swap, unless the operator paused it or put it in maintenance already (then
/// requests wait, or get the maintenance page, anyway). Returns whether the pause is the swap's own.
async fn hold(inner: &Inner, d: &Deployment, record: &ProjectRecord) -> Result<bool, PipelineError> {
    let spec = &record.spec;
    // As long as a swap may take: stop, start, health gate.
    let timeout_s = (spec.stop_timeout_s + spec.start_timeout_s + spec.health_timeout_s + 10).min(3600) as i64;
    let change = TrafficChange::HoldForSwap { deployment: d.id, timeout_s };
    let decided = inner.store.change_traffic(&d.project, |now| now.after(&d.project, change), now_ms()).await?;
    inner.store.set_phase(d.id, Phase::Starting, now_ms()).await?;
    match decided {
        Ok(_) => {
            inner.sync_committed().await?;
            inner
                .log(d.id, &format!("holding new requests (up to {timeout_s} s each) while the containers swap"))
                .await;
            Ok(true)
        }
        Err(why) => {
            inner.log(d.id, &format!("not pausing for the swap: {why}")).await;
            Ok(false)
        }
    }
}

/// Ends the swap's own pause; held requests go, oldest first.
async fn release(inner: &Inner, d: &Deployment, held: bool) {
    if !held {
        return;
    }
    let change = TrafficChange::EndSwap { deployment: d.id };
    let ended = inner.store.change_traffic(&d.project, |now| now.after(&d.project, change), now_ms()).await;
    let line = match ended {
        Ok(Ok(_)) => match inner.sync_committed().await {
            Ok(()) => "held requests released".to_owned(),
            Err(e) => format!("the pause ended, but the routes could not be read: {e}"),
        },
        Ok(Err(why)) => format!("left the traffic as it is: {why}"),
        Err(e) => format!("cannot end the swap's pause ({e}); resume the project by hand"),
    };
    inner.log(d.id, &line).await;
}

/// Waits until nothing is in flight on the live slot (new requests are held by now), at most `timeout`.
async fn wait_idle(inner: &Inner, d: &Deployment, live: Upstream, timeout: Duration) {
    let gauge = inner.metrics.project(&d.project).inflight(live.slot).clone();
    let started = Instant::now();
    while gauge.get() > 0 && started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let left = gauge.get();
    let line = match left {
        0 => format!("the old version finished its requests in {} ms", started.elapsed().as_millis()),
        n => format!("{n} requests still in flight on the old version after {} s; stopping it", timeout.as_secs()),
    };
    inner.log(d.id, &line).await;
}

/// The old version runs again in its slot after a failed swap.
async fn bring_back(
    inner: &Inner,
    record: &ProjectRecord,
    runtime: &dyn Runtime,
    live: Upstream,
) -> Result<(), String> {
    let old = inner.store.deployment(live.deployment_id).await.map_err(|e| e.to_string())?;
    let old = old.ok_or_else(|| format!("deployment {} is gone; deploy again", live.deployment_id))?;
    runtime.revive(record, &old).await?;
    inner.log(old.id, "started again after a failed hold-and-swap deployment").await;
    Ok(())
}

/// After a restart: a pause whose swap is over (its deployment died with the process) ends.
pub(crate) async fn end_orphaned_pause(inner: &Inner, project: &str, traffic: &TrafficState) {
    if traffic.traffic != Traffic::Paused {
        return;
    }
    let Some(id) = traffic.message.as_deref().and_then(marked_deployment) else { return };
    let running =
        matches!(inner.store.deployment(id).await, Ok(Some(d)) if d.status == crate::deployment::Status::Deploying);
    if running {
        return;
    }
    let change = TrafficChange::EndSwap { deployment: id };
    if let Ok(Ok(_)) = inner.store.change_traffic(project, |now| now.after(project, change), now_ms()).await {
        tracing::warn!(project, "ended the pause of hold-and-swap deployment {id}, which did not finish");
    }
}

/// The deployment a swap's pause message names.
fn marked_deployment(message: &str) -> Option<i64> {
    let id = message.strip_prefix("held by deployment ")?.strip_suffix(" (hold_swap)")?;
    id.parse().ok().filter(|id| crate::routes::swap_marker(*id) == message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_swap_marker_names_a_deployment() {
        assert_eq!(super::marked_deployment(&crate::routes::swap_marker(42)), Some(42));
        assert_eq!(super::marked_deployment("held by deployment 42"), None);
        assert_eq!(super::marked_deployment("maintenance"), None);
    }
}
