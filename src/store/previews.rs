//! Pull-request previews: which project serves which pull request, when it was last pushed, and why it
//! was removed (the row outlives the preview project, as its history).

use super::{get, Result, Store};

/// One pull request's preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The preview project, `<parent>-pr-N`.
    pub project: String,
    pub parent: String,
    pub number: u32,
    /// `owner/name` of the base repository on GitHub.
    pub repository: String,
    pub head_sha: String,
    pub fork: bool,
    /// The pull request comment that carries the preview's URL, once posted.
    pub comment_id: Option<i64>,
    pub created_at: i64,
    pub pushed_at: i64,
    pub removed_at: Option<i64>,
    pub removed_reason: Option<String>,
}

impl Store {
    /// Records a push to a pull request: a new preview, or a newer head of a live or removed one.
    pub async fn record_preview(&self, p: &Preview, now: i64) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO previews (project, parent, number, repository, head_sha, fork, created_at, pushed_at) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (project) DO UPDATE SET ",
            "repository = excluded.repository, head_sha = excluded.head_sha, fork = excluded.fork, ",
            "pushed_at = excluded.pushed_at, removed_at = NULL, removed_reason = NULL"
        ))
        .bind(&p.project)
        .bind(&p.parent)
        .bind(i64::from(p.number))
        .bind(&p.repository)
        .bind(&p.head_sha)
        .bind(i64::from(p.fork))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn preview(&self, project: &str) -> Result<Option<Preview>> {
        let row =
            sqlx::query("SELECT * FROM previews WHERE project = $1").bind(project).fetch_optional(&self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A parent's previews, most recently pushed first; removed ones only when asked.
    pub async fn previews_of(&self, parent: &str, with_removed: bool) -> Result<Vec<Preview>> {
        let sql = if with_removed {
            "SELECT * FROM previews WHERE parent = $1 ORDER BY pushed_at DESC, number DESC"
        } else {
            "SELECT * FROM previews WHERE parent = $1 AND removed_at IS NULL ORDER BY pushed_at DESC, number DESC"
        };
        let rows = sqlx::query(sql).bind(parent).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Every preview that is not removed, of every parent.
    pub async fn live_previews(&self) -> Result<Vec<Preview>> {
        let rows = sqlx::query("SELECT * FROM previews WHERE removed_at IS NULL ORDER BY parent, pushed_at DESC")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn mark_preview_removed(&self, project: &str, reason: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE previews SET removed_at = $2, removed_reason = $3 WHERE project = $1")
            .bind(project)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_preview_comment(&self, project: &str, comment_id: i64) -> Result<()> {
        sqlx::query("UPDATE previews SET comment_id = $2 WHERE project = $1")
            .bind(project)
            .bind(comment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Preview> {
    let number: i64 = get(row, "number")?;
    let fork: i64 = get(row, "fork")?;
    Ok(Preview {
        project: get(row, "project")?,
        parent: get(row, "parent")?,
        number: u32::try_from(number).unwrap_or(0),
        repository: get(row, "repository")?,
        head_sha: get(row, "head_sha")?,
        fork: fork != 0,
        comment_id: get(row, "comment_id")?,
        created_at: get(row, "created_at")?,
        pushed_at: get(row, "pushed_at")?,
        removed_at: get(row, "removed_at")?,
        removed_reason: get(row, "removed_reason")?,
    })
}
