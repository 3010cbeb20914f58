//! One project's metric handles, resolved once so the proxy never hashes label values per request: per slot,
//! per replica, and its held requests; and the traffic-control families they come from.

use crate::project::Slot;
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One replica's handles. `up` doubles as the balancer's rotation flag: 0 while the replica is out of
/// rotation after refusing a connection, 1 again once its health probes pass.
#[derive(Debug)]
pub struct ReplicaMetrics {
    pub(crate) inflight: IntGauge,
    pub(crate) requests: IntCounter,
    pub(crate) up: IntGauge,
}

impl ReplicaMetrics {
    pub(crate) fn in_rotation(&self) -> bool {
        self.up.get() != 0
    }
}

/// The families a project's replica handles are made from.
#[derive(Debug, Clone)]
pub(super) struct ReplicaFamilies {
    pub(super) inflight: IntGaugeVec,
    pub(super) requests: IntCounterVec,
    pub(super) up: IntGaugeVec,
}

#[derive(Debug)]
pub struct ProjectMetrics {
    pub(super) name: String,
    pub(super) inflight: [IntGauge; 2],
    pub(super) requests: [[IntCounter; 5]; 2],
    pub(super) duration: Histogram,
    /// Requests waiting while the project is paused.
    pub(crate) held: IntGauge,
    pub(super) families: ReplicaFamilies,
    pub(super) replicas: Mutex<BTreeMap<(Slot, u16), Arc<ReplicaMetrics>>>,
}

impl ProjectMetrics {
    /// Requests routed to `slot` whose response has not ended yet.
    pub(crate) fn inflight(&self, slot: Slot) -> &IntGauge {
        &self.inflight[slot_index(slot)]
    }

    /// The handles of replica `n` (1-based) of `slot`, made on first use; the table builder calls this, never
    /// the request path.
    pub(crate) fn replica(&self, slot: Slot, n: u16) -> Arc<ReplicaMetrics> {
        let mut replicas = crate::lock::lock(&self.replicas);
        let made = replicas.entry((slot, n)).or_insert_with(|| {
            let labels = [self.name.as_str(), slot.as_str(), &n.to_string()];
            let f = &self.families;
            let up = f.up.with_label_values(&labels);
            up.set(1);
            Arc::new(ReplicaMetrics {
                inflight: f.inflight.with_label_values(&labels),
                requests: f.requests.with_label_values(&labels),
                up,
            })
        });
        made.clone()
    }

    /// Counts a finished response; `status` 0 means no response was sent.
    pub(crate) fn observe(&self, slot: Slot, status: u16, elapsed: Duration) {
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => 4,
        };
        self.requests[slot_index(slot)][class].inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Responses counted for `slot` so far, and how many of them were 5xx.
    pub(crate) fn responses(&self, slot: Slot) -> (u64, u64) {
        let row = &self.requests[slot_index(slot)];
        (row.iter().map(IntCounter::get).sum(), row[4].get())
    }

    /// Every counter the traffic chart samples, summed over both slots.
    pub(crate) fn totals(&self) -> super::history::Totals {
        use prometheus::core::Metric;
        let requests = self.requests.iter().flatten().map(IntCounter::get).sum();
        let errors = self.requests.iter().map(|row| row[4].get()).sum();
        let proto = self.duration.metric();
        let histogram = proto.get_histogram();
        let mut buckets: Vec<(f64, u64)> =
            histogram.get_bucket().iter().map(|b| (b.upper_bound(), b.cumulative_count())).collect();
        buckets.push((f64::INFINITY, histogram.get_sample_count()));
        super::history::Totals { requests, errors, buckets }
    }

    /// Drops every replica series of the project.
    pub(super) fn forget_replicas(&self) {
        let replicas = std::mem::take(&mut *crate::lock::lock(&self.replicas));
        for (slot, n) in replicas.keys() {
            let labels = [self.name.as_str(), slot.as_str(), &n.to_string()];
            let _ = self.families.inflight.remove_label_values(&labels);
            let _ = self.families.requests.remove_label_values(&labels);
            let _ = self.families.up.remove_label_values(&labels);
        }
    }
}

pub(super) fn slot_index(slot: Slot) -> usize {
    match slot {
        Slot::Blue => 0,
        Slot::Green => 1,
    }
}
