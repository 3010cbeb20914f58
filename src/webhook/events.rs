//! `pull_request`, `check_run`, `check_suite` and `status` payloads → decisions (pure). Only numbers, SHAs
//! and names checked against GitHub's own character sets leave this module.

use super::{commit_sha, Decision};
use crate::checks::{CheckReport, CheckState};
use serde_json::Value;

/// Longest check name accepted (GitHub allows 100 characters for a status context).
const MAX_NAME: usize = 200;

/// A pull request to preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u32,
    /// The head commit, 40 hex.
    pub commit: String,
    /// The head lives in another repository than the base.
    pub fork: bool,
    /// `owner/name` of the base repository, where statuses and comments go.
    pub repository: String,
}

/// `owner/name` when it has GitHub's characters only (letters, digits, `-`, `_`, `.`).
pub(crate) fn repository_name(value: &Value) -> Option<String> {
    let name = value.as_str()?;
    let (owner, repo) = name.split_once('/')?;
    let part_ok = |p: &str| {
        let chars_ok = p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        !p.is_empty() && p.len() <= 100 && chars_ok && p != "." && p != ".."
    };
    (part_ok(owner) && part_ok(repo)).then(|| name.to_owned())
}

pub(super) fn decide_pull_request(payload: &Value, branch: &str) -> Decision {
    let action = payload["action"].as_str().unwrap_or_default();
    let pr = &payload["pull_request"];
    let Some(number) = payload["number"].as_u64().or_else(|| pr["number"].as_u64()) else {
        return Decision::Ignore("the pull_request event has no number".into());
    };
    let Some(number) = u32::try_from(number).ok().filter(|n| (1..=999_999).contains(n)) else {
        return Decision::Ignore(format!("pull request number {number} is out of range"));
    };
    let base = pr["base"]["ref"].as_str().unwrap_or_default();
    if action == "closed" {
        return Decision::ClosePreview { number };
    }
    if !matches!(action, "opened" | "reopened" | "synchronize") {
        return Decision::Ignore(format!("pull_request `{action}` does not deploy"));
    }
    if base != branch {
        return Decision::Ignore(format!(
            "pull request #{number} targets `{base}`, not the project's branch `{branch}`"
        ));
    }
    let Some(commit) = commit_sha(&pr["head"]["sha"]) else {
        return Decision::Ignore(format!("pull request #{number} has no head commit SHA"));
    };
    let base_repo = repository_name(&pr["base"]["repo"]["full_name"])
        .or_else(|| repository_name(&payload["repository"]["full_name"]));
    let Some(repository) = base_repo else {
        return Decision::Ignore("the pull_request event names no valid base repository".into());
    };
    // A deleted fork has no head repository: it counts as a fork.
    let head_repo = pr["head"]["repo"]["full_name"].as_str();
    let fork = head_repo.is_none_or(|h| !h.eq_ignore_ascii_case(&repository));
    Decision::Preview(PullRequest { number, commit, fork, repository })
}

pub(super) fn decide_checks(event: &str, payload: &Value) -> Decision {
    let report = match event {
        "check_run" => check(&payload["check_run"], &payload["check_run"]["name"]),
        "check_suite" => check(&payload["check_suite"], &payload["check_suite"]["app"]["name"]),
        _ => status(payload),
    };
    match report {
        Some(report) => Decision::Checks(vec![report]),
        None => Decision::Ignore(format!("the {event} event has no commit SHA or name")),
    }
}

fn check_name(value: &Value) -> Option<String> {
    let name = value.as_str()?.trim();
    let ok = !name.is_empty() && name.len() <= MAX_NAME && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

fn check(object: &Value, name: &Value) -> Option<CheckReport> {
    let status = object["status"].as_str().unwrap_or("queued");
    let state = CheckState::of_check(status, object["conclusion"].as_str());
    Some(CheckReport { commit: commit_sha(&object["head_sha"])?, name: check_name(name)?, state })
}

fn status(payload: &Value) -> Option<CheckReport> {
    let state = CheckState::of_status(payload["state"].as_str()?);
    Some(CheckReport { commit: commit_sha(&payload["sha"])?, name: check_name(&payload["context"])?, state })
}

#[cfg(test)]
mod tests {
    use super::super::decide;
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/github/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn githubs_pull_request_payloads_open_and_close_previews() {
        let sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
        for name in ["pull_request-opened", "pull_request-reopened", "pull_request-synchronize"] {
            let want =
                PullRequest { number: 2, commit: sha.into(), fork: false, repository: "Codertocat/Hello-World".into() };
            assert_eq!(decide("pull_request", &fixture(name), "master"), Decision::Preview(want), "{name}");
            assert!(
                matches!(decide("pull_request", &fixture(name), "main"), Decision::Ignore(r) if r.contains("targets `master`"))
            );
        }
        assert_eq!(
            decide("pull_request", &fixture("pull_request-closed"), "master"),
            Decision::ClosePreview { number: 2 }
        );
    }

    #[test]
    fn forks_and_hostile_fields_are_recognised() {
        let mut p = fixture("pull_request-opened");
        p["pull_request"]["head"]["repo"]["full_name"] = json!("mallory/Hello-World");
        assert!(matches!(decide("pull_request", &p, "master"), Decision::Preview(pr) if pr.fork));
        p["pull_request"]["head"]["repo"] = Value::Null;
        assert!(matches!(decide("pull_request", &p, "master"), Decision::Preview(pr) if pr.fork));
        for (field, value) in [("number", json!(0)), ("number", json!(10_000_000)), ("number", json!("2; rm -rf /"))] {
            let mut bad = fixture("pull_request-opened");
            bad[field] = value.clone();
            bad["pull_request"]["number"] = value;
            assert!(matches!(decide("pull_request", &bad, "master"), Decision::Ignore(_)), "{field}");
        }
        let mut bad = fixture("pull_request-opened");
        bad["pull_request"]["head"]["sha"] = json!("../../etc/passwd");
        assert!(matches!(decide("pull_request", &bad, "master"), Decision::Ignore(_)));
        bad = fixture("pull_request-opened");
        bad["pull_request"]["base"]["repo"]["full_name"] = json!("a/b c");
        bad["repository"]["full_name"] = json!("../x");
        assert!(matches!(decide("pull_request", &bad, "master"), Decision::Ignore(_)));
        assert!(matches!(
            decide("pull_request", &json!({"action": "labeled", "number": 3}), "master"),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn check_events_report_their_commit_name_and_state() {
        let sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
        let one = |event: &str, name: &str| match decide(event, &fixture(name), "master") {
            Decision::Checks(mut reports) => reports.remove(0),
            other => panic!("{other:?}"),
        };
        let run = one("check_run", "check_run-completed");
        assert_eq!(
            (run.commit.as_str(), run.name.as_str(), run.state),
            (sha, "Octocoders-linter", CheckState::Success)
        );
        assert_eq!(one("check_run", "check_run-created").state, CheckState::Pending);
        let suite = one("check_suite", "check_suite-completed");
        assert_eq!((suite.name.as_str(), suite.state), ("octocoders-linter", CheckState::Success));
        let status = one("status", "status");
        assert_eq!(
            (status.commit.as_str(), status.name.as_str()),
            ("6113728f27ae82c7b1a177c8d03f9e96e0adf246", "default")
        );
        let mut failed = fixture("check_run-completed");
        failed["check_run"]["conclusion"] = json!("failure");
        assert!(
            matches!(decide("check_run", &failed, "x"), Decision::Checks(r) if r[0].state == CheckState::Failure("failure".into()))
        );
        failed["check_run"]["name"] = json!("\u{1b}[31m");
        assert!(matches!(decide("check_run", &failed, "x"), Decision::Ignore(_)));
    }
}
