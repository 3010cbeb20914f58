//! CI results for a commit (check runs, check suites, commit statuses) and the verdict of a project's
//! `required_checks` on them (pure).

use serde::{Deserialize, Serialize};

/// Where one check stands, as far as deploying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "conclusion")]
pub enum CheckState {
    Pending,
    Success,
    /// Finished without success; GitHub's word for how (`failure`, `timed_out`, `error`…).
    Failure(String),
}

/// One check's latest result for one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub commit: String,
    pub name: String,
    pub state: CheckState,
}

impl CheckState {
    /// A check run's or suite's `status` and `conclusion`. Neutral and skipped runs do not block.
    pub(crate) fn of_check(status: &str, conclusion: Option<&str>) -> CheckState {
        match (status, conclusion) {
            ("completed", Some("success" | "neutral" | "skipped")) => CheckState::Success,
            ("completed", Some(other)) => CheckState::Failure(other.to_owned()),
            ("completed", None) => CheckState::Failure("completed without a conclusion".into()),
            _ => CheckState::Pending,
        }
    }

    /// A commit status's `state`: pending, success, failure or error.
    pub(crate) fn of_status(state: &str) -> CheckState {
        match state {
            "success" => CheckState::Success,
            "pending" => CheckState::Pending,
            other => CheckState::Failure(other.to_owned()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            CheckState::Pending => "pending",
            CheckState::Success => "success",
            CheckState::Failure(how) => how,
        }
    }

    /// The stored word back to a state (`as_str`'s inverse).
    pub(crate) fn parse(word: &str) -> CheckState {
        match word {
            "pending" => CheckState::Pending,
            "success" => CheckState::Success,
            other => CheckState::Failure(other.to_owned()),
        }
    }
}

/// What `required_checks` say about a commit's reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still waiting for these checks (named, or `*` while nothing was reported yet).
    Waiting(Vec<String>),
    Passed,
    /// A required check finished without success.
    Failed {
        name: String,
        conclusion: String,
    },
}

/// `required` = `["*"]`: at least one check was reported and every reported one succeeded. Otherwise
/// every named check must have succeeded; a failure of a check that is not required does not block.
pub fn verdict(required: &[String], reports: &[(String, CheckState)]) -> Verdict {
    let every = required.iter().any(|r| r == "*");
    let named: Vec<&String> = required.iter().filter(|r| *r != "*").collect();
    let counts = |name: &String| every || named.contains(&name);
    if let Some((name, CheckState::Failure(how))) =
        reports.iter().find(|(name, state)| counts(name) && matches!(state, CheckState::Failure(_)))
    {
        return Verdict::Failed { name: name.clone(), conclusion: how.clone() };
    }
    let state_of = |name: &str| reports.iter().find(|(n, _)| n == name).map(|(_, s)| s);
    let mut waiting: Vec<String> =
        named.iter().filter(|n| state_of(n) != Some(&CheckState::Success)).map(|n| (*n).clone()).collect();
    if every {
        waiting.extend(reports.iter().filter(|(_, s)| *s == CheckState::Pending).map(|(n, _)| n.clone()));
        if reports.is_empty() {
            waiting.push("*".into());
        }
    }
    waiting.dedup();
    if waiting.is_empty() {
        Verdict::Passed
    } else {
        Verdict::Waiting(waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, state: CheckState) -> (String, CheckState) {
        (name.into(), state)
    }
    fn req(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }
    fn failed(how: &str) -> CheckState {
        CheckState::Failure(how.into())
    }

    #[test]
    fn named_checks_must_all_succeed() {
        let required = req(&["test", "lint"]);
        assert_eq!(verdict(&required, &[]), Verdict::Waiting(req(&["test", "lint"])));
        let some = [r("test", CheckState::Success), r("lint", CheckState::Pending)];
        assert_eq!(verdict(&required, &some), Verdict::Waiting(req(&["lint"])));
        let all = [r("test", CheckState::Success), r("lint", CheckState::Success), r("other", failed("failure"))];
        assert_eq!(verdict(&required, &all), Verdict::Passed, "a check that is not required does not block");
        let bad = [r("test", CheckState::Success), r("lint", failed("timed_out"))];
        assert_eq!(verdict(&required, &bad), Verdict::Failed { name: "lint".into(), conclusion: "timed_out".into() });
    }

    #[test]
    fn a_star_waits_for_every_reported_check_and_at_least_one() {
        let every = req(&["*"]);
        assert_eq!(verdict(&every, &[]), Verdict::Waiting(req(&["*"])));
        assert_eq!(verdict(&every, &[r("a", CheckState::Pending)]), Verdict::Waiting(req(&["a"])));
        assert_eq!(verdict(&every, &[r("a", CheckState::Success), r("b", CheckState::Success)]), Verdict::Passed);
        let bad = [r("a", CheckState::Success), r("b", failed("error"))];
        assert!(matches!(verdict(&every, &bad), Verdict::Failed { name, .. } if name == "b"));
    }

    #[test]
    fn github_words_map_to_states() {
        assert_eq!(CheckState::of_check("completed", Some("success")), CheckState::Success);
        assert_eq!(CheckState::of_check("completed", Some("skipped")), CheckState::Success);
        assert_eq!(CheckState::of_check("completed", Some("failure")), failed("failure"));
        assert_eq!(CheckState::of_check("in_progress", None), CheckState::Pending);
        assert_eq!(CheckState::of_check("queued", None), CheckState::Pending);
        assert_eq!(CheckState::of_status("error"), failed("error"));
        assert_eq!(CheckState::of_status("pending"), CheckState::Pending);
        for s in [CheckState::Pending, CheckState::Success, failed("cancelled")] {
            assert_eq!(CheckState::parse(s.as_str()), s);
        }
    }
}
