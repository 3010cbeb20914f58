//! What the swarm runtime asks of a Docker engine that is a swarm manager, and the task view it routes by.

use crate::runtime::EngineError;
use async_trait::async_trait;
use bollard::models::ServiceSpec;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use tokio::sync::mpsc;

/// One task of a service as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// The replica number Swarm gave it (1..).
    pub(crate) slot: i64,
    pub(crate) state: String,
    pub(crate) desired: String,
    /// The address of the node it runs on.
    pub(crate) node: Option<IpAddr>,
    /// (container port, host port) pairs, as Swarm publishes them in host mode.
    pub(crate) ports: Vec<(i64, i64)>,
    /// Why it failed, when it did.
    pub(crate) error: Option<String>,
}

#[async_trait]
pub trait SwarmEngine: Send + Sync {
    /// Whether the engine manages a swarm (services can only be created on a manager).
    async fn is_manager(&self) -> Result<bool, EngineError>;
    /// The image's ID (`sha256:…`): services are pinned by ID, so no task ever tries to pull.
    async fn image_id(&self, image: &str) -> Result<String, EngineError>;
    /// The swarm's nodes that are ready.
    async fn ready_nodes(&self) -> Result<usize, EngineError>;
    /// Tags `image` as `repository:tag`, pushes it, and returns `repository@sha256:…`, the reference every
    /// node pulls the same image by.
    async fn push_image(&self, image: &str, repository: &str, tag: &str) -> Result<String, EngineError>;
    /// Removes this engine's references to `repository` (a tag and its digests, or all of them without a
    /// tag): the registry keeps its copy, this host does not keep a second name for a removed image.
    async fn forget_pushed(&self, repository: &str, tag: Option<&str>) -> Result<(), EngineError>;
    /// Creates the service, or replaces the whole spec of the existing one (at its current version).
    async fn put_service(&self, spec: ServiceSpec) -> Result<(), EngineError>;
    /// Sets a service's replica count; false when there is no such service.
    async fn scale_service(&self, name: &str, replicas: u64) -> Result<bool, EngineError>;
    /// Removes the service (its tasks stop); nothing when there is none.
    async fn remove_service(&self, name: &str) -> Result<(), EngineError>;
    /// The service's tasks that Swarm wants running.
    async fn tasks(&self, service: &str) -> Result<Vec<TaskView>, EngineError>;
    /// Until the engine's event stream ends: sends the name of each service whose tasks may have changed
    /// (one of its containers started, stopped or died on this node, or the service itself changed).
    async fn follow_services(&self, changed: &mpsc::Sender<String>) -> Result<(), EngineError>;
}

/// The service an engine event is about (pure), when it can change where a service serves: a task's
/// container starting or going away (it carries its service's label), or the service being updated or
/// removed. Health checks, exec and attach events leave the tasks where they are.
pub(crate) fn changed_service(kind: &str, action: &str, attributes: &HashMap<String, String>) -> Option<String> {
    match kind {
        "container" if matches!(action, "start" | "die" | "kill" | "stop" | "destroy" | "pause" | "unpause") => {
            attributes.get("com.docker.swarm.service.name").cloned()
        }
        "service" if matches!(action, "create" | "update" | "remove") => attributes.get("name").cloned(),
        _ => None,
    }
}

/// Where a service serves (pure): the host port of `container_port` of every task that runs and is meant
/// to, on its node's address, by replica number. A task Swarm is shutting down is left out at once.
pub(crate) fn serving_addrs(tasks: &[TaskView], container_port: u16) -> Vec<SocketAddr> {
    let mut live: Vec<(i64, SocketAddr)> = tasks
        .iter()
        .filter(|t| t.state == "running" && t.desired == "running")
        .filter_map(|t| {
            let node = t.node?;
            let published = t.ports.iter().find(|(target, host)| *target == i64::from(container_port) && *host > 0)?.1;
            Some((t.slot, SocketAddr::new(node, u16::try_from(published).ok()?)))
        })
        .collect();
    live.sort();
    live.dedup_by_key(|(_, addr)| *addr);
    live.into_iter().map(|(_, addr)| addr).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_containers_and_service_changes_name_their_service() {
        let labelled = HashMap::from([("com.docker.swarm.service.name".to_owned(), "web-blue".to_owned())]);
        assert_eq!(changed_service("container", "kill", &labelled).as_deref(), Some("web-blue"));
        assert_eq!(changed_service("container", "start", &labelled).as_deref(), Some("web-blue"));
        assert_eq!(changed_service("container", "exec_start: sh", &labelled), None, "exec moves no task");
        assert_eq!(changed_service("container", "die", &HashMap::new()), None, "not a swarm task");
        let service = HashMap::from([("name".to_owned(), "web-green".to_owned())]);
        assert_eq!(changed_service("service", "update", &service).as_deref(), Some("web-green"));
        assert_eq!(changed_service("network", "connect", &service), None);
    }

    fn task(slot: i64, state: &str, desired: &str, ports: Vec<(i64, i64)>) -> TaskView {
        let node = Some("127.0.0.1".parse().unwrap());
        TaskView { slot, state: state.into(), desired: desired.into(), node, ports, error: None }
    }

    #[test]
    fn only_running_tasks_meant_to_run_serve_on_their_published_port() {
        let tasks = [
            task(2, "running", "running", vec![(3000, 30002), (3000, 30002)]),
            task(1, "running", "running", vec![(9999, 1), (3000, 30001)]),
            task(3, "running", "shutdown", vec![(3000, 30003)]),
            task(4, "starting", "running", vec![(3000, 30004)]),
            task(5, "running", "running", vec![]),
        ];
        let addrs: Vec<String> = serving_addrs(&tasks, 3000).iter().map(ToString::to_string).collect();
        assert_eq!(addrs, ["127.0.0.1:30001", "127.0.0.1:30002"]);
        let mut nowhere = task(6, "running", "running", vec![(3000, 30006)]);
        nowhere.node = None;
        assert!(serving_addrs(&[nowhere], 3000).is_empty(), "a task whose node has no address cannot be routed to");
    }
}
