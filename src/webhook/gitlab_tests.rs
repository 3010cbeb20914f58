use super::*;
use serde_json::json;

const PUSH: &str = include_str!("../../tests/fixtures/gitlab/push.json");
const TAG_PUSH: &str = include_str!("../../tests/fixtures/gitlab/tag_push.json");

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn the_documented_push_deploys_its_branch_and_nothing_else() {
    let push = fixture(PUSH);
    let sha = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
    assert_eq!(decide(&push, "master"), Decision::Deploy { commit: sha.into(), branch: "master".into() });
    match decide(&push, "main") {
        Decision::Ignore(reason) => assert!(reason.contains("not the project's branch `main`"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tag_push_and_other_events_do_not_deploy() {
    assert_eq!(read(&fixture(TAG_PUSH)), Event::Other("tag_push".into()));
    match decide(&fixture(TAG_PUSH), "master") {
        Decision::Ignore(reason) => assert!(reason.contains("`tag_push` does not deploy"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Even a tag push relabelled as a push is no branch.
    let mut tag = fixture(TAG_PUSH);
    tag["object_kind"] = json!("push");
    assert!(matches!(decide(&tag, "master"), Decision::Ignore(r) if r.contains("not a branch")));
    for other in [json!({"object_kind": "merge_request"}), json!({}), json!([1]), json!(null)] {
        assert!(matches!(decide(&other, "master"), Decision::Ignore(_)), "{other}");
    }
}

#[test]
fn a_deleted_branch_does_not_deploy() {
    // GitLab's deletion: `after` all zeros and a null `checkout_sha`.
    let mut deleted = fixture(PUSH);
    deleted["after"] = json!("0000000000000000000000000000000000000000");
    deleted["checkout_sha"] = Value::Null;
    assert!(matches!(decide(&deleted, "master"), Decision::Ignore(r) if r.contains("deleted")));
    let mut no_checkout = fixture(PUSH);
    no_checkout["checkout_sha"] = Value::Null;
    assert!(matches!(decide(&no_checkout, "master"), Decision::Ignore(r) if r.contains("deleted")));
}

#[test]
fn the_commit_is_checkout_sha_else_after() {
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    let kinds =
        |checkout: Value| json!({"object_kind": "push", "ref": "refs/heads/m", "after": a, "checkout_sha": checkout});
    assert!(matches!(decide(&kinds(json!(b)), "m"), Decision::Deploy { commit, .. } if commit == b));
    let mut without = kinds(Value::Null);
    without.as_object_mut().unwrap().remove("checkout_sha");
    assert!(matches!(decide(&without, "m"), Decision::Deploy { commit, .. } if commit == a));
    assert!(matches!(decide(&kinds(json!("not a sha")), "m"), Decision::Ignore(r) if r.contains("not a commit")));
}

#[test]
fn every_address_of_the_repository_normalises_to_one() {
    let urls = repository_urls(&fixture(PUSH));
    assert_eq!(urls.len(), 8, "{urls:?}");
    assert!(urls.iter().all(|u| u == "example.com/mike/diaspora"), "{urls:?}");
    assert!(urls.contains(&normalize_repo_url("https://example.com/Mike/diaspora.git")));
    // The tag push gives `repository.url` as ssh:// and `project.url` scp-like.
    let urls = repository_urls(&fixture(TAG_PUSH));
    assert!(urls.iter().all(|u| u == "example.com/jsmith/example"), "{urls:?}");
    assert!(repository_urls(&json!({"project": {"web_url": 5}})).is_empty());
}

#[test]
fn the_token_must_equal_the_secret() {
    assert!(token_matches("s3cret-token", Some("s3cret-token")));
    for wrong in [None, Some(""), Some("s3cret-toke"), Some("s3cret-token "), Some("S3CRET-TOKEN"), Some("x")] {
        assert!(!token_matches("s3cret-token", wrong), "{wrong:?}");
    }
    assert!(!token_matches("", Some("")), "an empty secret never matches");
}
