//! The fast lane against Pingora's own types, on any bytes: a request head the lane takes is one the
//! request-filter fast path would take too, and the lane sends upstream exactly what Pingora's serialiser
//! writes after the same edits (Connection dropped, the forwarding fields set); an answer head the lane
//! passes on reaches the client exactly as Pingora's client and server sessions would write it; a chunked
//! body decodes the same however it is cut. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pingora_http::{RequestHeader, ResponseHeader};
use versiongate::proxy::lane_check;

/// The request head as Pingora's HTTP/1 server reads it.
fn request(data: &[u8]) -> Option<RequestHeader> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut fields);
    let Ok(httparse::Status::Complete(_)) = parsed.parse(data) else { return None };
    let mut req = RequestHeader::build(parsed.method?, parsed.path?.as_bytes(), None).ok()?;
    for f in parsed.headers.iter() {
        req.append_header(f.name.to_owned(), pingora_http::header_value_from_slice(f.value)).ok()?;
    }
    Some(req)
}

/// What Pingora's path sends upstream for `req` (`proxy::fast::sanitized`, then `forwarded_headers`).
fn pingora_upstream(req: &RequestHeader) -> Vec<u8> {
    let mut up = versiongate::proxy::lane_check::sanitized(req).expect("a taken request has a valid authority");
    let prior = up.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let forwarded = prior.map_or("127.0.0.1".to_owned(), |p| format!("{p}, 127.0.0.1"));
    up.insert_header("x-forwarded-for", forwarded).unwrap();
    up.insert_header("x-forwarded-proto", "http").unwrap();
    let host = req.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap();
    let host = versiongate::routes::normalize_host(host).unwrap().into_owned();
    up.insert_header("x-forwarded-host", host).unwrap();
    if !up.headers.contains_key("x-request-id") {
        up.insert_header("x-request-id", "ID").unwrap();
    }
    pingora::protocols::http::v1::client::http_req_header_to_wire(&up).unwrap().to_vec()
}

/// The answer head as Pingora's client reads it and its server writes it after the gateway's filter.
fn pingora_downstream(data: &[u8], head_request: bool) -> Option<Vec<u8>> {
    let mut fields = [httparse::EMPTY_HEADER; 256];
    let mut parsed = httparse::Response::new(&mut fields);
    let mut config = httparse::ParserConfig::default();
    config.allow_spaces_after_header_name_in_responses(true);
    config.allow_obsolete_multiline_headers_in_responses(true);
    let Ok(httparse::Status::Complete(_)) = config.parse_response(&mut parsed, data) else { return None };
    let mut resp = ResponseHeader::build(parsed.code?, None).ok()?;
    let http11 = parsed.version? == 1;
    resp.set_version(if http11 { http::Version::HTTP_11 } else { http::Version::HTTP_10 });
    resp.set_reason_phrase(parsed.reason).ok()?;
    for f in parsed.headers.iter() {
        resp.append_header(f.name.to_owned(), pingora_http::header_value_from_slice(f.value)).ok()?;
    }
    // Pingora's client, for every answer, interim ones too: Transfer-Encoding drops Content-Length, and
    // Content-Length fields left must agree on one number.
    let framed = resp.headers.contains_key(http::header::TRANSFER_ENCODING);
    if framed {
        resp.remove_header(&http::header::CONTENT_LENGTH);
    } else if !content_length_valid(&resp) {
        return None;
    }
    let interim = resp.status.is_informational();
    if !interim {
        let no_body = head_request || matches!(resp.status.as_u16(), 204 | 304);
        if !no_body && !framed && !resp.headers.contains_key(http::header::CONTENT_LENGTH) {
            resp.set_version(http::Version::HTTP_11);
            resp.insert_header(http::header::TRANSFER_ENCODING, "chunked").ok()?;
        }
        resp.append_header(http::header::SET_COOKIE, "vg=1").ok()?;
        resp.insert_header(http::header::DATE, "DATE").ok()?;
        resp.insert_header(http::header::CONNECTION, "keep-alive").ok()?;
    }
    let version = if resp.version == http::Version::HTTP_11 { "HTTP/1.1" } else { "HTTP/1.0" };
    let reason = resp.get_reason_phrase().unwrap_or_default();
    let mut out = format!("{version} {} {reason}\r\n", resp.status.as_str()).into_bytes();
    resp.header_to_h1_wire(&mut out);
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// Pingora's client refuses an answer whose Content-Length fields (without Transfer-Encoding) do not
/// agree on one number, body or not (`validate_response`).
fn content_length_valid(resp: &ResponseHeader) -> bool {
    let mut length = None;
    for value in resp.headers.get_all(http::header::CONTENT_LENGTH) {
        let Ok(line) = value.to_str() else { return false };
        for v in line.split(',').map(str::trim) {
            let Some(n) = v.bytes().all(|b| b.is_ascii_digit()).then(|| v.parse::<u64>().ok()).flatten() else {
                return false;
            };
            if length.is_some_and(|l| l != n) {
                return false;
            }
            length = Some(n);
        }
    }
    true
}

fuzz_target!(|data: &[u8]| {
    if let Some(ours) = lane_check::upstream_head(data, "127.0.0.1", "ID") {
        let req = request(data).expect("Pingora reads what the lane takes");
        assert!(versiongate::proxy::lane_check::eligible(&req), "the lane took what its rule in Pingora's types would not");
        assert_eq!(ours, pingora_upstream(&req), "upstream bytes differ");
    }
    let head_request = data.first().is_some_and(|b| b & 1 == 1);
    if let Some(ours) = lane_check::downstream_head(data, head_request, Some("vg=1"), true) {
        let theirs = pingora_downstream(data, head_request).expect("Pingora reads what the lane passes on");
        assert_eq!(ours, theirs, "client bytes differ");
    }
    let cut = data.len() / 2;
    let whole = lane_check::dechunk(&[data]);
    assert_eq!(whole, lane_check::dechunk(&[&data[..cut], &data[cut..]]), "cutting changed the body");
});
