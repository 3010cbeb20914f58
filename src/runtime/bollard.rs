//! The Docker engine through bollard: build, run a slot, watch it, stop it. Never the docker CLI.

use super::engine::{BuildRequest, ContainerEngine, EngineError, Liveness, RunRequest};
use crate::project::Slot;
use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerUpdateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListImagesOptions, LogsOptionsBuilder,
    PruneImagesOptions, RemoveContainerOptionsBuilder, RemoveImageOptions, StopContainerOptionsBuilder,
    WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// Connects on first use and negotiates the API version, since VPSs run old engines (Debian's speaks 1.41).
pub(crate) struct DockerEngine {
    host: String,
    client: OnceCell<Docker>,
}

impl DockerEngine {
    /// `host` empty means `DOCKER_HOST` or the local socket.
    pub(crate) fn new(host: &str) -> Self {
        DockerEngine { host: host.to_owned(), client: OnceCell::new() }
    }

    fn describe_host(&self) -> String {
        match (&self.host[..], std::env::var("DOCKER_HOST")) {
            ("", Ok(env)) => env,
            ("", Err(_)) => "unix:///var/run/docker.sock".into(),
            (host, _) => host.to_owned(),
        }
    }

    pub(super) async fn docker(&self) -> Result<&Docker, EngineError> {
        let unreachable =
            |e: BollardError| EngineError::Unreachable { host: self.describe_host(), message: e.to_string() };
        self.client
            .get_or_try_init(|| async {
                let docker = match self.host.as_str() {
                    "" => Docker::connect_with_defaults(),
                    h if h.starts_with("unix://") => Docker::connect_with_unix(h, 120, bollard::API_DEFAULT_VERSION),
                    h => Docker::connect_with_http(h, 120, bollard::API_DEFAULT_VERSION),
                }
                .map_err(unreachable)?;
                docker.negotiate_version().await.map_err(unreachable)
            })
            .await
    }

    async fn tail_logs(&self, docker: &Docker, name: &str, lines: usize) -> String {
        let options = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&lines.to_string()).build();
        let chunks: Vec<_> = docker.logs(name, Some(options)).collect().await;
        chunks.into_iter().filter_map(Result::ok).map(|c| c.to_string()).collect::<String>()
    }
}

pub(super) fn engine(action: &str) -> impl Fn(BollardError) -> EngineError + '_ {
    move |e| EngineError::Engine { action: action.to_owned(), message: e.to_string() }
}

pub(super) fn is_status(e: &BollardError, codes: &[u16]) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code, .. } if codes.contains(status_code))
}

#[async_trait]
impl ContainerEngine for DockerEngine {
    fn swarm(&self) -> Option<&dyn super::swarm::engine::SwarmEngine> {
        Some(self)
    }

    async fn engine_id(&self) -> Result<String, EngineError> {
        let info = self.docker().await?.info().await.map_err(engine("describe itself"))?;
        Ok(info.id.unwrap_or_default())
    }

    async fn build(
        &self,
        req: BuildRequest,
        log: &(dyn Fn(String) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        self.build_with_retry(&req, log, cancel).await
    }

    async fn run(&self, req: &RunRequest) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let name = req.name.clone();
        self.remove(&name).await?;
        let port = format!("{}/tcp", req.container_port);
        let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(req.host_port.to_string()) };
        let labels = HashMap::from([
            ("versiongate.project".to_owned(), req.project.clone()),
            ("versiongate.slot".to_owned(), req.slot.to_string()),
            ("versiongate.deployment".to_owned(), req.deployment_id.to_string()),
            ("versiongate.replica".to_owned(), req.replica.to_string()),
        ]);
        let host_config = HostConfig {
            port_bindings: Some(HashMap::from([(port.clone(), Some(vec![binding]))])),
            // No restarts until it passes the health gate, so a crash shows its real exit code.
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            memory: (req.memory_mb > 0).then_some(req.memory_mb as i64 * 1024 * 1024),
            nano_cpus: (req.cpus > 0.0).then_some((req.cpus * 1e9) as i64),
            ..HostConfig::default()
        };
        let body = ContainerCreateBody {
            image: Some(req.image.clone()),
            env: Some(req.env.clone()),
            exposed_ports: Some(vec![port]),
            labels: Some(labels),
            host_config: Some(host_config),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        docker.create_container(Some(options), body).await.map_err(engine("create the container"))?;
        docker.start_container(&name, None).await.map_err(engine("start the container"))
    }

    async fn keep_running(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let policy = RestartPolicy { name: Some(RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None };
        let body = ContainerUpdateBody { restart_policy: Some(policy), ..ContainerUpdateBody::default() };
        docker.update_container(name, body).await.map_err(engine("set the restart policy"))
    }

    async fn liveness(&self, name: &str) -> Result<Liveness, EngineError> {
        let docker = self.docker().await?;
        let info = match docker.inspect_container(name, None).await {
            Ok(info) => info,
            Err(e) if is_status(&e, &[404]) => return Ok(Liveness::Missing),
            Err(e) => return Err(engine("inspect the container")(e)),
        };
        let state = info.state.unwrap_or_default();
        let restarts = info.restart_count.unwrap_or(0);
        if state.running == Some(true) && state.restarting != Some(true) && restarts == 0 {
            return Ok(Liveness::Running);
        }
        let logs = self.tail_logs(docker, name, 40).await;
        Ok(Liveness::Died { exit_code: state.exit_code.unwrap_or(-1), restarts, logs })
    }

    async fn container_deployment(&self, name: &str) -> Result<Option<i64>, EngineError> {
        let docker = self.docker().await?;
        match docker.inspect_container(name, None).await {
            Ok(info) => Ok(info
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.get("versiongate.deployment").and_then(|v| v.parse().ok()))),
            Err(e) if is_status(&e, &[404]) => Ok(None),
            Err(e) => Err(engine("inspect the container")(e)),
        }
    }

    async fn stop(&self, name: &str, grace: Duration) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let options = StopContainerOptionsBuilder::default().t(grace.as_secs() as i32).build();
        match docker.stop_container(name, Some(options)).await {
            Err(e) if !is_status(&e, &[304, 404]) => Err(engine("stop the container")(e)),
            _ => Ok(()),
        }
    }

    async fn remove(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match docker.remove_container(name, Some(options)).await {
            Err(e) if !is_status(&e, &[404]) => Err(engine("remove the container")(e)),
            _ => Ok(()),
        }
    }

    async fn has_image(&self, image: &str) -> Result<bool, EngineError> {
        let docker = self.docker().await?;
        match docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, &[404]) => Ok(false),
            Err(e) => Err(engine("inspect the image")(e)),
        }
    }

    async fn project_images(&self, project: &str) -> Result<Vec<String>, EngineError> {
        let docker = self.docker().await?;
        let filters = HashMap::from([("reference".to_owned(), vec![format!("versiongate/{project}")])]);
        let options = ListImagesOptions { filters: Some(filters), ..ListImagesOptions::default() };
        let images = docker.list_images(Some(options)).await.map_err(engine("list images"))?;
        let prefix = format!("versiongate/{project}:");
        Ok(images.into_iter().flat_map(|i| i.repo_tags).filter(|t| t.starts_with(&prefix)).collect())
    }

    async fn remove_image(&self, image: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        match docker.remove_image(image, None::<RemoveImageOptions>, None).await {
            Err(e) if !is_status(&e, &[404]) => return Err(engine("remove an old image")(e)),
            _ => {}
        }
        // Only this project's leftovers: other dangling images on the host are not ours to remove.
        let project = image.trim_start_matches("versiongate/").split(':').next().unwrap_or_default();
        let filters = HashMap::from([
            ("dangling".to_owned(), vec!["true".to_owned()]),
            ("label".to_owned(), vec![format!("versiongate.project={project}")]),
        ]);
        let _ = docker.prune_images(Some(PruneImagesOptions { filters: Some(filters) })).await;
        Ok(())
    }

    async fn slot_containers(&self, project: &str, slot: Slot) -> Result<Vec<String>, EngineError> {
        let docker = self.docker().await?;
        let labels = vec![format!("versiongate.project={project}"), format!("versiongate.slot={slot}")];
        let filters = HashMap::from([("label", labels)]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let found = docker.list_containers(Some(options)).await.map_err(engine("list the containers"))?;
        let names = found.into_iter().filter_map(|c| c.names?.into_iter().next());
        let mut names: Vec<String> = names.map(|n| n.trim_start_matches('/').to_owned()).collect();
        names.sort();
        Ok(names)
    }

    async fn run_once(
        &self,
        name: &str,
        image: &str,
        command: &str,
        env: &[String],
        timeout: Duration,
    ) -> Result<(i64, String), EngineError> {
        let docker = self.docker().await?;
        // A stale one of the same name is a leftover of a crash: it goes first.
        let _ = self.remove(name).await;
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            env: Some(env.to_vec()),
            cmd: Some(vec!["sh".into(), "-c".into(), command.to_owned()]),
            labels: Some(HashMap::from([("versiongate.release".to_owned(), image.to_owned())])),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        docker.create_container(Some(options), body).await.map_err(engine("create the release container"))?;
        let result = async {
            docker.start_container(name, None).await.map_err(engine("start the release container"))?;
            let mut wait = docker.wait_container(name, None::<WaitContainerOptions>);
            let code = match tokio::time::timeout(timeout, wait.next()).await {
                Err(_) => {
                    return Err(EngineError::Engine {
                        action: "finish the release command".into(),
                        message: format!("it ran over {}s", timeout.as_secs()),
                    })
                }
                Ok(Some(Ok(exit))) => exit.status_code,
                Ok(Some(Err(BollardError::DockerContainerWaitError { code, .. }))) => code,
                Ok(Some(Err(e))) => return Err(engine("wait for the release command")(e)),
                Ok(None) => -1,
            };
            Ok((code, self.tail_logs(docker, name, 40).await))
        }
        .await;
        let _ = self.remove(name).await;
        result
    }
}
