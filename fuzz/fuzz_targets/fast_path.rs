//! The fast path's choice: any request head, never a panic; a head the fast path takes is sent upstream
//! as exactly one body-less HTTP/1.1 request with one Host, no hop-by-hop field and no framing a server
//! could read another way, carrying every other field of the client's request unchanged. (Not in order:
//! removing `Connection` moves the last field into its place, in Pingora's ordinary path just the same.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use pingora_http::RequestHeader;
use versiongate::proxy::lane_check::{eligible as fast_path_eligible, sanitized as fast_path_sanitized};

/// The head as Pingora's HTTP/1 server reads it (httparse, names as sent).
fn head(data: &[u8]) -> Option<RequestHeader> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut fields);
    let Ok(httparse::Status::Complete(_)) = parsed.parse(data) else { return None };
    let mut req = RequestHeader::build(parsed.method?, parsed.path?.as_bytes(), None).ok()?;
    req.set_version(if parsed.version? == 1 { http::Version::HTTP_11 } else { http::Version::HTTP_10 });
    for f in parsed.headers.iter() {
        req.append_header(f.name.to_owned(), http::HeaderValue::from_bytes(f.value).ok()?).ok()?;
    }
    Some(req)
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = head(data) else { return };
    if !fast_path_eligible(&req) {
        return;
    }
    let Some(up) = fast_path_sanitized(&req) else { return };
    let wire = pingora::protocols::http::v1::client::http_req_header_to_wire(&up).expect("a taken request serialises");
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut sent = httparse::Request::new(&mut fields);
    let Ok(httparse::Status::Complete(len)) = sent.parse(&wire) else {
        panic!("unparseable upstream request: {wire:?}")
    };
    assert_eq!(len, wire.len(), "one request, nothing after it");
    assert_eq!((sent.method, sent.version), (Some(req.method.as_str()), Some(1)));
    assert_eq!(sent.path.map(str::as_bytes), Some(req.raw_path()));
    let named = |name: &str| sent.headers.iter().filter(|f| f.name.eq_ignore_ascii_case(name)).count();
    assert_eq!(named("host"), 1, "{wire:?}");
    for hop in ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "expect"] {
        assert_eq!(named(hop), 0, "{hop} in {wire:?}");
    }
    assert!(sent.headers.iter().all(|f| !f.name.eq_ignore_ascii_case("content-length") || f.value == b"0"));
    let mut kept: Vec<(String, &[u8])> = req
        .headers
        .iter()
        .filter(|(name, _)| *name != http::header::CONNECTION)
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes()))
        .collect();
    let mut forwarded: Vec<(String, &[u8])> =
        sent.headers.iter().map(|f| (f.name.to_ascii_lowercase(), f.value)).collect();
    kept.sort();
    forwarded.sort();
    assert_eq!(kept, forwarded, "every other field, unchanged");
});
