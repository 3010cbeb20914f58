//! Authenticated webhook events → deploy decisions (pure: signature checks, body decoding, repository
//! matching). GitHub's events are read here and in `events`; GitLab's and Gitea's (Forgejo's) readers live
//! in `gitlab` and `gitea`, and all three read a push into the one model of `push`. `host` names what differs
//! between them for the receiver.

mod events;
pub mod gitea;
pub mod gitlab;
mod host;
pub mod push;

pub(crate) use events::{repository_name, PullRequest};
pub use host::{header, GitHub, GitLab, Gitea, Host, Refusal};

use crate::checks::CheckReport;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

/// GitHub's own limit for webhook payloads.
pub(crate) const MAX_BODY: usize = 25 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("the body is not a GitHub payload: {0}")]
    Malformed(String),
}

/// True when `header` is `sha256=<hex HMAC-SHA256 of body with secret>`; compared in constant time.
pub fn signature_matches(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(expected) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    !secret.is_empty() && mac.verify_slice(&expected).is_ok()
}

/// Whether `header` has the shape of GitHub's signature (`sha256=` and 64 hex digits), checked before the
/// body is even parsed: a request without one is refused whatever it carries.
pub fn signature_well_formed(header: Option<&str>) -> bool {
    header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The signature GitHub would send for `body`; used by tests and the README's curl example.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON payload of a JSON body, or of a form body's `payload` field.
pub fn payload(content_type: Option<&str>, body: &[u8]) -> Result<Value, WebhookError> {
    let json = if is_form(content_type) {
        form_payload(body).ok_or_else(|| WebhookError::Malformed("a form body without a `payload` field".into()))?
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| WebhookError::Malformed("the body is not UTF-8".into()))?
    };
    serde_json::from_str(&json).map_err(|e| WebhookError::Malformed(e.to_string()))
}

/// Whether a body is form-encoded (its JSON is then the `payload` field).
pub(crate) fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// The decoded `payload` field of a form body.
pub(crate) fn form_payload(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == "payload").map(|(_, v)| v.into_owned())
}

/// Every address the payload gives for its repository, normalised.
pub fn repository_urls(payload: &Value) -> Vec<String> {
    let repo = &payload["repository"];
    ["clone_url", "ssh_url", "html_url", "git_url", "url"]
        .iter()
        .filter_map(|k| repo[*k].as_str())
        .map(normalize_repo_url)
        .collect()
}

/// `https://github.com/o/r.git`, `git@github.com:o/r`, `ssh://git@github.com/o/r/` → `github.com/o/r`.
/// Case is folded, so owner and repository names match as GitHub matches them.
pub fn normalize_repo_url(url: &str) -> String {
    let url = url.trim();
    // A local path (what a `file://` URL becomes) keeps its case.
    if url.starts_with('/') {
        return strip_git(url).to_owned();
    }
    // A scheme is letters, digits, `+`, `-` and `.` (RFC 3986): a `://` later in a path is no scheme.
    let is_scheme = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    };
    let rest = match url.split_once("://") {
        Some(("file", path)) => return strip_git(path).to_owned(),
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        _ => url,
    };
    // User info and the scp-like `host:owner/repo` form live in the authority, before the first `/`: a `@`
    // or `:` further on is part of the path (so normalising twice changes nothing; found by fuzzing).
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].split_once(':') {
        // `host:port/…`: the port goes.
        Some((host, port)) if port.is_empty() || port.starts_with(|c: char| c.is_ascii_digit()) => {
            format!("{host}{}", &rest[authority_end..])
        }
        Some((host, _)) => format!("{host}/{}", &rest[host.len() + 1..]),
        None => rest.to_owned(),
    };
    strip_git(&rest.to_ascii_lowercase()).to_owned()
}

/// Without trailing `/`, `.git` and blanks, however they alternate (`x/.git/`), so a second pass finds none.
fn strip_git(path: &str) -> &str {
    let mut path = path;
    loop {
        let trimmed = path.trim().trim_end_matches('/');
        let next = trimmed.strip_suffix(".git").unwrap_or(trimmed);
        if next == path {
            return path;
        }
        path = next;
    }
}

/// What an event asks of a project that follows `branch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Pong,
    Deploy {
        commit: String,
        branch: String,
    },
    /// A pull request into the project's branch was opened, reopened or pushed to.
    Preview(PullRequest),
    /// A pull request was closed, merged or not.
    ClosePreview {
        number: u32,
    },
    /// CI results for commits.
    Checks(Vec<CheckReport>),
    Ignore(String),
}

pub fn decide(event: &str, payload: &Value, branch: &str) -> Decision {
    match event {
        "ping" => Decision::Pong,
        "push" => push::decide(&push::Push::from_github(payload), branch),
        "pull_request" => events::decide_pull_request(payload, branch),
        "check_run" | "check_suite" | "status" => events::decide_checks(event, payload),
        other => Decision::Ignore(format!("event `{other}` does not deploy")),
    }
}

/// A 40-hex commit SHA, lowercased; anything else is refused.
pub(crate) fn commit_sha(value: &Value) -> Option<String> {
    let sha = value.as_str()?;
    (sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::push::ZERO_SHA;
    use super::*;
    use serde_json::json;

    #[test]
    fn signatures_match_githubs_test_vector() {
        // The example from GitHub's "Validating webhook deliveries" documentation.
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_matches("It's a Secret to Everybody", b"Hello, World!", Some(header)));
        assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), header);
        assert!(!signature_matches("It's a Secret to Everybody", b"Hello, World?", Some(header)));
        assert!(!signature_matches("other", b"Hello, World!", Some(header)));
        assert!(!signature_matches("It's a Secret to Everybody", b"Hello, World!", None));
        assert!(!signature_matches("It's a Secret to Everybody", b"Hello, World!", Some("sha1=757107")));
        assert!(!signature_matches("", b"x", Some(&sign("", b"x"))), "an empty secret never verifies");
        assert!(signature_well_formed(Some(header)));
        for bad in [None, Some(""), Some("sha1=757107"), Some("sha256=xyz"), Some(&header[..70])] {
            assert!(!signature_well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn form_and_json_bodies_decode_alike() {
        let json_body = br#"{"zen":"Keep it simple."}"#;
        let form_body = b"payload=%7B%22zen%22%3A%22Keep+it+simple.%22%7D";
        let a = payload(Some("application/json"), json_body).unwrap();
        let b = payload(Some("application/x-www-form-urlencoded"), form_body).unwrap();
        assert_eq!(a, b);
        assert!(payload(Some("application/x-www-form-urlencoded"), b"other=1").is_err());
        assert!(payload(None, b"{").is_err());
    }

    #[test]
    fn repository_urls_normalise_to_one_form() {
        for url in [
            "https://github.com/Octo/Hello-World.git",
            "https://github.com/octo/hello-world",
            "https://github.com/octo/hello-world/",
            "git@github.com:octo/hello-world.git",
            "ssh://git@github.com/octo/hello-world.git",
            "ssh://git@github.com:22/octo/hello-world.git",
            "git://github.com/octo/hello-world.git",
        ] {
            assert_eq!(normalize_repo_url(url), "github.com/octo/hello-world", "{url}");
        }
        assert_eq!(normalize_repo_url("file:///tmp/Repos/app.git/"), "/tmp/Repos/app");
        // Found by `scripts/fuzz --deep`: a `:` or `@` in the path, and an upper-case `.GIT`.
        for odd in [
            "https://github.coi.github.com/rep::::os/Hello-World/releases{/id}",
            "https://h/a@b:c/d",
            "https://h/Repo.GIT",
            "file:///tmp/Repos/app",
            "https://h/x/.git/",
            "https:// h/x",
            "https://h/x .git",
            "https://a://b",
        ] {
            let once = normalize_repo_url(odd);
            assert_eq!(normalize_repo_url(&once), once, "{odd}");
        }
        assert_eq!(normalize_repo_url("https://h/Repo.GIT"), "h/repo");
        // And every string over the characters that matter, as the fuzzer would try them.
        let alphabet: Vec<char> = ":/@. gitGIT1fhs".chars().collect();
        let mut x: u64 = 7;
        for _ in 0..100_000 {
            let mut url = String::new();
            for _ in 0..(x % 14) {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                url.push(alphabet[(x >> 33) as usize % alphabet.len()]);
            }
            x = x.wrapping_add(1);
            let once = normalize_repo_url(&url);
            assert_eq!(normalize_repo_url(&once), once, "{url:?}");
        }
    }

    #[test]
    fn pushes_deploy_only_the_projects_branch() {
        let sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
        let push = |r: &str, after: &str| json!({"ref": r, "after": after});
        assert_eq!(
            decide("push", &push("refs/heads/main", sha), "main"),
            Decision::Deploy { commit: sha.into(), branch: "main".into() }
        );
        for (payload, why) in [
            (push("refs/heads/dev", sha), "not the project's branch"),
            (push("refs/tags/v1", sha), "not a branch"),
            (push("refs/heads/main", ZERO_SHA), "deleted"),
            (push("refs/heads/main", "abc"), "not a commit"),
        ] {
            match decide("push", &payload, "main") {
                Decision::Ignore(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{payload}: {other:?}"),
            }
        }
        assert_eq!(decide("ping", &json!({}), "main"), Decision::Pong);
        assert!(matches!(decide("issues", &json!({}), "main"), Decision::Ignore(_)));
    }

    #[test]
    fn the_shared_fixtures_decide_as_github_means_them() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/github/");
        let new_branch: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}push-new-branch.json")).unwrap()).unwrap();
        assert!(matches!(decide("push", &new_branch, "master"), Decision::Deploy { .. }));
        assert_eq!(repository_urls(&new_branch)[0], "github.com/codertocat/hello-world");
        let tag_deleted: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}push-tag-deleted.json")).unwrap()).unwrap();
        assert!(matches!(decide("push", &tag_deleted, "master"), Decision::Ignore(_)));
    }
}
