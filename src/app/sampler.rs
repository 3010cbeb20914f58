//! The background task that feeds the dashboard's traffic chart from the proxy's counters.

use crate::metrics::Metrics;
use std::sync::Arc;

/// Feeds the dashboard's traffic chart. `VERSIONGATE_TEST_CHART_STEP_MS` (test-hooks builds only) shortens
/// the step so a browser test sees a line within seconds.
pub(super) async fn sample_traffic(metrics: Arc<Metrics>) {
    let test = cfg!(feature = "test-hooks").then(|| std::env::var("VERSIONGATE_TEST_CHART_STEP_MS").ok()).flatten();
    let step = test.and_then(|ms| ms.parse().ok()).unwrap_or(crate::metrics::history::STEP_MS as u64);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(step.max(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        metrics.sample_history(crate::store::now_ms());
    }
}
