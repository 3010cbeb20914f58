//! What versiongate knows from GitHub: CI results per commit, each project's repository on GitHub, and the
//! GitHub deployment that mirrors each of ours.

use super::{get, Result, Store};
use crate::checks::{CheckReport, CheckState};

impl Store {
    /// Keeps the latest state of one check of one commit of `project`.
    pub async fn record_check(&self, project: &str, report: &CheckReport, now: i64) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO commit_checks (project, commit_sha, name, state, updated_at) VALUES ($1, $2, $3, $4, $5) ",
            "ON CONFLICT (project, commit_sha, name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
        ))
        .bind(project)
        .bind(&report.commit)
        .bind(&report.name)
        .bind(report.state.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every check reported for a commit of `project`, by name.
    pub async fn checks(&self, project: &str, commit: &str) -> Result<Vec<(String, CheckState)>> {
        let rows =
            sqlx::query("SELECT name, state FROM commit_checks WHERE project = $1 AND commit_sha = $2 ORDER BY name")
                .bind(project)
                .bind(commit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((get(r, "name")?, CheckState::parse(&get::<String>(r, "state")?)))).collect()
    }

    /// Remembers `owner/name`, as the last verified webhook for `project` gave it.
    pub async fn set_github_repo(&self, project: &str, repository: &str, now: i64) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO github_repos (project, repository, updated_at) VALUES ($1, $2, $3) ",
            "ON CONFLICT (project) DO UPDATE SET repository = excluded.repository, updated_at = excluded.updated_at"
        ))
        .bind(project)
        .bind(repository)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn github_repo(&self, project: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT repository FROM github_repos WHERE project = $1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| get(&r, "repository")).transpose()
    }

    pub async fn set_github_deployment(&self, id: i64, github_id: i64) -> Result<()> {
        sqlx::query("UPDATE deployments SET github_deployment = $2 WHERE id = $1")
            .bind(id)
            .bind(github_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn github_deployment(&self, id: i64) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT github_deployment FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| get::<Option<i64>>(&r, "github_deployment")).transpose()?.flatten())
    }
}
