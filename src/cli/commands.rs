//! What each client subcommand asks the API and prints.

use super::client::{Client, ClientError};
use super::ProjectsAction;
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) async fn projects(client: &Client, action: ProjectsAction) -> Result<(), ClientError> {
    match action {
        ProjectsAction::List => {
            let list = client.get("/api/v1/projects").await?;
            println!("{:<24} {:<9} {:<12} {:<8} DOMAINS", "NAME", "RUNTIME", "PORTS", "LIVE");
            for p in list.as_array().into_iter().flatten() {
                if let Some(error) = p["error"].as_str() {
                    println!("{:<24} {error}", "(unreadable)");
                    continue;
                }
                let ports = format!("{}/{}", p["slots"]["blue"], p["slots"]["green"]);
                let live = p["live"]["slot"].as_str().unwrap_or("-");
                let domains: Vec<&str> =
                    p["domains"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                println!(
                    "{:<24} {:<9} {:<12} {:<8} {}",
                    text(&p["name"]),
                    text(&p["runtime"]),
                    ports,
                    live,
                    domains.join(", ")
                );
            }
        }
        ProjectsAction::Show { name } => {
            let p = client.get(&format!("/api/v1/projects/{name}")).await?;
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
        }
        ProjectsAction::Add { file } => {
            let raw = std::fs::read_to_string(&file)
                .map_err(|e| ClientError::Input(format!("cannot read {}: {e}", file.display())))?;
            let table: toml::Table = toml::from_str(&raw)
                .map_err(|e| ClientError::Input(format!("{} is not valid TOML: {e}", file.display())))?;
            let body = serde_json::to_value(table).map_err(|e| ClientError::Input(e.to_string()))?;
            let p = client.post("/api/v1/projects", &body).await?;
            println!(
                "created project {} (blue port {}, green port {})",
                text(&p["name"]),
                p["slots"]["blue"],
                p["slots"]["green"]
            );
        }
        ProjectsAction::Remove { name } => {
            client.delete(&format!("/api/v1/projects/{name}")).await?;
            println!("removed project {name}");
        }
    }
    Ok(())
}

/// What `versiongate deploy` was asked.
pub(crate) struct Deploy {
    pub(crate) git_ref: Option<String>,
    pub(crate) targets: Vec<String>,
    pub(crate) canary: Option<i64>,
    pub(crate) wait: bool,
    pub(crate) follow: bool,
}

/// Returns the exit code: 0 when the deployment went live, or its canary runs (or only queued, without waiting).
pub(crate) async fn deploy(client: &Client, name: &str, asked: Deploy) -> Result<i32, ClientError> {
    let Deploy { git_ref, targets, canary, wait, follow } = asked;
    let mut body = match (git_ref, targets.as_slice()) {
        (_, [one]) => json!({ "target": one }),
        (_, [_, _, ..]) => json!({ "targets": targets }),
        (Some(r), []) => json!({ "ref": r }),
        (None, []) => json!({ "ref": "main" }),
    };
    if let Some(percent) = canary {
        body["canary_percent"] = json!(percent);
    }
    let d = client.post(&format!("/api/v1/projects/{name}/deployments"), &body).await?;
    let id = d["id"].as_i64().unwrap_or_default();
    println!("deployment {id} queued for {name}");
    if follow {
        logs(client, id, true).await?;
    } else if wait {
        wait_until_settled(client, id).await?;
    } else {
        return Ok(0);
    }
    let d = client.get(&format!("/api/v1/deployments/{id}")).await?;
    Ok(report_end(&d))
}

/// Returns the exit code, as `deploy` does.
pub(crate) async fn rollback(client: &Client, name: &str, to: Option<i64>, wait: bool) -> Result<i32, ClientError> {
    let body = match to {
        Some(id) => json!({ "to": id }),
        None => json!({}),
    };
    let d = client.post(&format!("/api/v1/projects/{name}/rollback"), &body).await?;
    let id = d["id"].as_i64().unwrap_or_default();
    println!("rollback deployment {id} for {name}: {} {}", text(&d["status"]), text(&d["phase"]));
    if !wait {
        return Ok(0);
    }
    wait_until_settled(client, id).await?;
    let d = client.get(&format!("/api/v1/deployments/{id}")).await?;
    Ok(report_end(&d))
}

async fn wait_until_settled(client: &Client, id: i64) -> Result<(), ClientError> {
    let (mut last, mut last_figures) = (String::new(), String::new());
    loop {
        let d = client.get(&format!("/api/v1/deployments/{id}")).await?;
        let (status, phase) = (text(&d["status"]), text(&d["phase"]));
        let now = format!("{status} {phase}");
        if now != last {
            println!("  {status:<10} {phase}");
            last = now;
        }
        if let Some(o) = d["observe"].as_object() {
            // One line per second of the window, not one per poll.
            let second = o["seconds_left"].to_string();
            if second != last_figures {
                println!("  observing: {} requests, {} 5xx, {}s left", o["requests"], o["errors"], o["seconds_left"]);
                last_figures = second;
            }
        }
        // A canary waits for the operator: waiting ends once it takes its share.
        let settled =
            phase == "canary" || !matches!(status, "QUEUED" | "DEPLOYING") && (status != "ACTIVE" || phase == "done");
        if settled {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Returns the exit code, as `deploy` does.
pub(crate) async fn promote(client: &Client, name: &str) -> Result<i32, ClientError> {
    let d = client.post(&format!("/api/v1/projects/{name}/promote"), &json!({})).await?;
    println!("deployment {} promoted: every client of {name} goes to it", d["id"]);
    let id = d["id"].as_i64().unwrap_or_default();
    wait_until_settled(client, id).await?;
    let d = client.get(&format!("/api/v1/deployments/{id}")).await?;
    Ok(report_end(&d))
}

fn report_end(d: &Value) -> i32 {
    let status = text(&d["status"]);
    if text(&d["phase"]) == "canary" && status == "DEPLOYING" {
        println!(
            "deployment {} is a canary on the {} slot; promote it with `versiongate promote {}`, or roll it back",
            d["id"],
            text(&d["slot"]),
            text(&d["project"])
        );
        return 0;
    }
    match status {
        "ACTIVE" | "SUPERSEDED" => {
            println!(
                "deployment {} is live on the {} slot ({}) after {} ms",
                d["id"],
                text(&d["slot"]),
                text(&d["target"]),
                d["duration_ms"]
            );
            0
        }
        _ => {
            eprintln!("deployment {} is {status}: {}", d["id"], d["error"].as_str().unwrap_or("no error recorded"));
            1
        }
    }
}

pub(crate) async fn status(client: &Client, name: Option<&str>) -> Result<(), ClientError> {
    let projects = match name {
        Some(name) => vec![client.get(&format!("/api/v1/projects/{name}")).await?],
        None => client.get("/api/v1/projects").await?.as_array().cloned().unwrap_or_default(),
    };
    let certs = client.get("/api/v1/certificates").await.ok().and_then(|v| v.as_array().cloned()).unwrap_or_default();
    for p in projects {
        let name = text(&p["name"]);
        match p["live"].as_object() {
            Some(live) => println!(
                "{name}: live on the {} slot -> {} (deployment {}, since {})",
                text(&live["slot"]),
                text(&live["target"]),
                live["id"],
                text(&live["started_at"])
            ),
            None => println!("{name}: no live deployment"),
        }
        for line in [super::traffic::line(&p), super::traffic::canary_line(&p)].into_iter().flatten() {
            println!("{line}");
        }
        if let Some(targets) = p["live"]["targets"].as_array().filter(|t| t.len() > 1) {
            let list: Vec<&str> = targets.iter().filter_map(Value::as_str).collect();
            println!("  replicas: {} ({})", list.len(), list.join(", "));
        }
        if let Some(o) = p["live"]["observe"].as_object() {
            let rate = o["error_rate"].as_f64().unwrap_or(0.0) * 100.0;
            println!(
                "  observe window: {} requests, {} 5xx ({rate:.1}%), {}s left",
                o["requests"], o["errors"], o["seconds_left"]
            );
        }
        let domains = p["domains"].as_array().cloned().unwrap_or_default();
        for cert in super::certs::for_domains(&certs, &domains) {
            println!("  https: {cert}");
        }
        let recent = client.get(&format!("/api/v1/projects/{name}/deployments?limit=5")).await?;
        for d in recent.as_array().into_iter().flatten() {
            let error = d["error"].as_str().map(|e| format!("  {e}")).unwrap_or_default();
            println!(
                "  #{:<5} {:<11} {:<16} {:<6} {}{error}",
                d["id"],
                text(&d["status"]),
                text(&d["phase"]),
                text(&d["slot"]),
                text(&d["created_at"])
            );
        }
    }
    Ok(())
}

/// Prints the log; with `follow`, streams it until the deployment settles and returns its status.
pub(crate) async fn logs(client: &Client, id: i64, follow: bool) -> Result<Option<String>, ClientError> {
    let path = format!("/api/v1/deployments/{id}/logs");
    if follow {
        return client.follow_sse(&path, |line| println!("{line}")).await;
    }
    print!("{}", client.get_text(&path).await?);
    Ok(None)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}
