//! One model of a push, whichever host sent it, and what it asks of a project (pure). GitHub, GitLab and
//! Gitea each read their payload into a [`Push`]; the branch rules live only in [`decide`].

use super::{commit_sha, Decision};
use serde_json::Value;

/// The SHA a host sends as the new head of a deleted branch.
pub(crate) const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// A push as every host describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The full ref pushed, `refs/heads/main` for a branch.
    pub git_ref: String,
    /// The new head as sent: checked to be a commit SHA before anything is deployed.
    pub after: String,
    /// The host said the ref was deleted.
    pub deleted: bool,
}

impl Push {
    /// GitHub's push (`ref`, `after`, `deleted`); Gitea's and Forgejo's have the same fields.
    pub fn from_github(payload: &Value) -> Push {
        Push {
            git_ref: text(&payload["ref"]),
            after: text(&payload["after"]),
            deleted: payload["deleted"].as_bool() == Some(true),
        }
    }
}

/// A string field, or empty.
pub(super) fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A push to the project's `branch` deploys its new head; another branch, a tag or a deletion does nothing.
pub fn decide(push: &Push, branch: &str) -> Decision {
    let Some(pushed) = push.git_ref.strip_prefix("refs/heads/") else {
        return Decision::Ignore(format!("`{}` is not a branch", push.git_ref));
    };
    if pushed != branch {
        return Decision::Ignore(format!("branch `{pushed}` is not the project's branch `{branch}`"));
    }
    if push.after == ZERO_SHA || push.deleted {
        return Decision::Ignore(format!("branch `{pushed}` was deleted"));
    }
    let Some(commit) = commit_sha(&Value::from(push.after.as_str())) else {
        return Decision::Ignore(format!("`after` is not a commit SHA: `{}`", push.after));
    };
    Decision::Deploy { commit, branch: pushed.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(git_ref: &str, after: &str, deleted: bool) -> Push {
        Push { git_ref: git_ref.into(), after: after.into(), deleted }
    }

    #[test]
    fn only_a_live_head_of_the_projects_branch_deploys() {
        let sha = "6113728F27AE82C7B1A177C8D03F9E96E0ADF246";
        assert_eq!(
            decide(&push("refs/heads/main", sha, false), "main"),
            Decision::Deploy { commit: sha.to_ascii_lowercase(), branch: "main".into() }
        );
        for (p, why) in [
            (push("refs/heads/dev", sha, false), "not the project's branch"),
            (push("refs/tags/main", sha, false), "not a branch"),
            (push("main", sha, false), "not a branch"),
            (push("refs/heads/main", ZERO_SHA, false), "deleted"),
            (push("refs/heads/main", sha, true), "deleted"),
            (push("refs/heads/main", "", false), "not a commit"),
            (push("refs/heads/main", &"g".repeat(40), false), "not a commit"),
        ] {
            match decide(&p, "main") {
                Decision::Ignore(reason) => assert!(reason.contains(why), "{p:?}: {reason}"),
                other => panic!("{p:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn githubs_fields_are_read_as_they_are() {
        let payload = serde_json::json!({"ref": "refs/heads/x", "after": 5, "deleted": true});
        assert_eq!(Push::from_github(&payload), push("refs/heads/x", "", true));
        assert_eq!(Push::from_github(&serde_json::json!(null)), push("", "", false));
    }
}
