//! Stored deployments; every status or phase change is checked by the state machine and logged as an event.

use super::logs::add_event;
use super::{get, parse_col, Result, Store};
use crate::deployment::{Event, Phase, Status, Trigger};
use crate::project::Slot;
use serde::Serialize;
use sqlx::any::AnyRow;

/// One deployment row, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = DeploymentRow)]
pub struct Deployment {
    pub id: i64,
    pub project: String,
    pub status: Status,
    pub phase: Phase,
    pub slot: Option<Slot>,
    pub port: Option<u16>,
    /// Where it serves: the address of replica 1 (or of the only one).
    pub target: Option<String>,
    /// Where each replica serves, replica 1 first.
    pub targets: Vec<String>,
    pub commit: Option<String>,
    /// The subject line of `commit`.
    pub message: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub image: Option<String>,
    pub trigger: Trigger,
    pub rollback_of: Option<i64>,
    pub error: Option<String>,
    /// The share of clients a canary takes before it is promoted (1–99); `None` for a plain deployment.
    pub canary_percent: Option<i64>,
    /// RFC 3339, like every time in the API.
    #[schema(value_type = String)]
    pub created_at: i64,
    #[schema(value_type = Option<String>)]
    pub started_at: Option<i64>,
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<i64>,
}

impl Deployment {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }

    /// A finished API deployment of project `p` with nothing resolved, for unit tests to adjust.
    #[cfg(test)]
    pub(crate) fn sample(id: i64, status: Status) -> Deployment {
        Deployment {
            id,
            project: "p".into(),
            status,
            phase: crate::deployment::Phase::Done,
            slot: None,
            port: None,
            target: None,
            targets: Vec::new(),
            commit: None,
            message: None,
            git_ref: None,
            image: None,
            trigger: crate::deployment::Trigger::Api,
            rollback_of: None,
            error: None,
            canary_percent: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
        }
    }
}

/// What a new deployment is asked to do.
#[derive(Debug, Clone, Default)]
pub struct NewDeployment {
    pub project: String,
    pub trigger: Option<Trigger>,
    pub slot: Option<Slot>,
    pub port: Option<u16>,
    pub target: Option<String>,
    pub git_ref: Option<String>,
    pub commit: Option<String>,
    pub message: Option<String>,
    pub image: Option<String>,
    pub rollback_of: Option<i64>,
    pub canary_percent: Option<i64>,
}

impl NewDeployment {
    /// A new deployment of what `from` ran: its image, commit and ref, no fetch and no build.
    pub fn again_of(from: &Deployment, trigger: Trigger) -> NewDeployment {
        NewDeployment {
            project: from.project.clone(),
            trigger: Some(trigger),
            image: from.image.clone(),
            commit: from.commit.clone(),
            message: from.message.clone(),
            git_ref: from.git_ref.clone(),
            ..NewDeployment::default()
        }
    }
}

impl Store {
    /// Adds a QUEUED deployment and its first event.
    pub async fn create_deployment(&self, new: NewDeployment, now: i64) -> Result<Deployment> {
        let mut tx = self.write_tx().await?;
        let d = insert_in(&mut tx, new, now).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// The latest deployment before `before` that went live and can be returned to: SUPERSEDED, with an
    /// image (docker) or an address (external).
    pub(crate) async fn previous_good(&self, project: &str, before: i64) -> Result<Option<Deployment>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM deployments WHERE project = $1 AND id < $2 AND status = 'SUPERSEDED' \
             AND (image IS NOT NULL OR target IS NOT NULL) ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(sql).bind(project).bind(before).fetch_optional(&self.pool).await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// True when the project has a deployment waiting to run.
    pub(crate) async fn has_queued(&self, project: &str) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM deployments WHERE project = $1 AND status = 'QUEUED' LIMIT 1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}

/// Inserts a QUEUED deployment and its first event.
pub(super) async fn insert_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    new: NewDeployment,
    now: i64,
) -> Result<Deployment> {
    {
        let trigger = new.trigger.unwrap_or(Trigger::Api);
        let sql = concat!("INSERT INTO deployments (project, status, phase, slot, port, target, commit_sha, message, git_ref, image, trigger_kind, rollback_of, created_at, canary_percent) \
             VALUES ($1, 'QUEUED', 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ", columns!(), "");
        let row = sqlx::query(sql)
            .bind(&new.project)
            .bind(new.slot.map(|s| s.as_str()))
            .bind(new.port.map(i64::from))
            .bind(new.target)
            .bind(new.commit)
            .bind(new.message)
            .bind(new.git_ref)
            .bind(new.image)
            .bind(trigger.as_str())
            .bind(new.rollback_of)
            .bind(now)
            .bind(new.canary_percent)
            .fetch_one(&mut **tx)
            .await?;
        let d = from_row(&row)?;
        add_event(tx, (d.id, d.status, d.phase), "queued", now).await?;
        Ok(d)
    }
}

impl Store {
    pub async fn deployment(&self, id: i64) -> Result<Option<Deployment>> {
        let sql = concat!("SELECT ", columns!(), " FROM deployments WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// A project's deployments, newest first.
    pub async fn deployments(&self, project: &str, limit: i64) -> Result<Vec<Deployment>> {
        let sql = concat!("SELECT ", columns!(), " FROM deployments WHERE project = $1 ORDER BY id DESC LIMIT $2");
        let rows = sqlx::query(sql).bind(project).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Every deployment in one of `statuses`, oldest first.
    pub async fn deployments_with_status(&self, statuses: &[Status]) -> Result<Vec<Deployment>> {
        let mut out = Vec::new();
        for status in statuses {
            let sql = concat!("SELECT ", columns!(), " FROM deployments WHERE status = $1 ORDER BY id");
            let rows = sqlx::query(sql).bind(status.as_str()).fetch_all(&self.pool).await?;
            for row in &rows {
                out.push(from_row(row)?);
            }
        }
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    /// The deployment that serves the project now, if any.
    pub async fn live_deployment(&self, project: &str) -> Result<Option<Deployment>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM deployments WHERE project = $1 AND status = 'ACTIVE' ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(sql).bind(project).fetch_optional(&self.pool).await?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// The newest QUEUED deployment; older queued ones are CANCELLED as replaced by it,
    /// so pushes that arrive during a deploy coalesce into one.
    pub async fn take_newest_queued(&self, project: &str, now: i64) -> Result<Option<Deployment>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM deployments WHERE project = $1 AND status = 'QUEUED' ORDER BY id DESC"
        );
        let rows = sqlx::query(sql).bind(project).fetch_all(&self.pool).await?;
        let mut queued = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?.into_iter();
        let newest = queued.next();
        if let Some(newest) = &newest {
            for old in queued {
                let why = format!("superseded by a newer push (deployment {})", newest.id);
                match self.apply(old.id, Event::Cancel, None, Some(&why), now).await {
                    // Someone else ended it meanwhile (an operator's cancel): nothing left to coalesce.
                    Ok(_) | Err(super::StoreError::Transition(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(newest)
    }
}

pub(super) fn from_row(row: &AnyRow) -> Result<Deployment> {
    let slot: Option<String> = get(row, "slot")?;
    let raw: Option<String> = get(row, "target")?;
    let targets: Vec<String> = raw.iter().flat_map(|t| t.split(',')).map(str::to_owned).collect();
    let port: Option<i64> = get(row, "port")?;
    Ok(Deployment {
        id: get(row, "id")?,
        project: get(row, "project")?,
        status: parse_col(row, "status")?,
        phase: parse_col(row, "phase")?,
        slot: slot.as_deref().and_then(Slot::parse),
        port: port.and_then(|p| u16::try_from(p).ok()),
        target: targets.first().cloned(),
        targets,
        commit: get(row, "commit_sha")?,
        message: get(row, "message")?,
        git_ref: get(row, "git_ref")?,
        image: get(row, "image")?,
        trigger: parse_col(row, "trigger_kind")?,
        rollback_of: get(row, "rollback_of")?,
        error: get(row, "error")?,
        canary_percent: get(row, "canary_percent")?,
        created_at: get(row, "created_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
    })
}
