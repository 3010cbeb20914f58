//! GitHub webhook deliveries already handled, keyed by `X-GitHub-Delivery`.

use super::{conflict_or, get, Result, Store};

impl Store {
    /// `Some(deployment)` if this delivery was handled before (the deployment it made, if any).
    pub(crate) async fn delivery(&self, delivery: &str) -> Result<Option<Option<i64>>> {
        let row = sqlx::query("SELECT deployment_id FROM webhook_deliveries WHERE delivery = $1")
            .bind(delivery)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| get::<Option<i64>>(&r, "deployment_id")).transpose()
    }

    /// Remembers a delivery; a conflict means a concurrent redelivery won the race.
    pub(crate) async fn record_delivery(&self, delivery: &str, deployment_id: Option<i64>, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO webhook_deliveries (delivery, deployment_id, received_at) VALUES ($1, $2, $3)")
            .bind(delivery)
            .bind(deployment_id)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or(e, || format!("delivery {delivery} was already handled")))?;
        Ok(())
    }
}
