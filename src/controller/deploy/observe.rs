//! The observe window: after a switch the old slot stays warm for `observe_s`. A 5xx rate over
//! `max_error_rate` (once `min_requests` answers were seen), a dead container, or an operator's rollback
//! flips traffic straight back to it; a newer deployment, or an upgrade of the gateway, cuts the window short.

use super::drain::{drain, Upstream};
use super::failure::PipelineError;
use crate::controller::Inner;
use crate::deployment::{Phase, Status, Trigger};
use crate::metrics::ProjectMetrics;
use crate::project::ProjectSpec;
use crate::runtime::Runtime;
use crate::store::{now_ms, Deployment, NewDeployment, ProjectRecord};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

const TICK: Duration = Duration::from_millis(50);

/// How a window ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    CutShort,
    RolledBack,
}

/// The live figures of a running window, for the API, the CLI and the logs.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub(crate) struct ObserveFigures {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) error_rate: f64,
    pub(crate) seconds_left: u64,
}

/// A running window, as the controller sees it: who is observed, who is warm, and how to ask for a flip back.
pub(crate) struct Watch {
    pub(crate) deployment_id: i64,
    pub(crate) warm_deployment_id: i64,
    pub(crate) figures: Arc<Mutex<ObserveFigures>>,
    pub(crate) requests: mpsc::UnboundedSender<oneshot::Sender<Result<Deployment, String>>>,
}

/// One observe window: the deployment watched in `new`, and the warm `old` it can flip back to.
struct Window<'a> {
    inner: &'a Inner,
    d: &'a Deployment,
    record: &'a ProjectRecord,
    runtime: &'a dyn Runtime,
    new: Upstream,
    old: Upstream,
    /// The new slot's responses and 5xx counted before the window, so only the window's own count.
    base: (u64, u64),
}

pub(crate) async fn observe(
    inner: &Inner,
    d: &Deployment,
    record: &ProjectRecord,
    runtime: &dyn Runtime,
    (new, old): (Upstream, Upstream),
    base: (u64, u64),
) -> Result<Outcome, PipelineError> {
    let spec = &record.spec;
    if spec.observe_s == 0 {
        return Ok(Outcome::Passed);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let window = Duration::from_secs(spec.observe_s);
    let figures = Arc::new(Mutex::new(ObserveFigures { seconds_left: window.as_secs(), ..ObserveFigures::default() }));
    let watch =
        Watch { deployment_id: d.id, warm_deployment_id: old.deployment_id, figures: figures.clone(), requests: tx };
    inner.work.open_watch(&d.project, watch);
    if let Err(e) = inner.store.set_phase(d.id, Phase::Observing, now_ms()).await {
        inner.work.close_watch(&d.project);
        return Err(e.into());
    }
    inner
        .log(
            d.id,
            &format!("observing for {}s; the {} slot stays warm for an instant rollback", window.as_secs(), old.slot),
        )
        .await;
    let w = Window { inner, d, record, runtime, new, old, base };
    let outcome = watch_window(&w, window, &figures, &mut rx).await;
    inner.work.close_watch(&d.project);
    outcome
}

async fn watch_window(
    w: &Window<'_>,
    window: Duration,
    figures: &Mutex<ObserveFigures>,
    requests: &mut mpsc::UnboundedReceiver<oneshot::Sender<Result<Deployment, String>>>,
) -> Result<Outcome, PipelineError> {
    let (inner, d, spec) = (w.inner, w.d, &w.record.spec);
    let metrics = inner.metrics.project(&d.project);
    let started = Instant::now();
    for tick in 0u64.. {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            Some(reply) = requests.recv() => {
                let result = flip(w, Trigger::Rollback, "rolled back by the operator").await;
                let _ = reply.send(result.as_ref().map(Clone::clone).map_err(ToString::to_string));
                return result.map(|_| Outcome::RolledBack);
            }
        }
        let left = window.saturating_sub(started.elapsed());
        let now = measured(&metrics, w, left);
        *crate::lock::lock(figures) = now.clone();
        if let Some(reason) = verdict(now.requests, now.errors, spec) {
            flip(w, Trigger::AutoRollback, &reason).await?;
            return Ok(Outcome::RolledBack);
        }
        if tick % 10 == 9 {
            if let Some(outcome) = interrupted(w).await? {
                return Ok(outcome);
            }
        }
        if tick % 100 == 99 {
            let line = format!(
                "observing: {} requests, {} 5xx ({:.1}%), {}s left",
                now.requests,
                now.errors,
                now.error_rate * 100.0,
                now.seconds_left
            );
            inner.log(d.id, &line).await;
        }
        if left.is_zero() {
            inner.log(d.id, &format!("observe window passed: {} requests, {} 5xx", now.requests, now.errors)).await;
            return Ok(Outcome::Passed);
        }
    }
    Ok(Outcome::Passed)
}

/// The window's figures so far: the new slot's answers and 5xx since it began.
fn measured(metrics: &ProjectMetrics, w: &Window<'_>, left: Duration) -> ObserveFigures {
    let (total, errors) = metrics.responses(w.new.slot);
    let (requests, errors) = (total - w.base.0, errors - w.base.1);
    let error_rate = if requests == 0 { 0.0 } else { errors as f64 / requests as f64 };
    ObserveFigures { requests, errors, error_rate, seconds_left: left.as_secs() }
}

/// The checks made once a second: the new version died (roll back), a newer deployment is queued or the
/// gateway was upgraded (end early).
async fn interrupted(w: &Window<'_>) -> Result<Option<Outcome>, PipelineError> {
    let (inner, d) = (w.inner, w.d);
    if let Some(e) = w.runtime.died(&d.project, w.new.slot).await {
        flip(w, Trigger::AutoRollback, &format!("auto rollback: {e}")).await?;
        return Ok(Some(Outcome::RolledBack));
    }
    if inner.store.has_queued(&d.project).await.unwrap_or(false) {
        inner.log(d.id, "a newer deployment is queued: the observe window ends early").await;
        return Ok(Some(Outcome::CutShort));
    }
    // The successor now serves the requests this window would count: it would watch nothing.
    if inner.handed_over() {
        inner.log(d.id, "the gateway was upgraded: the observe window ends early, this version stays live").await;
        return Ok(Some(Outcome::CutShort));
    }
    Ok(None)
}

/// The observe rule (pure): why the window rolls back, once at least `min_requests` answers were seen and
/// more than `max_error_rate` of them were 5xx.
pub(crate) fn verdict(requests: u64, errors: u64, spec: &ProjectSpec) -> Option<String> {
    let rate = if requests == 0 { 0.0 } else { errors as f64 / requests as f64 };
    (requests >= spec.min_requests.max(1) && rate > spec.max_error_rate).then(|| {
        format!(
            "auto rollback: {errors} of {requests} responses were 5xx ({:.1}%), over max_error_rate {:.1}%",
            rate * 100.0,
            spec.max_error_rate * 100.0
        )
    })
}

/// Traffic back to the warm slot: `d` becomes ROLLED_BACK and a new `trigger` deployment serves the old slot.
async fn flip(w: &Window<'_>, trigger: Trigger, reason: &str) -> Result<Deployment, PipelineError> {
    let (inner, d, record, new, old) = (w.inner, w.d, w.record, w.new, w.old);
    let previous = inner.store.deployment(old.deployment_id).await?;
    // Every replica of the warm deployment serves again, not just the first.
    let targets = previous.as_ref().and_then(|p| crate::runtime::served_addrs(p).ok()).unwrap_or(vec![old.addr]);
    let from = previous.unwrap_or_else(|| d.clone());
    let rollback = NewDeployment { rollback_of: Some(d.id), ..NewDeployment::again_of(&from, trigger) };
    let (live, bad) = inner.store.record_flip(d.id, rollback, old.slot, &targets, reason, now_ms()).await?;
    inner.sync_committed().await?;
    inner.metrics.deployment_ended(&d.project, Status::RolledBack.as_str(), None);
    inner.log(d.id, &format!("{reason}; traffic is back on the {} slot (deployment {})", old.slot, live.id)).await;
    inner
        .log(
            live.id,
            &format!(
                "{}: flipped back to the warm {} slot ({}) from deployment {}",
                trigger, old.slot, old.addr, bad.id
            ),
        )
        .await;
    let timeout = Duration::from_secs(record.spec.drain_timeout_s);
    drain(inner, &live, new, timeout).await;
    inner.log(live.id, &w.runtime.retire(&record.spec, new.slot, new.addr).await).await;
    Ok(inner.store.set_phase(live.id, Phase::Done, now_ms()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_waits_for_min_requests_then_compares_the_5xx_share() {
        let spec = ProjectSpec { min_requests: 20, max_error_rate: 0.05, ..ProjectSpec::default() };
        assert_eq!(verdict(19, 19, &spec), None, "too few answers to judge, even all failing");
        assert_eq!(verdict(20, 1, &spec), None, "5 % is not over 5 %");
        let reason = verdict(20, 2, &spec).unwrap();
        assert_eq!(reason, "auto rollback: 2 of 20 responses were 5xx (10.0%), over max_error_rate 5.0%");
        assert_eq!(verdict(0, 0, &spec), None);
        let eager = ProjectSpec { min_requests: 0, max_error_rate: 0.0, ..ProjectSpec::default() };
        assert!(verdict(1, 1, &eager).is_some(), "min_requests 0 still needs one answer");
        assert_eq!(verdict(0, 0, &eager), None);
    }
}
