//! The GitHub flow on the dashboard: a project's pull-request previews, and the notification receivers
//! with their last delivery (pure renders; the pages gather the data).

use super::html::{ago, esc, short_sha, status};
use crate::store::{Deployment, Preview};
use serde_json::Value;
use std::fmt::Write;

/// The previews card of a project page; nothing for a project without previews.
pub(crate) fn previews_section(
    domain: &str,
    previews: &[(Preview, Option<Deployment>)],
    now: i64,
    ttl_h: f64,
) -> String {
    if previews.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<section class="card" id="previews"><h2>Pull-request previews</h2><div class="table-wrap"><table><thead><tr><th>Pull request</th><th>Preview</th><th>Commit</th><th>Last push</th><th>Expires</th><th>Status</th></tr></thead><tbody>"#,
    );
    for (p, live) in previews {
        let host = format!("pr-{}.{domain}", p.number);
        let expires = p.pushed_at + (ttl_h * 3_600_000.0) as i64;
        let state = match live {
            Some(d) => status(d.status),
            None => r#"<span class="muted">deploying or failed</span>"#.to_owned(),
        };
        let fork = if p.fork { r#" <span class="muted">(fork)</span>"# } else { "" };
        let _ = write!(
            out,
            r#"<tr><td>#{}{fork}</td><td><a href="/projects/{}">{}</a> · <code>{}</code></td><td><code>{}</code></td><td>{}</td><td>in {}</td><td>{state}</td></tr>"#,
            p.number,
            esc(&p.project),
            esc(&p.project),
            esc(&host),
            esc(short_sha(&p.head_sha)),
            ago(p.pushed_at, now),
            in_time(expires - now),
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

fn in_time(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

/// The notifications card of the overview: each receiver (masked) and how its last delivery went.
pub(crate) fn notify_section(receivers: &[Value]) -> String {
    if receivers.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<section class="card" id="notify"><h2>Notifications</h2><div class="table-wrap"><table><thead><tr><th>Receiver</th><th>Format</th><th>Events</th><th>Last delivery</th><th>Sent / failed / dropped</th></tr></thead><tbody>"#,
    );
    for r in receivers {
        let last = &r["last"];
        let last = match last["ok"].as_bool() {
            None => r#"<span class="muted">none yet</span>"#.to_owned(),
            Some(ok) => format!(
                r#"<span class="{}">{}</span> {} of deployment {} · {} attempt(s) · {}"#,
                if ok { "ok" } else { "error" },
                if ok { "delivered" } else { "failed" },
                esc(last["event"].as_str().unwrap_or_default()),
                last["deployment"],
                last["attempts"],
                esc(last["detail"].as_str().unwrap_or_default()),
            ),
        };
        let events: Vec<&str> = r["events"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{last}</td><td>{} / {} / {}</td></tr>",
            esc(r["receiver"].as_str().unwrap_or_default()),
            esc(r["format"].as_str().unwrap_or_default()),
            esc(&events.join(", ")),
            r["sent"],
            r["failed"],
            r["dropped"],
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previews_show_their_host_commit_and_expiry_and_escape_what_they_show() {
        let p = Preview {
            project: "shop-pr-7".into(),
            parent: "shop".into(),
            number: 7,
            repository: "o/r".into(),
            head_sha: "9fceb02a1b2c3d4e5f60718293a4b5c6d7e8f901".into(),
            fork: true,
            comment_id: None,
            created_at: 0,
            pushed_at: 1_000,
            removed_at: None,
            removed_reason: None,
        };
        let html = previews_section("pre<view>.test", &[(p, None)], 61_000, 1.0);
        assert!(html.contains("#7") && html.contains("(fork)"), "{html}");
        assert!(html.contains("pr-7.pre&lt;view&gt;.test"), "{html}");
        assert!(html.contains("9fceb02"), "{html}");
        assert!(html.contains("in 59 min"), "{html}");
        assert_eq!(previews_section("x", &[], 0, 1.0), "");
    }

    #[test]
    fn receivers_show_masked_with_their_last_delivery() {
        let r = json!({"receiver": "https://hooks.slack.com/***", "format": "slack", "events": ["failed"],
            "last": {"ok": false, "event": "failed", "deployment": 12, "attempts": 5, "detail": "unreachable"},
            "sent": 1, "failed": 1, "dropped": 0});
        let html = notify_section(&[r]);
        assert!(html.contains("https://hooks.slack.com/***") && html.contains("failed</span> failed of deployment 12"));
        assert!(html.contains("5 attempt(s) · unreachable") && html.contains("1 / 1 / 0"), "{html}");
        assert_eq!(notify_section(&[]), "");
    }
}
