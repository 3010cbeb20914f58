//! Several gateways on one store: their heartbeats (`cluster_nodes`), deploy leases by heartbeat age, and
//! the route-change notice sent to the others (PostgreSQL `NOTIFY`).

use super::{get, Result, Store};
use std::collections::HashSet;
use std::sync::Mutex;

/// The channel on which a committed route change is announced.
pub const ROUTES_CHANNEL: &str = "versiongate_routes";

/// One gateway as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node: String,
    pub owner: String,
    pub version: String,
    pub pid: i64,
    pub started_at: i64,
    pub seen_at: i64,
    /// The ID of the Docker engine it drives ('' when it has none).
    pub engine: String,
    /// A digest of its admin token ('' when it has none).
    pub token_digest: String,
}

/// Work that one gateway of a cluster does for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Tells notification receivers and GitHub about deployment outcomes.
    Announcer,
    /// Removes expired pull-request previews.
    Reaper,
    /// Orders and renews ACME certificates.
    Acme,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Announcer, Role::Reaper, Role::Acme];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Announcer => "announcer",
            Role::Reaper => "reaper",
            Role::Acme => "acme",
        }
    }
}

/// The roles this gateway holds now. A single gateway (no `[cluster]`) holds every role.
#[derive(Debug, Default)]
pub struct Roles {
    clustered: bool,
    held: Mutex<HashSet<Role>>,
}

impl Roles {
    pub fn new(clustered: bool) -> Roles {
        Roles { clustered, held: Mutex::default() }
    }

    /// Whether other gateways may share the store (`[cluster] node` is set).
    pub fn clustered(&self) -> bool {
        self.clustered
    }

    pub fn holds(&self, role: Role) -> bool {
        !self.clustered || crate::lock::lock(&self.held).contains(&role)
    }

    pub fn set(&self, role: Role, held: bool) {
        let mut roles = crate::lock::lock(&self.held);
        if held {
            roles.insert(role);
        } else {
            roles.remove(&role);
        }
    }
}

impl Store {
    /// Takes or renews `role` for `owner` unless another owner beat after `stale_before`.
    pub async fn hold_role(&self, role: Role, owner: &str, now: i64, stale_before: i64) -> Result<bool> {
        let taken = sqlx::query(
            "INSERT INTO cluster_roles (role, owner, heartbeat_at) VALUES ($1, $2, $3) \
             ON CONFLICT (role) DO UPDATE SET owner = $2, heartbeat_at = $3 \
             WHERE cluster_roles.owner = $2 OR cluster_roles.heartbeat_at < $4",
        )
        .bind(role.as_str())
        .bind(owner)
        .bind(now)
        .bind(stale_before)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() > 0)
    }

    /// Where the holder of `role` left off (0 when nobody recorded a place yet).
    pub async fn role_cursor(&self, role: Role) -> Result<i64> {
        let row = sqlx::query("SELECT event_cursor FROM cluster_roles WHERE role = $1")
            .bind(role.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map_or(Ok(0), |r| get(&r, "event_cursor"))
    }

    /// Records where `owner`, holding `role`, got to; nothing when it no longer holds it.
    pub async fn set_role_cursor(&self, role: Role, owner: &str, cursor: i64) -> Result<()> {
        sqlx::query("UPDATE cluster_roles SET event_cursor = $3 WHERE role = $1 AND owner = $2")
            .bind(role.as_str())
            .bind(owner)
            .bind(cursor)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that `node` is alive now.
    pub async fn beat_node(&self, n: &Node) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO cluster_nodes (node, owner, version, pid, started_at, seen_at, engine, token_digest) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ",
            "ON CONFLICT (node) DO UPDATE SET owner = excluded.owner, version = excluded.version, pid = excluded.pid, ",
            "started_at = excluded.started_at, seen_at = excluded.seen_at, engine = excluded.engine, ",
            "token_digest = excluded.token_digest"
        ))
        .bind(&n.node)
        .bind(&n.owner)
        .bind(&n.version)
        .bind(n.pid)
        .bind(n.started_at)
        .bind(n.seen_at)
        .bind(&n.engine)
        .bind(&n.token_digest)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every gateway that ever beat, by name.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        let rows = sqlx::query("SELECT * FROM cluster_nodes ORDER BY node").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Node {
                    node: get(r, "node")?,
                    owner: get(r, "owner")?,
                    version: get(r, "version")?,
                    pid: get(r, "pid")?,
                    started_at: get(r, "started_at")?,
                    seen_at: get(r, "seen_at")?,
                    engine: get(r, "engine")?,
                    token_digest: get(r, "token_digest")?,
                })
            })
            .collect()
    }

    /// Every lease: project, owner and last heartbeat.
    pub async fn lease_beats(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT project, owner, heartbeat_at FROM deploy_leases").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((get(r, "project")?, get(r, "owner")?, get(r, "heartbeat_at")?))).collect()
    }

    /// Drops `owner`'s lease of `project` if its heartbeat is older than `stale_before`; false when it beat
    /// meanwhile or another gateway dropped it first.
    pub async fn drop_stale_lease(&self, project: &str, owner: &str, stale_before: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM deploy_leases WHERE project = $1 AND owner = $2 AND heartbeat_at < $3")
            .bind(project)
            .bind(owner)
            .bind(stale_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes a silent owner's lease of `project` over as `claimer`, keeping its old heartbeat: exactly one
    /// gateway wins, and if it dies while settling, the lease is still stale and another one takes it over.
    pub async fn claim_stale_lease(
        &self,
        project: &str,
        owner: &str,
        claimer: &str,
        stale_before: i64,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE deploy_leases SET owner = $3 WHERE project = $1 AND owner = $2 AND heartbeat_at < $4")
                .bind(project)
                .bind(owner)
                .bind(claimer)
                .bind(stale_before)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tells the other gateways on this PostgreSQL that routes changed; nothing on SQLite.
    pub async fn announce_routes(&self, from: &str) -> Result<()> {
        self.announce(ROUTES_CHANNEL, from).await
    }

    /// `NOTIFY channel, payload` on PostgreSQL; nothing on SQLite (one gateway, nobody to tell).
    pub(super) async fn announce(&self, channel: &str, payload: &str) -> Result<()> {
        if !self.sqlite {
            sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&self.pool).await?;
        }
        Ok(())
    }
}
