//! Pull-request previews: a pull request's head deployed as project `<parent>-pr-N`, and removed with
//! everything it owns (containers, images, routes, certificates, checkout, rows) when the pull request
//! closes, when it had no push for `preview_ttl_h`, or when it is the least recently pushed beyond
//! `max_previews`. The reaper also runs at start, so a preview that expired while the gateway was down goes.

use super::{Controller, ControllerError};
use crate::deployment::Trigger;
use crate::project::{preview_name, ProjectSpec};
use crate::runtime::DeployRequest;
use crate::store::{now_ms, CertSource, Deployment, Preview, ProjectRecord};
use crate::webhook::PullRequest;
use std::collections::HashMap;
use std::time::Duration;

/// Longest a removal waits for the preview's cancelled deployments to end.
const CANCEL_WAIT: Duration = Duration::from_secs(120);
/// How often the reaper looks for expired previews (one query when there are none).
const REAP_EVERY: Duration = Duration::from_secs(5);

impl Controller {
    /// Creates or updates the preview of `pr` and queues a deployment of its head commit.
    pub(crate) async fn open_preview(
        &self,
        parent: &ProjectRecord,
        pr: &PullRequest,
    ) -> Result<Deployment, ControllerError> {
        let (spec, n) = (&parent.spec, pr.number);
        if pr.fork && !spec.previews_from_forks {
            return Err(ControllerError::PreviewRefused(format!(
                "pull request #{n} comes from a fork and previews_from_forks is off (a fork's code would run with the project's env); set previews_from_forks = true to deploy it"
            )));
        }
        let store = &self.inner.store;
        let name = preview_name(&spec.name, n);
        self.put_preview_project(spec, n, &name).await?;
        let row = Preview {
            project: name.clone(),
            parent: spec.name.clone(),
            number: n,
            repository: pr.repository.clone(),
            head_sha: pr.commit.clone(),
            fork: pr.fork,
            comment_id: None,
            created_at: 0,
            pushed_at: 0,
            removed_at: None,
            removed_reason: None,
        };
        store.record_preview(&row, now_ms()).await?;
        store.set_github_repo(&name, &pr.repository, now_ms()).await?;
        let request = DeployRequest {
            git_ref: Some(format!("pull/{n}/head")),
            commit: Some(pr.commit.clone()),
            targets: Vec::new(),
            trigger: Some(Trigger::Webhook),
            canary_percent: None,
        };
        let d = self.submit(&name, request).await?;
        let reaper = self.clone();
        tokio::spawn(async move { reaper.reap_previews(now_ms()).await });
        Ok(d)
    }

    /// Creates the preview project `name` of pull request `n`, or updates it when it is already this
    /// parent's preview; refuses a project of that name that is not.
    async fn put_preview_project(&self, spec: &ProjectSpec, n: u32, name: &str) -> Result<(), ControllerError> {
        let store = &self.inner.store;
        let mut preview_spec = spec.preview(n).map_err(|e| ControllerError::PreviewRefused(e.to_string()))?;
        match store.project(name).await? {
            Some(existing) => {
                let owned = store.preview(name).await?.is_some_and(|p| p.parent == spec.name);
                if !owned {
                    return Err(ControllerError::PreviewRefused(format!(
                        "a project named `{name}` exists and is not a preview of `{}`; rename it to allow this preview",
                        spec.name
                    )));
                }
                preview_spec.base_port = Some(existing.base_port);
                self.update_project(preview_spec).await?;
            }
            None => drop(self.create_project(preview_spec).await?),
        }
        Ok(())
    }

    /// Removes the preview of pull request `number` of `parent` in the background; its name if it has one.
    pub(crate) async fn close_preview(&self, parent: &str, number: u32) -> Result<Option<String>, ControllerError> {
        let name = preview_name(parent, number);
        let live = self.inner.store.preview(&name).await?.filter(|p| p.parent == parent && p.removed_at.is_none());
        if live.is_none() {
            return Ok(None);
        }
        let (controller, project) = (self.clone(), name.clone());
        let reason = format!("pull request #{number} was closed");
        tokio::spawn(async move { controller.remove_preview_logged(&project, &reason).await });
        Ok(Some(name))
    }

    /// Removes every preview that is past its TTL, beyond its parent's cap, or whose parent is gone or
    /// has previews turned off. Returns how many went.
    pub(crate) async fn reap_previews(&self, now: i64) -> usize {
        let store = &self.inner.store;
        let (previews, projects) = match (store.live_previews().await, store.projects().await) {
            (Ok(previews), Ok(projects)) => (previews, projects),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("cannot read previews to reap them: {e}");
                return 0;
            }
        };
        let parents: HashMap<String, ProjectSpec> =
            projects.into_iter().flatten().map(|r| (r.spec.name.clone(), r.spec)).collect();
        let doomed = to_remove(&previews, &parents, now);
        for (project, reason) in &doomed {
            self.remove_preview_logged(project, reason).await;
        }
        doomed.len()
    }

    /// The reaper: a round at once (previews that expired while the gateway was down go first), then
    /// one every few seconds, until a successor takes over after an upgrade.
    pub(crate) async fn reap_previews_forever(&self) {
        while !self.inner.handed_over() {
            if self.inner.cluster.roles.holds(crate::store::Role::Reaper) {
                self.reap_previews(now_ms()).await;
            }
            tokio::time::sleep(REAP_EVERY).await;
        }
    }

    async fn remove_preview_logged(&self, project: &str, reason: &str) {
        tracing::info!(project, "removing preview: {reason}");
        if let Err(e) = self.remove_preview(project, reason).await {
            tracing::error!(project, "cannot remove the preview ({reason}): {e}; the reaper tries again");
        }
    }

    /// Cancels what the preview runs, then removes its certificates, project (routes, rows, containers,
    /// images, checkout) and marks its row removed with `reason`.
    pub(crate) async fn remove_preview(&self, project: &str, reason: &str) -> Result<(), ControllerError> {
        let store = &self.inner.store;
        let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
        loop {
            let unfinished: Vec<i64> = store
                .deployments(project, 50)
                .await?
                .iter()
                .filter(|d| !d.status.is_finished())
                .map(|d| d.id)
                .collect();
            if unfinished.is_empty() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ControllerError::Busy(project.to_owned()));
            }
            for id in unfinished {
                let cause = format!("the preview is being removed: {reason}");
                self.inner.work.give_cancel_reason(id, cause);
                if let Err(e) = self.cancel(id).await {
                    tracing::debug!(deployment_id = id, "cancel during preview removal: {e}");
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let Some(record) = store.project(project).await? {
            for host in &record.spec.domains {
                store.remove_certificate(host, CertSource::Acme).await?;
            }
            match self.delete_project(project).await {
                Ok(()) | Err(ControllerError::ProjectNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        store.mark_preview_removed(project, reason, now_ms()).await?;
        Ok(())
    }
}

/// Which previews go, and why (pure): parent gone or previews off, no push for `preview_ttl_h`, or beyond
/// `max_previews` counting from the most recently pushed.
pub(crate) fn to_remove(
    previews: &[Preview],
    parents: &HashMap<String, ProjectSpec>,
    now: i64,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut kept: HashMap<&str, Vec<&Preview>> = HashMap::new();
    for p in previews {
        let Some(parent) = parents.get(&p.parent).filter(|s| s.previews) else {
            out.push((p.project.clone(), format!("project `{}` is gone or has previews turned off", p.parent)));
            continue;
        };
        let ttl_ms = (parent.preview_ttl_h * 3_600_000.0) as i64;
        if now - p.pushed_at > ttl_ms {
            let hours = parent.preview_ttl_h;
            out.push((p.project.clone(), format!("no push for {hours} h (preview_ttl_h)")));
            continue;
        }
        kept.entry(p.parent.as_str()).or_default().push(p);
    }
    for (parent, mut list) in kept {
        let cap = parents.get(parent).map_or(0, |s| s.max_previews as usize);
        list.sort_by_key(|p| std::cmp::Reverse((p.pushed_at, p.number)));
        for p in list.into_iter().skip(cap) {
            out.push((
                p.project.clone(),
                format!("more than max_previews = {cap} previews; this one was pushed least recently"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview(parent: &str, n: u32, pushed_at: i64) -> Preview {
        Preview {
            project: preview_name(parent, n),
            parent: parent.into(),
            number: n,
            repository: "o/r".into(),
            head_sha: "a".repeat(40),
            fork: false,
            comment_id: None,
            created_at: 0,
            pushed_at,
            removed_at: None,
            removed_reason: None,
        }
    }

    fn parent(name: &str, ttl_h: f64, cap: u32) -> (String, ProjectSpec) {
        let spec = ProjectSpec {
            name: name.into(),
            previews: true,
            preview_ttl_h: ttl_h,
            max_previews: cap,
            ..ProjectSpec::default()
        };
        (name.into(), spec)
    }

    #[test]
    fn expired_and_over_cap_previews_go_least_recently_pushed_first() {
        let hour = 3_600_000;
        let parents = HashMap::from([parent("a", 2.0, 2), parent("b", 100.0, 5)]);
        let now = 10 * hour;
        let previews = [
            preview("a", 1, now - 3 * hour),
            preview("a", 2, now - 10),
            preview("a", 3, now - 30),
            preview("a", 4, now - 20),
            preview("b", 1, now - 50 * hour),
            preview("gone", 1, now),
        ];
        let mut doomed = to_remove(&previews, &parents, now);
        doomed.sort();
        let names: Vec<&str> = doomed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a-pr-1", "a-pr-3", "gone-pr-1"]);
        assert!(doomed[0].1.contains("preview_ttl_h"), "{doomed:?}");
        assert!(doomed[1].1.contains("max_previews = 2"), "{doomed:?}");
        assert!(doomed[2].1.contains("gone"), "{doomed:?}");
    }

    #[test]
    fn turning_previews_off_removes_them() {
        let (name, mut spec) = parent("a", 72.0, 5);
        spec.previews = false;
        let doomed = to_remove(&[preview("a", 1, 0)], &HashMap::from([(name, spec)]), 1);
        assert_eq!(doomed.len(), 1);
    }
}
