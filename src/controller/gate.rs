//! The health gate step: probes until the new slot is fit for traffic; a container that dies fails it at once.

use super::pipeline::PipelineError;
use super::{docker, Inner};
use crate::deployment::Phase;
use crate::health::{self, HealthError, HealthPolicy};
use crate::store::{now_ms, Deployment, ProjectRecord};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Probes until healthy; for a container, also fails fast the moment it exits or restarts.
pub(super) async fn gate(
    inner: &Inner,
    d: &Deployment,
    record: &ProjectRecord,
    addr: SocketAddr,
    container: Option<&str>,
    cancel: &CancellationToken,
) -> Result<(), PipelineError> {
    inner.store.set_phase(d.id, Phase::HealthChecking, now_ms()).await?;
    inner.at_hook(d.id, Phase::HealthChecking).await;
    let policy = HealthPolicy::from_spec(&record.spec);
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
        health::wait_healthy(addr, &policy, cancel, |r, passes| {
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
    let watch = async {
        let Some(name) = container else { return std::future::pending().await };
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Ok(state) = inner.runtime.liveness(name).await {
                if let Some(e) = docker::died(state) {
                    return e;
                }
            }
        }
    };
    let result = tokio::select! {
        (result, ()) = async { tokio::join!(probes, writer) } => result,
        e = watch => return Err(e),
    };
    match result {
        Ok(()) => {
            inner.log(d.id, "health gate passed").await;
            Ok(())
        }
        Err(HealthError::TimedOut { ref last, .. }) if container.is_some() && nothing_listens(last) => {
            let e = PipelineError::from(result.unwrap_err());
            Err(PipelineError::Unhealthy(format!(
                "{}; the container is running but nothing answers on container_port {}: the app probably \
                 listens on 127.0.0.1 inside the container. Make it listen on 0.0.0.0 and on $PORT",
                e.to_string().trim_start_matches("health check failed: "),
                record.spec.container_port
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// Docker's port proxy accepts on the host, then resets or closes when nothing listens in the container.
fn nothing_listens(last_probe: &str) -> bool {
    ["Connection refused", "Connection reset", "closed without an HTTP answer"].iter().any(|s| last_probe.contains(s))
}
