//! After a start or a crash: routes come back from the store first, then unfinished work is cleaned up.
//! An upgrade of the gateway is the same hand-over between two processes ([`handover`]).

mod handover;

use super::deploy::drain::Upstream;
use super::Inner;
use crate::deployment::{Event, Phase, Status};
use crate::health;
use crate::store::{now_ms, Deployment, ProjectRecord, StoreError};
use futures_util::future::join_all;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// What could not be restored, per project, for `/healthz` and the log.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct RestoreReport {
    pub(crate) projects: usize,
    pub(crate) live: usize,
    pub(crate) problems: Vec<String>,
}

/// Publishes every project's route from the store, then checks each live one: its health is probed
/// and logged, and a docker container that is gone is started again. Each project is restored on its
/// own: a corrupt row or a dead target is reported and never blocks the others.
pub(crate) async fn restore_routes(inner: &Inner) -> RestoreReport {
    let mut report = RestoreReport::default();
    match inner.sync().await {
        Ok(problems) => report.problems = problems,
        Err(e) => report.problems.push(format!("cannot read the routes: {e}")),
    }
    let records: Vec<ProjectRecord> = match inner.store.projects().await {
        Ok(records) => records.into_iter().flatten().collect(),
        Err(e) => {
            report.problems.push(format!("cannot list projects: {e}"));
            Vec::new()
        }
    };
    report.projects = records.len();
    let table = inner.routes.current().clone();
    let live: Vec<&ProjectRecord> = records
        .iter()
        .filter(|r| table.project(&r.spec.name).is_some_and(|route| route.live_slot().is_some()))
        .collect();
    report.live = live.len();
    let checked = join_all(live.into_iter().map(|r| check_live(inner, r))).await;
    report.problems.extend(checked.into_iter().flatten());
    for problem in &report.problems {
        tracing::warn!("restore: {problem}");
    }
    report
}

/// Probes a restored live route and revives its container; what is wrong with it, if anything.
async fn check_live(inner: &Inner, record: &ProjectRecord) -> Option<String> {
    let name = &record.spec.name;
    let live = match inner.store.live_deployment(name).await {
        Ok(Some(live)) => live,
        Ok(None) => return None,
        Err(e) => return Some(format!("project `{name}`: {e}")),
    };
    let addr = Upstream::of(&live)?.addr;
    match health::probe(addr, &record.spec.health_path, Duration::from_secs(1)).await {
        Ok(code) if (200..300).contains(&code) => tracing::info!(project = %name, "restored route to {addr}"),
        Ok(code) => {
            tracing::warn!(project = %name, "restored route to {addr}, but its health check answers HTTP {code}")
        }
        Err(e) => tracing::warn!(project = %name, "restored route to {addr}, but its health check failed: {e}"),
    }
    inner.runtimes.of(&record.spec).revive(record, &live).await.err()
}

/// Deployments a crash left QUEUED or DEPLOYING become FAILED; an ACTIVE one cut off while
/// draining is finished; leases of the dead process are cleared. Returns how many failed.
///
/// After an upgrade (`handed_over`), the old process finished what it ran and this process may already
/// run deployments of its own: QUEUED rows are left to the workers, and only what the old process left
/// unfinished (it died on the way out) is settled. Deployments this process runs are never touched.
///
/// The store is settled before this returns. The engine work (removing leftovers, stopping an old
/// slot, which can take a stop timeout) runs in the background while deployments wait for it, so
/// the admin API answers at once after a restart.
pub(crate) async fn reconcile(inner: &Arc<Inner>, handed_over: bool) -> Result<usize, StoreError> {
    // After an upgrade an older process may still finish a deployment (several upgrades in a row):
    // whatever a live process holds the lease of is its own business.
    let busy_elsewhere = clear_dead_leases(inner, handed_over).await?;
    let ours = inner.work.running_deployments();
    let mine = |d: &Deployment| ours.contains(&d.id) || busy_elsewhere.contains(&d.project);
    // Queued work is left to the workers when another process (a predecessor, or another gateway of the
    // cluster) may be about to run it.
    let shared = handed_over || inner.cluster.node.is_some();
    let unfinished = if shared { &[Status::Deploying][..] } else { &[Status::Queued, Status::Deploying] };
    let stuck: Vec<_> =
        inner.store.deployments_with_status(unfinished).await?.into_iter().filter(|d| !mine(d)).collect();
    let verb = if handed_over { "gateway upgraded" } else { "gateway restarted" };
    fail_stuck(inner, &stuck, verb).await?;
    let mut cut_off = Vec::new();
    for d in inner.store.deployments_with_status(&[Status::Active]).await? {
        if d.phase != Phase::Done && !mine(&d) {
            inner.store.set_phase(d.id, Phase::Done, now_ms()).await?;
            inner.log(d.id, &format!("{verb} during {}; the deployment stays live", d.phase)).await;
            cut_off.push(d);
        }
    }
    // No drain survives a restart: nothing is warm any more, but for the windows live processes run.
    let mut busy = inner.work.running_projects();
    busy.extend(busy_elsewhere);
    inner.store.clear_warm_pools(&busy, now_ms()).await?;
    for project in inner.store.projects().await?.into_iter().flatten() {
        let name = &project.spec.name;
        super::deploy::swap::end_orphaned_pause(inner, name, &inner.store.traffic(name).await?).await;
    }
    inner.sync_committed().await?;
    let failed = stuck.len();
    let settling = inner.settling.clone().write_owned().await;
    let inner = inner.clone();
    tokio::spawn(async move {
        join_all(stuck.iter().map(|d| remove_leftovers(&inner, d))).await;
        join_all(cut_off.iter().map(|d| settle_slots(&inner, d))).await;
        drop(settling);
    });
    Ok(failed)
}

/// Ends deployments no process runs any more as FAILED, saying why (`verb`: restarted or upgraded); a canary's
/// split goes with it.
async fn fail_stuck(inner: &Inner, stuck: &[Deployment], verb: &str) -> Result<(), StoreError> {
    for d in stuck {
        let reason = format!("{verb} during {}", d.phase);
        inner.store.apply(d.id, Event::Fail, None, Some(&reason), now_ms()).await?;
        if d.phase == Phase::Canary {
            inner.store.change_pools(&d.project, crate::routes::PoolChange::EndCanary, now_ms()).await?;
        }
        inner.log(d.id, &reason).await;
        inner.metrics.deployment_ended(&d.project, Status::Failed.as_str(), None);
    }
    Ok(())
}

/// Clears the leases of processes that are gone; returns the projects whose lease another live process
/// holds (only after an upgrade: at a plain start every other owner is a dead process).
async fn clear_dead_leases(inner: &Inner, handed_over: bool) -> Result<Vec<String>, StoreError> {
    if inner.cluster.node.is_some() {
        return clear_silent_leases(inner).await;
    }
    if !handed_over {
        let cleared = inner.store.clear_foreign_leases(&inner.owner).await?;
        if cleared > 0 {
            tracing::info!("cleared {cleared} deploy leases left by a previous process");
        }
        return Ok(Vec::new());
    }
    let mut busy = Vec::new();
    for (project, owner) in inner.store.leases().await? {
        if owner == inner.owner {
            continue;
        }
        if owner_alive(&owner) {
            busy.push(project);
        } else {
            inner.store.clear_leases_of(&owner).await?;
        }
    }
    Ok(busy)
}

/// In a cluster, liveness is the heartbeat: leases beating within `lease_timeout_s` belong to a living
/// gateway (their projects are returned), the others are dropped.
async fn clear_silent_leases(inner: &Inner) -> Result<Vec<String>, StoreError> {
    let stale_before = now_ms() - inner.cluster.lease_timeout.as_millis() as i64;
    let mut busy = Vec::new();
    for (project, owner, beat) in inner.store.lease_beats().await? {
        if owner == inner.owner || beat >= stale_before {
            busy.push(project);
        } else {
            inner.store.drop_stale_lease(&project, &owner, stale_before).await?;
        }
    }
    Ok(busy)
}

/// What an interrupted deployment left in its runtime goes. A hold-and-swap cut off mid-swap ran in the
/// live slot: the live version is started there again.
pub(crate) async fn remove_leftovers(inner: &Inner, d: &Deployment) {
    let Some(runtime) = inner.runtime_of(&d.project).await else { return };
    runtime.remove_leftovers(d).await;
    let Ok(Some(live)) = inner.store.live_deployment(&d.project).await else { return };
    if live.slot.is_some() && live.slot == d.slot {
        if let Ok(Some(record)) = inner.store.project(&d.project).await {
            if let Err(problem) = runtime.revive(&record, &live).await {
                tracing::warn!("after an interrupted hold-and-swap: {problem}");
            }
        }
    }
}

/// A live deployment cut off after its switch is settled by its runtime.
pub(crate) async fn settle_slots(inner: &Inner, d: &Deployment) {
    if let Some(runtime) = inner.runtime_of(&d.project).await {
        runtime.settle(d).await;
    }
}

/// Whether the process named in a lease owner (`PID-…`) still runs.
fn owner_alive(owner: &str) -> bool {
    owner.split('-').next().and_then(|pid| pid.parse().ok()).is_some_and(process_alive)
}

/// Alive and not a zombie (a zombie has exited; only its parent has not collected it yet).
pub(crate) fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces or parentheses.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        assert!(super::process_alive(std::process::id()));
        assert!(!super::process_alive(u32::MAX));
        assert!(super::owner_alive(&format!("{}-abc", std::process::id())));
        assert!(!super::owner_alive("4294967295-abc") && !super::owner_alive("garbage"));
    }
}
