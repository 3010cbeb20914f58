//! Is this upstream fit for traffic: the consecutive-passes gate over HTTP probes ([`probe`]), and replicas
//! brought back into rotation ([`rotation`]).

mod probe;
pub(crate) mod rotation;

pub(crate) use probe::{probe, ProbeError};

use crate::project::ProjectSpec;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthPolicy {
    pub(crate) path: String,
    pub(crate) interval: Duration,
    pub(crate) threshold: u32,
    pub(crate) timeout: Duration,
}

impl HealthPolicy {
    pub(crate) fn from_spec(spec: &ProjectSpec) -> Self {
        HealthPolicy {
            path: spec.health_path.clone(),
            interval: Duration::from_millis(spec.health_interval_ms),
            threshold: spec.healthy_threshold,
            timeout: Duration::from_secs(spec.health_timeout_s),
        }
    }

    /// One probe may not outlast the interval by much, nor run past the gate's deadline.
    fn probe_timeout(&self) -> Duration {
        self.interval.clamp(Duration::from_secs(1), Duration::from_secs(5))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum HealthError {
    #[error(
        "{addr} did not pass the health check GET {path} {threshold} times in a row within {timeout_s}s \
         (passes in a row at the end: {passes}; last result: {last}). Check that the app listens on that \
         address and answers 2xx on {path}, or raise health_timeout_s"
    )]
    TimedOut {
        addr: SocketAddr,
        path: String,
        threshold: u32,
        timeout_s: u64,
        passes: u32,
        last: String,
        /// The last probe found nothing answering at all (refused, reset, or closed without a word).
        nothing_listens: bool,
    },
    #[error("cancelled while waiting for the health check")]
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Healthy,
    Wait,
    TimedOut,
}

/// Counts consecutive passes against a deadline (pure: time comes in as `now`).
#[derive(Debug, Clone)]
pub(crate) struct HealthGate {
    threshold: u32,
    deadline: Instant,
    passes: u32,
    last: String,
    nothing_listens: bool,
}

impl HealthGate {
    pub(crate) fn new(policy: &HealthPolicy, now: Instant) -> Self {
        HealthGate {
            threshold: policy.threshold,
            deadline: now + policy.timeout,
            passes: 0,
            last: "no probe yet".into(),
            nothing_listens: false,
        }
    }

    /// Records one probe result: `Ok(status)` for an HTTP answer, `Err` for no answer.
    pub(crate) fn record(&mut self, result: &Result<u16, ProbeError>, now: Instant) -> Verdict {
        match result {
            Ok(code) if (200..300).contains(code) => self.passes += 1,
            Ok(_) | Err(_) => self.passes = 0,
        }
        self.last = match result {
            Ok(code) => format!("HTTP {code}"),
            Err(e) => e.to_string(),
        };
        self.nothing_listens = result.as_ref().is_err_and(ProbeError::nothing_listens);
        if self.passes >= self.threshold {
            Verdict::Healthy
        } else if now >= self.deadline {
            Verdict::TimedOut
        } else {
            Verdict::Wait
        }
    }

    pub(crate) fn passes(&self) -> u32 {
        self.passes
    }
    pub(crate) fn last(&self) -> &str {
        &self.last
    }
}

/// Probes until the gate passes, times out or is cancelled; `report` sees each result.
pub(crate) async fn wait_healthy(
    addr: SocketAddr,
    policy: &HealthPolicy,
    cancel: &CancellationToken,
    mut report: impl FnMut(&Result<u16, ProbeError>, u32),
) -> Result<(), HealthError> {
    let mut gate = HealthGate::new(policy, Instant::now());
    loop {
        let result = tokio::select! {
            r = probe(addr, &policy.path, policy.probe_timeout()) => r,
            _ = cancel.cancelled() => return Err(HealthError::Cancelled),
        };
        let verdict = gate.record(&result, Instant::now());
        report(&result, gate.passes());
        match verdict {
            Verdict::Healthy => return Ok(()),
            Verdict::TimedOut => {
                return Err(HealthError::TimedOut {
                    addr,
                    path: policy.path.clone(),
                    threshold: policy.threshold,
                    timeout_s: policy.timeout.as_secs(),
                    passes: gate.passes(),
                    last: gate.last().to_owned(),
                    nothing_listens: gate.nothing_listens,
                })
            }
            Verdict::Wait => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(policy.interval) => {}
            _ = cancel.cancelled() => return Err(HealthError::Cancelled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(threshold: u32, timeout_s: u64) -> HealthPolicy {
        HealthPolicy {
            path: "/health".into(),
            interval: Duration::from_millis(10),
            threshold,
            timeout: Duration::from_secs(timeout_s),
        }
    }

    #[test]
    fn gate_needs_consecutive_passes() {
        let t0 = Instant::now();
        let mut gate = HealthGate::new(&policy(3, 60), t0);
        assert_eq!(gate.record(&Ok(200), t0), Verdict::Wait);
        assert_eq!(gate.record(&Ok(204), t0), Verdict::Wait);
        assert_eq!(gate.record(&Ok(500), t0), Verdict::Wait);
        assert_eq!(gate.passes(), 0);
        assert_eq!(gate.record(&Err(ProbeError::NoAnswer), t0), Verdict::Wait);
        assert_eq!(gate.last(), "connection closed without an HTTP answer");
        for _ in 0..2 {
            assert_eq!(gate.record(&Ok(200), t0), Verdict::Wait);
        }
        assert_eq!(gate.record(&Ok(200), t0), Verdict::Healthy);
    }

    #[test]
    fn gate_times_out_at_the_deadline() {
        let t0 = Instant::now();
        let mut gate = HealthGate::new(&policy(2, 5), t0);
        assert_eq!(gate.record(&Ok(503), t0 + Duration::from_secs(4)), Verdict::Wait);
        assert_eq!(gate.record(&Ok(503), t0 + Duration::from_secs(5)), Verdict::TimedOut);
        assert_eq!(gate.last(), "HTTP 503");
    }
}
