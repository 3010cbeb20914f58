//! The docker steps of a deployment: fetch the commit, build the image, start the idle slot, and run the
//! release command.

use super::DockerRuntime;
use crate::builder::plan::{self, BuildPlan, PlanOptions, GENERATED_DOCKERFILE};
use crate::builder::{context, listing, DOCKERIGNORE};
use crate::deployment::Phase;
use crate::project::Slot;
use crate::runtime::engine::{
    image_tag, release_container_name, replica_container_name, BuildRequest, Liveness, RunRequest,
};
use crate::runtime::{Job, RuntimeError};
use crate::source::{self, Credentials};
use crate::store::ProjectRecord;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

impl DockerRuntime {
    /// Fetches and checks out the deployment's commit; returns the work tree and the full SHA.
    pub(super) async fn fetch(&self, job: &Job<'_>) -> Result<(PathBuf, String), RuntimeError> {
        let (d, spec) = (job.deployment, &job.record.spec);
        let dir = self.options.data_dir.join("repos").join(&spec.name);
        let wanted = d.commit.clone().or_else(|| d.git_ref.clone()).unwrap_or_else(|| spec.branch.clone());
        job.journal.log(&format!("fetching {} ({wanted})", spec.repo_url)).await;
        let creds = Credentials {
            ssh_key: Some(PathBuf::from(&spec.git_ssh_key)).filter(|p| !p.as_os_str().is_empty()),
            token: Some(spec.git_token.expose().to_owned()).filter(|t| !t.is_empty()),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn({
            let (stop, cancel) = (stop.clone(), job.cancel.clone());
            async move {
                cancel.cancelled().await;
                stop.store(true, Ordering::SeqCst);
            }
        });
        let (url, work) = (spec.repo_url.clone(), dir.clone());
        let (pull, max_repo_mb) = (crate::project::pull_number(&spec.branch), spec.max_repo_mb);
        let result = tokio::task::spawn_blocking(move || {
            let limits = source::Limits::new(&stop, max_repo_mb);
            let repo = source::fetch(&work, &url, &creds, pull, &limits)?;
            let commit = source::resolve(&repo, &wanted, &url)?;
            source::checkout(&repo, &commit, &url, &creds, &limits)?;
            Ok::<_, source::SourceError>((commit.clone(), source::subject(&repo, &commit)))
        })
        .await
        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        watcher.abort();
        let (commit, subject) = result?;
        job.journal.source(Some((&commit, subject.as_deref())), None).await?;
        job.journal.log(&format!("checked out {commit}: {}", subject.unwrap_or_default())).await;
        Ok((dir, commit))
    }

    /// Builds `versiongate/<project>:<id>`, streaming every build line into the deployment log.
    pub(super) async fn build(&self, job: &Job<'_>, tree: PathBuf, commit: &str) -> Result<String, RuntimeError> {
        job.journal.phase(Phase::Building).await?;
        let spec = &job.record.spec;
        let context_dir = context::inside(&tree, &spec.build_context)?;
        context::contained(&tree, &context_dir, &spec.build_context)?;
        let plan = self.plan_build(job, &context_dir).await?;
        let dockerfile = plan.dockerfile_path.clone();
        let generated = match plan.dockerfile_source {
            "generated" => vec![(GENERATED_DOCKERFILE, plan.dockerfile), (".dockerignore", DOCKERIGNORE.to_owned())],
            _ => Vec::new(),
        };
        let packed = {
            let (dir, file, max_mb) = (context_dir.clone(), dockerfile.clone(), self.options.images.max_context_mb);
            tokio::task::spawn_blocking(move || context::pack(&dir, &file, &generated, max_mb))
                .await
                .map_err(|e| RuntimeError::Internal(e.to_string()))??
        };
        let tag = image_tag(&spec.name, job.deployment.id);
        job.journal.log(&format!("building {tag} from {dockerfile} ({} KiB of context)", packed.len() / 1024)).await;
        let labels = HashMap::from([
            ("versiongate.project".to_owned(), spec.name.clone()),
            ("versiongate.commit".to_owned(), commit.to_owned()),
        ]);
        let timeout = Duration::from_secs(spec.build_timeout_s);
        let request = BuildRequest { context: packed, dockerfile, tag: tag.clone(), labels, timeout };
        // Build lines stream through a channel so a slow store never stalls the engine's output.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let built = async {
            let result = self.engine.build(request, &move |line| drop(tx.send(line)), job.cancel).await;
            result
        };
        let writer = async {
            while let Some(line) = rx.recv().await {
                job.journal.log(&line).await;
            }
        };
        let (result, ()) = tokio::join!(built, writer);
        result?;
        job.journal.source(None, Some(&tag)).await?;
        Ok(tag)
    }

    /// The repo's Dockerfile, or one generated for what the repo holds; the plan goes into the log.
    async fn plan_build(&self, job: &Job<'_>, dir: &Path) -> Result<BuildPlan, RuntimeError> {
        let spec = &job.record.spec;
        let options = PlanOptions {
            builder: spec.builder,
            start_command: spec.start_command.clone(),
            dockerfile: spec.dockerfile.clone(),
            container_port: spec.container_port,
            images: self.options.images.clone(),
        };
        let dir = dir.to_owned();
        let listing = tokio::task::spawn_blocking(move || listing::read(&dir))
            .await
            .map_err(|e| RuntimeError::Internal(e.to_string()))??;
        let plan = plan::plan(&listing, &options)?;
        if plan.dockerfile_source == "generated" {
            let pm = plan.package_manager.as_deref().unwrap_or("none");
            let build = plan.build.as_deref().unwrap_or("none");
            let line = format!(
                "no Dockerfile: generated one for {:?} ({pm}); install: {}; build: {build}; start: {}",
                plan.runtime, plan.install, plan.start
            );
            job.journal.log(&line).await;
            for note in &plan.notes {
                job.journal.log(&format!("note: {note}")).await;
            }
        }
        Ok(plan)
    }

    /// A rollback reuses a retained image: no fetch, no build. A pruned image fails clearly.
    pub(super) async fn retained_image(&self, job: &Job<'_>, image: &str) -> Result<String, RuntimeError> {
        if !self.engine.has_image(image).await? {
            return Err(RuntimeError::Pruned(image.to_owned()));
        }
        job.journal.log(&format!("reusing the retained image {image}: no fetch, no build")).await;
        Ok(image.to_owned())
    }

    /// Starts the image in every replica of `slot`, replacing what held the slot (also containers of a
    /// larger replica count before).
    pub(super) async fn run_slot(&self, job: &Job<'_>, slot: Slot, image: &str) -> Result<(), RuntimeError> {
        job.journal.phase(Phase::Starting).await?;
        let (record, id) = (job.record, job.deployment.id);
        let requests: Vec<RunRequest> =
            (1..=record.spec.replicas.max(1)).map(|n| run_request(record, slot, n, id, image)).collect();
        for stale in self.engine.slot_containers(&record.spec.name, slot).await? {
            if !requests.iter().any(|r| r.name == stale) {
                self.engine.remove(&stale).await?;
            }
        }
        futures_util::future::try_join_all(requests.iter().map(|r| self.engine.run(r))).await?;
        for r in &requests {
            let line = format!("started container {}: 127.0.0.1:{} -> {}", r.name, r.host_port, r.container_port);
            job.journal.log(&line).await;
        }
        Ok(())
    }

    /// Runs `release_command` once in a throwaway container of the new image; non-zero fails the deploy.
    pub(super) async fn run_release(&self, job: &Job<'_>, image: &str) -> Result<(), RuntimeError> {
        let (d, record) = (job.deployment, job.record);
        let command = record.spec.release_command.trim();
        if command.is_empty() {
            return Ok(());
        }
        job.journal.phase(Phase::Releasing).await?;
        job.journal.log(&format!("release command: {command}")).await;
        let timeout = record.spec.release_timeout();
        let name = release_container_name(&record.spec.name, d.id);
        let (code, output) = self.engine.run_once(&name, image, command, &env_of(record), timeout).await?;
        for line in output.lines() {
            job.journal.log(&format!("release: {line}")).await;
        }
        if code != 0 {
            return Err(RuntimeError::Release { code, output: last_lines(&output, 20) });
        }
        Ok(())
    }
}

/// Replica `n` of deployment `id` in `slot`, as the project's spec says to run it.
pub(super) fn run_request(record: &ProjectRecord, slot: Slot, n: u16, id: i64, image: &str) -> RunRequest {
    let spec = &record.spec;
    RunRequest {
        name: replica_container_name(&spec.name, slot, n, spec.replicas),
        project: spec.name.clone(),
        slot,
        replica: n,
        deployment_id: id,
        image: image.to_owned(),
        host_port: slot.replica_port(record.base_port, n),
        container_port: spec.container_port,
        env: env_of(record),
        memory_mb: spec.memory_mb,
        cpus: spec.cpus,
    }
}

/// `PORT` plus the project's env, as `KEY=value`.
fn env_of(record: &ProjectRecord) -> Vec<String> {
    let port = format!("PORT={}", record.spec.container_port);
    std::iter::once(port).chain(record.spec.env.iter().map(|(k, v)| format!("{k}={}", v.expose()))).collect()
}

/// What the health gate learns when the container itself is the problem.
pub(super) fn died(liveness: Liveness) -> Option<RuntimeError> {
    match liveness {
        Liveness::Running => None,
        Liveness::Missing => {
            Some(RuntimeError::ContainerDied { exit_code: -1, restarts: 0, logs: "the container disappeared".into() })
        }
        Liveness::Died { exit_code, restarts, logs } => {
            Some(RuntimeError::ContainerDied { exit_code, restarts, logs: last_lines(&logs, 40) })
        }
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
