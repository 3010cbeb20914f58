//! A deployment's log lines and its append-only event history.

use super::{get, parse_col, Result, Store};
use crate::deployment::{Phase, Status};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// Increases with every line of the database; resume a stream after it.
    pub seq: i64,
    pub line: String,
    pub(crate) at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentEvent {
    pub status: Status,
    pub(crate) phase: Phase,
    pub(crate) message: String,
    pub(crate) at: i64,
}

impl Store {
    pub async fn append_log(&self, deployment_id: i64, line: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO deployment_logs (deployment_id, line, at) VALUES ($1, $2, $3)")
            .bind(deployment_id)
            .bind(line)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Lines after `after_seq`, oldest first, at most `limit`.
    pub async fn logs(&self, deployment_id: i64, after_seq: i64, limit: i64) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT id, line, at FROM deployment_logs WHERE deployment_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(deployment_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(LogLine { seq: get(r, "id")?, line: get(r, "line")?, at: get(r, "at")? })).collect()
    }

    /// Every line of a deployment's log, in order, read a page at a time.
    pub(crate) async fn log_lines(&self, deployment_id: i64) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let mut after = 0;
        loop {
            let page = self.logs(deployment_id, after, 1000).await?;
            let Some(last) = page.last() else { return Ok(lines) };
            after = last.seq;
            lines.extend(page.into_iter().map(|l| l.line));
        }
    }

    /// The newest event's id (0 with none): where a tail of the history starts.
    pub async fn last_event_id(&self) -> Result<i64> {
        let row =
            sqlx::query("SELECT COALESCE(MAX(id), 0) AS last FROM deployment_events").fetch_one(&self.pool).await?;
        get(&row, "last")
    }

    /// Events of every deployment after `after`, oldest first, at most `limit`: (event id, deployment id, status).
    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<(i64, i64, Status)>> {
        let rows =
            sqlx::query("SELECT id, deployment_id, status FROM deployment_events WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((get(r, "id")?, get(r, "deployment_id")?, parse_col(r, "status")?))).collect()
    }

    pub async fn events(&self, deployment_id: i64) -> Result<Vec<DeploymentEvent>> {
        let rows = sqlx::query(
            "SELECT status, phase, message, at FROM deployment_events WHERE deployment_id = $1 ORDER BY id",
        )
        .bind(deployment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeploymentEvent {
                    status: parse_col(r, "status")?,
                    phase: parse_col(r, "phase")?,
                    message: get(r, "message")?,
                    at: get(r, "at")?,
                })
            })
            .collect()
    }
}

/// Appends `message` to deployment `id`'s event history (at its `status` and `phase`), inside the caller's
/// transaction.
pub(super) async fn add_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    (id, status, phase): (i64, Status, Phase),
    message: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO deployment_events (deployment_id, status, phase, message, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(phase.as_str())
    .bind(message)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
