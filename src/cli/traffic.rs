//! `versiongate pause | resume | maintenance`: the operator's traffic controls, and the traffic line of `status`.

use super::client::{Client, ClientError};
use super::MaintenanceSwitch;
use serde_json::{json, Value};

pub(crate) async fn pause(client: &Client, name: &str, timeout: u64) -> Result<(), ClientError> {
    client.post(&format!("/api/v1/projects/{name}/pause"), &json!({ "timeout_s": timeout })).await?;
    println!("{name} is paused: new requests wait up to {timeout} s; `versiongate resume {name}` lets them through");
    Ok(())
}

pub(crate) async fn resume(client: &Client, name: &str) -> Result<(), ClientError> {
    client.post(&format!("/api/v1/projects/{name}/resume"), &json!({})).await?;
    println!("{name} serves again; held requests were let through in arrival order");
    Ok(())
}

pub(crate) async fn maintenance(
    client: &Client,
    name: &str,
    switch: MaintenanceSwitch,
    message: Option<String>,
) -> Result<(), ClientError> {
    let path = format!("/api/v1/projects/{name}/maintenance");
    match switch {
        MaintenanceSwitch::On => {
            client.post(&path, &json!({ "message": message.unwrap_or_default() })).await?;
            println!("{name} is in maintenance: every request gets a 503 page with Retry-After");
        }
        MaintenanceSwitch::Off => {
            client.delete(&path).await?;
            println!("{name} serves again");
        }
    }
    Ok(())
}

/// The `status` line of a running canary, if one runs.
pub(crate) fn canary_line(project: &Value) -> Option<String> {
    let c = project["canary"].as_object()?;
    Some(format!(
        "  canary: deployment {} takes {} % of clients ({} requests, {} 5xx so far); `versiongate promote {}` or roll back",
        c["deployment"],
        c["percent"],
        c["requests"],
        c["errors"],
        project["name"].as_str().unwrap_or("NAME")
    ))
}

/// The `status` line of a project whose traffic is not simply served, if it has one.
pub(crate) fn line(project: &Value) -> Option<String> {
    match project["traffic"].as_str()? {
        "paused" => {
            let by = project["traffic_message"].as_str().map(|m| format!(" ({m})")).unwrap_or_default();
            Some(format!("  traffic: PAUSED, requests held up to {} s{by}", project["pause_timeout_s"]))
        }
        "maintenance" => {
            let message = project["traffic_message"].as_str().filter(|m| !m.is_empty()).unwrap_or("(no message)");
            Some(format!("  traffic: MAINTENANCE, 503 page: {message}"))
        }
        _ => None,
    }
}
