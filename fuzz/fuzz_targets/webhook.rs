//! Webhook body and signature parsing: any bytes, any header, never a panic; a body signed with the
//! secret always verifies, and a decision is made for every payload that parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use versiongate::webhook;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let header = String::from_utf8_lossy(header);
    let _ = webhook::signature_matches("fuzz-secret", body, Some(&header));
    assert!(webhook::signature_matches("fuzz-secret", body, Some(&webhook::sign("fuzz-secret", body))));
    let _ = webhook::gitea::signature_matches("fuzz-secret", body, Some(&header));
    assert!(webhook::gitea::signature_matches("fuzz-secret", body, Some(&webhook::gitea::sign("fuzz-secret", body))));
    let _ = webhook::gitlab::token_matches("fuzz-secret", Some(&header));
    for content_type in [Some("application/json"), Some("application/x-www-form-urlencoded"), None] {
        if let Ok(payload) = webhook::payload(content_type, body) {
            for url in webhook::repository_urls(&payload) {
                let normal = webhook::normalize_repo_url(&url);
                assert_eq!(webhook::normalize_repo_url(&normal), normal, "normalising twice changes nothing");
            }
            let _ = webhook::decide("push", &payload, "main");
            let _ = webhook::decide("ping", &payload, "main");
            let _ = webhook::gitlab::decide(&payload, "main");
            let _ = webhook::gitlab::repository_urls(&payload);
            let _ = webhook::gitea::decide("push", &payload, "main");
        }
    }
});
