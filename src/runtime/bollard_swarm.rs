//! The swarm calls of [`DockerEngine`] through bollard: services created or replaced with their full spec
//! at their version, scaled, removed, and their tasks with the node addresses they run on.

use super::bollard::{engine, is_status, DockerEngine};
use super::swarm::engine::{changed_service, SwarmEngine, TaskView};
use super::EngineError;
use async_trait::async_trait;
use bollard::models::ServiceSpec;
use bollard::query_parameters::{
    EventsOptions, ListImagesOptions, ListNodesOptions, ListTasksOptions, PushImageOptionsBuilder, RemoveImageOptions,
    TagImageOptionsBuilder, UpdateServiceOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::IpAddr;
use tokio::sync::mpsc;

#[async_trait]
impl SwarmEngine for DockerEngine {
    async fn is_manager(&self) -> Result<bool, EngineError> {
        let info = self.docker().await?.info().await.map_err(engine("describe itself"))?;
        Ok(info.swarm.and_then(|s| s.control_available).unwrap_or(false))
    }

    async fn image_id(&self, image: &str) -> Result<String, EngineError> {
        let inspected = self.docker().await?.inspect_image(image).await.map_err(engine("inspect the image"))?;
        inspected.id.ok_or_else(|| EngineError::Engine { action: "inspect the image".into(), message: "no ID".into() })
    }

    async fn ready_nodes(&self) -> Result<usize, EngineError> {
        let nodes =
            self.docker().await?.list_nodes(None::<ListNodesOptions>).await.map_err(engine("list the nodes"))?;
        let ready = |n: &bollard::models::Node| {
            n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY)
        };
        Ok(nodes.iter().filter(|n| ready(n)).count())
    }

    async fn push_image(&self, image: &str, repository: &str, tag: &str) -> Result<String, EngineError> {
        let docker = self.docker().await?;
        let options = TagImageOptionsBuilder::new().repo(repository).tag(tag).build();
        docker.tag_image(image, Some(options)).await.map_err(engine("tag the image for the registry"))?;
        let mut push = docker.push_image(repository, Some(PushImageOptionsBuilder::new().tag(tag).build()), None);
        while let Some(step) = push.next().await {
            let step = step.map_err(engine("push the image"))?;
            if let Some(detail) = step.error_detail {
                let message = detail.message.unwrap_or_default();
                return Err(EngineError::Engine { action: format!("push the image to {repository}"), message });
            }
        }
        let inspected =
            docker.inspect_image(&format!("{repository}:{tag}")).await.map_err(engine("inspect the image"))?;
        let prefix = format!("{repository}@");
        let digests = inspected.repo_digests.unwrap_or_default();
        digests.into_iter().find(|d| d.starts_with(&prefix)).ok_or_else(|| EngineError::Engine {
            action: format!("push the image to {repository}"),
            message: "the registry returned no digest".into(),
        })
    }

    async fn forget_pushed(&self, repository: &str, tag: Option<&str>) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let filters = HashMap::from([("reference".to_owned(), vec![repository.to_owned()])]);
        let options = ListImagesOptions { filters: Some(filters), ..ListImagesOptions::default() };
        let images = docker.list_images(Some(options)).await.map_err(engine("list images"))?;
        let wanted = |r: &String| r.starts_with(&format!("{repository}:")) || r.starts_with(&format!("{repository}@"));
        for image in images {
            if tag.is_some_and(|t| !image.repo_tags.contains(&format!("{repository}:{t}"))) {
                continue;
            }
            for reference in image.repo_tags.iter().chain(&image.repo_digests).filter(|r| wanted(r)) {
                match docker.remove_image(reference, None::<RemoveImageOptions>, None).await {
                    Err(e) if !is_status(&e, &[404]) => return Err(engine("remove a pushed image's name")(e)),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    async fn put_service(&self, spec: ServiceSpec) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let name = spec.name.clone().unwrap_or_default();
        match docker.inspect_service(&name, None).await {
            Ok(existing) => {
                let version = existing.version.and_then(|v| v.index).unwrap_or(0);
                let options =
                    UpdateServiceOptionsBuilder::new().version(i32::try_from(version).unwrap_or(i32::MAX)).build();
                docker.update_service(&name, spec, options, None).await.map_err(engine("update the service"))?;
            }
            Err(e) if is_status(&e, &[404]) => {
                docker.create_service(spec, None).await.map_err(engine("create the service"))?;
            }
            Err(e) => return Err(engine("inspect the service")(e)),
        }
        Ok(())
    }

    async fn scale_service(&self, name: &str, replicas: u64) -> Result<bool, EngineError> {
        let docker = self.docker().await?;
        let existing = match docker.inspect_service(name, None).await {
            Ok(s) => s,
            Err(e) if is_status(&e, &[404]) => return Ok(false),
            Err(e) => return Err(engine("inspect the service")(e)),
        };
        // The whole spec goes back: a partial one would wipe the rest.
        let Some(mut spec) = existing.spec else { return Ok(false) };
        if let Some(replicated) = spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
            replicated.replicas = Some(i64::try_from(replicas).unwrap_or(0));
        }
        let version = existing.version.and_then(|v| v.index).unwrap_or(0);
        let options = UpdateServiceOptionsBuilder::new().version(i32::try_from(version).unwrap_or(i32::MAX)).build();
        docker.update_service(name, spec, options, None).await.map_err(engine("scale the service"))?;
        Ok(true)
    }

    async fn remove_service(&self, name: &str) -> Result<(), EngineError> {
        match self.docker().await?.delete_service(name).await {
            Err(e) if !is_status(&e, &[404]) => Err(engine("remove the service")(e)),
            _ => Ok(()),
        }
    }

    async fn tasks(&self, service: &str) -> Result<Vec<TaskView>, EngineError> {
        let docker = self.docker().await?;
        let filters = HashMap::from([("service".to_owned(), vec![service.to_owned()])]);
        let tasks = docker
            .list_tasks(Some(ListTasksOptions { filters: Some(filters) }))
            .await
            .map_err(engine("list the service's tasks"))?;
        let mut nodes: HashMap<String, Option<IpAddr>> = HashMap::new();
        let mut out = Vec::new();
        for t in tasks {
            let node_id = t.node_id.clone().unwrap_or_default();
            if !nodes.contains_key(&node_id) {
                let addr = match docker.inspect_node(&node_id).await {
                    Ok(n) => n.status.and_then(|s| s.addr).and_then(|a| a.parse().ok()),
                    Err(_) => None,
                };
                nodes.insert(node_id.clone(), addr);
            }
            let status = t.status.unwrap_or_default();
            let ports = status.port_status.and_then(|p| p.ports).unwrap_or_default();
            out.push(TaskView {
                slot: t.slot.unwrap_or(0),
                state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                desired: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                node: nodes.get(&node_id).copied().flatten(),
                ports: ports.iter().filter_map(|p| Some((p.target_port?, p.published_port?))).collect(),
                error: status.err,
            });
        }
        Ok(out)
    }

    async fn follow_services(&self, changed: &mpsc::Sender<String>) -> Result<(), EngineError> {
        let docker = self.docker().await?.clone();
        let kinds = vec!["container".to_owned(), "service".to_owned()];
        let filters = HashMap::from([("type".to_owned(), kinds)]);
        let mut events = docker.events(Some(EventsOptions { filters: Some(filters), ..Default::default() }));
        while let Some(event) = events.next().await {
            let event = event.map_err(engine("follow the engine's events"))?;
            let kind = event.typ.map(|t| t.to_string()).unwrap_or_default();
            let attributes = event.actor.and_then(|a| a.attributes).unwrap_or_default();
            let action = event.action.unwrap_or_default();
            if let Some(service) = changed_service(&kind, &action, &attributes) {
                if changed.send(service).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
