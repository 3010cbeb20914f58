//! The one writer of the route table: read the desired state from the store, build the table with the
//! pure [`RouteTable::from_state`], publish it with one atomic store.
//!
//! Every change that moves traffic is committed to the store first and then calls [`Inner::sync`]; nothing
//! else writes routes. Changes another process committed (the gateway being replaced by an upgrade, or
//! another gateway on one PostgreSQL) are picked up by [`Inner::follow`], which publishes only on a change.

use super::Inner;
use crate::routes::{RouteState, RouteTable};
use crate::store::StoreError;
use std::time::Duration;

/// How often a sync after a committed change is tried before the change is reported as not yet served.
const ATTEMPTS: u32 = 10;

impl Inner {
    /// Rebuilds and publishes the whole table; returns the rows that could not be read, per project.
    pub(super) async fn sync(&self) -> Result<Vec<String>, StoreError> {
        // Two syncs must not publish out of order: a slow read of older state would undo a newer table.
        // Held across one store read only, never across a drain or a health wait.
        let mut last = self.sync_lock.lock().await;
        let (state, mut problems) = self.store.route_state().await?;
        problems.extend(self.publish(&state));
        *last = Some(state);
        Ok(problems)
    }

    /// Publishes the stored state if it changed since the last sync: another process wrote it.
    pub(super) async fn follow(&self) -> Result<bool, StoreError> {
        let mut last = self.sync_lock.lock().await;
        let (state, _) = self.store.route_state().await?;
        if last.as_ref() == Some(&state) {
            return Ok(false);
        }
        for problem in self.publish(&state) {
            tracing::warn!("route not served: {problem}");
        }
        *last = Some(state);
        Ok(true)
    }

    fn publish(&self, state: &RouteState) -> Vec<String> {
        let (table, problems) = RouteTable::from_state(state, &self.table, &|name| self.metrics.project(name));
        for route in table.projects() {
            self.metrics.set_live_slot(&route.name, route.live_slot());
            self.metrics.set_traffic(&route.name, route.traffic().as_str());
        }
        self.routes.publish(table);
        self.synced.notify_one();
        problems
    }

    /// A sync right after a committed change: the database just answered, so a failure is transient;
    /// it is retried for about two seconds before it is returned.
    pub(super) async fn sync_committed(&self) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            match self.sync().await {
                Ok(_) => {
                    // Other gateways on this PostgreSQL serve the change at once, not at their next poll.
                    if let Err(e) = self.store.announce_routes(&self.owner).await {
                        tracing::warn!("cannot announce the route change to other gateways: {e}; they poll for it");
                    }
                    return Ok(());
                }
                Err(e) if attempt + 1 >= ATTEMPTS => return Err(e),
                Err(e) => tracing::warn!("cannot read the routes after a change ({e}); retrying"),
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
