//! One deployment's statuses, phases and triggers, and the legal transitions between them (pure).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a deployment stands. The names are the public contract (INTERFACE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Queued,
    Deploying,
    Active,
    Superseded,
    RolledBack,
    Failed,
    Cancelled,
}

/// The step a deployment is in, or was in when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Queued,
    /// A push waits until GitHub reports its `required_checks` successful.
    WaitingForChecks,
    Fetching,
    Building,
    Starting,
    HealthChecking,
    Releasing,
    /// Health-gated and taking a share of clients beside the live version, until promoted or rolled back.
    Canary,
    Switching,
    Observing,
    Draining,
    Done,
}

/// What asked for a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Webhook,
    Api,
    Rollback,
    AutoRollback,
}

/// The verbs that move a deployment from one status to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The project's deploy lease was taken and work begins.
    Start,
    /// The health gate passed and traffic was switched to it.
    Activate,
    /// A step failed, or the gateway restarted while it was unfinished.
    Fail,
    /// An operator cancelled it, or a newer push replaced it while queued.
    Cancel,
    /// A newer deployment went live.
    Supersede,
    /// Traffic was switched back to an earlier deployment.
    RollBack,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeploymentError {
    #[error("a {from} deployment cannot {event:?}; only QUEUED or DEPLOYING deployments can change course")]
    IllegalTransition { from: Status, event: Event },
    #[error("a {status} deployment cannot move from phase {from} to {to}")]
    IllegalPhase { status: Status, from: Phase, to: Phase },
    #[error("unknown {kind} `{value}`")]
    Unknown { kind: &'static str, value: String },
}

impl Status {
    pub(crate) const ALL: [Status; 7] = [
        Status::Queued,
        Status::Deploying,
        Status::Active,
        Status::Superseded,
        Status::RolledBack,
        Status::Failed,
        Status::Cancelled,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Deploying => "DEPLOYING",
            Status::Active => "ACTIVE",
            Status::Superseded => "SUPERSEDED",
            Status::RolledBack => "ROLLED_BACK",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// True once nothing more will happen to the deployment's own work.
    /// ACTIVE is not finished: it can still be superseded or rolled back.
    pub fn is_finished(self) -> bool {
        !matches!(self, Status::Queued | Status::Deploying)
    }

    /// True once the deployment will change no more on its own: it ended, or it is live
    /// and its old slot has been drained (`phase` done).
    pub(crate) fn is_settled(self, phase: Phase) -> bool {
        self.is_finished() && (self != Status::Active || phase == Phase::Done)
    }

    /// The status that `event` leads to, or why it may not happen.
    pub(crate) fn apply(self, event: Event) -> Result<Status, DeploymentError> {
        use Event as E;
        use Status as S;
        let next = match (self, event) {
            (S::Queued, E::Start) => S::Deploying,
            (S::Queued | S::Deploying, E::Fail) => S::Failed,
            (S::Queued | S::Deploying, E::Cancel) => S::Cancelled,
            (S::Deploying, E::Activate) => S::Active,
            (S::Active, E::Supersede) => S::Superseded,
            (S::Active, E::RollBack) => S::RolledBack,
            // A canary that is ended (by the observe rule or the operator) never went live.
            (S::Deploying, E::RollBack) => S::RolledBack,
            (from, event) => return Err(DeploymentError::IllegalTransition { from, event }),
        };
        Ok(next)
    }
}

impl Phase {
    pub(crate) const ALL: [Phase; 12] = [
        Phase::Queued,
        Phase::WaitingForChecks,
        Phase::Fetching,
        Phase::Building,
        Phase::Starting,
        Phase::HealthChecking,
        Phase::Releasing,
        Phase::Canary,
        Phase::Switching,
        Phase::Observing,
        Phase::Draining,
        Phase::Done,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::WaitingForChecks => "waiting_for_checks",
            Phase::Fetching => "fetching",
            Phase::Building => "building",
            Phase::Starting => "starting",
            Phase::HealthChecking => "health_checking",
            Phase::Releasing => "releasing",
            Phase::Canary => "canary",
            Phase::Switching => "switching",
            Phase::Observing => "observing",
            Phase::Draining => "draining",
            Phase::Done => "done",
        }
    }

    /// Phases only move forward, and each belongs to the status that does it:
    /// the steps up to the switch run while DEPLOYING, the rest once ACTIVE.
    pub(crate) fn check_move(self, status: Status, to: Phase) -> Result<(), DeploymentError> {
        let allowed = to > self
            && match status {
                Status::Deploying => to <= Phase::Switching,
                Status::Active => to >= Phase::Observing,
                _ => false,
            };
        if allowed {
            Ok(())
        } else {
            Err(DeploymentError::IllegalPhase { status, from: self, to })
        }
    }
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Webhook => "webhook",
            Trigger::Api => "api",
            Trigger::Rollback => "rollback",
            Trigger::AutoRollback => "auto_rollback",
        }
    }
}

macro_rules! text_enum {
    ($ty:ty, $kind:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = DeploymentError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                serde_json::from_value(serde_json::Value::String(s.to_owned()))
                    .map_err(|_| DeploymentError::Unknown { kind: $kind, value: s.to_owned() })
            }
        }
    };
}
text_enum!(Status, "status");
text_enum!(Phase, "phase");
text_enum!(Trigger, "trigger");

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: [Event; 6] =
        [Event::Start, Event::Activate, Event::Fail, Event::Cancel, Event::Supersede, Event::RollBack];

    fn legal() -> Vec<(Status, Event, Status)> {
        use Event as E;
        use Status as S;
        vec![
            (S::Queued, E::Start, S::Deploying),
            (S::Queued, E::Fail, S::Failed),
            (S::Queued, E::Cancel, S::Cancelled),
            (S::Deploying, E::Activate, S::Active),
            (S::Deploying, E::Fail, S::Failed),
            (S::Deploying, E::Cancel, S::Cancelled),
            (S::Deploying, E::RollBack, S::RolledBack),
            (S::Active, E::Supersede, S::Superseded),
            (S::Active, E::RollBack, S::RolledBack),
        ]
    }

    #[test]
    fn every_status_event_pair_is_legal_only_if_listed() {
        let legal = legal();
        for from in Status::ALL {
            for event in EVENTS {
                let expected = legal.iter().find(|(f, e, _)| *f == from && *e == event);
                match (from.apply(event), expected) {
                    (Ok(to), Some((_, _, want))) => assert_eq!(to, *want, "{from} {event:?}"),
                    (Err(err), None) => {
                        assert_eq!(err, DeploymentError::IllegalTransition { from, event })
                    }
                    (got, want) => panic!("{from} {event:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn terminal_statuses_accept_no_event() {
        for from in [Status::Superseded, Status::RolledBack, Status::Failed, Status::Cancelled] {
            assert!(from.is_finished());
            assert!(EVENTS.iter().all(|e| from.apply(*e).is_err()), "{from}");
        }
    }

    #[test]
    fn phases_move_forward_within_their_status() {
        for from in Phase::ALL {
            for to in Phase::ALL {
                for status in Status::ALL {
                    let ok = from.check_move(status, to).is_ok();
                    let want = to > from
                        && ((status == Status::Deploying && to <= Phase::Switching)
                            || (status == Status::Active && to >= Phase::Observing));
                    assert_eq!(ok, want, "{status} {from} -> {to}");
                }
            }
        }
        assert!(Phase::Queued.check_move(Status::Deploying, Phase::HealthChecking).is_ok());
        assert!(Phase::Draining.check_move(Status::Deploying, Phase::Building).is_err());
        assert!(Phase::Switching.check_move(Status::Active, Phase::Draining).is_ok());
    }

    #[test]
    fn names_round_trip_as_in_the_contract() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        for p in Phase::ALL {
            assert_eq!(p.as_str().parse::<Phase>().unwrap(), p);
        }
        assert_eq!("ROLLED_BACK".parse::<Status>().unwrap(), Status::RolledBack);
        assert_eq!("auto_rollback".parse::<Trigger>().unwrap(), Trigger::AutoRollback);
        assert!("active".parse::<Status>().is_err());
        assert_eq!(serde_json::to_string(&Phase::HealthChecking).unwrap(), "\"health_checking\"");
    }
}
