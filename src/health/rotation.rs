//! Bringing replicas back into rotation: a replica the proxy took out (it refused a connection or died
//! before answering) is probed on its project's health path, and returns after `healthy_threshold` passes
//! in a row.

use super::probe;
use crate::routes::Routes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often replicas out of rotation are probed.
const EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Probes every replica out of rotation, forever; runs beside the proxy in the control plane.
pub(crate) async fn bring_back(routes: Arc<Routes>) {
    let mut passes: HashMap<(Arc<str>, SocketAddr), u32> = HashMap::new();
    loop {
        tokio::time::sleep(EVERY).await;
        let table = routes.current();
        let mut out = Vec::new();
        for route in table.projects() {
            let pools = route.backend.pools();
            let rollout = pools.rollout.iter().flat_map(|r| &r.pool.members);
            let members = pools.active.members.iter().chain(&pools.warm.members).chain(rollout);
            for m in members.filter(|m| !m.handles.in_rotation()) {
                out.push((route.clone(), m.addr, m.handles.clone()));
            }
        }
        drop(table);
        passes.retain(|key, _| out.iter().any(|(r, addr, _)| (&r.name, addr) == (&key.0, &key.1)));
        let probes = out.iter().map(|(route, addr, _)| probe(*addr, &route.health_path, PROBE_TIMEOUT));
        let results = futures_util::future::join_all(probes).await;
        for ((route, addr, handles), result) in out.into_iter().zip(results) {
            let count = passes.entry((route.name.clone(), addr)).or_default();
            *count = if result.is_ok_and(|code| (200..300).contains(&code)) { *count + 1 } else { 0 };
            if *count >= route.healthy_threshold.max(1) {
                handles.up.set(1);
                passes.remove(&(route.name.clone(), addr));
                tracing::info!(project = %route.name, "replica at {addr} passes its health check again: back in rotation");
            }
        }
    }
}
