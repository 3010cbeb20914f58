//! Open ACME challenge answers, shared so that the CA's validation may reach any gateway on the store.

use super::{get, Result, Store};

/// The channel on which a change of the open challenge answers is announced.
pub const CHALLENGES_CHANNEL: &str = "versiongate_challenges";

/// One open answer: `kind` is `http-01` (`name` a token, `answer` its key authorization) or `tls-alpn-01`
/// (`name` a host, `answer` the hex SHA-256 digest of the key authorization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRow {
    pub kind: String,
    pub name: String,
    pub answer: String,
}

impl Store {
    pub async fn open_challenge(&self, c: &ChallengeRow, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO acme_challenges (kind, name, answer, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, name) DO UPDATE SET answer = excluded.answer, created_at = excluded.created_at",
        )
        .bind(&c.kind)
        .bind(&c.name)
        .bind(&c.answer)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.announce(CHALLENGES_CHANNEL, &c.kind).await
    }

    pub async fn close_challenge(&self, kind: &str, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM acme_challenges WHERE kind = $1 AND name = $2")
            .bind(kind)
            .bind(name)
            .execute(&self.pool)
            .await?;
        self.announce(CHALLENGES_CHANNEL, kind).await
    }

    /// Every open answer; those older than `opened_after` belonged to an order that died with its gateway.
    pub async fn open_challenges(&self, opened_after: i64) -> Result<Vec<ChallengeRow>> {
        let rows = sqlx::query("SELECT kind, name, answer FROM acme_challenges WHERE created_at >= $1")
            .bind(opened_after)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(ChallengeRow { kind: get(r, "kind")?, name: get(r, "name")?, answer: get(r, "answer")? }))
            .collect()
    }

    /// One open answer, if it was opened after `opened_after`.
    pub async fn challenge_answer(&self, kind: &str, name: &str, opened_after: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT answer FROM acme_challenges WHERE kind = $1 AND name = $2 AND created_at >= $3")
            .bind(kind)
            .bind(name)
            .bind(opened_after)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| get(&r, "answer")).transpose()
    }
}
