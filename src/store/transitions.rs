//! How a stored deployment changes: every status or phase change is checked by the state machine and
//! recorded as an event in the same transaction.

use super::deployments::{from_row, Deployment, NewDeployment};
use super::logs::add_event;
use super::routes::change_pools_in;
use super::{get, Result, Store, StoreError};
use crate::deployment::{Event, Phase};
use crate::project::Slot;
use crate::routes::PoolChange;
use sqlx::{Any, Transaction};

impl Store {
    /// A flip back, as stored, in one transaction: `bad` becomes ROLLED_BACK with `reason`, `new` (the
    /// rollback deployment, serving `target` in `slot`) goes straight to ACTIVE, and the route pools
    /// follow (`new` active, `bad` warm until its drain ends).
    pub async fn record_flip(
        &self,
        bad: i64,
        new: NewDeployment,
        slot: Slot,
        targets: &[std::net::SocketAddr],
        reason: &str,
        now: i64,
    ) -> Result<(Deployment, Deployment)> {
        let mut tx = self.write_tx().await?;
        let rolled_back = apply_in(&mut tx, bad, Event::RollBack, None, Some(reason), now).await?;
        let d = super::deployments::insert_in(&mut tx, new, now).await?;
        apply_in(&mut tx, d.id, Event::Start, Some(Phase::Switching), None, now).await?;
        set_targets_in(&mut tx, d.id, slot, targets).await?;
        let live = apply_in(&mut tx, d.id, Event::Activate, Some(Phase::Draining), None, now).await?;
        let pools = PoolChange::Activate { deployment: live.id, keep_warm: true };
        change_pools_in(&mut tx, &live.project, pools, now).await?;
        tx.commit().await?;
        Ok((live, rolled_back))
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
        let mut tx = self.write_tx().await?;
        let d = apply_in(&mut tx, id, event, phase, error, now).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Records what a deployment resolved to: the commit it builds (and its subject line), and the image it built.
    pub async fn set_source(&self, id: i64, commit: Option<(&str, Option<&str>)>, image: Option<&str>) -> Result<()> {
        sqlx::query(concat!(
            "UPDATE deployments SET commit_sha = COALESCE($2, commit_sha), message = COALESCE($3, message), ",
            "image = COALESCE($4, image) WHERE id = $1"
        ))
        .bind(id)
        .bind(commit.map(|c| c.0))
        .bind(commit.and_then(|c| c.1))
        .bind(image)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// QUEUED (or waiting for checks) → DEPLOYING into `slot` (serving on `port`), starting at `phase`.
    pub async fn start_deployment(
        &self,
        id: i64,
        slot: Slot,
        targets: &[std::net::SocketAddr],
        phase: Phase,
        now: i64,
    ) -> Result<Deployment> {
        let mut tx = self.write_tx().await?;
        let waited = load_in(&mut tx, id).await?;
        // A push that waited for its checks is DEPLOYING already: it only moves on to `phase`.
        if waited.status == crate::deployment::Status::Deploying && waited.phase == Phase::WaitingForChecks {
            let mut d = waited;
            d.phase.check_move(d.status, phase)?;
            d.phase = phase;
            write_in(&mut tx, &d).await?;
            add_event(&mut tx, (d.id, d.status, d.phase), phase.as_str(), now).await?;
        } else {
            apply_in(&mut tx, id, Event::Start, Some(phase), None, now).await?;
        }
        set_targets_in(&mut tx, id, slot, targets).await?;
        let d = load_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Where a deployment serves, when its runtime learns it after it began (or its tasks moved).
    pub async fn update_targets(&self, id: i64, slot: Slot, targets: &[std::net::SocketAddr]) -> Result<Deployment> {
        let mut tx = self.write_tx().await?;
        set_targets_in(&mut tx, id, slot, targets).await?;
        let d = load_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// A health-gated deployment becomes a canary: phase `canary` and `percent` % of clients, in one transaction.
    pub async fn start_canary(&self, id: i64, percent: i64, now: i64) -> Result<Deployment> {
        let mut tx = self.write_tx().await?;
        let mut d = load_in(&mut tx, id).await?;
        d.phase.check_move(d.status, Phase::Canary)?;
        d.phase = Phase::Canary;
        write_in(&mut tx, &d).await?;
        add_event(&mut tx, (d.id, d.status, d.phase), "canary", now).await?;
        change_pools_in(&mut tx, &d.project, PoolChange::Canary { deployment: id, percent }, now).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// A canary ends without going live: ROLLED_BACK with `reason`, and its share of clients goes back to the
    /// live version, in one transaction.
    pub async fn end_canary(&self, id: i64, reason: &str, now: i64) -> Result<Deployment> {
        let mut tx = self.write_tx().await?;
        let d = apply_in(&mut tx, id, Event::RollBack, None, Some(reason), now).await?;
        change_pools_in(&mut tx, &d.project, PoolChange::EndCanary, now).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Moves a DEPLOYING or ACTIVE deployment forward to `phase`.
    pub async fn set_phase(&self, id: i64, phase: Phase, now: i64) -> Result<Deployment> {
        let mut tx = self.write_tx().await?;
        let mut d = load_in(&mut tx, id).await?;
        // Entering the phase it is already in changes nothing: a step may begin where an earlier one left it.
        if d.phase == phase {
            return Ok(d);
        }
        d.phase.check_move(d.status, phase)?;
        d.phase = phase;
        if phase == Phase::Done {
            d.finished_at = Some(now);
        }
        write_in(&mut tx, &d).await?;
        add_event(&mut tx, (d.id, d.status, d.phase), phase.as_str(), now).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// The switch, as stored: in one transaction `id` becomes ACTIVE (phase `phase`), the project's
    /// previous ACTIVE deployment becomes SUPERSEDED, and the route pools follow: `id` is the active
    /// member, the displaced one warm. Returns both.
    pub async fn activate(
        &self,
        id: i64,
        displaced: Event,
        phase: Phase,
        now: i64,
    ) -> Result<(Deployment, Option<Deployment>)> {
        let mut tx = self.write_tx().await?;
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
            superseded = Some(apply_in(&mut tx, old.id, displaced, None, None, now).await?);
        }
        let d = apply_in(&mut tx, id, Event::Activate, Some(phase), None, now).await?;
        change_pools_in(&mut tx, &project, PoolChange::Activate { deployment: id, keep_warm: true }, now).await?;
        tx.commit().await?;
        Ok((d, superseded))
    }
}

async fn load_in(tx: &mut Transaction<'static, Any>, id: i64) -> Result<Deployment> {
    let sql = concat!("SELECT ", columns!(), " FROM deployments WHERE id = $1");
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut **tx).await?;
    from_row(&row.ok_or_else(|| StoreError::NotFound(format!("deployment {id}")))?)
}

pub(super) async fn apply_in(
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
    add_event(tx, (d.id, d.status, d.phase), error.unwrap_or(d.status.as_str()), now).await?;
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

/// Where a deployment serves: its slot, the port of replica 1 and every replica's address.
async fn set_targets_in(
    tx: &mut Transaction<'static, Any>,
    id: i64,
    slot: Slot,
    targets: &[std::net::SocketAddr],
) -> Result<()> {
    let port = targets.first().map(|t| i64::from(t.port()));
    sqlx::query("UPDATE deployments SET slot = $2, port = $3, target = $4 WHERE id = $1")
        .bind(id)
        .bind(slot.as_str())
        .bind(port)
        .bind(crate::routes::join_targets(targets))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
