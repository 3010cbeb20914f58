//! After a start or a crash: routes come back from the store first, then unfinished work is cleaned up.

use super::{docker, Inner};
use crate::deployment::{Event, Phase, Status};
use crate::health;
use crate::routes::{ProjectRoute, Upstream};
use crate::runtime::{container_name, image_tag, release_container_name, Liveness};
use crate::store::{now_ms, Deployment, ProjectRecord, StoreError};
use futures_util::future::join_all;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a restart waits for the engine to say whether a live container runs.
const ENGINE_CHECK: Duration = Duration::from_secs(2);

/// What could not be restored, per project, for `/healthz` and the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    pub projects: usize,
    pub live: usize,
    pub problems: Vec<String>,
}

/// Rebuilds every project's route from its ACTIVE deployment. Each project is restored on its
/// own: a corrupt row or a dead target is reported and never blocks the others.
pub(super) async fn restore_routes(inner: &Inner) -> RestoreReport {
    let mut report = RestoreReport::default();
    let records = match inner.store.projects().await {
        Ok(records) => records,
        Err(e) => {
            report.problems.push(format!("cannot list projects: {e}"));
            return report;
        }
    };
    let mut ok = Vec::new();
    for record in records {
        match record {
            Ok(record) => ok.push(record),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    report.projects = ok.len();
    let restored = join_all(ok.iter().map(|r| restore_one(inner, r))).await;
    for (live, problem) in restored {
        report.live += usize::from(live);
        report.problems.extend(problem);
    }
    for problem in &report.problems {
        tracing::warn!("restore: {problem}");
    }
    report
}

/// Whether the project has a live route again, and what is wrong with it.
async fn restore_one(inner: &Inner, record: &ProjectRecord) -> (bool, Option<String>) {
    match restore_route(inner, record).await {
        Ok(Some(live)) => (true, revive(inner, record, &live).await.err()),
        Ok(None) => (false, None),
        Err(problem) => (false, Some(problem)),
    }
}

/// The project's route from its ACTIVE deployment; returns that deployment.
async fn restore_route(inner: &Inner, record: &ProjectRecord) -> Result<Option<Deployment>, String> {
    let name = &record.spec.name;
    let route = ProjectRoute::new(name, record.spec.domains.clone(), inner.metrics.project(name));
    inner.routes.put_project(route);
    let live = inner.store.live_deployment(name).await.map_err(|e| format!("project `{name}`: {e}"))?;
    let Some(live) = live else {
        inner.metrics.set_live_slot(name, None);
        return Ok(None);
    };
    let upstream =
        upstream_of(&live).ok_or_else(|| format!("project `{name}`: deployment {} has no usable address", live.id))?;
    inner.routes.switch(name, upstream);
    inner.metrics.set_live_slot(name, Some(upstream.slot));
    let policy_path = &record.spec.health_path;
    match health::probe(upstream.addr, policy_path, Duration::from_secs(1)).await {
        Ok(code) if (200..300).contains(&code) => {
            tracing::info!(project = %name, "restored route to {}", upstream.addr)
        }
        Ok(code) => {
            tracing::warn!(project = %name, "restored route to {}, but its health check answers HTTP {code}", upstream.addr)
        }
        Err(e) => {
            tracing::warn!(project = %name, "restored route to {}, but its health check failed: {e}", upstream.addr)
        }
    }
    Ok(Some(live))
}

/// A live container that is gone or stopped (a `docker rm`, a host without restart policies) is
/// started again from its retained image. Without the image it is a problem for this project only.
async fn revive(inner: &Inner, record: &ProjectRecord, live: &Deployment) -> Result<(), String> {
    let (Some(image), Some(slot)) = (&live.image, live.slot) else { return Ok(()) };
    let project = &record.spec.name;
    let name = container_name(project, slot);
    // The proxy waits for this: an engine that does not answer must not hold it back.
    match tokio::time::timeout(ENGINE_CHECK, inner.runtime.liveness(&name)).await {
        Ok(Ok(Liveness::Running)) => return Ok(()),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("project `{project}`: cannot check its live container {name}: {e}")),
        Err(_) => {
            let waited = ENGINE_CHECK.as_secs();
            return Err(format!(
                "project `{project}`: the Docker engine did not say within {waited} s whether {name} runs"
            ));
        }
    }
    if !inner.runtime.has_image(image).await.unwrap_or(false) {
        return Err(format!(
            "project `{project}`: its live container {name} is gone and so is its image {image}; deploy it again"
        ));
    }
    let request = docker::run_request(record, slot, live.id, image);
    let started = async {
        inner.runtime.run(&request).await?;
        inner.runtime.keep_running(&name).await
    };
    started
        .await
        .map_err(|e| format!("project `{project}`: cannot start its live container {name} again from {image}: {e}"))?;
    tracing::warn!(project = %project, "the live container {name} was gone or stopped; started it again from {image}");
    Ok(())
}

fn upstream_of(d: &Deployment) -> Option<Upstream> {
    let addr: SocketAddr = d.target.as_deref()?.parse().ok()?;
    Some(Upstream { slot: d.slot?, addr, deployment_id: d.id })
}

/// Deployments a crash left QUEUED or DEPLOYING become FAILED; an ACTIVE one cut off while
/// draining is finished; leases of the dead process are cleared. Returns how many failed.
///
/// The store is settled before this returns. The engine work (removing leftovers, stopping an old
/// slot, which can take a stop timeout) runs in the background while deployments wait for it, so
/// the admin API answers at once after a restart.
pub(super) async fn reconcile(inner: &Arc<Inner>) -> Result<usize, StoreError> {
    let cleared = inner.store.clear_foreign_leases(&inner.owner).await?;
    if cleared > 0 {
        tracing::info!("cleared {cleared} deploy leases left by a previous process");
    }
    let stuck = inner.store.deployments_with_status(&[Status::Queued, Status::Deploying]).await?;
    for d in &stuck {
        let reason = format!("gateway restarted during {}", d.phase);
        inner.store.apply(d.id, Event::Fail, None, Some(&reason), now_ms()).await?;
        inner.log(d.id, &reason).await;
        inner.metrics.deployment_ended(&d.project, Status::Failed.as_str(), None);
    }
    let mut cut_off = Vec::new();
    for d in inner.store.deployments_with_status(&[Status::Active]).await? {
        if d.phase != Phase::Done {
            inner.store.set_phase(d.id, Phase::Done, now_ms()).await?;
            inner.log(d.id, &format!("gateway restarted during {}; the deployment stays live", d.phase)).await;
            cut_off.push(d);
        }
    }
    let failed = stuck.len();
    let settling = inner.settling.clone().write_owned().await;
    let inner = inner.clone();
    tokio::spawn(async move {
        join_all(stuck.iter().map(|d| remove_leftovers(&inner, d))).await;
        join_all(cut_off.iter().map(|d| settle_slots(&inner, d))).await;
        drop(settling);
    });
    Ok(failed)
}

/// An interrupted deployment leaves no container (slot or release), no image tag of its own and no
/// half-written checkout behind. A retained image it was reusing (a rollback) is kept.
pub(super) async fn remove_leftovers(inner: &Inner, d: &Deployment) {
    if matches!(d.phase, Phase::Fetching | Phase::Building) {
        // A clone cut off mid-write may hold lock files that would fail the next fetch.
        let clone = inner.data_dir.join("repos").join(&d.project);
        if let Err(e) = tokio::fs::remove_dir_all(&clone).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    "cannot remove the checkout {} of interrupted deployment {}: {e}",
                    clone.display(),
                    d.id
                );
            }
        }
    }
    let Some(slot) = d.slot else { return };
    let name = container_name(&d.project, slot);
    if inner.runtime.container_deployment(&name).await.ok().flatten() == Some(d.id) {
        if let Err(e) = inner.runtime.remove(&name).await {
            tracing::warn!("cannot remove {name} of interrupted deployment {}: {e}", d.id);
        }
    }
    if d.phase == Phase::Releasing {
        let _ = inner.runtime.remove(&release_container_name(&d.project, d.id)).await;
    }
    let own = image_tag(&d.project, d.id);
    if d.image.as_deref() == Some(own.as_str()) || d.phase == Phase::Building {
        let _ = inner.runtime.remove_image(&own).await;
    }
}

/// A deployment cut off after its switch: its container gets the restart policy it would have had,
/// and the other slot, no longer warm for anyone, is stopped.
pub(super) async fn settle_slots(inner: &Inner, d: &Deployment) {
    let (Some(slot), Some(_)) = (d.slot, &d.image) else { return };
    let live = container_name(&d.project, slot);
    if let Err(e) = inner.runtime.keep_running(&live).await {
        tracing::warn!("cannot set the restart policy of {live}: {e}");
    }
    let _ = inner.runtime.stop(&container_name(&d.project, slot.other()), Duration::from_secs(10)).await;
}
