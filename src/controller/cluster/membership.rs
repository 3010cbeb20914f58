//! Which gateways may share one store: every one accepts the same admin token, and projects with runtime
//! `docker` need every living gateway on the same Docker engine (their containers publish on that host's
//! loopback); `swarm` and `external` projects run with any mix. A gateway that breaks a rule refuses to
//! start, and a `docker` project that would break it is refused.

use crate::controller::{Controller, ControllerError};
use crate::project::ProjectSpec;
use crate::store::{now_ms, Node};
use sha2::{Digest, Sha256};

/// The digest gateways compare admin tokens by (the token itself never reaches the store).
pub(crate) fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why `me` cannot serve beside the living `others` (pure). An empty engine or digest is unknown, and
/// an unknown value conflicts with nothing.
pub(crate) fn conflicts(me: &Node, others: &[Node], docker_projects: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for other in others.iter().filter(|o| o.node != me.node) {
        let known = |a: &str, b: &str| !a.is_empty() && !b.is_empty() && a != b;
        if known(&me.token_digest, &other.token_digest) {
            out.push(format!(
                "gateway `{}` on this store accepts another admin token: give every gateway the same admin.token",
                other.node
            ));
        }
        if !docker_projects.is_empty() && known(&me.engine, &other.engine) {
            out.push(format!(
                "gateway `{}` drives another Docker engine than this one, and {} use runtime \"docker\", whose \
                 containers only their own engine's host reaches: run every gateway on one engine, or switch \
                 those projects to runtime \"swarm\"",
                other.node,
                docker_projects.join(", ")
            ));
        }
    }
    out
}

impl Controller {
    /// At start, before anything is served: refuses when this gateway breaks a rule with a living one.
    /// `config_docker` names the config file's projects with runtime docker (not stored yet).
    pub(crate) async fn check_membership(&self, config_docker: &[String]) -> Result<(), ControllerError> {
        if self.inner.cluster.node.is_none() {
            return Ok(());
        }
        let me = self.inner.identity().await;
        let records = self.inner.store.projects().await?;
        let mut docker: Vec<String> = records
            .iter()
            .flatten()
            .filter(|r| r.spec.runtime.needs_one_engine())
            .map(|r| format!("`{}`", r.spec.name))
            .collect();
        docker.extend(config_docker.iter().map(|n| format!("`{n}`")));
        docker.sort();
        docker.dedup();
        let problems = conflicts(&me, &self.living().await?, &docker);
        match problems.is_empty() {
            true => Ok(()),
            false => Err(ControllerError::Cluster(problems.join("; "))),
        }
    }

    /// Before a project is created or changed: runtime docker only while every living gateway drives
    /// the same engine.
    pub(crate) async fn docker_allowed(&self, spec: &ProjectSpec) -> Result<(), ControllerError> {
        if self.inner.cluster.node.is_none() || !spec.runtime.needs_one_engine() {
            return Ok(());
        }
        let me = self.inner.identity().await;
        let problems = conflicts(&me, &self.living().await?, &[format!("`{}`", spec.name)]);
        match problems.iter().find(|p| p.contains("Docker engine")) {
            Some(p) => Err(ControllerError::Cluster(p.clone())),
            None => Ok(()),
        }
    }

    /// The other gateways whose heartbeat is recent.
    async fn living(&self) -> Result<Vec<Node>, ControllerError> {
        let fresh_after = now_ms() - self.inner.cluster.lease_timeout.as_millis() as i64;
        let owner = &self.inner.owner;
        let nodes = self.inner.store.nodes().await?;
        Ok(nodes.into_iter().filter(|n| n.seen_at >= fresh_after && &n.owner != owner).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, engine: &str, token: &str) -> Node {
        Node {
            node: name.into(),
            owner: format!("{name}-owner"),
            version: "1".into(),
            pid: 1,
            started_at: 0,
            seen_at: 0,
            engine: engine.into(),
            token_digest: token_digest(token),
        }
    }

    #[test]
    fn gateways_agree_on_the_token_and_docker_projects_need_one_engine() {
        let me = node("gw2", "engine-a", "secret");
        let docker = ["`web`".to_owned()];
        assert!(conflicts(&me, &[node("gw1", "engine-a", "secret")], &docker).is_empty());
        let other_engine = [node("gw1", "engine-b", "secret")];
        assert!(conflicts(&me, &other_engine, &[]).is_empty(), "swarm and external projects run anywhere");
        let why = conflicts(&me, &other_engine, &docker);
        assert!(why.len() == 1 && why[0].contains("gw1") && why[0].contains("`web`"), "{why:?}");
        let why = conflicts(&me, &[node("gw1", "engine-a", "other")], &[]);
        assert!(why.len() == 1 && why[0].contains("admin token"), "{why:?}");
        assert!(conflicts(&me, &[node("gw1", "", "secret")], &docker).is_empty(), "an unknown engine is no conflict");
        assert!(conflicts(&me, &[node("gw2", "engine-b", "other")], &docker).is_empty(), "its own old row");
    }
}
