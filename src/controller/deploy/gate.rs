//! The health gate step: probes until the new slot is fit for traffic; what the runtime sees die fails it at once.

use super::failure::PipelineError;
use crate::controller::Inner;
use crate::deployment::Phase;
use crate::health::{self, HealthError, HealthPolicy};
use crate::project::Slot;
use crate::runtime::{Job, Runtime};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Probes every replica until each is healthy; also fails fast the moment the runtime sees what it started die.
pub(crate) async fn gate(
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
    let probes = futures_util::future::try_join_all(
        addrs.iter().map(|&addr| probe(addr, &policy, cancel, named.then_some(addr), tx.clone())),
    );
    drop(tx);
    let writer = async {
        while let Some(line) = rx.recv().await {
            inner.log(d.id, &line).await;
        }
    };
    let result = tokio::select! {
        (result, ()) = async { tokio::join!(probes, writer) } => result,
        e = died(runtime, &record.spec.name, slot) => return Err(e),
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

/// Probes one replica until it is healthy, sending a log line for each probe; `named`: the replica's
/// address goes in the line (there are several).
async fn probe(
    addr: SocketAddr,
    policy: &HealthPolicy,
    cancel: &CancellationToken,
    named: Option<SocketAddr>,
    lines: UnboundedSender<String>,
) -> Result<(), HealthError> {
    let threshold = policy.threshold;
    health::wait_healthy(addr, policy, cancel, |r, passes| {
        let said = match r {
            Ok(code) => format!("HTTP {code}"),
            Err(e) => e.to_string(),
        };
        let who = named.map(|a| format!(" {a}")).unwrap_or_default();
        let _ = lines.send(format!("health probe{who}: {said} ({passes}/{threshold} in a row)"));
    })
    .await
}

/// Resolves once the runtime sees the slot's process die, with why.
async fn died(runtime: &dyn Runtime, project: &str, slot: Slot) -> PipelineError {
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(e) = runtime.died(project, slot).await {
            return PipelineError::from(e);
        }
    }
}
