//! What the proxy accepts from a client: header size and count, and how long it waits on a slow one (pure).
//!
//! Pingora itself refuses headers over 1 MiB or 256 fields with a bare 400. Below that, these limits
//! answer 431 with a page that says what was too large, as nginx and the RFC do.

use pingora::http::RequestHeader;
use std::time::Duration;

/// Request line plus every header field, in bytes (nginx's default buffers hold 32 KiB).
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Header fields in one request.
pub(crate) const MAX_HEADER_FIELDS: usize = 100;
/// Longest wait for the next piece of a request body, and for a client to take the next piece of
/// a response. The request header has Pingora's own 60 s read timeout.
pub(crate) const CLIENT_IDLE: Duration = Duration::from_secs(30);

/// Why a request header is refused with 431, if it is.
pub(crate) fn oversized(req: &RequestHeader) -> Option<String> {
    let fields = req.headers.len();
    if fields > MAX_HEADER_FIELDS {
        return Some(format!("{fields} header fields; at most {MAX_HEADER_FIELDS} are accepted"));
    }
    // Each field costs its name, its value and ": " plus CRLF on the wire.
    let bytes =
        req.uri.to_string().len() + req.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>();
    (bytes > MAX_HEADER_BYTES).then(|| {
        format!("{} KiB of request header; at most {} KiB are accepted", bytes / 1024, MAX_HEADER_BYTES / 1024)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fields: usize, value_len: usize) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for i in 0..fields {
            req.append_header(format!("x-field-{i}"), "v".repeat(value_len)).unwrap();
        }
        req
    }

    #[test]
    fn ordinary_requests_pass() {
        assert_eq!(oversized(&request(30, 200)), None);
        assert_eq!(oversized(&request(1, 60 * 1024)), None, "one large cookie under the limit");
    }

    #[test]
    fn too_many_bytes_or_fields_are_refused_with_the_reason() {
        let big = oversized(&request(1, 70 * 1024)).unwrap();
        assert!(big.starts_with("70 KiB of request header; at most 64 KiB"), "{big}");
        let many = oversized(&request(101, 1)).unwrap();
        assert_eq!(many, "101 header fields; at most 100 are accepted");
    }
}
