//! Stored deployments; every status or phase change is checked by the state machine and logged as an event.

use super::{get, parse_col, Result, Store, StoreError};
use crate::deployment::{Event, Phase, Status, Trigger};
use crate::project::Slot;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// One deployment row, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub id: i64,
    pub project: String,
    pub status: Status,
    pub phase: Phase,
    pub slot: Option<Slot>,
    pub port: Option<u16>,
    /// The resolved address served by an external deployment.
    pub target: Option<String>,
    pub commit: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub image: Option<String>,
    pub trigger: Trigger,
    pub rollback_of: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Deployment {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
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
    pub image: Option<String>,
    pub rollback_of: Option<i64>,
}

/// The column list, as a macro so every query stays a `&'static str` (sqlx audits dynamic SQL).
macro_rules! columns {
    () => {
        "id, project, status, phase, slot, port, target, commit_sha, git_ref, image, trigger_kind, rollback_of, error, created_at, started_at, finished_at"
    };
}

impl Store {
    /// Adds a QUEUED deployment and its first event.
    pub async fn create_deployment(&self, new: NewDeployment, now: i64) -> Result<Deployment> {
        let mut tx = self.pool.begin().await?;
        let trigger = new.trigger.unwrap_or(Trigger::Api);
        let sql = concat!("INSERT INTO deployments (project, status, phase, slot, port, target, commit_sha, git_ref, image, trigger_kind, rollback_of, created_at) \
             VALUES ($1, 'QUEUED', 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ", columns!(), "");
        let row = sqlx::query(sql)
            .bind(&new.project)
            .bind(new.slot.map(|s| s.as_str()))
            .bind(new.port.map(i64::from))
            .bind(new.target)
            .bind(new.commit)
            .bind(new.git_ref)
            .bind(new.image)
            .bind(trigger.as_str())
            .bind(new.rollback_of)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let d = from_row(&row)?;
        add_event(&mut tx, &d, "queued", now).await?;
        tx.commit().await?;
        Ok(d)
    }

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
                self.apply(old.id, Event::Cancel, None, Some(&why), now).await?;
            }
        }
        Ok(newest)
    }

    /// Moves a deployment by `event`, optionally to `phase`, recording `error`.
    pub async fn apply(
        &self,
        id: i64,
        event: Event,
        phase: Option<Phase>,
        error: Option<&str>,
        now: i64,
    ) -> Result<Deployment> {
        let mut tx = self.pool.begin().await?;
        let d = apply_in(&mut tx, id, event, phase, error, now).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Records what a deployment resolved to: the commit it builds, and the image it built.
    pub async fn set_source(&self, id: i64, commit: Option<&str>, image: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE deployments SET commit_sha = COALESCE($2, commit_sha), image = COALESCE($3, image) WHERE id = $1",
        )
        .bind(id)
        .bind(commit)
        .bind(image)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// QUEUED → DEPLOYING into `slot` (serving on `port`), starting at `phase`.
    pub async fn start_deployment(
        &self,
        id: i64,
        slot: Slot,
        target: std::net::SocketAddr,
        phase: Phase,
        now: i64,
    ) -> Result<Deployment> {
        let mut tx = self.pool.begin().await?;
        let mut d = apply_in(&mut tx, id, Event::Start, Some(phase), None, now).await?;
        sqlx::query("UPDATE deployments SET slot = $2, port = $3, target = $4 WHERE id = $1")
            .bind(id)
            .bind(slot.as_str())
            .bind(i64::from(target.port()))
            .bind(target.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        (d.slot, d.port, d.target) = (Some(slot), Some(target.port()), Some(target.to_string()));
        Ok(d)
    }

    /// Moves a DEPLOYING or ACTIVE deployment forward to `phase`.
    pub async fn set_phase(&self, id: i64, phase: Phase, now: i64) -> Result<Deployment> {
        let mut tx = self.pool.begin().await?;
        let mut d = load_in(&mut tx, id).await?;
        d.phase.check_move(d.status, phase)?;
        d.phase = phase;
        if phase == Phase::Done {
            d.finished_at = Some(now);
        }
        write_in(&mut tx, &d).await?;
        add_event(&mut tx, &d, phase.as_str(), now).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// The switch, as stored: in one transaction `id` becomes ACTIVE (phase `phase`) and the
    /// project's previous ACTIVE deployment becomes SUPERSEDED. Returns both.
    pub async fn activate(&self, id: i64, phase: Phase, now: i64) -> Result<(Deployment, Option<Deployment>)> {
        let mut tx = self.pool.begin().await?;
        let project: String = get(
            &sqlx::query("SELECT project FROM deployments WHERE id = $1").bind(id).fetch_one(&mut *tx).await?,
            "project",
        )?;
        let sql =
            concat!("SELECT ", columns!(), " FROM deployments WHERE project = $1 AND status = 'ACTIVE' AND id <> $2");
        let previous = sqlx::query(sql).bind(&project).bind(id).fetch_all(&mut *tx).await?;
        let mut superseded = None;
        for row in &previous {
            let old = from_row(row)?;
            superseded = Some(apply_in(&mut tx, old.id, Event::Supersede, None, None, now).await?);
        }
        let d = apply_in(&mut tx, id, Event::Activate, Some(phase), None, now).await?;
        tx.commit().await?;
        Ok((d, superseded))
    }
}

async fn load_in(tx: &mut Transaction<'static, Any>, id: i64) -> Result<Deployment> {
    let sql = concat!("SELECT ", columns!(), " FROM deployments WHERE id = $1");
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut **tx).await?;
    from_row(&row.ok_or_else(|| StoreError::NotFound(format!("deployment {id}")))?)
}

async fn apply_in(
    tx: &mut Transaction<'static, Any>,
    id: i64,
    event: Event,
    phase: Option<Phase>,
    error: Option<&str>,
    now: i64,
) -> Result<Deployment> {
    let mut d = load_in(tx, id).await?;
    d.status = d.status.apply(event)?;
    if let Some(phase) = phase {
        d.phase = phase;
    }
    match event {
        Event::Start => d.started_at = Some(now),
        Event::Fail | Event::Cancel => d.finished_at = Some(now),
        _ => {}
    }
    if let Some(error) = error {
        d.error = Some(error.to_owned());
    }
    write_in(tx, &d).await?;
    add_event(tx, &d, error.unwrap_or(d.status.as_str()), now).await?;
    Ok(d)
}

async fn write_in(tx: &mut Transaction<'static, Any>, d: &Deployment) -> Result<()> {
    sqlx::query(
        "UPDATE deployments SET status = $2, phase = $3, error = $4, started_at = $5, finished_at = $6 WHERE id = $1",
    )
    .bind(d.id)
    .bind(d.status.as_str())
    .bind(d.phase.as_str())
    .bind(d.error.clone())
    .bind(d.started_at)
    .bind(d.finished_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn add_event(tx: &mut Transaction<'static, Any>, d: &Deployment, message: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO deployment_events (deployment_id, status, phase, message, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(d.id)
    .bind(d.status.as_str())
    .bind(d.phase.as_str())
    .bind(message)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<Deployment> {
    let slot: Option<String> = get(row, "slot")?;
    let port: Option<i64> = get(row, "port")?;
    Ok(Deployment {
        id: get(row, "id")?,
        project: get(row, "project")?,
        status: parse_col(row, "status")?,
        phase: parse_col(row, "phase")?,
        slot: slot.as_deref().and_then(Slot::parse),
        port: port.and_then(|p| u16::try_from(p).ok()),
        target: get(row, "target")?,
        commit: get(row, "commit_sha")?,
        git_ref: get(row, "git_ref")?,
        image: get(row, "image")?,
        trigger: parse_col(row, "trigger_kind")?,
        rollback_of: get(row, "rollback_of")?,
        error: get(row, "error")?,
        created_at: get(row, "created_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
    })
}
