//! Dashboard sessions by a digest of their cookie: every gateway on the store accepts one, and a restart
//! or an upgrade keeps them. The digest means a copy of the database holds no usable cookie.

use super::{get, Result, Store};

/// At most this many sessions are kept; a login past it ends the least recently used ones.
const MAX_SESSIONS: i64 = 1000;

/// A stored session: its CSRF token and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub csrf: String,
    pub last_seen: i64,
}

impl Store {
    /// Stores a new session; sessions idle since before `idle_before` and those past the cap go.
    pub async fn create_session(&self, id_digest: &str, csrf: &str, now: i64, idle_before: i64) -> Result<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE last_seen < $1")
            .bind(idle_before)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "DELETE FROM dashboard_sessions WHERE last_seen <= \
             (SELECT last_seen FROM dashboard_sessions ORDER BY last_seen DESC LIMIT 1 OFFSET $1)",
        )
        .bind(MAX_SESSIONS - 1)
        .execute(&self.pool)
        .await?;
        sqlx::query("INSERT INTO dashboard_sessions (id_digest, csrf, last_seen) VALUES ($1, $2, $3)")
            .bind(id_digest)
            .bind(csrf)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn session(&self, id_digest: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query("SELECT csrf, last_seen FROM dashboard_sessions WHERE id_digest = $1")
            .bind(id_digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(SessionRow { csrf: get(&r, "csrf")?, last_seen: get(&r, "last_seen")? })).transpose()
    }

    pub async fn touch_session(&self, id_digest: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE dashboard_sessions SET last_seen = $2 WHERE id_digest = $1")
            .bind(id_digest)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn end_session(&self, id_digest: &str) -> Result<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE id_digest = $1").bind(id_digest).execute(&self.pool).await?;
        Ok(())
    }
}
