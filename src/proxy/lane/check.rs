//! The lane's pure rules with plain inputs, public so the fuzz targets can hold them against Pingora's
//! own types: which requests the lane may serve and what it sends upstream for them ([`eligible`] and
//! [`sanitized`] state the rule in Pingora's types; the lane's byte-level reader must agree), what the
//! client gets for an answer, and what a chunked body holds.

use super::ask::{self, Parsed, PIPELINE_FIELDS};
use super::chunked::Chunked;
use super::head as answer;
use crate::routes::normalize_host;
use http::{header, Version};
use pingora::http::RequestHeader;

/// Whether the lane may serve this request (pure), stated in Pingora's types: HTTP/1.1, idempotent,
/// origin-form with exactly one Host, no body, and nothing Pingora's request policy would change apart
/// from dropping a `Connection: keep-alive` or `close`.
pub fn eligible(req: &RequestHeader) -> bool {
    if req.version != Version::HTTP_11 || !req.method.is_idempotent() {
        return false;
    }
    if req.uri.authority().is_some() || !req.raw_path().starts_with(b"/") {
        return false;
    }
    let mut hosts = req.headers.get_all(header::HOST).iter();
    if hosts.next().is_none() || hosts.next().is_some() {
        return false;
    }
    if PIPELINE_FIELDS.iter().any(|name| req.headers.contains_key(*name)) {
        return false;
    }
    let mut lengths = req.headers.get_all(header::CONTENT_LENGTH).iter();
    if lengths.next().is_some_and(|l| l.as_bytes() != b"0") || lengths.next().is_some() {
        return false;
    }
    req.headers.get_all(header::CONNECTION).iter().all(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').all(|t| t.trim().eq_ignore_ascii_case("keep-alive") || t.trim().eq_ignore_ascii_case("close"))
        })
    })
}

/// An [`eligible`] request as Pingora's upstream request policy leaves it (pure): without its
/// `Connection` field; `None` when Pingora would refuse its authority.
pub fn sanitized(req: &RequestHeader) -> Option<RequestHeader> {
    let mut req = req.clone();
    req.remove_header(&header::CONNECTION);
    pingora::protocols::http::authority::validate_request_authority(&req).ok()?;
    Some(req)
}

/// The head the lane sends upstream for the request at the start of `raw` (from client address `ip`, over
/// plain HTTP, `id` as the request id it makes up), or `None` when the lane hands the request to Pingora.
pub fn upstream_head(raw: &[u8], ip: &str, id: &str) -> Option<Vec<u8>> {
    let mut storage = ask::storage();
    let Parsed::Take(ask) = ask::parse(raw, &mut storage) else { return None };
    let host = normalize_host(ask.host)?.into_owned();
    Some(ask::upstream_head(*ask, Some(ip), &host, false, id))
}

/// The head the client gets for the answer at the start of `raw`, or `None` when the lane refuses it (the
/// client then gets a 502) or it is incomplete.
pub fn downstream_head(raw: &[u8], head_request: bool, cookie: Option<&str>, keep_alive: bool) -> Option<Vec<u8>> {
    let head = answer::parse(raw, head_request).ok()??;
    let mut out = Vec::new();
    head.downstream(cookie, keep_alive, b"DATE", &mut out);
    Some(out)
}

/// The data of a chunked body fed in `pieces`, and how many bytes of them were the body; `None` when it is
/// malformed or unfinished.
pub fn dechunk(pieces: &[&[u8]]) -> Option<(Vec<u8>, usize)> {
    let (mut reader, mut data, mut used) = (Chunked::default(), Vec::new(), 0);
    for piece in pieces {
        let mut ranges = Vec::new();
        used += reader.feed(piece, &mut ranges).ok()?;
        ranges.iter().for_each(|(from, to)| data.extend_from_slice(&piece[*from..*to]));
    }
    reader.done().then_some((data, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, fields: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        for (name, value) in fields {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    #[test]
    fn the_common_request_is_taken_and_anything_pingora_would_change_is_not() {
        let host = ("Host", "app.test");
        assert!(eligible(&request("GET", "/", &[host])));
        assert!(eligible(&request("HEAD", "/a?b", &[host, ("Connection", "keep-alive")])));
        assert!(eligible(&request("DELETE", "/x", &[host, ("Content-Length", "0"), ("Connection", "Close")])));
        for (what, req) in [
            ("no Host", request("GET", "/", &[])),
            ("two Host", request("GET", "/", &[host, host])),
            ("a body", request("GET", "/", &[host, ("Content-Length", "3")])),
            ("POST", request("POST", "/", &[host])),
            ("chunked", request("GET", "/", &[host, ("Transfer-Encoding", "chunked")])),
            ("an absolute target", request("GET", "http://app.test/", &[host])),
            ("asterisk", request("OPTIONS", "*", &[host])),
            ("an upgrade", request("GET", "/", &[host, ("Connection", "upgrade"), ("Upgrade", "websocket")])),
            ("a nominated field", request("GET", "/", &[host, ("Connection", "x-private")])),
            ("an empty nomination", request("GET", "/", &[host, ("Connection", ", close")])),
            ("Keep-Alive", request("GET", "/", &[host, ("Keep-Alive", "timeout=5")])),
            ("TE", request("GET", "/", &[host, ("TE", "trailers")])),
            ("Expect", request("GET", "/", &[host, ("Expect", "100-continue")])),
            ("Proxy-Authorization", request("GET", "/", &[host, ("Proxy-Authorization", "x")])),
        ] {
            assert!(!eligible(&req), "{what}");
        }
        let mut http10 = request("GET", "/", &[host]);
        http10.set_version(Version::HTTP_10);
        assert!(!eligible(&http10), "HTTP/1.0");
    }

    #[test]
    fn sanitising_drops_connection_only_and_refuses_a_bad_authority() {
        let req = request("GET", "/", &[("Host", "app.test"), ("Connection", "close"), ("X-A", "1")]);
        let up = sanitized(&req).unwrap();
        assert!(up.headers.get(header::CONNECTION).is_none());
        assert_eq!(up.headers.len(), 2);
        assert!(sanitized(&request("GET", "/", &[("Host", "user@app.test")])).is_none());
    }
}
