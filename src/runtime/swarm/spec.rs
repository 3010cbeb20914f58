//! The Swarm service of one slot of a project (pure): `<project>-<slot>`, pinned image, host-mode port
//! chosen by the engine, `init` on, the project's env and limits.

use crate::project::{ProjectSpec, Slot};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, EndpointSpec, Limit,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig, ServiceSpecUpdateConfigOrderEnum,
    TaskSpec, TaskSpecContainerSpec, TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use std::collections::HashMap;

/// `<project>-<slot>`, as the contract names a slot's service.
pub(crate) fn service_name(project: &str, slot: Slot) -> String {
    format!("{project}-{slot}")
}

/// The service spec that runs deployment `deployment` of `spec` (image `image_id`) in `slot`.
pub(crate) fn service(spec: &ProjectSpec, slot: Slot, image_id: &str, deployment: i64) -> ServiceSpec {
    let labels = HashMap::from([
        ("versiongate.project".to_owned(), spec.name.clone()),
        ("versiongate.slot".to_owned(), slot.as_str().to_owned()),
        ("versiongate.deployment".to_owned(), deployment.to_string()),
    ]);
    ServiceSpec {
        name: Some(service_name(&spec.name, slot)),
        task_template: Some(task(spec, image_id, labels.clone())),
        labels: Some(labels),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(i64::from(spec.replicas.max(1))) }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
            parallelism: Some(0),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec { ports: Some(vec![port(spec)]), ..Default::default() }),
        ..Default::default()
    }
}

/// The task each replica runs: the image with the project's environment, limits and a restart policy.
fn task(spec: &ProjectSpec, image_id: &str, labels: HashMap<String, String>) -> TaskSpec {
    let mut env = vec![format!("PORT={}", spec.container_port)];
    env.extend(spec.env.iter().map(|(k, v)| format!("{k}={}", v.expose())));
    let container = TaskSpecContainerSpec {
        image: Some(image_id.to_owned()),
        env: Some(env),
        labels: Some(labels),
        // A PID 1 without a signal handler would ignore SIGTERM and wait out the stop grace.
        init: Some(true),
        stop_grace_period: Some(i64::try_from(spec.stop_timeout_s).unwrap_or(10) * 1_000_000_000),
        ..Default::default()
    };
    let limits = Limit {
        memory_bytes: (spec.memory_mb > 0).then(|| i64::try_from(spec.memory_mb * 1024 * 1024).unwrap_or(i64::MAX)),
        nano_cpus: (spec.cpus > 0.0).then_some((spec.cpus * 1e9) as i64),
        ..Default::default()
    };
    TaskSpec {
        container_spec: Some(container),
        resources: Some(TaskSpecResources { limits: Some(limits), ..Default::default() }),
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The container port, published by the engine on a host port of its choosing for each task.
fn port(spec: &ProjectSpec) -> EndpointPortConfig {
    EndpointPortConfig {
        protocol: Some(EndpointPortConfigProtocolEnum::TCP),
        target_port: Some(i64::from(spec.container_port)),
        // No published port: the engine picks one per task. A fixed host port could never start a second task
        // beside the first, and the ingress mesh is not used: the gateway routes to the tasks itself.
        published_port: None,
        publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_service_is_pinned_replicated_host_published_and_labelled() {
        let mut p = ProjectSpec { name: "shop".into(), replicas: 3, memory_mb: 256, ..ProjectSpec::default() };
        p.env.insert("DB".into(), "postgres://x".into());
        let s = service(&p, Slot::Green, "sha256:abc", 12);
        assert_eq!(s.name.as_deref(), Some("shop-green"));
        assert_eq!(s.mode.unwrap().replicated.unwrap().replicas, Some(3));
        let task = s.task_template.unwrap();
        let c = task.container_spec.unwrap();
        assert_eq!((c.image.as_deref(), c.init), (Some("sha256:abc"), Some(true)));
        assert_eq!(c.env.unwrap(), ["PORT=3000", "DB=postgres://x"]);
        assert_eq!(c.labels.unwrap()["versiongate.deployment"], "12");
        assert_eq!(task.resources.unwrap().limits.unwrap().memory_bytes, Some(256 * 1024 * 1024));
        let port = &s.endpoint_spec.unwrap().ports.unwrap()[0];
        assert_eq!((port.target_port, port.published_port), (Some(3000), None));
        assert_eq!(port.publish_mode, Some(EndpointPortConfigPublishModeEnum::HOST));
    }
}
