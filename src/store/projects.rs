//! Stored projects and the domains they claim.

use super::{conflict_or, get, Result, Store, StoreError};
use crate::project::ProjectSpec;
use crate::slot::{pick_base_port, PortRange};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// A project as stored: its validated spec (with `base_port` always set) and times.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRecord {
    pub spec: ProjectSpec,
    pub base_port: u16,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// Stores a new, validated project. `is_free` says whether a host port can be bound,
    /// so an automatically picked pair does not collide with another program.
    pub async fn create_project(
        &self,
        spec: ProjectSpec,
        now: i64,
        is_free: &(dyn Fn(u16) -> bool + Sync),
    ) -> Result<ProjectRecord> {
        let mut tx = self.write_tx().await?;
        if self.project_in(&mut tx, &spec.name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "a project named `{}` already exists; pick another name or PATCH it",
                spec.name
            )));
        }
        let record = self.write_project(&mut tx, spec, None, now, is_free).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Replaces a project's spec; the name cannot change. Keeps its base port unless a new one is given.
    pub async fn update_project(&self, mut spec: ProjectSpec, now: i64) -> Result<ProjectRecord> {
        let mut tx = self.write_tx().await?;
        let old = self
            .project_in(&mut tx, &spec.name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("project `{}`", spec.name)))?;
        spec.base_port = spec.base_port.or(Some(old.base_port));
        sqlx::query("DELETE FROM project_domains WHERE project = $1").bind(&spec.name).execute(&mut *tx).await?;
        let record = self.write_project(&mut tx, spec, Some(old.created_at), now, &|_| true).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Creates the project, or updates it when it exists (projects from the config file).
    pub(crate) async fn upsert_project(
        &self,
        spec: ProjectSpec,
        now: i64,
        is_free: &(dyn Fn(u16) -> bool + Sync),
    ) -> Result<ProjectRecord> {
        match self.project(&spec.name).await? {
            Some(_) => self.update_project(spec, now).await,
            None => self.create_project(spec, now, is_free).await,
        }
    }

    async fn write_project(
        &self,
        tx: &mut Transaction<'static, Any>,
        mut spec: ProjectSpec,
        existing_since: Option<i64>,
        now: i64,
        is_free: &(dyn Fn(u16) -> bool + Sync),
    ) -> Result<ProjectRecord> {
        domains_free(tx, &spec.domains).await?;
        let base_port = self.choose_base_port(tx, &spec, is_free).await?;
        spec.base_port = Some(base_port);
        let sealed = self.sealed(&spec)?;
        let json = crate::secrets::reveal(|| serde_json::to_string(&sealed))
            .map_err(|e| StoreError::Corrupt { what: "project".into(), message: e.to_string() })?;
        // An update keeps the row (deployments reference it); a create inserts it.
        let (sql, created_at) = match existing_since {
            None => (
                "INSERT INTO projects (name, spec, base_port, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
                now,
            ),
            Some(since) => (
                "UPDATE projects SET spec = $2, base_port = $3, created_at = $4, updated_at = $5 WHERE name = $1",
                since,
            ),
        };
        sqlx::query(sql)
            .bind(&spec.name)
            .bind(json)
            .bind(i64::from(base_port))
            .bind(created_at)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                conflict_or(e, || format!("project `{}` or base_port {base_port} already exists", spec.name))
            })?;
        claim_domains(tx, &spec.name, &spec.domains).await?;
        claim_deploy_token(tx, &spec.name, spec.deploy_token.expose()).await?;
        Ok(ProjectRecord { spec, base_port, created_at, updated_at: now })
    }

    async fn choose_base_port(
        &self,
        tx: &mut Transaction<'static, Any>,
        spec: &ProjectSpec,
        is_free: &(dyn Fn(u16) -> bool + Sync),
    ) -> Result<u16> {
        let rows = sqlx::query("SELECT name, base_port, spec FROM projects WHERE name <> $1")
            .bind(&spec.name)
            .fetch_all(&mut **tx)
            .await?;
        let mut used = Vec::with_capacity(rows.len());
        for row in &rows {
            let (name, theirs) = stored_range(row)?;
            if let Some(ours) = spec.base_port.map(|base| PortRange { base, replicas: spec.replicas }) {
                if ours.overlaps(theirs) {
                    return Err(StoreError::Conflict(format!(
                        "base_port {} with {} replica(s) holds ports {}–{}, which overlaps project `{name}` \
                         (ports {}–{}); pick another base_port, or fewer replicas",
                        ours.base,
                        ours.replicas,
                        ours.base,
                        ours.last(),
                        theirs.base,
                        theirs.last()
                    )));
                }
            }
            used.push(theirs);
        }
        match spec.base_port {
            Some(p) => Ok(p),
            None => pick_base_port(&used, spec.replicas, is_free).ok_or_else(|| {
                StoreError::Conflict(format!(
                    "no free range of {} ports is left in 20000–29999; set base_port by hand",
                    2 * spec.replicas
                ))
            }),
        }
    }

    pub async fn project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT * FROM projects WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.map(|r| self.record_from_row(&r)).transpose()
    }

    async fn project_in(&self, tx: &mut Transaction<'static, Any>, name: &str) -> Result<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT * FROM projects WHERE name = $1").bind(name).fetch_optional(&mut **tx).await?;
        row.map(|r| self.record_from_row(&r)).transpose()
    }

    /// Every project, by name. A row that cannot be read is returned as its own error,
    /// so one corrupt project never hides the others.
    pub async fn projects(&self) -> Result<Vec<Result<ProjectRecord>>> {
        let rows = sqlx::query("SELECT * FROM projects ORDER BY name").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| self.record_from_row(r)).collect())
    }

    /// The project whose deploy token has this digest ([`deploy_token_digest`]), if any.
    pub async fn deploy_token_project(&self, digest: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT project FROM deploy_tokens WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| get(&r, "project")).transpose()
    }

    /// Removes the project with its domains, deployments, logs and lease. False if unknown.
    pub async fn delete_project(&self, name: &str) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let child_tables = [
            "DELETE FROM route_members WHERE project = $1",
            "DELETE FROM route_targets WHERE project = $1",
            "DELETE FROM deployment_logs WHERE deployment_id IN (SELECT id FROM deployments WHERE project = $1)",
            "DELETE FROM deployment_events WHERE deployment_id IN (SELECT id FROM deployments WHERE project = $1)",
            "DELETE FROM deployments WHERE project = $1",
            "DELETE FROM project_domains WHERE project = $1",
            "DELETE FROM deploy_leases WHERE project = $1",
            "DELETE FROM commit_checks WHERE project = $1",
            "DELETE FROM github_repos WHERE project = $1",
            "DELETE FROM deploy_tokens WHERE project = $1",
        ];
        for sql in child_tables {
            sqlx::query(sql).bind(name).execute(&mut *tx).await?;
        }
        let gone = sqlx::query("DELETE FROM projects WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }
}

/// Another project's name and the ports it holds; a spec that cannot be read counts as one replica.
fn stored_range(row: &AnyRow) -> Result<(String, PortRange)> {
    let (name, base, spec): (String, i64, String) = (get(row, "name")?, get(row, "base_port")?, get(row, "spec")?);
    let replicas = serde_json::from_str::<serde_json::Value>(&spec)
        .ok()
        .and_then(|v| v.get("replicas")?.as_u64())
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(1);
    Ok((name, PortRange { base: u16::try_from(base).unwrap_or(0), replicas }))
}

impl Store {
    pub(super) fn record_from_row(&self, row: &AnyRow) -> Result<ProjectRecord> {
        let name: String = get(row, "name")?;
        let json: String = get(row, "spec")?;
        let corrupt = |message: String| StoreError::Corrupt { what: format!("project `{name}`"), message };
        let spec: ProjectSpec = serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?;
        let base_port: i64 = get(row, "base_port")?;
        let base_port =
            u16::try_from(base_port).map_err(|_| corrupt(format!("base_port {base_port} is out of range")))?;
        let spec = self.opened(spec)?;
        Ok(ProjectRecord { spec, base_port, created_at: get(row, "created_at")?, updated_at: get(row, "updated_at")? })
    }

    /// The spec as stored: env values, webhook secret and git token sealed.
    fn sealed(&self, spec: &ProjectSpec) -> Result<ProjectSpec> {
        let mut spec = spec.clone();
        if let Some(secrets) = &self.secrets {
            for value in spec.secrets_mut() {
                *value = secrets.seal(value.expose())?.into();
            }
        }
        Ok(spec)
    }

    fn opened(&self, mut spec: ProjectSpec) -> Result<ProjectSpec> {
        if let Some(secrets) = &self.secrets {
            for value in spec.secrets_mut() {
                *value = secrets.open(value.expose())?.into();
            }
        }
        Ok(spec)
    }
}

/// Refuses a domain another project already serves.
async fn domains_free(tx: &mut Transaction<'static, Any>, domains: &[String]) -> Result<()> {
    for domain in domains {
        let owner = sqlx::query("SELECT project FROM project_domains WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(row) = owner {
            let owner: String = get(&row, "project")?;
            return Err(StoreError::Conflict(format!(
                "domain `{domain}` is already served by project `{owner}`; remove it there first"
            )));
        }
    }
    Ok(())
}

/// The hex SHA-256 digest under which a deploy token is looked up: the database never holds the token in clear.
pub fn deploy_token_digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Replaces the project's deploy token digest (none when the token is empty); the unique key refuses a
/// token another project already has.
async fn claim_deploy_token(tx: &mut Transaction<'static, Any>, project: &str, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM deploy_tokens WHERE project = $1").bind(project).execute(&mut **tx).await?;
    if token.is_empty() {
        return Ok(());
    }
    sqlx::query("INSERT INTO deploy_tokens (digest, project) VALUES ($1, $2)")
        .bind(deploy_token_digest(token))
        .bind(project)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            conflict_or(e, || {
                "deploy_token: another project already has this deploy token; give each project its own".into()
            })
        })?;
    Ok(())
}

/// Records `project` as the server of `domains` (the unique key catches a race with another writer).
async fn claim_domains(tx: &mut Transaction<'static, Any>, project: &str, domains: &[String]) -> Result<()> {
    for domain in domains {
        sqlx::query("INSERT INTO project_domains (domain, project) VALUES ($1, $2)")
            .bind(domain)
            .bind(project)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict_or(e, || format!("domain `{domain}` is already served by another project")))?;
    }
    Ok(())
}
