//! The steps of one deployment: the runtime starts the idle slot → health gate → release → then a canary
//! ([`super::canary`]) or the switch and what follows it ([`super::switch`]). Hold-and-swap projects take
//! their own path ([`super::swap`]).
//!
//! A failure before the switch never touches the live route, and what the runtime started for it is
//! removed. Each step is a phase, an event and a log line.

use super::drain::Upstream;
use super::failure::PipelineError;
use super::gate::gate;
use super::journal::DeploymentJournal;
use super::switch::{finish, publish_nginx};
use crate::controller::Inner;
use crate::project::{Slot, Strategy};
use crate::runtime::{served_addrs, Job};
use crate::store::Deployment;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{info_span, Instrument};

/// Runs a QUEUED deployment to the end. On `Err` the caller records FAILED or CANCELLED.
pub(crate) async fn run(inner: Arc<Inner>, d: Deployment, cancel: CancellationToken) -> Result<(), PipelineError> {
    let record = inner.store.project(&d.project).await?.ok_or_else(|| PipelineError::ProjectGone(d.project.clone()))?;
    let runtime = inner.runtimes.of(&record.spec);
    if super::checks::must_wait(&record.spec, &d) && runtime.traits().builds {
        super::checks::wait_for_checks(&inner, &d, &record.spec, &cancel).await?;
    }
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

fn describe(live: Option<Upstream>) -> String {
    match live {
        Some(u) => format!("{} ({} slot, deployment {})", u.addr, u.slot, u.deployment_id),
        None => "nothing".into(),
    }
}
