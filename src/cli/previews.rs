//! `versiongate previews NAME`: a project's pull-request previews, one line each.

use super::client::{Client, ClientError};
use serde_json::Value;

pub(crate) async fn previews(client: &Client, name: &str, all: bool) -> Result<(), ClientError> {
    let path = format!("/api/v1/projects/{name}/previews{}", if all { "?all=true" } else { "" });
    let list = client.get(&path).await?;
    let rows = list.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("{name} has no previews{}", if all { "" } else { " (--all lists removed ones)" });
    }
    for p in &rows {
        println!("{}", line(p));
    }
    Ok(())
}

/// `#7  shop-pr-7  pr-7.preview.example.com  9fceb02a1b2c  ACTIVE  expires 2026-12-04T…`
fn line(p: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let commit: String = text(&p["commit"]).chars().take(12).collect();
    let state = match p["removed_at"].as_str() {
        Some(at) => format!("removed {at}: {}", text(&p["removed_reason"])),
        None => {
            let live = p["live"]["status"].as_str().unwrap_or("not live yet");
            format!("{live}  expires {}", text(&p["expires_at"]))
        }
    };
    let fork = if p["fork"] == true { " (fork)" } else { "" };
    format!("#{}{fork}  {}  {}  {commit}  {state}", p["number"], text(&p["project"]), text(&p["host"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_says_where_a_preview_runs_and_how_it_stands() {
        let live = json!({"number": 7, "project": "shop-pr-7", "host": "pr-7.p.test", "commit": "9fceb02a1b2c3d4e5f6",
            "fork": true, "live": {"status": "ACTIVE"}, "expires_at": "2026-12-04T00:00:00.000Z", "removed_at": null});
        assert_eq!(
            line(&live),
            "#7 (fork)  shop-pr-7  pr-7.p.test  9fceb02a1b2c  ACTIVE  expires 2026-12-04T00:00:00.000Z"
        );
        let gone = json!({"number": 3, "project": "shop-pr-3", "host": "pr-3.p.test", "commit": "abc", "fork": false,
            "live": null, "removed_at": "2026-12-01T00:00:00.000Z", "removed_reason": "pull request #3 was closed"});
        assert!(line(&gone).ends_with("removed 2026-12-01T00:00:00.000Z: pull request #3 was closed"));
    }
}
