//! What the docker runtime does after a crash or an aborted step: remove what an interrupted deployment
//! left, settle a live one cut off after its switch, and start a vanished live container again.

use super::steps::run_request;
use super::DockerRuntime;
use crate::deployment::Phase;
use crate::runtime::engine::{image_tag, release_container_name, replica_container_name, Liveness, RunRequest};
use crate::store::{Deployment, ProjectRecord};
use std::time::Duration;

/// How long a restart waits for the engine to say whether a live container runs.
const ENGINE_CHECK: Duration = Duration::from_secs(2);

/// An interrupted deployment leaves no container (slot or release), no image tag of its own and no
/// half-written checkout behind. A retained image it was reusing (a rollback) is kept.
pub(super) async fn remove_leftovers(docker: &DockerRuntime, d: &Deployment) {
    if matches!(d.phase, Phase::Fetching | Phase::Building) {
        // A clone cut off mid-write may hold lock files that would fail the next fetch.
        let clone = docker.options.data_dir.join("repos").join(&d.project);
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
    let engine = &docker.engine;
    let Some(slot) = d.slot else { return };
    for name in docker.in_slot(&d.project, slot).await {
        if engine.container_deployment(&name).await.ok().flatten() == Some(d.id) {
            if let Err(e) = engine.remove(&name).await {
                tracing::warn!("cannot remove {name} of interrupted deployment {}: {e}", d.id);
            }
        }
    }
    if d.phase == Phase::Releasing {
        let _ = engine.remove(&release_container_name(&d.project, d.id)).await;
    }
    let own = image_tag(&d.project, d.id);
    if d.image.as_deref() == Some(own.as_str()) || d.phase == Phase::Building {
        let _ = engine.remove_image(&own).await;
    }
}

/// A deployment cut off after its switch: its container gets the restart policy it would have had,
/// and the other slot, no longer warm for anyone, is stopped.
pub(super) async fn settle(docker: &DockerRuntime, d: &Deployment) {
    let (Some(slot), Some(_)) = (d.slot, &d.image) else { return };
    for live in docker.in_slot(&d.project, slot).await {
        if let Err(e) = docker.engine.keep_running(&live).await {
            tracing::warn!("cannot set the restart policy of {live}: {e}");
        }
    }
    for other in docker.in_slot(&d.project, slot.other()).await {
        let _ = docker.engine.stop(&other, Duration::from_secs(10)).await;
    }
}

/// A live container that is gone or stopped (a `docker rm`, a host without restart policies) is
/// started again from its retained image, replica by replica. Without the image it is a problem for this
/// project only.
pub(super) async fn revive(docker: &DockerRuntime, record: &ProjectRecord, live: &Deployment) -> Result<(), String> {
    let (Some(image), Some(slot)) = (&live.image, live.slot) else { return Ok(()) };
    let replicas = u16::try_from(live.targets.len()).unwrap_or(1).max(1);
    for n in 1..=replicas {
        let mut request = run_request(record, slot, n, live.id, image);
        // The replica count the live deployment started with, even if the spec says another now.
        request.name = replica_container_name(&record.spec.name, slot, n, replicas);
        revive_one(docker, record, &request).await?;
    }
    Ok(())
}

async fn revive_one(docker: &DockerRuntime, record: &ProjectRecord, request: &RunRequest) -> Result<(), String> {
    let (project, engine, name, image) = (&record.spec.name, &docker.engine, &request.name, &request.image);
    // The proxy waits for this: an engine that does not answer must not hold it back.
    match tokio::time::timeout(ENGINE_CHECK, engine.liveness(name)).await {
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
    if !engine.has_image(image).await.unwrap_or(false) {
        return Err(format!(
            "project `{project}`: its live container {name} is gone and so is its image {image}; deploy it again"
        ));
    }
    let started = async {
        engine.run(request).await?;
        engine.keep_running(name).await
    };
    started
        .await
        .map_err(|e| format!("project `{project}`: cannot start its live container {name} again from {image}: {e}"))?;
    tracing::warn!(project = %project, "the live container {name} was gone or stopped; started it again from {image}");
    Ok(())
}
