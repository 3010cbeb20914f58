//! What a request asks for: the host it names (pure); the per-thread random roll and the certificate view the
//! request decision takes; the forwarding headers it carries upstream.

use crate::routes::normalize_host;
use http::header;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;
use std::cell::Cell;

/// The host the client asked for: the URI authority (HTTP/2) first, then the Host header.
pub(super) fn request_host(req: &RequestHeader) -> Option<String> {
    let raw = match req.uri.authority() {
        Some(authority) => authority.as_str(),
        None => req.headers.get(header::HOST)?.to_str().ok()?,
    };
    normalize_host(raw).map(|h| h.into_owned())
}

/// The headers every proxied request carries upstream: `X-Forwarded-For` (appended), `-Proto`, `-Host`, and an
/// `X-Request-Id` unless the client sent one.
pub(super) fn forwarded_headers(session: &Session, up: &mut RequestHeader, host: &str, tls: bool) -> Result<()> {
    let client = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string());
    if let Some(ip) = client {
        let forwarded = match up.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip,
        };
        up.insert_header("x-forwarded-for", forwarded)?;
    }
    up.insert_header("x-forwarded-proto", if tls { "https" } else { "http" })?;
    if !host.is_empty() {
        up.insert_header("x-forwarded-host", host)?;
    }
    if !up.headers.contains_key("x-request-id") {
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id);
        up.insert_header("x-request-id", &*id)?;
    }
    Ok(())
}

/// The certificates the redirect rule may count on.
/// `None` when the request came over TLS or there is no TLS listener: nothing to redirect to.
pub(super) struct ServedOverTls<'a>(pub(super) Option<&'a crate::tls::CertTable>);

impl crate::routes::HostCertificates for ServedOverTls<'_> {
    fn serves(&self, host: &str) -> bool {
        self.0.is_some_and(|table| table.lookup(host).is_some())
    }
}

/// A cheap per-thread random number for the request decision (rollout picks and ties), no lock, no syscall.
pub(super) fn roll() -> u32 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 32) as u32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, host: Option<&str>) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        r.set_uri(uri.parse().unwrap());
        if let Some(h) = host {
            r.insert_header("host", h).unwrap();
        }
        r
    }

    #[test]
    fn host_comes_from_the_authority_then_the_header() {
        assert_eq!(
            request_host(&req("http://H2.Example.com:8443/x", Some("other.test"))).as_deref(),
            Some("h2.example.com")
        );
        assert_eq!(request_host(&req("/x", Some("App.Test:8080"))).as_deref(), Some("app.test"));
        assert_eq!(request_host(&req("/x", None)), None);
    }
}
