//! The GitHub REST calls versiongate makes, as GitHub documents them (deployments, deployment statuses,
//! check runs, combined status, issue comments). Nothing here retries; [`super::retry`] does.

use super::GithubError;
use crate::checks::{CheckReport, CheckState};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// One repository on one GitHub API.
#[derive(Clone)]
pub(crate) struct GithubClient {
    http: reqwest::Client,
    api: String,
    token: String,
    /// `owner/name`, checked by `webhook::repository_name`.
    repo: String,
}

/// A deployment status, in GitHub's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusState {
    InProgress,
    Success,
    Failure,
    Inactive,
}

impl StatusState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StatusState::InProgress => "in_progress",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Inactive => "inactive",
        }
    }
}

impl GithubClient {
    pub(crate) fn new(http: reqwest::Client, api: &str, token: &str, repo: &str) -> GithubClient {
        let api = api.trim_end_matches('/').to_owned();
        GithubClient { http, api, token: token.to_owned(), repo: repo.to_owned() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, GithubError> {
        let url = format!("{}/repos/{}{path}", self.api, self.repo);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", concat!("versiongate/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(10));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let what = format!("{method} /repos/{}{path}", self.repo);
        let response = request
            .send()
            .await
            .map_err(|e| GithubError::Unreachable { what: what.clone(), message: e.to_string() })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let message: String = text.chars().take(300).collect();
            return Err(GithubError::Refused { what, status: status.as_u16(), message });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| GithubError::Malformed { what, message: e.to_string() })
    }

    /// Every check run and commit status GitHub holds for `commit`.
    pub(crate) async fn checks(&self, commit: &str) -> Result<Vec<CheckReport>, GithubError> {
        let runs = self.call(Method::GET, &format!("/commits/{commit}/check-runs?per_page=100"), None).await?;
        let statuses = self.call(Method::GET, &format!("/commits/{commit}/status"), None).await?;
        let mut out = Vec::new();
        for run in runs["check_runs"].as_array().into_iter().flatten() {
            let (Some(name), Some(status)) = (run["name"].as_str(), run["status"].as_str()) else { continue };
            let state = CheckState::of_check(status, run["conclusion"].as_str());
            out.push(CheckReport { commit: commit.to_owned(), name: name.to_owned(), state });
        }
        for status in statuses["statuses"].as_array().into_iter().flatten() {
            let (Some(name), Some(state)) = (status["context"].as_str(), status["state"].as_str()) else { continue };
            out.push(CheckReport {
                commit: commit.to_owned(),
                name: name.to_owned(),
                state: CheckState::of_status(state),
            });
        }
        Ok(out)
    }

    /// Creates a GitHub deployment of `commit` in `environment`; returns its id.
    pub(crate) async fn create_deployment(
        &self,
        commit: &str,
        environment: &str,
        description: &str,
        transient: bool,
    ) -> Result<i64, GithubError> {
        let body = json!({
            "ref": commit, "environment": environment, "description": description, "auto_merge": false,
            "required_contexts": [], "transient_environment": transient, "production_environment": !transient,
        });
        let created = self.call(Method::POST, "/deployments", Some(body)).await?;
        created["id"].as_i64().ok_or_else(|| GithubError::Malformed {
            what: "POST /deployments".into(),
            message: "the answer has no deployment id".into(),
        })
    }

    pub(crate) async fn create_status(
        &self,
        deployment: i64,
        state: StatusState,
        description: &str,
        environment_url: Option<&str>,
        log_url: Option<&str>,
    ) -> Result<(), GithubError> {
        // GitHub refuses descriptions over 140 characters.
        let description: String = description.chars().take(140).collect();
        let mut body = json!({"state": state.as_str(), "description": description, "auto_inactive": false});
        if let Some(url) = environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = log_url {
            body["log_url"] = json!(url);
        }
        self.call(Method::POST, &format!("/deployments/{deployment}/statuses"), Some(body)).await.map(drop)
    }

    /// Posts a comment on pull request `number`; returns the comment's id.
    pub(crate) async fn create_comment(&self, number: u32, body: &str) -> Result<i64, GithubError> {
        let created =
            self.call(Method::POST, &format!("/issues/{number}/comments"), Some(json!({"body": body}))).await?;
        created["id"].as_i64().ok_or_else(|| GithubError::Malformed {
            what: "POST /issues/comments".into(),
            message: "the answer has no comment id".into(),
        })
    }

    pub(crate) async fn update_comment(&self, comment: i64, body: &str) -> Result<(), GithubError> {
        self.call(Method::PATCH, &format!("/issues/comments/{comment}"), Some(json!({"body": body}))).await.map(drop)
    }
}
