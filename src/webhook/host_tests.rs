use super::*;
use axum::http::HeaderValue;
use serde_json::json;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn github_keeps_its_headers_and_unprefixed_deliveries() {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signature = super::super::sign("s", body);
    let signed = headers(&[("x-hub-signature-256", signature.as_str()), ("x-github-delivery", "d-1")]);
    assert!(GitHub.well_formed(&signed).is_ok() && GitHub.verify("s", &signed, body));
    assert!(!GitHub.verify("other", &signed, body));
    assert_eq!(GitHub.well_formed(&HeaderMap::new()).unwrap_err().code, "bad_signature");
    assert_eq!(GitHub.delivery_keys(&signed), ["d-1"]);
    assert_eq!(GitHub.github_repository(&json!({"repository": {"full_name": "o/r"}})).as_deref(), Some("o/r"));
}

#[test]
fn gitlab_checks_its_token_and_remembers_both_delivery_keys() {
    let sent = headers(&[("x-gitlab-token", "tok"), ("x-gitlab-event-uuid", "u-1"), ("idempotency-key", "k-1")]);
    assert!(GitLab.well_formed(&sent).is_ok() && GitLab.verify("tok", &sent, b""));
    assert!(!GitLab.verify("other", &sent, b""));
    for refused in [headers(&[]), headers(&[("x-gitlab-token", "")])] {
        assert_eq!(GitLab.well_formed(&refused).unwrap_err().code, "bad_token");
    }
    assert_eq!(GitLab.delivery_keys(&sent), ["gitlab:u-1", "gitlab:idem:k-1"]);
    assert_eq!(GitLab.delivery_keys(&headers(&[("x-gitlab-event-uuid", "u-2")])), ["gitlab:u-2"]);
    assert!(GitLab.delivery_keys(&headers(&[("x-gitlab-event-uuid", "")])).is_empty());
    assert_eq!(GitLab.event(&sent, &json!({"object_kind": "tag_push"})), "tag_push");
    assert_eq!(GitLab.github_repository(&json!({"repository": {"full_name": "o/r"}})), None);
}

#[test]
fn gitea_reads_forgejos_headers_first() {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let good = super::super::gitea::sign("s", body);
    let bad = super::super::gitea::sign("t", body);
    let gitea =
        headers(&[("x-gitea-signature", good.as_str()), ("x-gitea-event", "push"), ("x-gitea-delivery", "g-1")]);
    assert!(Gitea.well_formed(&gitea).is_ok() && Gitea.verify("s", &gitea, body));
    assert_eq!(
        (Gitea.event(&gitea, &json!({})), Gitea.delivery_keys(&gitea)),
        ("push".into(), vec!["gitea:g-1".into()])
    );
    let forgejo = headers(&[
        ("x-forgejo-signature", good.as_str()),
        ("x-gitea-signature", bad.as_str()),
        ("x-forgejo-event", "push"),
        ("x-gitea-event", "create"),
        ("x-forgejo-delivery", "f-1"),
        ("x-gitea-delivery", "g-2"),
    ]);
    assert!(Gitea.verify("s", &forgejo, body) && !Gitea.verify("t", &forgejo, body));
    assert_eq!(
        (Gitea.event(&forgejo, &json!({})), Gitea.delivery_keys(&forgejo)),
        ("push".into(), vec!["gitea:f-1".into()])
    );
    for refused in [headers(&[]), headers(&[("x-gitea-signature", "")]), headers(&[("x-gitea-signature", &good[1..])])]
    {
        assert_eq!(Gitea.well_formed(&refused).unwrap_err().code, "bad_signature");
    }
    let github_form = format!("sha256={good}");
    let github_style = headers(&[("x-hub-signature-256", github_form.as_str())]);
    assert!(Gitea.well_formed(&github_style).is_err(), "the Gitea endpoint reads Gitea's headers");
}
