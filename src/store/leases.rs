//! The per-project deploy lease: one deploy at a time, with an owner and a heartbeat so a crash is visible.

use super::{Result, Store};

impl Store {
    /// Takes the project's lease for `owner` unless another owner's heartbeat is newer than `stale_before`.
    pub async fn acquire_lease(
        &self,
        project: &str,
        owner: &str,
        deployment_id: i64,
        now: i64,
        stale_before: i64,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "INSERT INTO deploy_leases (project, owner, deployment_id, heartbeat_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project) DO UPDATE SET owner = $2, deployment_id = $3, heartbeat_at = $4 \
             WHERE deploy_leases.owner = $2 OR deploy_leases.heartbeat_at < $5",
        )
        .bind(project)
        .bind(owner)
        .bind(deployment_id)
        .bind(now)
        .bind(stale_before)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() > 0)
    }

    /// Proves the owner is alive; false if the lease was lost.
    pub async fn heartbeat_lease(&self, project: &str, owner: &str, now: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE deploy_leases SET heartbeat_at = $3 WHERE project = $1 AND owner = $2")
            .bind(project)
            .bind(owner)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn release_lease(&self, project: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM deploy_leases WHERE project = $1 AND owner = $2")
            .bind(project)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops every lease not held by `owner`: at startup they belong to a dead process.
    pub async fn clear_foreign_leases(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM deploy_leases WHERE owner <> $1").bind(owner).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Every lease: project and owner.
    pub async fn leases(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT project, owner FROM deploy_leases").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((super::get(r, "project")?, super::get(r, "owner")?))).collect()
    }

    /// Drops the given owner's leases.
    pub async fn clear_leases_of(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM deploy_leases WHERE owner = $1").bind(owner).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// The current holder of a project's lease, if any.
    pub async fn lease_owner(&self, project: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT owner FROM deploy_leases WHERE project = $1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| super::get(&r, "owner")).transpose()
    }
}
