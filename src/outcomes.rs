//! Deployment outcomes (started, succeeded, failed, rolled back, cancelled, superseded) as the store records
//! them: its event history is tailed and each outcome is offered to the listeners (notifications, the
//! GitHub mirror), which queue it and never block the tail, let alone a deploy.

use crate::deployment::Status;
use crate::store::{Deployment, Role, Roles, Store};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How often the tail looks for new events.
const TICK: Duration = Duration::from_millis(300);
/// Event ids are taken at insert and may commit out of order (PostgreSQL): the tail rereads this many
/// ids behind the newest it saw and skips the ones it handled.
const REREAD: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    Started,
    Succeeded,
    Failed,
    RolledBack,
    Cancelled,
    Superseded,
}

impl OutcomeKind {
    /// The outcome an event at `status` stands for. DEPLOYING and ACTIVE are recorded on every phase
    /// change: only their first event counts, which `first` says.
    pub(crate) fn of(status: Status, first: bool) -> Option<OutcomeKind> {
        Some(match status {
            Status::Deploying if first => OutcomeKind::Started,
            Status::Active if first => OutcomeKind::Succeeded,
            Status::Failed => OutcomeKind::Failed,
            Status::RolledBack => OutcomeKind::RolledBack,
            Status::Cancelled => OutcomeKind::Cancelled,
            Status::Superseded => OutcomeKind::Superseded,
            _ => return None,
        })
    }

    /// The word notifications use (`[[notify]] events`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Started => "started",
            OutcomeKind::Succeeded => "succeeded",
            OutcomeKind::Failed => "failed",
            OutcomeKind::RolledBack => "rolled_back",
            OutcomeKind::Cancelled => "cancelled",
            OutcomeKind::Superseded => "superseded",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// The deployment as it was when the outcome was read.
    pub deployment: Deployment,
}

/// Takes outcomes without waiting (a full queue drops, with a warning).
pub(crate) trait Listener: Send + Sync {
    fn offer(&self, outcome: &Outcome);
}

/// Outcomes a gateway that does not hold the announcer role remembers, for when it takes the role over.
const REMEMBERED: usize = 500;

/// Tails the event history from its current end, forever. In a cluster only the gateway holding the
/// `announcer` role offers outcomes (each is announced once) and records how far it got; the others
/// follow silently, and the one that takes the role over offers what came after that record, so a
/// holder that dies loses nothing (an outcome it offered but had not recorded may be told twice).
pub(crate) async fn tail(store: Store, listeners: Vec<Arc<dyn Listener>>, roles: Arc<Roles>, owner: String) {
    if listeners.is_empty() {
        return;
    }
    let mut cursor = loop {
        match store.last_event_id().await {
            Ok(id) => break id,
            Err(e) => tracing::warn!("cannot read the deployment history: {e}; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    // What happened before this process started was told by the one before it.
    let floor = cursor;
    let mut teller =
        Teller { store: store.clone(), listeners, owner, holding: false, silent: VecDeque::new(), told: 0 };
    let mut handled: VecDeque<i64> = VecDeque::new();
    let mut seen: HashSet<(i64, Status)> = HashSet::new();
    loop {
        tokio::time::sleep(TICK).await;
        teller.hold(roles.holds(Role::Announcer)).await;
        let events = match store.events_after(cursor - REREAD, 500).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!("cannot read deployment events: {e}");
                continue;
            }
        };
        for (event, deployment, status) in events {
            if event <= floor || handled.contains(&event) {
                continue;
            }
            handled.push_back(event);
            cursor = cursor.max(event);
            let first = seen.insert((deployment, status));
            if status.is_finished() && status != Status::Active {
                seen.retain(|(id, _)| *id != deployment);
            }
            if let Some(kind) = OutcomeKind::of(status, first) {
                teller.outcome(event, kind, deployment).await;
            }
        }
        teller.record().await;
        while handled.front().is_some_and(|id| *id <= cursor - REREAD) {
            handled.pop_front();
        }
    }
}

/// Offers outcomes while this gateway holds the announcer role, remembers them while it does not.
struct Teller {
    store: Store,
    listeners: Vec<Arc<dyn Listener>>,
    owner: String,
    holding: bool,
    /// (event, kind, deployment) of outcomes passed silently, newest last.
    silent: VecDeque<(i64, OutcomeKind, i64)>,
    /// The newest event offered and not yet recorded in the role's row.
    told: i64,
}

impl Teller {
    /// On taking the role over: what the last holder did not record as told is offered now.
    async fn hold(&mut self, holds: bool) {
        if holds && !self.holding {
            let from = self.store.role_cursor(Role::Announcer).await.unwrap_or(i64::MAX);
            let missed: Vec<_> = self.silent.drain(..).filter(|(event, ..)| *event > from).collect();
            if !missed.is_empty() {
                tracing::info!("announcing {} outcomes the last announcer did not", missed.len());
            }
            for (event, kind, deployment) in missed {
                self.offer(event, kind, deployment).await;
            }
        }
        self.holding = holds;
    }

    async fn outcome(&mut self, event: i64, kind: OutcomeKind, deployment: i64) {
        if self.holding {
            self.offer(event, kind, deployment).await;
        } else {
            self.silent.push_back((event, kind, deployment));
            if self.silent.len() > REMEMBERED {
                self.silent.pop_front();
            }
        }
    }

    async fn offer(&mut self, event: i64, kind: OutcomeKind, deployment: i64) {
        if let Ok(Some(d)) = self.store.deployment(deployment).await {
            let outcome = Outcome { kind, deployment: d };
            self.listeners.iter().for_each(|l| l.offer(&outcome));
        }
        self.told = self.told.max(event);
    }

    /// Records how far the holder got (a single gateway has no role row: nothing is written).
    async fn record(&mut self) {
        if self.holding && self.told > 0 {
            if let Err(e) = self.store.set_role_cursor(Role::Announcer, &self.owner, self.told).await {
                tracing::warn!("cannot record how far outcomes were announced: {e}");
            }
            self.told = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_deploying_and_active_events_and_every_end_are_outcomes() {
        assert_eq!(OutcomeKind::of(Status::Deploying, true), Some(OutcomeKind::Started));
        assert_eq!(OutcomeKind::of(Status::Deploying, false), None, "a phase change is no new outcome");
        assert_eq!(OutcomeKind::of(Status::Active, true), Some(OutcomeKind::Succeeded));
        assert_eq!(OutcomeKind::of(Status::Active, false), None);
        assert_eq!(OutcomeKind::of(Status::Queued, true), None);
        assert_eq!(OutcomeKind::of(Status::RolledBack, false), Some(OutcomeKind::RolledBack));
        assert_eq!(OutcomeKind::of(Status::Cancelled, true), Some(OutcomeKind::Cancelled));
        assert_eq!(OutcomeKind::of(Status::Failed, true), Some(OutcomeKind::Failed));
        assert_eq!(OutcomeKind::of(Status::Superseded, true), Some(OutcomeKind::Superseded));
    }
}
