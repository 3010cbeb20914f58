//! Every metric name, label and bucket, on a registry owned by the gateway.

#[cfg(test)]
mod dashboards;
mod families;
pub(crate) mod history;
mod project;

pub use project::{ProjectMetrics, ReplicaMetrics};

use crate::project::Slot;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REQUEST_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const DEPLOY_BUCKETS: [f64; 10] = [1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];
const CODE_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The `state` label of `versiongate_traffic_state`: the words of `routes::Traffic`.
const TRAFFIC_STATES: [&str; 3] = ["serving", "paused", "maintenance"];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot register metric: {0}")]
    Register(#[from] prometheus::Error),
}

/// The registry and the six metric families of INTERFACE.md.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    inflight: IntGaugeVec,
    deployments: IntCounterVec,
    deploy_duration: HistogramVec,
    live_slot: IntGaugeVec,
    cert_expiry: IntGaugeVec,
    cert_state: IntGaugeVec,
    acme_orders: IntCounterVec,
    held: IntGaugeVec,
    traffic: IntGaugeVec,
    replicas: project::ReplicaFamilies,
    stage_requests: IntCounterVec,
    stage_handovers: IntCounterVec,
    projects: Mutex<HashMap<String, Arc<ProjectMetrics>>>,
    history: history::History,
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let requests = families::registered(
            &registry,
            IntCounterVec::new(
                Opts::new("versiongate_http_requests_total", "Proxied responses by project, slot and status class"),
                &["project", "slot", "code"],
            )?,
        )?;
        let request_duration = families::registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "versiongate_http_request_duration_seconds",
                    "Time from routing a request to the end of its response",
                )
                .buckets(REQUEST_BUCKETS.to_vec()),
                &["project"],
            )?,
        )?;
        let inflight = families::registered(
            &registry,
            IntGaugeVec::new(
                Opts::new("versiongate_upstream_inflight", "Requests routed to a slot whose response has not ended"),
                &["project", "slot"],
            )?,
        )?;
        let (deployments, deploy_duration, live_slot) = families::deployments(&registry)?;
        let (cert_expiry, cert_state, acme_orders) = families::certificates(&registry)?;
        let (held, traffic, replicas) = families::traffic(&registry)?;
        let (stage_requests, stage_handovers) = families::stages(&registry)?;
        let projects = Mutex::default();
        Ok(Metrics {
            registry,
            requests,
            request_duration,
            inflight,
            deployments,
            deploy_duration,
            live_slot,
            cert_expiry,
            cert_state,
            acme_orders,
            held,
            traffic,
            replicas,
            stage_requests,
            stage_handovers,
            projects,
            history: history::History::default(),
        })
    }

    /// The counts of requests a stage of the request path answered, and handed to the next stage.
    pub(crate) fn stage(&self, stage: &str) -> (IntCounter, IntCounter) {
        (self.stage_requests.with_label_values(&[stage]), self.stage_handovers.with_label_values(&[stage]))
    }

    /// The handles for one project, created on first use and shared afterwards.
    pub fn project(&self, name: &str) -> Arc<ProjectMetrics> {
        let mut projects = crate::lock::lock(&self.projects);
        if let Some(found) = projects.get(name) {
            return found.clone();
        }
        let slots = [Slot::Blue, Slot::Green];
        let made = Arc::new(ProjectMetrics {
            name: name.to_owned(),
            inflight: slots.map(|s| self.inflight.with_label_values(&[name, s.as_str()])),
            requests: slots.map(|s| CODE_CLASSES.map(|c| self.requests.with_label_values(&[name, s.as_str(), c]))),
            duration: self.request_duration.with_label_values(&[name]),
            held: self.held.with_label_values(&[name]),
            families: self.replicas.clone(),
            replicas: Mutex::default(),
        });
        projects.insert(name.to_owned(), made.clone());
        made
    }

    /// Proxied requests and streams this process has open, and requests held by a pause, every project and
    /// slot together.
    pub(crate) fn inflight_total(&self) -> i64 {
        use prometheus::core::Collector;
        let families = self.inflight.collect().into_iter().chain(self.held.collect());
        families.flat_map(|mut f| f.take_metric()).map(|m| m.get_gauge().get_value() as i64).sum()
    }

    pub(crate) fn set_live_slot(&self, project: &str, live: Option<Slot>) {
        for slot in [Slot::Blue, Slot::Green] {
            let value = i64::from(live == Some(slot));
            self.live_slot.with_label_values(&[project, slot.as_str()]).set(value);
        }
    }

    pub(crate) fn deployment_ended(&self, project: &str, status: &str, live_after: Option<Duration>) {
        self.deployments.with_label_values(&[project, status]).inc();
        if let Some(d) = live_after {
            self.deploy_duration.with_label_values(&[project]).observe(d.as_secs_f64());
        }
    }

    /// Replaces every certificate series: `(host, source, status, not_after in ms)` per stored row.
    pub(crate) fn set_certificates<'a>(&self, rows: impl Iterator<Item = (&'a str, &'a str, &'a str, Option<i64>)>) {
        self.cert_expiry.reset();
        self.cert_state.reset();
        for (host, source, status, not_after) in rows {
            self.cert_state.with_label_values(&[host, source, status]).set(1);
            if let Some(ms) = not_after.filter(|_| status == "valid") {
                self.cert_expiry.with_label_values(&[host]).set(ms / 1000);
            }
        }
    }

    /// `result` is `issued` or `failed`.
    pub(crate) fn acme_order(&self, result: &str) {
        self.acme_orders.with_label_values(&[result]).inc();
    }

    /// 1 for the project's traffic state (one of [`TRAFFIC_STATES`]), 0 for the others.
    pub(crate) fn set_traffic(&self, project: &str, now: &str) {
        for state in TRAFFIC_STATES {
            self.traffic.with_label_values(&[project, state]).set(i64::from(state == now));
        }
    }

    /// Adds one step to every project's traffic history.
    pub(crate) fn sample_history(&self, now: i64) {
        let projects: Vec<_> = crate::lock::lock(&self.projects).values().cloned().collect();
        for p in projects {
            self.history.record(&p.name, p.totals(), now);
        }
    }

    /// The project's last hour of traffic, oldest step first.
    pub(crate) fn history(&self, project: &str) -> Vec<history::Sample> {
        self.history.samples(project)
    }

    /// Drops a removed project's series so the scrape does not report ghosts.
    pub(crate) fn forget_project(&self, project: &str) {
        self.history.forget(project);
        if let Some(gone) = crate::lock::lock(&self.projects).remove(project) {
            gone.forget_replicas();
        }
        let _ = self.held.remove_label_values(&[project]);
        for state in TRAFFIC_STATES {
            let _ = self.traffic.remove_label_values(&[project, state]);
        }
        for slot in ["blue", "green"] {
            for code in CODE_CLASSES {
                let _ = self.requests.remove_label_values(&[project, slot, code]);
            }
            let _ = self.inflight.remove_label_values(&[project, slot]);
            let _ = self.live_slot.remove_label_values(&[project, slot]);
        }
        for status in crate::deployment::Status::ALL {
            let _ = self.deployments.remove_label_values(&[project, status.as_str()]);
        }
        let _ = self.request_duration.remove_label_values(&[project]);
        let _ = self.deploy_duration.remove_label_values(&[project]);
    }

    /// The Prometheus text exposition of everything registered.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            return format!("# cannot encode metrics: {e}\n");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_six_contract_names_are_exposed() {
        let m = Metrics::new().unwrap();
        let p = m.project("app");
        p.inflight(Slot::Green).inc();
        p.observe(Slot::Green, 503, Duration::from_millis(3));
        m.set_live_slot("app", Some(Slot::Green));
        m.deployment_ended("app", "ACTIVE", Some(Duration::from_secs(2)));
        let r = p.replica(Slot::Green, 2);
        r.inflight.inc();
        r.requests.inc();
        m.set_traffic("app", "paused");
        p.held.inc();
        let text = m.render();
        for name in [
            "versiongate_http_requests_total{code=\"5xx\",project=\"app\",slot=\"green\"} 1",
            "versiongate_http_request_duration_seconds_count{project=\"app\"} 1",
            "versiongate_upstream_inflight{project=\"app\",slot=\"green\"} 1",
            "versiongate_deployments_total{project=\"app\",status=\"ACTIVE\"} 1",
            "versiongate_deploy_duration_seconds_count{project=\"app\"} 1",
            "versiongate_live_slot{project=\"app\",slot=\"green\"} 1",
            "versiongate_live_slot{project=\"app\",slot=\"blue\"} 0",
            "versiongate_replica_inflight{project=\"app\",replica=\"2\",slot=\"green\"} 1",
            "versiongate_replica_requests_total{project=\"app\",replica=\"2\",slot=\"green\"} 1",
            "versiongate_replica_up{project=\"app\",replica=\"2\",slot=\"green\"} 1",
            "versiongate_traffic_state{project=\"app\",state=\"paused\"} 1",
            "versiongate_traffic_state{project=\"app\",state=\"serving\"} 0",
            "versiongate_held_requests{project=\"app\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        assert_eq!(p.responses(Slot::Green), (1, 1));
        m.forget_project("app");
        assert!(!m.render().contains("project=\"app\""));
    }

    #[test]
    fn project_handles_are_shared() {
        let m = Metrics::new().unwrap();
        m.project("a").inflight(Slot::Blue).inc();
        assert_eq!(m.project("a").inflight(Slot::Blue).get(), 1);
    }
}
