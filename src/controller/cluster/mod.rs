//! Several gateways on one PostgreSQL: each beats in `cluster_nodes`; a deploy lease whose heartbeat is
//! older than `lease_timeout_s` belongs to a dead gateway, and one of the living settles its deployment as
//! recovery would; route changes arrive by `LISTEN` at once (the poll of `recovery::handover` stays as the
//! safety net); queued work that no living gateway picked up is picked up. Which gateways may share a
//! store at all is [`membership`].

mod membership;

use super::{recovery, Controller, Inner};
use crate::deployment::{Event, Phase, Status};
use crate::routes::PoolChange;
use crate::store::{now_ms, Node, Role, Roles, StoreError, CHALLENGES_CHANNEL, ROUTES_CHANNEL};
use std::sync::Arc;
use std::time::Duration;

/// `[cluster]`: a node name (`None`: a single gateway) and how old a heartbeat may get.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub node: Option<String>,
    pub lease_timeout: std::time::Duration,
    /// The roles this gateway holds, kept by [`Controller::keep_cluster`] and read by whoever does the work.
    pub roles: Arc<crate::store::Roles>,
    /// The digest of this gateway's admin token, compared with the other gateways'.
    pub token_digest: String,
    /// The Docker engine's ID, asked once it answers.
    engine: Arc<tokio::sync::OnceCell<String>>,
}

impl ClusterOptions {
    pub fn new(node: Option<String>, lease_timeout: Duration, roles: Arc<Roles>, token: &str) -> ClusterOptions {
        let token_digest = membership::token_digest(token);
        ClusterOptions { node, lease_timeout, roles, token_digest, engine: Arc::default() }
    }
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions::new(None, Duration::from_secs(15), Arc::default(), "")
    }
}

impl Controller {
    /// Heartbeat, dead leases and orphaned queues, every third of `lease_timeout_s`, until the process ends.
    pub(crate) async fn keep_cluster(&self) {
        let every = self.inner.cluster.lease_timeout / 3;
        loop {
            // A round that panics ends that round only: the next one still beats and settles.
            let round = self.clone();
            if let Err(e) = tokio::spawn(async move { round.cluster_round().await }).await {
                tracing::error!("cluster round failed: {e}");
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn cluster_round(&self) {
        if let Err(e) = self.inner.store.beat_node(&self.inner.identity().await).await {
            tracing::warn!("cannot record this gateway's heartbeat: {e}");
        }
        if self.inner.cluster.node.is_some() && !self.inner.handed_over() {
            self.hold_roles().await;
            if let Err(e) = settle_dead_leases(&self.inner).await {
                tracing::warn!("cannot look for deploy leases of dead gateways: {e}");
            }
            self.kick_queued().await;
        }
    }

    /// Who this process is in leases and roles (pid and a random part).
    pub(crate) fn owner(&self) -> String {
        self.inner.owner.clone()
    }

    /// The roles this gateway holds (all of them for a single gateway).
    pub(crate) fn roles(&self) -> Arc<Roles> {
        self.inner.cluster.roles.clone()
    }

    /// Takes or renews each role no living gateway holds; a role whose holder went silent for
    /// `lease_timeout_s` passes to another gateway.
    async fn hold_roles(&self) {
        let now = now_ms();
        let stale_before = now - self.inner.cluster.lease_timeout.as_millis() as i64;
        for role in Role::ALL {
            let held =
                self.inner.store.hold_role(role, &self.inner.owner, now, stale_before).await.unwrap_or_else(|e| {
                    tracing::warn!("cannot renew the {} role: {e}", role.as_str());
                    false
                });
            if held != self.inner.cluster.roles.holds(role) {
                tracing::info!(
                    "this gateway {} the {} role",
                    if held { "takes" } else { "no longer holds" },
                    role.as_str()
                );
            }
            self.inner.cluster.roles.set(role, held);
        }
    }

    /// Publishes route changes the moment another gateway announces them (`LISTEN`), reconnecting after
    /// a lost connection.
    pub(crate) async fn listen_for_routes(&self, url: String) {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => match listener.listen_all([ROUTES_CHANNEL, CHALLENGES_CHANNEL]).await {
                    Ok(()) => {
                        while let Ok(notice) = listener.recv().await {
                            if notice.channel() == CHALLENGES_CHANNEL {
                                // The certificate round reads the open ACME answers another gateway shared.
                                self.inner.synced.notify_one();
                                continue;
                            }
                            if notice.payload() == self.inner.owner {
                                continue;
                            }
                            if let Err(e) = self.inner.follow().await {
                                tracing::warn!("cannot read the routes another gateway changed: {e}");
                            }
                            // Certificates too: another gateway may have stored one.
                            self.inner.synced.notify_one();
                        }
                        tracing::warn!("lost the route-change channel; reconnecting (routes are polled meanwhile)");
                    }
                    Err(e) => tracing::warn!("cannot listen for route changes: {e}; retrying"),
                },
                Err(e) => tracing::warn!("cannot connect to listen for route changes: {e}; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Every gateway seen, with whether its heartbeat is recent.
    pub(crate) async fn nodes(&self) -> Result<Vec<(Node, bool)>, StoreError> {
        let fresh_after = now_ms() - self.inner.cluster.lease_timeout.as_millis() as i64;
        Ok(self
            .inner
            .store
            .nodes()
            .await?
            .into_iter()
            .map(|n| {
                let alive = n.seen_at >= fresh_after;
                (n, alive)
            })
            .collect())
    }
}

impl Inner {
    /// This gateway's row in `cluster_nodes`, seen now.
    pub(crate) async fn identity(&self) -> Node {
        let engine = match self.cluster.engine.get() {
            Some(id) => id.clone(),
            None => match self.runtimes.engine_id().await {
                Ok(id) if !id.is_empty() => self.cluster.engine.get_or_init(|| async { id }).await.clone(),
                _ => String::new(),
            },
        };
        Node {
            node: self.cluster.node.clone().unwrap_or_else(|| "local".into()),
            owner: self.owner.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            pid: i64::from(std::process::id()),
            started_at: self.started_at,
            seen_at: now_ms(),
            engine,
            token_digest: self.cluster.token_digest.clone(),
        }
    }
}

/// Each lease of another owner whose heartbeat is past `lease_timeout_s` is dropped by exactly one living
/// gateway, which then settles that project's unfinished deployment.
async fn settle_dead_leases(inner: &Arc<Inner>) -> Result<(), StoreError> {
    let timeout = inner.cluster.lease_timeout;
    let stale_before = now_ms() - timeout.as_millis() as i64;
    for (project, owner, beat) in inner.store.lease_beats().await? {
        if owner == inner.owner || beat >= stale_before {
            continue;
        }
        let claimer = format!("{}/settling", inner.owner);
        if !inner.store.claim_stale_lease(&project, &owner, &claimer, stale_before).await? {
            continue;
        }
        let silent_s = (now_ms() - beat) / 1000;
        tracing::warn!(project, "the gateway {owner} holding the deploy lease is silent for {silent_s} s; settling");
        settle_project(
            inner,
            &project,
            &format!("no heartbeat for {silent_s} s (lease_timeout_s {})", timeout.as_secs()),
        )
        .await?;
        // Only once it is settled may the next deployment take the lease.
        inner.store.release_lease(&project, &claimer).await?;
    }
    Ok(())
}

/// What recovery does after a restart, for one project whose gateway died: its deploying deployment fails,
/// a live one cut off in its observe window or drain stays live, warm and canary pools end, and what the
/// runtime left is cleaned up in the background.
async fn settle_project(inner: &Arc<Inner>, project: &str, why: &str) -> Result<(), StoreError> {
    let store = &inner.store;
    let mut stuck = Vec::new();
    for d in store.deployments(project, 20).await? {
        if d.status == Status::Deploying {
            let reason = format!("the gateway running it stopped ({why}) during {}", d.phase);
            store.apply(d.id, Event::Fail, None, Some(&reason), now_ms()).await?;
            if d.phase == Phase::Canary {
                store.change_pools(project, PoolChange::EndCanary, now_ms()).await?;
            }
            inner.log(d.id, &reason).await;
            inner.metrics.deployment_ended(project, Status::Failed.as_str(), None);
            stuck.push(d);
        } else if d.status == Status::Active && d.phase != Phase::Done {
            store.set_phase(d.id, Phase::Done, now_ms()).await?;
            inner.log(d.id, &format!("the gateway running it stopped ({why}) during {}; it stays live", d.phase)).await;
            stuck.push(d);
        }
    }
    store.change_pools(project, PoolChange::ClearWarm, now_ms()).await?;
    super::deploy::swap::end_orphaned_pause(inner, project, &store.traffic(project).await?).await;
    inner.sync_committed().await?;
    let inner = inner.clone();
    tokio::spawn(async move {
        for d in &stuck {
            match d.status {
                Status::Active => recovery::settle_slots(&inner, d).await,
                _ => recovery::remove_leftovers(&inner, d).await,
            }
        }
    });
    Ok(())
}
