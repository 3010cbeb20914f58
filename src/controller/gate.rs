//! The health gate step: probes until the new slot is fit for traffic; what the runtime sees die fails it at once.

use super::failure::PipelineError;
use super::Inner;
use crate::deployment::Phase;
use crate::health::{self, HealthError, HealthPolicy};
use crate::project::Slot;
use crate::runtime::{Job, Runtime};
use std::net::SocketAddr;
use std::time::Duration;

/// Probes every replica until each is healthy; also fails fast the moment the runtime sees what it started die.
pub(super) async fn gate(
    inner: &Inner,
    job: &Job<'_>,
    runtime: &dyn Runtime,
    (slot, addrs): (Slot, &[SocketAddr]),
) -> Result<(), PipelineError> {
    let (d, record, cancel) = (job.deployment, job.record, job.cancel);
    job.journal.phase(Phase::HealthChecking).await?;
    let policy = HealthPolicy::from_spec(&record.spec);
    let (path, threshold, within) = (&policy.path, policy.threshold, policy.timeout.as_secs());
    let on = crate::routes::join_targets(addrs);
    let every = if addrs.len() > 1 { format!("each of {} replicas, ", addrs.len()) } else { String::new() };
    inner
        .log(d.id, &format!("health gate: GET {path} on {on}, {every}{threshold} passes in a row within {within}s"))
        .await;
    // Probe results stream into the log as they happen, without the store slowing the probes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let named = addrs.len() > 1;
    let probes = futures_util::future::try_join_all(addrs.iter().map(|&addr| {
        let (tx, policy) = (tx.clone(), policy.clone());
        async move {
            health::wait_healthy(addr, &policy, cancel, |r, passes| {
                let said = match r {
                    Ok(code) => format!("HTTP {code}"),
                    Err(e) => e.to_string(),
                };
                let who = if named { format!(" {addr}") } else { String::new() };
                let _ = tx.send(format!("health probe{who}: {said} ({passes}/{threshold} in a row)"));
            })
            .await
        }
    }));
    drop(tx);
    let writer = async {
        while let Some(line) = rx.recv().await {
            inner.log(d.id, &line).await;
        }
    };
    let watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Some(e) = runtime.died(&record.spec.name, slot).await {
                return PipelineError::from(e);
            }
        }
    };
    let result = tokio::select! {
        (result, ()) = async { tokio::join!(probes, writer) } => result,
        e = watch => return Err(e),
    };
    match result {
        Ok(_) => {
            inner.log(d.id, "health gate passed").await;
            Ok(())
        }
        Err(e @ HealthError::TimedOut { nothing_listens: true, .. }) => match runtime.unreachable_hint(&record.spec) {
            Some(hint) => Err(PipelineError::Unhealthy(format!("{e}; {hint}"))),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}
