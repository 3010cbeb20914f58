//! A small client for the admin API: bearer auth, JSON, the API's error messages, and SSE lines.

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("cannot reach the versiongate API at {url}: {source}. Is `versiongate serve` running? Set VERSIONGATE_URL if it listens elsewhere")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the API answered {status}: {message}")]
    Api { status: StatusCode, message: String },
    #[error("{0}")]
    Input(String),
}

pub(crate) struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// From `VERSIONGATE_URL` (default `http://127.0.0.1:9080`) and `VERSIONGATE_TOKEN`.
    pub(crate) fn from_env() -> Result<Client, ClientError> {
        let base = std::env::var("VERSIONGATE_URL").unwrap_or_else(|_| "http://127.0.0.1:9080".into());
        let token = std::env::var("VERSIONGATE_TOKEN").unwrap_or_default();
        Ok(Client::new(&base, &token))
    }

    pub(crate) fn new(base: &str, token: &str) -> Client {
        Client { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http: reqwest::Client::new() }
    }

    /// The same client opening a new connection per request: while a gateway is replaced, a kept-alive
    /// connection would keep asking the old process.
    pub(crate) fn unpooled(self) -> Client {
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap_or(self.http);
        Client { http, ..self }
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::DELETE, path, None).await
    }

    pub(crate) async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let (status, text) = self.send(Method::GET, path, None).await?;
        if status.is_success() {
            return Ok(text);
        }
        Err(api_error(status, &text))
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let (status, text) = self.send(method, path, body).await?;
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        Err(api_error(status, &text))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|source| ClientError::Unreachable { url: self.base.clone(), source })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|source| ClientError::Unreachable { url: self.base.clone(), source })?;
        Ok((status, text))
    }

    /// Calls `on_line` for each `data:` line of an SSE stream; returns the `end` event's data.
    pub(crate) async fn follow_sse(
        &self,
        path: &str,
        mut on_line: impl FnMut(&str),
    ) -> Result<Option<String>, ClientError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |source| ClientError::Unreachable { url: self.base.clone(), source };
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(unreachable)?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(api_error(status, &resp.text().await.unwrap_or_default()));
        }
        let mut body = resp.bytes_stream();
        let (mut buffer, mut event) = (String::new(), String::new());
        while let Some(chunk) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.map_err(unreachable)?));
            while let Some(newline) = buffer.find('\n') {
                let line: String = buffer.drain(..=newline).collect();
                let line = line.trim_end_matches(['\r', '\n']);
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_owned();
                } else if let Some(data) = line.strip_prefix("data:") {
                    let data = data.strip_prefix(' ').unwrap_or(data);
                    if event == "end" {
                        return Ok(Some(data.to_owned()));
                    }
                    on_line(data);
                } else if line.is_empty() {
                    event.clear();
                }
            }
        }
        Ok(None)
    }
}

/// The API's own error message, plus a hint for the one error the user fixes locally.
fn api_error(status: StatusCode, body: &str) -> ClientError {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut message = value["error"]["message"].as_str().map_or_else(|| body.to_owned(), str::to_owned);
    if status == StatusCode::UNAUTHORIZED {
        message.push_str(". Set VERSIONGATE_TOKEN to the admin token");
    }
    ClientError::Api { status, message }
}
