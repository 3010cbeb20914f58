//! Gitea's and Forgejo's webhooks (pure): the hex signature, the event and the push it reports.
//!
//! Both sign the JSON payload text with HMAC-SHA256 and send bare lowercase hex: Forgejo as
//! `X-Forgejo-Signature` (and Gitea's name too), Gitea as `X-Gitea-Signature`. For a hook set to form
//! encoding the signature still covers the JSON text, that is the decoded `payload` field, not the bytes sent.

use super::push::Push;
use super::{form_payload, is_form, Decision};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::borrow::Cow;

/// Header names, Forgejo's first: where both are sent, Forgejo's own is the one read.
pub const SIGNATURE_HEADERS: [&str; 2] = ["x-forgejo-signature", "x-gitea-signature"];
pub const EVENT_HEADERS: [&str; 2] = ["x-forgejo-event", "x-gitea-event"];
pub const DELIVERY_HEADERS: [&str; 2] = ["x-forgejo-delivery", "x-gitea-delivery"];

/// What a signature header must look like before the body is read: 64 hex digits.
pub fn signature_well_formed(header: Option<&str>) -> bool {
    header.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `header` is the hex HMAC-SHA256 of `signed` with a (non-empty) `secret`; constant-time.
pub fn signature_matches(secret: &str, signed: &[u8], header: Option<&str>) -> bool {
    let Some(expected) = header.filter(|h| signature_well_formed(Some(h))).and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(signed);
    !secret.is_empty() && mac.verify_slice(&expected).is_ok()
}

/// The bytes Gitea signed: the body itself, or a form body's decoded `payload` field (None without one).
pub fn signed_bytes<'a>(content_type: Option<&str>, body: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    if !is_form(content_type) {
        return Some(Cow::Borrowed(body));
    }
    form_payload(body).map(|json| Cow::Owned(json.into_bytes()))
}

/// The signature Gitea would send for `signed`; used by tests.
pub fn sign(secret: &str, signed: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(signed);
    hex::encode(mac.finalize().into_bytes())
}

/// What an `event` (the `X-Forgejo-Event` or `X-Gitea-Event` header) asks of a project that follows `branch`.
/// A branch deletion comes as a `delete` event; a zero `after` is ignored all the same.
pub fn decide(event: &str, payload: &Value, branch: &str) -> Decision {
    match event {
        "push" => super::push::decide(&Push::from_github(payload), branch),
        other => Decision::Ignore(format!("Gitea event `{other}` does not deploy")),
    }
}

#[cfg(test)]
#[path = "gitea_tests.rs"]
mod tests;
