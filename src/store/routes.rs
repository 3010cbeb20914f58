//! Desired routes as stored: each project's pools of serving deployments and its traffic state. Pools
//! change only inside the transaction of the status change that moves traffic.

use super::{get, route_inputs, Result, Store};
use crate::routes::{MemberRow, PoolChange, RouteState, TargetRow, Traffic, TrafficState};
use sqlx::{Any, Transaction};

impl Store {
    /// Everything the route table is built from, plus the projects whose rows cannot be read (each
    /// reported on its own; the others are returned as usual).
    pub async fn route_state(&self) -> Result<(RouteState, Vec<String>)> {
        let mut problems = Vec::new();
        let mut projects = Vec::new();
        // One snapshot for the three reads: another gateway may commit a switch between them (PostgreSQL
        // reads each statement at its own moment under READ COMMITTED).
        let begin = if self.sqlite { "BEGIN" } else { "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" };
        let mut tx = self.pool.begin_with(begin).await?;
        // Routing columns only: the poll opens no sealed secret (see `route_inputs`).
        let rows = sqlx::query(route_inputs::COLUMNS).fetch_all(&mut *tx).await?;
        for input in rows.iter().map(route_inputs::project_input) {
            match input {
                Ok(input) => projects.push(input),
                Err(e) => problems.push(e.to_string()),
            }
        }
        let rows = sqlx::query("SELECT project, traffic, message, rollout_percent, pause_timeout_s FROM route_targets")
            .fetch_all(&mut *tx)
            .await?;
        let targets = rows
            .iter()
            .map(|r| {
                Ok(TargetRow {
                    project: get(r, "project")?,
                    traffic: get(r, "traffic")?,
                    message: get(r, "message")?,
                    rollout_percent: get(r, "rollout_percent")?,
                    pause_timeout_s: get(r, "pause_timeout_s")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = sqlx::query(
            "SELECT m.project, m.pool, m.deployment_id, m.weight, d.slot, d.target FROM route_members m \
             JOIN deployments d ON d.id = m.deployment_id ORDER BY m.project, m.pool, m.deployment_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let members = rows.iter().map(member_row).collect::<Result<Vec<_>>>()?;
        Ok((RouteState { projects, targets, members }, problems))
    }

    /// A project's traffic state (serving when it has no row yet). An unreadable state reads as serving,
    /// which is what the table serves too.
    pub async fn traffic(&self, project: &str) -> Result<TrafficState> {
        let row = sqlx::query("SELECT traffic, message, pause_timeout_s FROM route_targets WHERE project = $1")
            .bind(project)
            .fetch_optional(&self.pool)
            .await?;
        traffic_state(row)
    }

    /// Applies `change` to the stored traffic state in one transaction; `decide` turns the state read in
    /// that transaction into the next one, or refuses (then nothing is written).
    pub async fn change_traffic<E>(
        &self,
        project: &str,
        decide: impl FnOnce(&TrafficState) -> std::result::Result<TrafficState, E>,
        now: i64,
    ) -> Result<std::result::Result<TrafficState, E>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT traffic, message, pause_timeout_s FROM route_targets WHERE project = $1")
            .bind(project)
            .fetch_optional(&mut *tx)
            .await?;
        let next = match decide(&traffic_state(row)?) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        sqlx::query(
            "INSERT INTO route_targets (project, traffic, message, pause_timeout_s, version, updated_at)              VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (project) DO UPDATE SET traffic = $2, message = $3,              pause_timeout_s = $4, version = route_targets.version + 1, updated_at = $5",
        )
        .bind(project)
        .bind(next.traffic.as_str())
        .bind(next.message.clone())
        .bind(next.pause_timeout_s)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    /// A drain is over, or a restart left nothing draining: `change` applied in its own transaction.
    pub async fn change_pools(&self, project: &str, change: PoolChange, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        change_pools_in(&mut tx, project, change, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every project's warm pool but those in `except` is emptied: after a restart no drain runs, so nothing is warm.
    pub async fn clear_warm_pools(&self, except: &[String], now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let rows =
            sqlx::query("SELECT DISTINCT project FROM route_members WHERE pool = 'warm'").fetch_all(&mut *tx).await?;
        for row in &rows {
            let project: String = get(row, "project")?;
            if except.contains(&project) {
                continue;
            }
            change_pools_in(&mut tx, &project, PoolChange::ClearWarm, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn traffic_state(row: Option<sqlx::any::AnyRow>) -> Result<TrafficState> {
    let Some(row) = row else { return Ok(TrafficState::default()) };
    let traffic: String = get(&row, "traffic")?;
    Ok(TrafficState {
        traffic: Traffic::parse(&traffic).unwrap_or_default(),
        message: get(&row, "message")?,
        pause_timeout_s: get(&row, "pause_timeout_s")?,
    })
}

fn member_row(r: &sqlx::any::AnyRow) -> Result<MemberRow> {
    Ok(MemberRow {
        project: get(r, "project")?,
        pool: get(r, "pool")?,
        deployment_id: get(r, "deployment_id")?,
        weight: get(r, "weight")?,
        slot: get(r, "slot")?,
        target: get(r, "target")?,
    })
}

/// No rollout: its members leave and the split is cleared.
async fn end_rollout(tx: &mut Transaction<'static, Any>, project: &str) -> Result<()> {
    sqlx::query("DELETE FROM route_members WHERE project = $1 AND pool = 'rollout'")
        .bind(project)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE route_targets SET rollout_percent = NULL WHERE project = $1")
        .bind(project)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Applies one pool change inside the caller's transaction and bumps the project's route version.
pub(super) async fn change_pools_in(
    tx: &mut Transaction<'static, Any>,
    project: &str,
    change: PoolChange,
    now: i64,
) -> Result<()> {
    let run = |sql: &'static str| sqlx::query(sql).bind(project.to_owned());
    match change {
        PoolChange::Activate { deployment, keep_warm } => activate(tx, project, deployment, keep_warm).await?,
        PoolChange::Canary { deployment, percent } => start_canary(tx, project, deployment, percent, now).await?,
        PoolChange::EndCanary => end_rollout(tx, project).await?,
        PoolChange::Retire { deployment } => {
            run("DELETE FROM route_members WHERE project = $1 AND pool <> 'active' AND deployment_id = $2")
                .bind(deployment)
                .execute(&mut **tx)
                .await?;
        }
        PoolChange::ClearWarm => {
            run("DELETE FROM route_members WHERE project = $1 AND pool = 'warm'").execute(&mut **tx).await?;
        }
    }
    run("INSERT INTO route_targets (project, traffic, version, updated_at) VALUES ($1, 'serving', 1, $2) \
         ON CONFLICT (project) DO UPDATE SET version = route_targets.version + 1, updated_at = $2")
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The deployment becomes the only active member; the one it displaces stays warm when `keep_warm`.
async fn activate(tx: &mut Transaction<'static, Any>, project: &str, deployment: i64, keep_warm: bool) -> Result<()> {
    let run = |sql: &'static str| sqlx::query(sql).bind(project.to_owned());
    run("DELETE FROM route_members WHERE project = $1 AND pool = 'warm'").execute(&mut **tx).await?;
    let displaced = if keep_warm {
        "UPDATE route_members SET pool = 'warm' WHERE project = $1 AND pool = 'active' AND deployment_id <> $2"
    } else {
        "DELETE FROM route_members WHERE project = $1 AND pool = 'active' AND deployment_id <> $2"
    };
    run(displaced).bind(deployment).execute(&mut **tx).await?;
    // A displaced member in the new one's slot is the same process address: it cannot be warm.
    run("DELETE FROM route_members WHERE project = $1 AND pool <> 'active' AND deployment_id IN \
         (SELECT id FROM deployments WHERE slot = (SELECT slot FROM deployments WHERE id = $2) AND id <> $2)")
    .bind(deployment)
    .execute(&mut **tx)
    .await?;
    run("DELETE FROM route_members WHERE project = $1 AND deployment_id = $2")
        .bind(deployment)
        .execute(&mut **tx)
        .await?;
    run("INSERT INTO route_members (project, pool, deployment_id, weight) VALUES ($1, 'active', $2, 1)")
        .bind(deployment)
        .execute(&mut **tx)
        .await?;
    // A promoted canary leaves the rollout pool with the switch.
    end_rollout(tx, project).await?;
    Ok(())
}

/// The deployment becomes the rollout pool's one member, taking `percent` of new clients.
async fn start_canary(
    tx: &mut Transaction<'static, Any>,
    project: &str,
    deployment: i64,
    percent: i64,
    now: i64,
) -> Result<()> {
    let run = |sql: &'static str| sqlx::query(sql).bind(project.to_owned());
    end_rollout(tx, project).await?;
    run("INSERT INTO route_members (project, pool, deployment_id, weight) VALUES ($1, 'rollout', $2, 1)")
        .bind(deployment)
        .execute(&mut **tx)
        .await?;
    run("INSERT INTO route_targets (project, traffic, rollout_percent, updated_at) VALUES ($1, 'serving', $2, $3) \
         ON CONFLICT (project) DO UPDATE SET rollout_percent = $2")
    .bind(percent)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
