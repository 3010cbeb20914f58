//! Runtimes whose addresses move (swarm tasks restart on new host ports, or on another node): the live
//! deployment's stored addresses follow what the runtime reports, and the routes are published again.
//! The engine's events drive it (a task that is stopping leaves the pool within a round trip); a slow poll
//! is the safety net for what the events of this node cannot show (tasks on other nodes, a lost stream).

use crate::controller::Controller;
use crate::runtime::served_addrs;
use crate::store::StoreError;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// How often live swarm services are looked at without an event.
const FALLBACK_POLL: Duration = Duration::from_secs(5);
/// After an event the tasks are read again this often for [`SETTLING`]: Swarm reports a task running a
/// moment after its container's start event, and a rolling update is several events apart.
const SETTLING_POLL: Duration = Duration::from_millis(200);
const SETTLING: Duration = Duration::from_secs(5);
/// How long a lost event stream waits before it is opened again, at most.
const RECONNECT_MAX: Duration = Duration::from_secs(30);

impl Controller {
    /// Until the process ends.
    pub(crate) async fn follow_tasks(&self) {
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let runtimes = self.inner.runtimes.clone();
        let _events = AbortOnDropHandle::new(tokio::spawn(async move { follow_events(runtimes, tx).await }));
        let mut settling_until = tokio::time::Instant::now();
        loop {
            let wait = if tokio::time::Instant::now() < settling_until { SETTLING_POLL } else { fallback_poll() };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                Some(service) = rx.recv() => {
                    // A burst of events (a rolling update) is one look.
                    while rx.try_recv().is_ok() {}
                    tracing::debug!("engine event for service {service}: looking at the tasks");
                    settling_until = tokio::time::Instant::now() + SETTLING;
                }
            }
            if let Err(e) = self.refresh_tasks().await {
                tracing::warn!("cannot follow the swarm services' tasks: {e}");
            }
        }
    }

    async fn refresh_tasks(&self) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let mut changed = false;
        for record in store.projects().await?.into_iter().flatten().filter(|r| r.spec.runtime.addresses_move()) {
            let Some(live) = store.live_deployment(&record.spec.name).await? else { continue };
            let Some(slot) = live.slot else { continue };
            let runtime = self.inner.runtimes.of(&record.spec);
            let Some(now) = runtime.serving_now(&record.spec, slot).await else { continue };
            let stored = served_addrs(&live).unwrap_or_default();
            // No task at all is a moment between restarts: the last addresses stay, and the proxy's retry
            // and rotation rules handle them.
            if !now.is_empty() && now != stored {
                tracing::info!(project = %record.spec.name, "swarm tasks moved: {stored:?} -> {now:?}");
                store.update_targets(live.id, slot, &now).await?;
                changed = true;
            }
        }
        if changed {
            self.inner.sync_committed().await?;
        }
        Ok(())
    }
}

/// Keeps the engine's event stream open, reopening it with a growing pause; an error is logged once
/// until the stream works again (an engine without swarm would otherwise log every second).
async fn follow_events(runtimes: crate::runtime::Runtimes, tx: mpsc::Sender<String>) {
    let mut pause = Duration::from_secs(1);
    let mut last_error = String::new();
    loop {
        match runtimes.follow_swarm(&tx).await {
            Ok(()) => {
                pause = Duration::from_secs(1);
                last_error.clear();
            }
            Err(e) if e.to_string() != last_error => {
                last_error = e.to_string();
                tracing::warn!(
                    "cannot follow the engine's events (the tasks are polled every {} s instead): {e}",
                    fallback_poll().as_secs()
                );
            }
            Err(_) => {}
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// `VERSIONGATE_TEST_TASK_POLL_MS` (builds with `test-hooks` only): tests slow the poll down to show that
/// the events alone move the routes.
fn fallback_poll() -> Duration {
    let test = cfg!(feature = "test-hooks").then(|| std::env::var("VERSIONGATE_TEST_TASK_POLL_MS").ok()).flatten();
    test.and_then(|ms| ms.parse().ok()).map_or(FALLBACK_POLL, Duration::from_millis)
}
