use super::*;
use crate::webhook::{normalize_repo_url, repository_urls};
use serde_json::json;

const GITEA: &[u8] = include_bytes!("../../tests/fixtures/gitea/push.json");
const FORGEJO: &[u8] = include_bytes!("../../tests/fixtures/gitea/forgejo-push.json");
/// `openssl dgst -sha256 -hmac gitea-secret tests/fixtures/gitea/push.json`
const GITEA_SIGNATURE: &str = "70c51265914ccf9d50db9c8a804d87d8c6cd4a85cf5cd191fd2b240de25149df";
/// `openssl dgst -sha256 -hmac forgejo-secret tests/fixtures/gitea/forgejo-push.json`
const FORGEJO_SIGNATURE: &str = "ec878a2cb313748bee7917074c8c93a8fc1cb1976e6432dfbe16c4405d338942";

fn fixture(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn the_documented_pushes_deploy_their_branch_and_nothing_else() {
    let sha = "bffeb74224043ba2feb48d137756c8a9331c449a";
    for body in [GITEA, FORGEJO] {
        let push = fixture(body);
        assert_eq!(decide("push", &push, "develop"), Decision::Deploy { commit: sha.into(), branch: "develop".into() });
        assert!(matches!(decide("push", &push, "main"), Decision::Ignore(r) if r.contains("not the project's branch")));
        let mut tag = push.clone();
        tag["ref"] = json!("refs/tags/v1.0");
        assert!(matches!(decide("push", &tag, "develop"), Decision::Ignore(r) if r.contains("not a branch")));
        let mut deleted = push.clone();
        deleted["after"] = json!("0000000000000000000000000000000000000000");
        assert!(matches!(decide("push", &deleted, "develop"), Decision::Ignore(r) if r.contains("deleted")));
        for event in ["create", "delete", "pull_request", ""] {
            assert!(matches!(decide(event, &push, "develop"), Decision::Ignore(r) if r.contains("does not deploy")));
        }
    }
}

#[test]
fn every_address_of_the_repository_normalises_to_one() {
    for (body, repo) in [(GITEA, "localhost/gitea/webhooks"), (FORGEJO, "localhost/forgejo/webhooks")] {
        let urls = repository_urls(&fixture(body));
        assert_eq!(urls.len(), 3, "{urls:?}");
        assert!(urls.iter().all(|u| u == repo), "{urls:?}");
    }
    let project = normalize_repo_url("http://localhost:3000/gitea/webhooks.git");
    assert!(repository_urls(&fixture(GITEA)).contains(&project));
}

#[test]
fn signatures_match_openssls_vectors() {
    assert!(signature_matches("gitea-secret", GITEA, Some(GITEA_SIGNATURE)));
    assert!(signature_matches("forgejo-secret", FORGEJO, Some(FORGEJO_SIGNATURE)));
    assert_eq!(sign("gitea-secret", GITEA), GITEA_SIGNATURE);
    // `printf %s 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"` (GitHub's vector).
    let hello = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert!(signature_matches("It's a Secret to Everybody", b"Hello, World!", Some(hello)));
    assert!(signature_matches("It's a Secret to Everybody", b"Hello, World!", Some(&hello.to_uppercase())));
    let (long, github_form) = (format!("{GITEA_SIGNATURE}00"), format!("sha256={GITEA_SIGNATURE}"));
    let (not_hex, empty_secret) = (GITEA_SIGNATURE.replace('7', "g"), sign("", b"x"));
    let refused: [(&str, &[u8], Option<&str>, &str); 10] = [
        ("gitea-secret", FORGEJO, Some(GITEA_SIGNATURE), "another body"),
        ("forgejo-secret", GITEA, Some(GITEA_SIGNATURE), "another secret"),
        ("gitea-secret", GITEA, None, "missing"),
        ("gitea-secret", GITEA, Some(""), "empty"),
        ("gitea-secret", GITEA, Some(&GITEA_SIGNATURE[..63]), "odd length"),
        ("gitea-secret", GITEA, Some(&GITEA_SIGNATURE[..62]), "short"),
        ("gitea-secret", GITEA, Some(&long), "long"),
        ("gitea-secret", GITEA, Some(&github_form), "GitHub's form"),
        ("gitea-secret", GITEA, Some(&not_hex), "not hex"),
        ("", b"x", Some(&empty_secret), "an empty secret never verifies"),
    ];
    for (secret, body, header, why) in refused {
        assert!(!signature_matches(secret, body, header), "{why}");
    }
    assert!(signature_well_formed(Some(GITEA_SIGNATURE)));
    assert!(!signature_well_formed(Some(&GITEA_SIGNATURE[..63])) && !signature_well_formed(None));
}

#[test]
fn a_form_body_is_verified_on_its_decoded_payload() {
    let json = std::str::from_utf8(GITEA).unwrap();
    let form = form_urlencoded::Serializer::new(String::new()).append_pair("payload", json).finish();
    let form_type = Some("application/x-www-form-urlencoded");
    let signed = signed_bytes(form_type, form.as_bytes()).unwrap();
    assert_eq!(&*signed, GITEA, "the JSON text Gitea signed");
    assert!(signature_matches("gitea-secret", &signed, Some(GITEA_SIGNATURE)));
    assert!(!signature_matches("gitea-secret", form.as_bytes(), Some(GITEA_SIGNATURE)), "not the bytes sent");
    assert_eq!(&*signed_bytes(Some("application/json"), GITEA).unwrap(), GITEA);
    assert_eq!(&*signed_bytes(None, GITEA).unwrap(), GITEA);
    assert!(signed_bytes(form_type, b"other=1").is_none());
}
