//! The last hour of each project's traffic, sampled from the proxy's own counters into a bounded ring (no
//! time-series database): requests, 5xx and p99 per step, for the dashboard's chart.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// One sample every 10 s, 360 of them: an hour.
pub(crate) const STEP_MS: i64 = 10_000;
const KEEP: usize = 360;

/// A project's counters at one moment, cumulative since the process started.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// `(upper bound in seconds, cumulative count)` per latency bucket, ascending.
    pub(crate) buckets: Vec<(f64, u64)>,
}

/// One step of the chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// When the step ended (Unix ms).
    pub(crate) at: i64,
    pub(crate) seconds: f64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) p99_ms: Option<f64>,
}

impl Sample {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds.max(0.001)
    }

    pub(crate) fn error_rate(&self) -> f64 {
        self.errors as f64 / self.seconds.max(0.001)
    }
}

#[derive(Default)]
struct Series {
    last: Option<(i64, Totals)>,
    ring: VecDeque<Sample>,
}

/// Every project's ring; the sampler writes, the dashboard reads.
#[derive(Default)]
pub(crate) struct History {
    series: Mutex<HashMap<String, Series>>,
}

impl History {
    /// Adds the step since the project's previous totals (the first call only remembers them).
    pub(crate) fn record(&self, project: &str, totals: Totals, at: i64) {
        let mut all = crate::lock::lock(&self.series);
        let series = all.entry(project.to_owned()).or_default();
        if let Some((then, before)) = series.last.take() {
            if let Some(sample) = step(&before, &totals, then, at) {
                if series.ring.len() == KEEP {
                    series.ring.pop_front();
                }
                series.ring.push_back(sample);
            }
        }
        series.last = Some((at, totals));
    }

    /// The project's samples, oldest first.
    pub(crate) fn samples(&self, project: &str) -> Vec<Sample> {
        let all = crate::lock::lock(&self.series);
        all.get(project).map(|s| s.ring.iter().cloned().collect()).unwrap_or_default()
    }

    pub(crate) fn forget(&self, project: &str) {
        crate::lock::lock(&self.series).remove(project);
    }
}

/// The difference of two totals; `None` when time did not move forward.
fn step(before: &Totals, now: &Totals, then: i64, at: i64) -> Option<Sample> {
    if at <= then {
        return None;
    }
    let buckets: Vec<(f64, u64)> = now
        .buckets
        .iter()
        .zip(before.buckets.iter().map(|b| b.1).chain(std::iter::repeat(0)))
        .map(|(&(bound, count), was)| (bound, count.saturating_sub(was)))
        .collect();
    Some(Sample {
        at,
        seconds: (at - then) as f64 / 1000.0,
        requests: now.requests.saturating_sub(before.requests),
        errors: now.errors.saturating_sub(before.errors),
        p99_ms: quantile(&buckets, 0.99).map(|s| s * 1000.0),
    })
}

/// The `q` quantile of cumulative bucket counts, interpolated inside its bucket as Prometheus'
/// `histogram_quantile` does; the last finite bound when it falls in the overflow.
pub(crate) fn quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, count) in buckets {
        if count as f64 >= rank {
            if !bound.is_finite() {
                return Some(lower.0);
            }
            let inside = (count - lower.1) as f64;
            let share = if inside > 0.0 { (rank - lower.1 as f64) / inside } else { 1.0 };
            return Some(lower.0 + (bound - lower.0) * share);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests: u64, errors: u64, fast: u64, slow: u64) -> Totals {
        Totals { requests, errors, buckets: vec![(0.01, fast), (0.1, fast + slow), (f64::INFINITY, fast + slow)] }
    }

    #[test]
    fn steps_are_differences_of_the_counters() {
        let h = History::default();
        h.record("a", totals(100, 0, 100, 0), 0);
        assert!(h.samples("a").is_empty(), "the first totals only start the series");
        h.record("a", totals(300, 5, 298, 2), 10_000);
        let s = &h.samples("a")[0];
        assert_eq!((s.requests, s.errors, s.at), (200, 5, 10_000));
        assert!((s.rate() - 20.0).abs() < 1e-9 && (s.error_rate() - 0.5).abs() < 1e-9);
        // 99 % of 200 is rank 198: inside the first bucket (198 of 198), so its upper bound.
        assert!((s.p99_ms.unwrap() - 10.0).abs() < 1e-6, "{:?}", s.p99_ms);
        h.record("a", totals(300, 5, 298, 2), 10_000);
        assert_eq!(h.samples("a").len(), 1, "no step when time did not move");
    }

    #[test]
    fn the_ring_keeps_an_hour() {
        let h = History::default();
        for i in 0..=(KEEP as i64 + 50) {
            h.record("a", totals(i as u64, 0, i as u64, 0), i * STEP_MS);
        }
        let samples = h.samples("a");
        assert_eq!(samples.len(), KEEP);
        assert_eq!(samples.last().unwrap().at, (KEEP as i64 + 50) * STEP_MS);
        h.forget("a");
        assert!(h.samples("a").is_empty());
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        let b = [(0.1, 50), (0.2, 100), (f64::INFINITY, 100)];
        assert!((quantile(&b, 0.5).unwrap() - 0.1).abs() < 1e-9);
        assert!((quantile(&b, 0.75).unwrap() - 0.15).abs() < 1e-9);
        assert_eq!(quantile(&[(0.1, 0), (f64::INFINITY, 0)], 0.99), None);
        assert_eq!(quantile(&[(0.1, 0), (f64::INFINITY, 10)], 0.99), Some(0.1), "overflow: the last finite bound");
    }
}
