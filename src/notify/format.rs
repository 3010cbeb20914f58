//! What a notification says, in each receiver format (pure): `json` (our own fields), `slack` (an
//! incoming webhook's `text`) and `discord` (a webhook's `content` and one embed).

use super::Format;
use crate::outcomes::{Outcome, OutcomeKind};
use serde_json::{json, Value};

/// The body sent to a receiver for `outcome`; `link` is the deployment's dashboard page.
pub(crate) fn body(format: Format, outcome: &Outcome, link: &str) -> Value {
    let d = &outcome.deployment;
    match format {
        Format::Json => json!({
            "event": outcome.kind.as_str(),
            "project": d.project,
            "deployment": d.id,
            "status": d.status.as_str(),
            "commit": d.commit,
            "message": d.message,
            "ref": d.git_ref,
            "trigger": d.trigger.as_str(),
            "duration_ms": d.duration_ms(),
            "error": d.error,
            "url": link,
        }),
        Format::Slack => json!({"text": slack_text(outcome, link)}),
        Format::Discord => json!({
            "content": plain_line(outcome),
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": format!("{} · deployment {}", d.project, d.id),
                "url": link,
                "color": color(outcome.kind),
                "description": details(outcome).join("\n"),
            }],
        }),
    }
}

fn headline(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Started => "deploying",
        OutcomeKind::Succeeded => "deployed",
        OutcomeKind::Failed => "deploy failed",
        OutcomeKind::RolledBack => "rolled back",
        OutcomeKind::Cancelled => "deploy cancelled",
        OutcomeKind::Superseded => "superseded",
    }
}

fn color(kind: OutcomeKind) -> u32 {
    match kind {
        OutcomeKind::Succeeded => 0x2e_a0_43,
        OutcomeKind::Failed | OutcomeKind::RolledBack => 0xd1_24_2f,
        _ => 0x9a_67_00,
    }
}

fn short_commit(outcome: &Outcome) -> String {
    outcome.deployment.commit.as_deref().map_or_else(|| "-".into(), |c| c.chars().take(12).collect())
}

/// `myapp deployed 9fceb02a1b2c (deployment 12)`.
fn plain_line(outcome: &Outcome) -> String {
    let d = &outcome.deployment;
    format!("{} {} {} (deployment {})", d.project, headline(outcome.kind), short_commit(outcome), d.id)
}

/// Commit message, duration and error, one per line; absent ones left out.
fn details(outcome: &Outcome) -> Vec<String> {
    let d = &outcome.deployment;
    let mut lines = Vec::new();
    if let Some(message) = &d.message {
        lines.push(format!("commit: {message}"));
    }
    if let Some(ms) = d.duration_ms() {
        lines.push(format!("duration: {:.1} s", ms as f64 / 1000.0));
    }
    if let Some(error) = &d.error {
        lines.push(format!("error: {error}"));
    }
    lines
}

/// Slack's mrkdwn, with `&`, `<` and `>` escaped as Slack asks, so a commit message cannot form a link or
/// a mention.
fn slack_text(outcome: &Outcome, link: &str) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut text = format!("*{}* <{}|{}>", escape(&outcome.deployment.project), link, escape(&plain_line(outcome)));
    for line in details(outcome) {
        text.push('\n');
        text.push_str(&escape(&line));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{Phase, Status, Trigger};
    use crate::store::Deployment;

    fn outcome(kind: OutcomeKind, error: Option<&str>) -> Outcome {
        let deployment = Deployment {
            id: 12,
            project: "shop".into(),
            status: Status::Failed,
            phase: Phase::HealthChecking,
            slot: None,
            port: None,
            target: None,
            targets: Vec::new(),
            commit: Some("9fceb02a1b2c3d4e5f60718293a4b5c6d7e8f901".into()),
            message: Some("Fix <@here> & more".into()),
            git_ref: Some("main".into()),
            image: None,
            trigger: Trigger::Webhook,
            rollback_of: None,
            error: error.map(str::to_owned),
            canary_percent: None,
            created_at: 0,
            started_at: Some(1_000),
            finished_at: Some(9_123),
        };
        Outcome { kind, deployment }
    }

    #[test]
    fn json_carries_every_field_a_receiver_needs() {
        let v =
            body(Format::Json, &outcome(OutcomeKind::Failed, Some("health check failed")), "http://gw/deployments/12");
        assert_eq!(v["event"], "failed");
        assert_eq!(v["project"], "shop");
        assert_eq!(v["commit"], "9fceb02a1b2c3d4e5f60718293a4b5c6d7e8f901");
        assert_eq!(v["message"], "Fix <@here> & more");
        assert_eq!(v["duration_ms"], 8_123);
        assert_eq!(v["error"], "health check failed");
        assert_eq!(v["url"], "http://gw/deployments/12");
    }

    #[test]
    fn slack_and_discord_cannot_be_made_to_mention_anyone() {
        let o = outcome(OutcomeKind::RolledBack, None);
        let slack = body(Format::Slack, &o, "http://gw/deployments/12")["text"].as_str().unwrap().to_owned();
        assert!(slack.contains("<http://gw/deployments/12|shop rolled back 9fceb02a1b2c (deployment 12)>"), "{slack}");
        assert!(slack.contains("Fix &lt;@here&gt; &amp; more"), "{slack}");
        assert!(slack.contains("duration: 8.1 s"));
        let discord = body(Format::Discord, &o, "http://gw/deployments/12");
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        assert_eq!(discord["embeds"][0]["url"], "http://gw/deployments/12");
        assert!(discord["content"].as_str().unwrap().starts_with("shop rolled back"));
    }
}
