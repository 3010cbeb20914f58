//! The metric families: each one's name, help and labels, registered on the gateway's registry.

use super::project::ReplicaFamilies;
use super::{MetricsError, DEPLOY_BUCKETS};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Registers `metric` and returns it: a prometheus metric is a handle, so the clone registered is the same.
pub(super) fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> Result<M, MetricsError> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// Deployments by status, their duration, and each project's live slot.
pub(super) fn deployments(registry: &Registry) -> Result<(IntCounterVec, HistogramVec, IntGaugeVec), MetricsError> {
    let deployments = IntCounterVec::new(
        Opts::new("versiongate_deployments_total", "Deployments that reached a status"),
        &["project", "status"],
    )?;
    let duration = HistogramVec::new(
        HistogramOpts::new("versiongate_deploy_duration_seconds", "Time from start to live of successful deployments")
            .buckets(DEPLOY_BUCKETS.to_vec()),
        &["project"],
    )?;
    let live_slot = IntGaugeVec::new(
        Opts::new("versiongate_live_slot", "1 for the slot that serves the project"),
        &["project", "slot"],
    )?;
    Ok((registered(registry, deployments)?, registered(registry, duration)?, registered(registry, live_slot)?))
}

/// Certificate expiry and status per host, and ACME orders by result.
pub(super) fn certificates(registry: &Registry) -> Result<(IntGaugeVec, IntGaugeVec, IntCounterVec), MetricsError> {
    let expiry = IntGaugeVec::new(
        Opts::new("versiongate_certificate_expiry_timestamp_seconds", "When the served certificate of a host expires"),
        &["host"],
    )?;
    let state = IntGaugeVec::new(
        Opts::new("versiongate_certificate_state", "1 for each host's certificate status (valid, pending, failed)"),
        &["host", "source", "status"],
    )?;
    let orders = IntCounterVec::new(Opts::new("versiongate_acme_orders_total", "ACME orders by result"), &["result"])?;
    Ok((registered(registry, expiry)?, registered(registry, state)?, registered(registry, orders)?))
}

/// The request path's counters, by stage (`lane` or `pipeline`, see `proxy`): requests each stage
/// answered, and requests a stage passed to the next one.
pub(super) fn stages(registry: &Registry) -> Result<(IntCounterVec, IntCounterVec), MetricsError> {
    let served = IntCounterVec::new(
        Opts::new(
            "versiongate_proxy_requests_total",
            "Requests answered, by the stage of the request path that answered them (lane, pipeline)",
        ),
        &["stage"],
    )?;
    let handed = IntCounterVec::new(
        Opts::new(
            "versiongate_proxy_handovers_total",
            "Requests a stage of the request path read and passed to the next stage, by the stage that passed them",
        ),
        &["stage"],
    )?;
    Ok((registered(registry, served)?, registered(registry, handed)?))
}

/// The traffic-control families: held requests, traffic state, and the per-replica handles.
pub(super) fn traffic(registry: &Registry) -> Result<(IntGaugeVec, IntGaugeVec, ReplicaFamilies), MetricsError> {
    let held = IntGaugeVec::new(
        Opts::new("versiongate_held_requests", "Requests waiting while their project is paused"),
        &["project"],
    )?;
    let traffic = IntGaugeVec::new(
        Opts::new("versiongate_traffic_state", "1 for the project's traffic state: serving, paused or maintenance"),
        &["project", "state"],
    )?;
    let labels = ["project", "slot", "replica"];
    let replicas = ReplicaFamilies {
        inflight: IntGaugeVec::new(
            Opts::new("versiongate_replica_inflight", "Requests routed to one replica whose response has not ended"),
            &labels,
        )?,
        requests: IntCounterVec::new(
            Opts::new("versiongate_replica_requests_total", "Requests routed to one replica"),
            &labels,
        )?,
        up: IntGaugeVec::new(
            Opts::new("versiongate_replica_up", "1 while a replica is in rotation, 0 after it refused a connection"),
            &labels,
        )?,
    };
    registered(registry, replicas.inflight.clone())?;
    registered(registry, replicas.requests.clone())?;
    registered(registry, replicas.up.clone())?;
    Ok((registered(registry, held)?, registered(registry, traffic)?, replicas))
}
