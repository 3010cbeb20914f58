//! Time limits per phase: the rule for each phase (pure), and the watchdog that stops a deployment
//! past its limit so nothing shows DEPLOYING forever.
//!
//! Each step also has its own timeout (build, health gate, drain); the reaper is the backstop for a
//! step that hangs where no timeout reaches (a git server that never answers, an engine call that
//! never returns), so it allows those a grace period first.

use crate::controller::{recovery, Inner};
use crate::deployment::{Phase, Status};
use crate::project::ProjectSpec;
use crate::store::now_ms;
use std::time::Duration;

/// Room for a step's own timeout to fire first, with its more precise message.
const GRACE: Duration = Duration::from_secs(30);
/// Longest the atomic switch may take: a store transaction and one pointer swap.
const SWITCH_LIMIT: Duration = Duration::from_secs(30);
/// How often the watchdog looks at its deployment.
const TICK: Duration = Duration::from_millis(500);

/// The longest `phase` may last, and the setting that governs it. `None`: no limit (queued, done,
/// and the observe window, which always ends itself).
pub(crate) fn limit(phase: Phase, spec: &ProjectSpec) -> Option<(Duration, &'static str)> {
    let secs = Duration::from_secs;
    Some(match phase {
        Phase::WaitingForChecks => (secs(spec.checks_timeout_s) + GRACE, "checks_timeout_s"),
        Phase::Fetching => (secs(spec.fetch_timeout_s), "fetch_timeout_s"),
        Phase::Building => (secs(spec.build_timeout_s) + GRACE, "build_timeout_s"),
        Phase::Starting => (secs(spec.start_timeout_s), "start_timeout_s"),
        Phase::HealthChecking => (secs(spec.health_timeout_s) + GRACE, "health_timeout_s"),
        Phase::Releasing => (spec.release_timeout() + GRACE, "health_timeout_s (at least 300 s)"),
        Phase::Switching => (SWITCH_LIMIT, "the fixed switch limit"),
        Phase::Draining => (secs(spec.drain_timeout_s + spec.stop_timeout_s) + GRACE, "drain_timeout_s"),
        // A canary runs until the operator promotes or rolls it back (or the observe rule ends it).
        Phase::Queued | Phase::Canary | Phase::Observing | Phase::Done => return None,
    })
}

/// The failure reason when a deployment that entered `phase` at `entered_ms` is past its limit at `now_ms`.
pub(crate) fn overdue(phase: Phase, entered_ms: i64, now_ms: i64, spec: &ProjectSpec) -> Option<String> {
    let (limit, setting) = limit(phase, spec)?;
    let spent = Duration::from_millis((now_ms - entered_ms).max(0) as u64);
    (spent > limit).then(|| {
        format!(
            "{phase} ran over its time limit of {} s ({setting}), so the deployment was stopped and cleaned up; \
             raise the limit or find out why the step hangs (see the log)",
            limit.as_secs()
        )
    })
}

/// Resolves with the reason once the deployment has stayed in one phase past its limit; never
/// resolves while it keeps moving. Store errors only delay it (the database may come back).
pub(crate) async fn watch(inner: &Inner, id: i64, spec: &ProjectSpec) -> String {
    let mut current: Option<(Phase, i64)> = None;
    loop {
        tokio::time::sleep(TICK).await;
        let Ok(Some(d)) = inner.store.deployment(id).await else { continue };
        let now = now_ms();
        let entered = match current {
            Some((phase, at)) if phase == d.phase => at,
            _ => now,
        };
        current = Some((d.phase, entered));
        if let Some(reason) = overdue(d.phase, entered, now, spec) {
            return reason;
        }
    }
}

/// After the pipeline of deployment `id` was aborted: what it left in the engine goes, as after a crash.
pub(crate) async fn clean_up(inner: &Inner, id: i64) {
    match inner.store.deployment(id).await {
        Ok(Some(d)) if d.status == Status::Active => recovery::settle_slots(inner, &d).await,
        Ok(Some(d)) => recovery::remove_leftovers(inner, &d).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(deployment_id = id, "cannot read the stopped deployment to clean up after it: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProjectSpec {
        ProjectSpec { fetch_timeout_s: 10, start_timeout_s: 5, build_timeout_s: 100, ..ProjectSpec::default() }
    }

    #[test]
    fn every_working_phase_has_a_limit_and_the_waiting_ones_none() {
        let s = spec();
        assert_eq!(limit(Phase::Fetching, &s), Some((Duration::from_secs(10), "fetch_timeout_s")));
        assert_eq!(limit(Phase::Starting, &s).unwrap().0, Duration::from_secs(5));
        assert_eq!(
            limit(Phase::Building, &s).unwrap().0,
            Duration::from_secs(130),
            "the build's own timeout goes first"
        );
        assert_eq!(limit(Phase::Releasing, &s).unwrap().0, Duration::from_secs(330));
        assert_eq!(limit(Phase::Draining, &s).unwrap().0, Duration::from_secs(30 + 10 + 30));
        for phase in [Phase::Queued, Phase::Observing, Phase::Done] {
            assert_eq!(limit(phase, &s), None, "{phase}");
        }
    }

    #[test]
    fn overdue_names_the_phase_and_the_setting_only_past_the_limit() {
        let s = spec();
        assert_eq!(overdue(Phase::Fetching, 1_000, 11_000, &s), None, "exactly at the limit is still in time");
        let reason = overdue(Phase::Fetching, 1_000, 11_001, &s).unwrap();
        assert!(reason.starts_with("fetching ran over its time limit of 10 s (fetch_timeout_s)"), "{reason}");
        assert_eq!(overdue(Phase::Observing, 0, i64::MAX, &s), None);
        assert_eq!(overdue(Phase::Starting, 5_000, 0, &s), None, "a clock step backwards is no overrun");
    }
}
