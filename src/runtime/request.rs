//! What a deploy request asks for, checked against the project's runtime (a git ref or an address).

use crate::deployment::Trigger;
use crate::project::MAX_REPLICAS;
use crate::store::{NewDeployment, ProjectRecord};
use std::net::SocketAddr;
use std::time::Duration;

/// What a deploy request asks for: a git ref (docker projects) or an address (external projects).
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub git_ref: Option<String>,
    /// The exact commit a webhook push names; built as is, never re-resolved.
    pub commit: Option<String>,
    /// The address of an external process; several for replicas (`{"targets": [...]}`).
    pub targets: Vec<String>,
    pub trigger: Option<Trigger>,
    /// Health-gate the new version, then send this share of clients to it until `promote` (1–99).
    pub canary_percent: Option<i64>,
}

pub(super) async fn external(project: &str, request: &DeployRequest) -> Result<NewDeployment, RequestError> {
    if request.targets.is_empty() || request.git_ref.is_some() || request.commit.is_some() {
        return Err(RequestError::Wrong(format!(
            "project `{project}` runs an external process: deploy it with {{\"target\": \"127.0.0.1:PORT\"}} \
             (or several: {{\"targets\": [...]}}), not a git ref"
        )));
    }
    if request.targets.len() > usize::from(MAX_REPLICAS) {
        let n = request.targets.len();
        return Err(RequestError::Wrong(format!("{n} targets is more than the {MAX_REPLICAS} a deployment may have")));
    }
    let mut addrs = Vec::with_capacity(request.targets.len());
    for target in &request.targets {
        let addr = resolve_target(target).await?;
        if addrs.contains(&addr) {
            let message = format!("is listed twice (as {addr}): give each process once");
            return Err(RequestError::BadTarget { target: target.clone(), message });
        }
        addrs.push(addr);
    }
    let target = Some(crate::routes::join_targets(&addrs));
    Ok(NewDeployment { port: addrs.first().map(SocketAddr::port), target, ..NewDeployment::default() })
}

pub(super) fn docker(record: &ProjectRecord, request: &DeployRequest) -> Result<NewDeployment, RequestError> {
    let name = &record.spec.name;
    if !request.targets.is_empty() {
        return Err(RequestError::Wrong(format!(
            "project `{name}` has runtime \"docker\": a target address is only for runtime \"external\"; deploy a git ref"
        )));
    }
    if record.spec.repo_url.is_empty() {
        return Err(RequestError::Wrong(format!(
            "project `{name}` has no repo_url; set it to the git repository to build"
        )));
    }
    let git_ref = request.git_ref.clone().unwrap_or_else(|| record.spec.branch.clone());
    if git_ref.trim().is_empty() || git_ref.starts_with('-') {
        return Err(RequestError::Wrong(format!("`{git_ref}` is not a git ref; give a branch, tag or commit SHA")));
    }
    Ok(NewDeployment { git_ref: Some(git_ref), commit: request.commit.clone(), ..NewDeployment::default() })
}

/// A deploy request the project's runtime cannot carry out, and why.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("target `{target}` {message}")]
    BadTarget { target: String, message: String },
    #[error("{0}")]
    Wrong(String),
}

/// `HOST:PORT` to one address, resolved here so the proxy never resolves names.
async fn resolve_target(target: &str) -> Result<SocketAddr, RequestError> {
    let bad = |message: &str| RequestError::BadTarget { target: target.to_owned(), message: message.to_owned() };
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return if addr.port() == 0 { Err(bad("has port 0: give the port the process listens on")) } else { Ok(addr) };
    }
    if !target.contains(':') {
        return Err(bad("is not an address: use HOST:PORT, such as 127.0.0.1:4001"));
    }
    let lookup = tokio::time::timeout(Duration::from_secs(3), tokio::net::lookup_host(target.to_owned())).await;
    match lookup {
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| bad("resolves to no address")),
        Ok(Err(e)) => Err(bad(&format!("cannot be resolved ({e}): use HOST:PORT, such as 127.0.0.1:4001"))),
        Err(_) => Err(bad("took over 3 s to resolve: use an IP address")),
    }
}
