//! What each runtime kind can do, for the decisions taken without a runtime at hand: project validation,
//! the cluster's membership rules and the loop that follows moving addresses. Each answer is an
//! exhaustive match, so a new kind has to decide every one of them here and nowhere else.

use crate::project::RuntimeKind;

impl RuntimeKind {
    /// Builds images from a repository (what previews and `required_checks` need).
    pub(crate) fn builds(self) -> bool {
        match self {
            RuntimeKind::Docker | RuntimeKind::Swarm => true,
            RuntimeKind::External => false,
        }
    }

    /// Runs `replicas` copies of a slot itself; an external project lists several targets instead.
    pub(crate) fn runs_replicas(self) -> bool {
        match self {
            RuntimeKind::Docker | RuntimeKind::Swarm => true,
            RuntimeKind::External => false,
        }
    }

    /// Can stop the live version and start the new one in its slot (hold-and-swap); the runtime's own
    /// answer is [`super::Runtime::swaps_in_place`].
    pub(crate) fn swaps_in_place(self) -> bool {
        match self {
            RuntimeKind::Docker => true,
            RuntimeKind::External | RuntimeKind::Swarm => false,
        }
    }

    /// Whether every gateway serving a project of this kind must drive the same engine: docker containers
    /// publish on their engine host's loopback, which only that host reaches.
    pub(crate) fn needs_one_engine(self) -> bool {
        match self {
            RuntimeKind::Docker => true,
            RuntimeKind::External | RuntimeKind::Swarm => false,
        }
    }

    /// Whether a live deployment's addresses move without a deployment (swarm tasks restart on new host
    /// ports, or on another node), so the stored addresses must follow the runtime.
    pub(crate) fn addresses_move(self) -> bool {
        match self {
            RuntimeKind::Swarm => true,
            RuntimeKind::Docker | RuntimeKind::External => false,
        }
    }
}

impl std::str::FromStr for RuntimeKind {
    type Err = serde_json::Error;

    /// By the name the config file and the API use (`docker`, `external`, `swarm`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::from(name))
    }
}

#[cfg(test)]
mod tests {
    use crate::project::RuntimeKind;

    #[test]
    fn kinds_parse_by_their_config_names() {
        for name in ["docker", "external", "swarm"] {
            let kind: RuntimeKind = name.parse().unwrap();
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
        assert!("podman".parse::<RuntimeKind>().is_err());
    }
}
